"""Anonymising closed cases on a real store file: fields, idempotence, audit, purge paths."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from callscreen.admin.purge import count_purge, purge, run_scheduled_purge
from callscreen.audit import export
from callscreen.cases import actions
from callscreen.cases.actions import Actor
from callscreen.cases.errors import CaseStateError
from callscreen.cases.model import CaseStatus
from callscreen.cases.retention import ANONYMISED_MARKER, anonymise_closed_cases
from callscreen.cases.service import HrContext, evaluate_employee, on_call_recorded
from callscreen.cli import main
from callscreen.config.model import Config, NotifyConfig, RetentionConfig
from callscreen.daemon import Daemon
from callscreen.notify.outbox import Notifier
from callscreen.reception.accounts import create_user
from callscreen.store import Store

from .conftest import NOW, add_call

HR = Actor(username="hr.li", via="cli")
NAME, EMPLOYEE = "张伟", "E1001"
NOTE = "张伟说欠款来自网贷，手机 13912345678"
SUMMARY = "张伟已还清网贷"
APPROACH = "与张伟面谈两次，介绍理财咨询"
CALLERS = [f"+86170123{index:05d}" for index in range(6)]
RETENTION = RetentionConfig(call_days=3650, tag_days=3650, case_anonymise_days=365)


def with_email_names(config: Config) -> Config:
    notify = NotifyConfig(channels=["email"], email_to=["hr@example.test"],
                          email_include_name=True)
    return dataclasses.replace(config, notify=notify)


async def open_case(store: Store, config: Config) -> HrContext:
    """Record six collector calls to 张伟, which opens case 1, and queue its notification."""
    ctx = HrContext(config=config, store=store, notifier=Notifier(store, config.notify),
                    clock=lambda: NOW + timedelta(hours=4))
    for index, caller in enumerate(CALLERS):
        call_id = f"r{index}"
        await add_call(store, call_id, started_at=NOW + timedelta(minutes=index),
                       caller=caller, transferred_to="8101")
        await store.add_tag(caller_key=caller, caller_block=caller[:-4], tag="collector",
                            author="desk", call_id=call_id, employee_id=EMPLOYEE,
                            note=f"找{NAME}", created_at=NOW + timedelta(minutes=index))
        await on_call_recorded(ctx, call_id)

    return ctx


async def work_and_close(store: Store, config: Config, case_id: int = 1) -> None:
    """Add every kind of free text HR can write, then close the case."""
    await actions.add_note(store, HR, case_id, NOTE)
    await actions.change_status(store, HR, case_id, CaseStatus.IN_PROGRESS,
                                reason=f"{NAME}主动求助")
    await actions.offer_referral(store, config, HR, case_id, config.hr.eap_resources[0],
                                 note=f"{NAME}同意咨询")
    await actions.add_leave(store, config, HR, case_id, start=date(2026, 12, 3),
                            end=date(2026, 12, 4), note=f"{NAME}去法院")
    await actions.close_case(store, HR, case_id, summary=SUMMARY, approach=APPROACH)


def age_case(path: Path, case_id: int, days: int) -> None:
    """Move the case's closing `days` into the past, as if it had been closed back then."""
    closed_at = (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE cases SET closed_at = ? WHERE id = ?", (closed_at, case_id))


def rows(path: Path, sql: str, *params: object) -> list[tuple]:
    with sqlite3.connect(path) as connection:
        return connection.execute(sql, params).fetchall()


def dump(path: Path) -> str:
    """Return every row of the tables anonymisation touches, as one text to search."""
    tables = ("cases", "case_events", "referrals", "leave_marks", "call_targets", "tags",
              "outbox")
    with sqlite3.connect(path) as connection:
        return "\n".join(repr(row) for table in tables
                         for row in connection.execute(f"SELECT * FROM {table}"))


@pytest.fixture
async def closed_case(store, config) -> Path:
    """Case 1 of 张伟, worked on and closed 400 days ago; return the store file."""
    config = with_email_names(config)
    await create_user(store.db, HR.username, "correct horse battery", "hr")
    await open_case(store, config)
    await work_and_close(store, config)
    age_case(store.db.path, 1, 400)
    return store.db.path


async def test_anonymise_replaces_personal_fields(store, closed_case):
    assert NAME in dump(closed_case)
    before = rows(closed_case, "SELECT case_no, status, risk, opened_at, closed_at,"
                  " signals_json, kb_text FROM cases WHERE id = 1")

    changed = await anonymise_closed_cases(store, closed_before=datetime.now(UTC),
                                           actor="system:retention")

    assert changed == 1
    text = dump(closed_case)
    assert NAME not in text
    assert EMPLOYEE not in text
    assert "13912345678" not in text
    targets = repr(rows(closed_case, "SELECT * FROM call_targets"))
    for caller in CALLERS:
        assert caller not in targets
    after = rows(closed_case, "SELECT case_no, status, risk, opened_at, closed_at,"
                 " signals_json, kb_text FROM cases WHERE id = 1")
    assert after == before


async def test_anonymise_keeps_statistics(store, closed_case):
    kinds_before = rows(closed_case, "SELECT kind FROM case_events WHERE case_id = 1 ORDER BY id")

    await anonymise_closed_cases(store, closed_before=datetime.now(UTC), actor="it-admin")

    case = await actions.find_case(store, 1)
    assert case.employee_id == "员工#1"
    assert case.summary == ANONYMISED_MARKER
    assert case.approach == ANONYMISED_MARKER
    assert case.anonymised_at is not None
    assert rows(closed_case, "SELECT kind FROM case_events WHERE case_id = 1 ORDER BY id") \
        == kinds_before
    assert rows(closed_case, "SELECT count(*) FROM case_events WHERE call_id IS NOT NULL") \
        == [(0,)]
    assert rows(closed_case, "SELECT employee_id, start_date, end_date, note FROM leave_marks") \
        == [("员工#1", "2026-12-03", "2026-12-04", ANONYMISED_MARKER)]
    assert rows(closed_case, "SELECT state, note FROM referrals") \
        == [("offered", ANONYMISED_MARKER)]
    assert rows(closed_case, "SELECT count(*), sum(employee_seconds >= 0) FROM call_targets"
                " WHERE employee_id = '员工#1' AND caller_key = '' AND caller_region <> ''") \
        == [(6, 6)]
    assert rows(closed_case, "SELECT DISTINCT employee_id, note FROM tags") \
        == [("员工#1", ANONYMISED_MARKER)]


async def test_anonymise_scrubs_timeline_texts(store, closed_case):
    await anonymise_closed_cases(store, closed_before=datetime.now(UTC), actor="it-admin")

    bodies = {kind: json.loads(body) for kind, body in rows(
        closed_case, "SELECT kind, body_json FROM case_events WHERE kind IN"
        " ('note', 'status', 'leave', 'opened')")}
    assert bodies["note"] == {"text": ANONYMISED_MARKER}
    assert bodies["status"] == {"from": "open", "to": "in_progress",
                                "reason": ANONYMISED_MARKER}
    assert bodies["leave"] == {"start": "2026-12-03", "end": "2026-12-04"}
    assert set(bodies["opened"]) == {"risk"}


async def test_anonymise_drops_unreadable_body(store, closed_case):
    with sqlite3.connect(closed_case) as connection:
        connection.execute("UPDATE case_events SET body_json = ? WHERE kind = 'note'",
                           (f"{NAME} not json",))

    changed = await anonymise_closed_cases(store, closed_before=datetime.now(UTC),
                                           actor="it-admin")

    assert changed == 1
    assert rows(closed_case, "SELECT body_json FROM case_events WHERE kind = 'note'") \
        == [("{}",)]


async def test_anonymise_clears_notification_name(store, closed_case):
    payloads = [json.loads(row[0]) for row in rows(closed_case, "SELECT payload_json FROM outbox")]
    # One e-mail for opening the case, one for raising its risk.
    assert [payload["employee_name"] for payload in payloads] == [NAME, NAME]

    await anonymise_closed_cases(store, closed_before=datetime.now(UTC), actor="it-admin")

    payloads = [json.loads(row[0]) for row in rows(closed_case, "SELECT payload_json FROM outbox")]
    assert [payload["employee_name"] for payload in payloads] == ["", ""]
    assert payloads[0]["case_no"] == "HR-2026-0001"


async def test_anonymise_twice_changes_nothing(store, closed_case):
    await anonymise_closed_cases(store, closed_before=datetime.now(UTC), actor="it-admin")
    first = dump(closed_case)
    audit_rows = rows(closed_case, "SELECT count(*) FROM audit_log")

    again = await anonymise_closed_cases(store, closed_before=datetime.now(UTC),
                                         actor="it-admin")

    assert again == 0
    assert dump(closed_case) == first
    assert rows(closed_case, "SELECT count(*) FROM audit_log") == audit_rows


async def test_anonymise_skips_recent_cases(store, closed_case):
    cutoff = datetime.now(UTC) - timedelta(days=500)

    changed = await anonymise_closed_cases(store, closed_before=cutoff, actor="it-admin")

    assert changed == 0
    assert NAME in dump(closed_case)
    assert rows(closed_case, "SELECT anonymised_at FROM cases") == [(None,)]


async def test_anonymise_audits_without_personal_data(store, closed_case):
    await anonymise_closed_cases(store, closed_before=datetime.now(UTC), actor="it-admin")

    audit_rows = rows(closed_case, "SELECT actor, action, case_id, reason, detail"
                      " FROM audit_log WHERE action = 'case.anonymise'")
    assert len(audit_rows) == 1
    actor, _action, case_id, reason, detail = audit_rows[0]
    assert (actor, case_id, reason) == ("it-admin", 1, "")
    assert NAME not in detail
    assert EMPLOYEE not in detail
    assert json.loads(detail)["events"] > 0
    report = await export.verify(store)
    assert report.ok, report.problems


async def test_anonymise_keeps_calls_of_newer_case(store, config, closed_case):
    # The same six calls are still inside the anomaly window, so a new case for 张伟 opens
    # and links them again. Anonymising the old case must leave them on the new one.
    ctx = HrContext(config=config, store=store, clock=lambda: NOW + timedelta(hours=4))
    newer = await evaluate_employee(ctx, EMPLOYEE, call_id=None)
    assert newer is not None
    assert newer.id == 2

    await anonymise_closed_cases(store, closed_before=datetime.now(UTC), actor="it-admin")

    assert rows(closed_case, "SELECT DISTINCT employee_id FROM call_targets") == [(EMPLOYEE,)]
    assert rows(closed_case, "SELECT count(*) FROM case_events"
                " WHERE case_id = 2 AND call_id IS NOT NULL") == [(6,)]
    assert (await actions.find_case(store, 2)).employee_id == EMPLOYEE


async def test_anonymised_case_cannot_be_edited(store, config, closed_case):
    await anonymise_closed_cases(store, closed_before=datetime.now(UTC), actor="it-admin")

    with pytest.raises(CaseStateError):
        await actions.add_note(store, HR, 1, NOTE)
    with pytest.raises(CaseStateError):
        await actions.change_status(store, HR, 1, CaseStatus.IN_PROGRESS)
    with pytest.raises(CaseStateError):
        await actions.add_leave(store, config, HR, 1, start=date(2026, 12, 5),
                                end=date(2026, 12, 5), note=NAME)
    assert NAME not in dump(closed_case)


async def test_read_anonymised_case_hides_name(store, closed_case):
    await anonymise_closed_cases(store, closed_before=datetime.now(UTC), actor="it-admin")

    detail = await actions.read_case(store, HR, 1, reason="统计")

    assert detail.employee_name == ""
    assert detail.case.employee_id == "员工#1"


def file_bytes(path: Path) -> list[bytes]:
    wal = path.with_name(path.name + "-wal")
    return [path.read_bytes(), wal.read_bytes() if wal.exists() else b""]


async def test_dry_run_counts_without_writing(store, closed_case):
    before = file_bytes(closed_case)

    report = count_purge(str(closed_case), RETENTION, datetime.now(UTC))

    assert report.counts.closed_cases == 1
    assert report.cases_anonymised is None
    assert file_bytes(closed_case) == before
    assert rows(closed_case, "SELECT anonymised_at FROM cases") == [(None,)]


async def test_purge_anonymises_then_counts_none(store, closed_case):
    report = await purge(store, RETENTION, actor="it-admin", now=datetime.now(UTC))

    assert (report.counts.closed_cases, report.cases_anonymised) == (1, 1)
    assert report.to_json()["cases_anonymised"] == 1
    assert NAME not in dump(closed_case)
    assert count_purge(str(closed_case), RETENTION, datetime.now(UTC)).counts.closed_cases == 0
    assert (await export.verify(store)).ok


async def test_daily_job_anonymises(store, config, closed_case):
    retention = dataclasses.replace(config.retention, case_anonymise_days=365)
    daemon = Daemon(dataclasses.replace(config, retention=retention))
    daemon.store = store

    report = await run_scheduled_purge(daemon)

    assert report is not None
    assert report.cases_anonymised == 1
    assert NAME not in dump(closed_case)
    assert rows(closed_case, "SELECT actor FROM audit_log WHERE action = 'case.anonymise'") \
        == [("system:retention",)]


def write_config(tmp_path: Path, store_path: Path) -> Path:
    path = tmp_path / "retention.toml"
    path.write_text(f'[store]\npath = "{store_path}"\n\n[retention]\ncase_anonymise_days = 365\n',
                    encoding="utf-8")
    return path


async def run_main(capsys, *args: str | Path) -> tuple[int, str]:
    code = await asyncio.to_thread(main, [str(arg) for arg in args])
    return code, capsys.readouterr().out


async def test_purge_cli_reports_cases(store, closed_case, tmp_path, capsys):
    config = write_config(tmp_path, closed_case)
    await store.close()

    dry_text = await run_main(capsys, "purge", "--dry-run", "--config", config)
    dry_json = await run_main(capsys, "purge", "--dry-run", "--json", "--config", config)
    done_json = await run_main(capsys, "purge", "--json", "--by", "it-admin", "--config", config)
    again_text = await run_main(capsys, "purge", "--by", "it-admin", "--config", config)

    assert [result[0] for result in (dry_text, dry_json, done_json, again_text)] == [0, 0, 0, 0]
    assert "已结个案 1 个将被匿名化" in dry_text[1]
    assert "closed cases to anonymise: 1 (" in dry_text[1]
    assert json.loads(dry_json[1])["counts"]["closed_cases"] == 1
    assert json.loads(dry_json[1])["cases_anonymised"] is None
    assert json.loads(done_json[1])["cases_anonymised"] == 1
    assert "已结个案 0 个已匿名化" in again_text[1]
    assert "closed cases anonymised: 0 (" in again_text[1]
    assert NAME not in dump(closed_case)
