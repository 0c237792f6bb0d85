"""Verify and export the audit chain stored in sqlite."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from typing import TextIO

from callscreen.audit.chain import AuditEntry, ChainReport, check_chain
from callscreen.store import Store
from callscreen.store import audit as audit_queries


async def verify(store: Store, *, expected_head: str = "") -> ChainReport:
    """Read the whole chain in id order and check every link and hash."""
    entries = [entry async for entry in audit_queries.iter_entries(store.db)]

    return check_chain(entries, expected_head=expected_head)


async def export_jsonl(store: Store, out: TextIO) -> ChainReport:
    """Write every row as one JSON object per line and return the check of what was written.

    The export carries prev_hash and hash, so whoever receives it can run the same check.
    """
    written: list[AuditEntry] = []
    async for entry in audit_queries.iter_entries(store.db):
        out.write(json.dumps(dataclasses.asdict(entry), ensure_ascii=False) + "\n")
        written.append(entry)

    return check_chain(written)


async def entries(store: Store) -> AsyncIterator[AuditEntry]:
    """Yield every audit row in id order."""
    async for entry in audit_queries.iter_entries(store.db):
        yield entry
