"""Hashing and checking the audit chain. Pure: rows in, hashes and problems out.

Each row's hash is SHA-256 over a canonical JSON array of its fields and the previous row's
hash, so editing a row changes its hash, and deleting one breaks the next row's prev_hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from callscreen.i18n import both

GENESIS_HASH = "0" * 64


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit row. `at` is stored UTC text, kept as text so the hash input is exact."""

    id: int
    at: str
    actor: str
    action: str
    case_id: int | None
    reason: str
    detail: str
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The outcome of checking a chain: rows read, the last hash and every problem found."""

    rows: int
    head_hash: str
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Return whether no problem was found."""
        return not self.problems


def entry_hash(*, id: int, at: str, actor: str, action: str, case_id: int | None,
               reason: str, detail: str, prev_hash: str) -> str:
    """Return the hex SHA-256 of the row's fields and the previous hash."""
    canonical = json.dumps(
        [id, at, actor, action, case_id, reason, detail, prev_hash],
        ensure_ascii=False, separators=(",", ":"),
    )

    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def check_chain(entries: Iterable[AuditEntry], *, expected_head: str = "") -> ChainReport:
    """Check ids, links and hashes of `entries` in id order.

    Detects an edited row (its hash no longer matches), a deleted row (a gap in the ids and
    a prev_hash that points elsewhere) and, when `expected_head` is given, rows cut from the
    end. Without it, deleting the newest rows leaves a valid shorter chain. `expected_head`
    is a head hash recorded earlier: it must still be the hash of some row, so rows written
    since then do not fail the check but cutting the chain before that row does.
    """
    problems: list[str] = []
    previous_hash, previous_id, count = GENESIS_HASH, 0, 0
    head_found = expected_head in ("", GENESIS_HASH)

    for entry in entries:
        count += 1
        problems.extend(_check_entry(entry, previous_id, previous_hash))
        previous_hash, previous_id = entry.hash, entry.id
        head_found = head_found or entry.hash == expected_head

    if not head_found:
        problems.append(both("audit.head_missing", head=previous_hash[:16],
                             expected=expected_head[:16]))

    return ChainReport(rows=count, head_hash=previous_hash, problems=tuple(problems))


def _check_entry(entry: AuditEntry, previous_id: int, previous_hash: str) -> list[str]:
    problems: list[str] = []
    if entry.id != previous_id + 1:
        problems.append(both("audit.row_id_gap", row=entry.id, previous=previous_id))
    if entry.prev_hash != previous_hash:
        problems.append(both("audit.row_prev_hash", row=entry.id))

    recomputed = entry_hash(
        id=entry.id, at=entry.at, actor=entry.actor, action=entry.action,
        case_id=entry.case_id, reason=entry.reason, detail=entry.detail,
        prev_hash=entry.prev_hash,
    )
    if recomputed != entry.hash:
        problems.append(both("audit.row_edited", row=entry.id))

    return problems
