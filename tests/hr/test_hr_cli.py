"""The HR subcommands: access by hr accounts only (audited), attendance CSV, audit verify."""

from __future__ import annotations

import asyncio
import io
import sqlite3
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from callscreen.cases.service import HrContext, on_call_recorded
from callscreen.cli import main
from callscreen.reception.accounts import MAX_FAILED_LOGINS, create_user
from callscreen.store import Store

from .conftest import NOW, add_call


def _config_file(tmp_path, db_path) -> str:
    path = tmp_path / "callscreen.toml"
    path.write_text(f'[store]\npath = "{db_path}"\n', encoding="utf-8")
    return str(path)


PASSWORD = "correct-horse-battery"


def run_as(monkeypatch, args: list[str], password: str = PASSWORD) -> int:
    """Run the CLI in this process with `password` given through --password-stdin."""
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    return main([*args, "--password-stdin"])


async def _seed(store: Store, config) -> None:
    await create_user(store.db, "hr.li", PASSWORD, "hr")
    await create_user(store.db, "desk", PASSWORD, "reception")
    ctx = HrContext(config=config, store=store, clock=lambda: NOW + timedelta(hours=4))
    for index in range(6):
        await add_call(store, f"c{index}", started_at=NOW + timedelta(minutes=index),
                       caller=f"+86170123{index:05d}", transferred_to="8101",
                       bridged={"8000": 60, "8101": 120})
        await on_call_recorded(ctx, f"c{index}")


async def _prepared(tmp_path, store, config) -> str:
    await _seed(store, config)
    path = store.db.path
    await store.close()
    return _config_file(tmp_path, path)


def _audit_actions(db_path) -> list[tuple[str, str]]:
    with sqlite3.connect(db_path) as connection:
        return connection.execute("SELECT actor, action FROM audit_log ORDER BY id").fetchall()


async def test_reception_account_is_refused_and_audited(tmp_path, store, config, capsys,
                                                        monkeypatch):
    config_path = await _prepared(tmp_path, store, config)

    code = await asyncio.to_thread(run_as, monkeypatch,
                                   ["cases", "list", "-c", config_path, "--as", "desk"])

    assert code == 1
    assert "不是启用的 hr 账号" in capsys.readouterr().err
    assert ("desk@cli", "access.denied") in _audit_actions(store.db.path)


async def test_hr_account_lists_cases_and_is_audited(tmp_path, store, config, capsys,
                                                     monkeypatch):
    config_path = await _prepared(tmp_path, store, config)

    code = await asyncio.to_thread(run_as, monkeypatch,
                                   ["cases", "list", "-c", config_path, "--as", "hr.li"])

    assert code == 0
    assert "HR-2026-0001" in capsys.readouterr().out
    assert ("hr.li@cli", "case.list") in _audit_actions(store.db.path)


async def test_cases_list_shows_local_time(tmp_path, store, config, capsys, monkeypatch):
    config_path = await _prepared(tmp_path, store, config)
    with sqlite3.connect(store.db.path) as connection:
        stored = connection.execute("SELECT updated_at FROM cases").fetchone()[0]
    updated = datetime.fromisoformat(stored)
    local = updated.astimezone(ZoneInfo("Asia/Shanghai"))

    code = await asyncio.to_thread(run_as, monkeypatch,
                                   ["cases", "list", "-c", config_path, "--as", "hr.li"])

    output = capsys.readouterr().out
    assert code == 0
    assert updated.utcoffset() == timedelta(0)
    assert f"{local:%Y-%m-%d %H:%M}" in output
    assert f"{updated:%Y-%m-%d %H:%M}" not in output


async def test_show_records_reason(tmp_path, store, config, capsys, monkeypatch):
    config_path = await _prepared(tmp_path, store, config)

    code = await asyncio.to_thread(run_as, monkeypatch,
                                   ["cases", "show", "HR-2026-0001", "-c", config_path,
                                    "--as", "hr.li", "--reason", "员工求助"])

    assert code == 0
    with sqlite3.connect(store.db.path) as connection:
        reasons = connection.execute(
            "SELECT reason FROM audit_log WHERE action = 'case.read'").fetchall()
    assert reasons == [("员工求助",)]


