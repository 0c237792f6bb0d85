"""The sqlite store: call log, reception tags and allow/block lists behind one `Store`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from callscreen.classifier.model import Decision, History, ListMatch
from callscreen.numbers.model import NumberFacts
from callscreen.pbx.model import CallerName, CallRecord
from callscreen.store import calls, lists, tags
from callscreen.store.calls import DecisionRow, StoredCall
from callscreen.store.db import Database, from_db_time, to_db_time
from callscreen.store.lists import InvalidListEntryError, ListEntry, match_lists
from callscreen.store.retry import retry_write
from callscreen.store.tags import TagKind

__all__ = [
    "DecisionRow",
    "InvalidListEntryError",
    "ListEntry",
    "ListMatch",
    "Store",
    "StoredCall",
    "TagKind",
    "from_db_time",
    "match_lists",
    "to_db_time",
]


class Store:
    """The async API the rest of callscreen uses to read and write the database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @classmethod
    async def open(cls, path: str | Path) -> Store:
        """Open the database file, creating and migrating it as needed.

        Raises StoreError naming the path when its folder is missing (no folder is created)
        or the file was migrated by a newer callscreen.
        """
        return cls(await Database.open(path))

    async def close(self) -> None:
        """Close the connections."""
        await self.db.close()

    async def record_decision(self, call_id: str, *, uniqueid: str, started_at: datetime,
                              caller_raw: str, caller_name: CallerName, did: str,
                              decision: Decision, source: str, decision_ms: float,
                              decided_at: datetime | None = None) -> None:
        """Insert the ring-time row of a call (source "agi" or "ami").

        A locked database or a full disk is retried with backoff (see `retry_write`).
        """
        await retry_write("record_decision", lambda: calls.insert_decision(
            self.db, call_id, uniqueid=uniqueid, started_at=started_at, caller_raw=caller_raw,
            caller_name=caller_name, did=did, decision=decision, source=source,
            decision_ms=decision_ms, decided_at=decided_at,
        ))

    async def record_decisions(self, rows: Sequence[DecisionRow]) -> None:
        """Insert several ring-time rows in one transaction, retried like `record_decision`."""
        await retry_write("record_decision", lambda: calls.insert_decisions(self.db, rows))

    async def record_call(self, record: CallRecord, *, uniqueids: Iterable[str] = (),
                          fallback_decision: Decision | None = None) -> str:
        """Write the AMI end of a call into its single row and return the row's call_id.

        A locked database or a full disk is retried with backoff (see `retry_write`).
        """
        return await retry_write("record_call", lambda: calls.save_call_record(
            self.db, record, uniqueids=uniqueids, fallback_decision=fallback_decision))

    async def history(self, facts: NumberFacts, now: datetime, *, repeat_window: timedelta,
                      half_life: timedelta, max_age: timedelta,
                      block_burst_window: timedelta = timedelta(0)) -> History:
        """Fetch the caller's history with index range scans bounded by the windows.

        calls_in_window counts calls started in [now - repeat_window, now), and
        block_callers_in_window the other numbers of the caller's block in
        [now - block_burst_window, now). list_matches is left empty because the classifier
        matches lists in memory with `match_lists`.
        """
        repeats = block_callers = 0
        if facts.key:
            repeats = await calls.count_calls_in_window(self.db, facts.key,
                                                        now - repeat_window, now)
        if facts.key and facts.block and block_burst_window > timedelta(0):
            block_callers = await calls.count_block_callers_in_window(
                self.db, facts.block, facts.key, now - block_burst_window, now)
        reputation = await tags.load_reputation(
            self.db, caller_key=facts.key, caller_block=facts.block, now=now,
            half_life=half_life, max_age=max_age,
        )

        return History(
            calls_in_window=repeats,
            block_callers_in_window=block_callers,
            number_reputation=reputation.number,
            block_reputation=reputation.block,
            employment_checks=reputation.employment_checks,
        )

    async def add_tag(self, *, caller_key: str, caller_block: str, tag: TagKind | str,
                      author: str, call_id: str | None = None, employee_id: str | None = None,
                      note: str = "", created_at: datetime | None = None,
                      caller_org: str = "") -> int:
        """Store a reception tag on a number and return its id."""
        return await tags.insert_tag(
            self.db, caller_key=caller_key, caller_block=caller_block, tag=tag, author=author,
            call_id=call_id, employee_id=employee_id, note=note, created_at=created_at,
            caller_org=caller_org,
        )

    async def add_list_entry(self, list_name: str, match: str, pattern: str, *, added_by: str,
                             note: str = "", expires_at: datetime | None = None,
                             added_at: datetime | None = None) -> int:
        """Validate and store an allow- or block-list entry, and return its id."""
        return await lists.insert_list_entry(
            self.db, list_name, match, pattern, added_by=added_by, note=note,
            expires_at=expires_at, added_at=added_at,
        )

    async def remove_list_entry(self, entry_id: int, *, removed_by: str,
                                removed_at: datetime | None = None) -> bool:
        """Mark a list entry removed. Returns False if it was missing or already removed."""
        return await lists.mark_list_entry_removed(self.db, entry_id, removed_by=removed_by,
                                                   removed_at=removed_at)

    async def active_list_entries(self, now: datetime) -> list[ListEntry]:
        """Return the list entries in force at `now`."""
        return await lists.load_active_entries(self.db, now)

    async def recent_calls(self, limit: int, since: datetime | None = None) -> list[StoredCall]:
        """Return up to `limit` calls, newest first."""
        return await calls.recent_calls(self.db, limit, since)

    async def get_call(self, call_id: str) -> StoredCall | None:
        """Return one call by its id, or None."""
        return await calls.get_call(self.db, call_id)

    async def count_calls_by_verdict(self, since: datetime) -> dict[str, int]:
        """Count calls started since `since` per verdict ("" for calls with none)."""
        return await calls.count_calls_by_verdict(self.db, since)
