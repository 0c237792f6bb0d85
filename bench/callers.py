"""A reproducible mix of caller IDs as a Chinese company's main line receives them."""

from __future__ import annotations

import random

# Share of each kind in the mix, in percent.
MOBILE_PERCENT = 78
LANDLINE_PERCENT = 12
TOLL_FREE_PERCENT = 4
SERVICE_PERCENT = 3
MOBILE_PREFIXES = ("133", "135", "136", "138", "139", "150", "158", "170", "177", "186", "189")
AREA_CODES = ("010", "021", "0755", "0571", "025", "0519", "028", "027")
SERVICE_CODES = ("95588", "95555", "95533", "10086", "10010", "96166")
WITHHELD = ("", "anonymous", "unknown", "Restricted")


def caller_pool(size: int, seed: int = 5) -> list[str]:
    """Return `size` caller IDs in the forms trunks deliver them (0-prefixed, +86, bare)."""
    rng = random.Random(seed)

    return [_one_caller(rng) for _ in range(size)]


def _one_caller(rng: random.Random) -> str:
    roll = rng.randrange(100)
    if roll < MOBILE_PERCENT:
        number = rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
        return rng.choice(("", "0", "+86")) + number
    roll -= MOBILE_PERCENT
    if roll < LANDLINE_PERCENT:
        area = rng.choice(AREA_CODES)
        digits = 8 if len(area) == 3 else 7
        rest = f"{rng.randrange(10 ** (digits - 1)):0{digits - 1}d}"
        return area + str(rng.randrange(2, 9)) + rest
    roll -= LANDLINE_PERCENT
    if roll < TOLL_FREE_PERCENT:
        return "400" + f"{rng.randrange(10**7):07d}"
    roll -= TOLL_FREE_PERCENT
    if roll < SERVICE_PERCENT:
        return rng.choice(SERVICE_CODES)

    return rng.choice(WITHHELD)
