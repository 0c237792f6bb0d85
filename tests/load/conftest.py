"""Registers the reliability report plugin (and its `load` marker) for the load test."""

from __future__ import annotations

import pytest

from ..reliability_report import register


def pytest_configure(config: pytest.Config) -> None:
    register(config)
