"""Retry delays: exponential with a cap, with optional jitter so retries do not align."""

from __future__ import annotations

import random


def retry_delay(attempt: int, *, initial: float, maximum: float, jitter: float = 0.0) -> float:
    """Return seconds to wait after failed attempt number `attempt` (1 for the first failure).

    The delay doubles each attempt from `initial` up to `maximum`, then a random extra of up
    to `jitter` times the delay is added.
    """
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, not {attempt}")

    exponent = min(attempt - 1, 62)  # 2 ** 62 already exceeds any configured maximum
    base = min(maximum, initial * 2.0 ** exponent)

    return base + base * jitter * random.random()  # noqa: S311 -- jitter, not a secret
