"""Suite-wide fixtures."""

from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    # Commands and the daemon configure structlog globally; each test starts from defaults.
    yield
    structlog.reset_defaults()