async def test_attendance_csv_has_bom_and_chinese_headers(tmp_path, store, config,
                                                          monkeypatch):
    config_path = await _prepared(tmp_path, store, config)
    out = tmp_path / "attendance.csv"

    code = await asyncio.to_thread(run_as, monkeypatch,
                                   ["report", "attendance", "--month", "2026-12", "--csv",
                                    "--out", str(out), "-c", config_path, "--as", "hr.li"])

    data = out.read_bytes()
    assert code == 0
    assert data.startswith(b"\xef\xbb\xbf")
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("工号,姓名,部门,月份,疑似催收来电数")
    assert lines[1].split(",")[:7] == ["E1001", "张伟", "财务部", "2026-12", "6", "6.0", "12.0"]


async def test_audit_verify_fails_after_tampering(tmp_path, store, config, capsys):
    config_path = await _prepared(tmp_path, store, config)
    with sqlite3.connect(store.db.path) as connection:
        connection.execute("DROP TRIGGER audit_log_no_update")
        connection.execute("UPDATE audit_log SET detail = '' WHERE id = 1")

    code = await asyncio.to_thread(main, ["audit", "verify", "-c", config_path])

    assert code == 1
    assert "row 1" in capsys.readouterr().err


async def test_audit_verify_passes_untouched_log(tmp_path, store, config, capsys):
    config_path = await _prepared(tmp_path, store, config)

    code = await asyncio.to_thread(main, ["audit", "verify", "-c", config_path])

    assert code == 0
    assert "审计日志完整" in capsys.readouterr().out


async def test_wrong_password_is_refused(tmp_path, store, config, capsys, monkeypatch):
    config_path = await _prepared(tmp_path, store, config)

    code = await asyncio.to_thread(run_as, monkeypatch,
                                   ["cases", "list", "-c", config_path, "--as", "hr.li"],
                                   "not the password")

    assert code == 1
    assert "无法以 hr.li 身份操作" in capsys.readouterr().err
    assert ("hr.li@cli", "case.list") not in _audit_actions(store.db.path)


async def test_wrong_passwords_lock_the_account(tmp_path, store, config, capsys,
                                                monkeypatch):
    config_path = await _prepared(tmp_path, store, config)
    args = ["cases", "list", "-c", config_path, "--as", "hr.li"]

    wrong = [await asyncio.to_thread(run_as, monkeypatch, args, f"guess {index}")
             for index in range(MAX_FAILED_LOGINS)]
    right = await asyncio.to_thread(run_as, monkeypatch, args)

    assert wrong == [1] * MAX_FAILED_LOGINS
    assert right == 1
    with sqlite3.connect(store.db.path) as connection:
        locked_until = connection.execute(
            "SELECT locked_until FROM users WHERE username = 'hr.li'").fetchone()[0]
    assert locked_until is not None


async def test_no_terminal_without_password_stdin(tmp_path, store, config, capsys,
                                                  monkeypatch):
    config_path = await _prepared(tmp_path, store, config)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))

    with pytest.raises(SystemExit) as exited:
        await asyncio.to_thread(main, ["cases", "list", "-c", config_path, "--as", "hr.li"])

    assert exited.value.code == 2
    assert "--password-stdin" in capsys.readouterr().err


async def test_audit_verify_expect_head(tmp_path, store, config, capsys):
    config_path = await _prepared(tmp_path, store, config)
    await asyncio.to_thread(main, ["audit", "verify", "-c", config_path])
    head = capsys.readouterr().out.split()[-1].strip("。.()（）:：")
    with sqlite3.connect(store.db.path) as connection:
        connection.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
        last = connection.execute("SELECT max(id) FROM audit_log").fetchone()[0]
        connection.execute("DELETE FROM audit_log WHERE id = ?", (last,))

    plain = await asyncio.to_thread(main, ["audit", "verify", "-c", config_path])
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["audit", "verify", "-c", config_path,
                                          "--expect-head", head])

    err = capsys.readouterr().err
    assert plain == 0
    assert code == 1
    assert "已不在哈希链中" in err
    assert "no longer in the chain" in err
