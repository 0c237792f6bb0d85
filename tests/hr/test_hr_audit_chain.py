"""The audit chain: every case read is logged, and edits or deletions are detected."""

from __future__ import annotations

import sqlite3

import pytest

from callscreen.audit.chain import GENESIS_HASH, AuditEntry, check_chain, entry_hash
from callscreen.audit.export import verify
from callscreen.cases.actions import Actor, audit
from callscreen.errors import StoreError
from callscreen.store import audit as audit_queries

ACTOR = Actor(username="hr.li", via="cli")


async def _three_rows(store) -> None:
    for index in range(3):
        await audit(store, ACTOR, "case.read", case_id=1, reason=f"跟进 {index}")


def _tamper(path, *statements: str) -> None:
    # An attacker with the file drops the append-only triggers first.
    connection = sqlite3.connect(path)
    connection.execute("DROP TRIGGER audit_log_no_update")
    connection.execute("DROP TRIGGER audit_log_no_delete")
    for statement in statements:
        connection.execute(statement)
    connection.commit()
    connection.close()


async def test_intact_chain_verifies(store):
    await _three_rows(store)

    report = await verify(store)

    assert report.ok
    assert report.rows == 3


async def test_edited_row_is_detected(store):
    await _three_rows(store)

    _tamper(store.db.path, "UPDATE audit_log SET reason = '无' WHERE id = 2")

    report = await verify(store)
    assert not report.ok
    assert any("row 2" in problem and "edited" in problem for problem in report.problems)


async def test_deleted_row_is_detected(store):
    await _three_rows(store)

    _tamper(store.db.path, "DELETE FROM audit_log WHERE id = 2")

    report = await verify(store)
    assert not report.ok
    assert any("row 3" in problem for problem in report.problems)


async def test_cut_tail_is_detected_with_expected_head(store):
    await _three_rows(store)
    head = (await verify(store)).head_hash

    _tamper(store.db.path, "DELETE FROM audit_log WHERE id = 3")

    assert (await verify(store)).ok
    assert not (await verify(store, expected_head=head)).ok


async def test_rows_after_expected_head_pass(store):
    await _three_rows(store)
    head = (await verify(store)).head_hash

    await audit(store, ACTOR, "case.read", case_id=1, reason="later")
    report = await verify(store, expected_head=head)

    assert report.ok, report.problems
    assert report.rows == 4


async def test_update_through_store_is_rejected(store):
    await _three_rows(store)

    with pytest.raises(StoreError, match="append-only"):
        async with store.db.write("tamper") as connection:
            await connection.execute("UPDATE audit_log SET actor = 'x'")


async def test_case_audit_rows_record_reason(store):
    await _three_rows(store)

    rows = await audit_queries.entries_for_case(store.db, 1)

    assert [row.reason for row in rows] == ["跟进 0", "跟进 1", "跟进 2"]
    assert rows[0].actor == "hr.li@cli"


def test_chain_starts_at_genesis_hash():
    fields = {"id": 1, "at": "2026-12-01T00:00:00.000000Z", "actor": "a", "action": "x",
              "case_id": None, "reason": "", "detail": "", "prev_hash": GENESIS_HASH}
    entry = AuditEntry(**fields, hash=entry_hash(**fields))

    report = check_chain([entry])

    assert report.ok
    assert report.head_hash == entry.hash
