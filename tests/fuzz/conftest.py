"""Registers the reliability report plugin for the fuzz tests."""

from __future__ import annotations

import pytest

from ..reliability_report import register


def pytest_configure(config: pytest.Config) -> None:
    register(config)
