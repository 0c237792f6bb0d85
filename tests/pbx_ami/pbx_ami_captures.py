"""Helpers that load the recorded Asterisk 22.10.1 AMI captures."""

from __future__ import annotations

import base64
import json
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "asterisk"


def raw_bytes(base: str) -> bytes:
    """Return every byte the recorder received in session `base`."""
    return (FIXTURES / f"{base}.raw").read_bytes()


def recv_chunks(base: str) -> list[tuple[float, bytes]]:
    """Return (seconds since start, bytes) for every recv() of session `base`."""
    chunks: list[tuple[float, bytes]] = []
    for line in (FIXTURES / f"{base}.chunks.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record["dir"] == "recv":
            chunks.append((float(record["t"]), base64.b64decode(record["b64"])))
    return chunks


def split_every(data: bytes, size: int) -> list[bytes]:
    """Cut `data` into pieces of `size` bytes."""
    return [data[start : start + size] for start in range(0, len(data), size)]
