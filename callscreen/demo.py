"""`callscreen demo`: the daemon against the built-in fake PBX, replaying a morning at reception.

Everything runs on loopback with a temporary store; nothing needs Asterisk or a network.
"""

from __future__ import annotations

import asyncio
import errno
import secrets
import shutil
import sys
import tempfile
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from callscreen.commands.text import display_width
from callscreen.config import Config
from callscreen.daemon import Daemon
from callscreen.errors import CallscreenError
from callscreen.extensions import WebListenError
from callscreen.hub import CallUpdate
from callscreen.i18n import both, t
from callscreen.logs import configure_logging
from callscreen.pbx.fake import FakeAsterisk, FakeCall
from callscreen.reception.accounts import ensure_demo_users
from callscreen.reception.directory import name_pinyin
from callscreen.store.reception import Employee, replace_employees

MAIN_LINE = "02188886666"
# The employee the collector is after, and her direct line (DID).
TARGET_EMPLOYEE = ("张伟", "E1024", "财务部", "8601", "02188886601")
DIRECTORY = (
    TARGET_EMPLOYEE,
    ("李娜", "E1025", "销售部", "8602", "02188886602"),
    ("王芳", "E1031", "人力资源部", "8610", "02188886610"),
    ("陈静", "E1002", "前台", "100", ""),
)
COLLECTOR_BLOCK = "1705566"  # a virtual-operator block: +86 170 5566 xxxx
DEFAULT_WEB_PORT = 8080


class DemoError(CallscreenError, ValueError):
    """The demo cannot start with the options given."""


@dataclass(frozen=True)
class Scene:
    """One call of the demo morning: when it rings (scenario clock) and who calls."""

    clock: str
    who: str  # message id of the caller's description
    call: FakeCall
    # Reception's feedback after the call: "collector" with the employee asked for, or "".
    feedback: str = ""


def morning() -> list[Scene]:
    """Return the demo morning: clients, a supplier, a bank, an anonymous caller and a
    collector rotating through one number block, asking for the same employee."""
    did = TARGET_EMPLOYEE[4]
    return [
        Scene("09:02", "demo.who.client", FakeCall("13812345678", name="王经理", did=MAIN_LINE)),
        Scene("09:05", "demo.who.supplier", FakeCall("02161234567", did=MAIN_LINE)),
        Scene("09:08", "demo.who.collector", FakeCall(f"{COLLECTOR_BLOCK}1201", did=did)),
        Scene("09:12", "demo.who.bank", FakeCall("95588", did=MAIN_LINE)),
        Scene("09:15", "demo.who.anonymous", FakeCall("anonymous", name="Anonymous",
                                                      did=MAIN_LINE)),
        Scene("09:18", "demo.who.collector", FakeCall(f"{COLLECTOR_BLOCK}1202", did=MAIN_LINE),
              feedback="collector"),
        Scene("09:25", "demo.who.client_trunk0", FakeCall("013912345678", did=MAIN_LINE)),
        Scene("09:31", "demo.who.collector", FakeCall(f"{COLLECTOR_BLOCK}1203", did=did)),
        Scene("09:36", "demo.who.client_gbk", FakeCall("13800138000", name="张伟".encode("gbk"),
                                                       did=MAIN_LINE)),
        Scene("09:40", "demo.who.collector", FakeCall(f"{COLLECTOR_BLOCK}1202", did=MAIN_LINE)),
        Scene("09:47", "demo.who.collector", FakeCall(f"{COLLECTOR_BLOCK}1207", did=did)),
        Scene("09:52", "demo.who.supplier", FakeCall("075586001234", did=MAIN_LINE)),
        Scene("09:58", "demo.who.collector", FakeCall(f"{COLLECTOR_BLOCK}1209", did=MAIN_LINE)),
    ]


def demo_config(folder: Path, web_port: int, store_path: Path | None = None) -> Config:
    """Return the demo's config: FastAGI on any free loopback port, the store in `folder`.

    `store_path`, when given, replaces the store file in `folder`.
    """
    config = Config()
    return replace(
        config,
        asterisk=replace(config.asterisk, agi_port=0, ami_enabled=False,
                         ami_secret=secrets.token_urlsafe(12)),
        numbers=replace(config.numbers, area_code="021"),
        store=replace(config.store, path=str(store_path or folder / "demo.sqlite3")),
        web=replace(config.web, port=web_port),
        reception=replace(config.reception, company_name="示例科技有限公司",
                          company_name_en="Example Technology Co., Ltd.",
                          receptionist_name="陈静", receptionist_name_en="Chen Jing"),
        hr=replace(config.hr, reception_extensions=["100"]),
        notify=replace(config.notify, channels=["print"]),
    )


async def run_demo(*, once: bool, locale: str = "zh-CN", speed: float = 1.0,
                   web_port: int | None = None, keep_store: Path | None = None,
                   out: TextIO | None = None) -> int:
    """Run the demo; return the exit code. With `once`, exit after the summary.

    `web_port` None means DEFAULT_WEB_PORT, or any free port when that one is in use. A port
    given explicitly must be free, or the demo stops with DemoError.

    With `keep_store`, the demo's store is written to that new file and kept afterwards,
    so `callscreen replay` and `callscreen explain` can be tried on its calls.
    """
    out = out or sys.stdout
    configure_logging("warning", "console")
    if keep_store is not None and keep_store.exists():  # noqa: ASYNC240 -- one stat at start
        raise DemoError(both("demo.store_exists", path=keep_store))

    folder = Path(tempfile.mkdtemp(prefix="callscreen-demo-"))
    config = demo_config(folder, DEFAULT_WEB_PORT if web_port is None else web_port,
                         keep_store)
    try:
        daemon = await _start_daemon(config, out, locale, fall_back=web_port is None)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise

    try:
        assert daemon.agi is not None
        fake = FakeAsterisk(agi_port=daemon.agi.port, ami_secret=config.asterisk.ami_secret,
                            time_scale=1.0 / max(speed, 0.01))
        await fake.start()
        try:
            daemon.start_ami("127.0.0.1", fake.ami_port)
            logins = await _seed(daemon)
            _print_header(out, locale, daemon, logins)
            await _wait_for_ami(daemon)
            await _play(daemon, fake, morning(), locale, speed, out)
            example_call = await _print_summary(daemon, locale, out)
            if keep_store is not None:
                print(t("demo.store_kept", locale, path=keep_store, call_id=example_call),
                      file=out, flush=True)
            if not once:
                print(t("demo.keep_running", locale), file=out, flush=True)
                await asyncio.Event().wait()
        finally:
            await fake.close()
    finally:
        await daemon.close()
        shutil.rmtree(folder, ignore_errors=True)
    return 0


async def _start_daemon(config: Config, out: TextIO, locale: str, *,
                        fall_back: bool) -> Daemon:
    """Start the demo daemon. With `fall_back`, a console port in use is replaced by any
    free port. A failed start closes what it opened, because the store's worker thread would
    otherwise keep the process alive."""
    daemon = Daemon(config)
    daemon.notification_stream = out
    try:
        await daemon.start()
    except BaseException as exc:
        await daemon.close()
        if not isinstance(exc, WebListenError):
            raise
        port = config.web.port
        if not (fall_back and _address_in_use(exc) and port != 0):
            raise DemoError(both("demo.web_port_failed", port=port,
                                 error=_os_error_text(exc))) from exc

        print(t("demo.port_taken", locale, port=port), file=out)
        return await _start_daemon(replace(config, web=replace(config.web, port=0)), out,
                                   locale, fall_back=False)
    return daemon


def _address_in_use(exc: WebListenError) -> bool:
    cause = exc.__cause__
    return isinstance(cause, OSError) and cause.errno == errno.EADDRINUSE


def _os_error_text(exc: WebListenError) -> str:
    cause = exc.__cause__
    if isinstance(cause, OSError):
        return cause.strerror or str(cause)
    return str(exc)


async def _seed(daemon: Daemon) -> list[tuple[str, str, str]]:
    """Seed the directory, the demo logins, and yesterday's reception tag on a number of
    the collector's block. Returns the logins (user, password, role) to print."""
    assert daemon.store is not None and daemon.screener is not None
    now = datetime.now(UTC)
    await replace_employees(daemon.store.db, [_employee(*row) for row in DIRECTORY], now)
    logins = await ensure_demo_users(daemon.store.db)

    yesterday = now - timedelta(days=1)
    for suffix in ("1188",):
        facts = daemon.screener.normalise(f"{COLLECTOR_BLOCK}{suffix}")
        await daemon.store.add_tag(caller_key=facts.key, caller_block=facts.block,
                                   tag="collector", employee_id=TARGET_EMPLOYEE[1],
                                   note="demo", author="demo", created_at=yesterday)
    await daemon.refresh_history()
    return logins


def _employee(name: str, employee_id: str, department: str, extension: str,
              did: str) -> Employee:
    full, initials = name_pinyin(name)
    return Employee(employee_id=employee_id, name=name, department=department,
                    extension=extension, did=did, pinyin=full, initials=initials)


async def _wait_for_ami(daemon: Daemon, limit_s: float = 5.0) -> None:
    assert daemon.ami is not None
    deadline = asyncio.get_running_loop().time() + limit_s
    while not daemon.ami.health.logged_in:
        if asyncio.get_running_loop().time() > deadline:
            return
        await asyncio.sleep(0.05)


async def _play(daemon: Daemon, fake: FakeAsterisk, scenes: list[Scene], locale: str,
                speed: float, out: TextIO) -> None:
    for scene in scenes:
        result = await fake.place_call(scene.call)
        call_id = result.variables.get("CALLSCREEN_CALL_ID", "")
        update = daemon.hub.get(call_id)
        print(format_scene(scene, update, result.agi_status, locale), file=out, flush=True)

        if scene.feedback and update is not None:
            await _give_feedback(daemon, update)
            print("        " + t("demo.feedback_given", locale, employee=TARGET_EMPLOYEE[0]),
                  file=out, flush=True)
        await asyncio.sleep(0.3 / max(speed, 0.01))


async def _give_feedback(daemon: Daemon, update: CallUpdate) -> None:
    assert daemon.store is not None
    await daemon.store.add_tag(caller_key=update.caller_key, caller_block=update.caller_block,
                               tag="collector", employee_id=TARGET_EMPLOYEE[1],
                               note="", author="demo-reception", call_id=update.call_id)
    await daemon.refresh_history()


def format_scene(scene: Scene, update: CallUpdate | None, agi_status: str, locale: str) -> str:
    """Render one call of the demo as a line (plus reason lines) for the terminal."""
    who = t(scene.who, locale)
    if update is None:
        return f"{scene.clock}  {who:<12} " + t("demo.no_decision", locale, status=agi_status)

    verdict = t(f"verdict.{update.verdict}", locale)
    region = update.region or "—"
    head = (f"{scene.clock}  {update.caller_masked or '—':<16} {region}"
            f"{' ' * max(1, 16 - display_width(region))}"
            f"{verdict} {update.tag} " + t("demo.score", locale, score=update.score)
            + f"   ({who})")
    reasons = [f"        - {r.text_zh if locale == 'zh-CN' else r.text_en}"
               for r in update.reasons]
    return "\n".join([head, *reasons])


def _print_header(out: TextIO, locale: str, daemon: Daemon,
                  logins: list[tuple[str, str, str]]) -> None:
    print(t("demo.header", locale), file=out)
    if daemon.web_url:
        print(t("demo.console_at", locale, url=daemon.web_url), file=out)
        for username, password, role in logins:
            print("  " + t("demo.login", locale, user=username, password=password,
                           role=t(f"demo.role.{role}", locale)), file=out)
    print(file=out, flush=True)


async def _print_summary(daemon: Daemon, locale: str, out: TextIO) -> str:
    """Print the verdict counts and the flagged calls; return a call id to try explain on."""
    assert daemon.store is not None
    await _wait_for_records(daemon, expected=len(morning()))

    counts = await daemon.store.count_calls_by_verdict(datetime.now(UTC) - timedelta(hours=1))
    print(file=out)
    print(t("demo.summary", locale), file=out)
    for verdict in ("allow", "flag", "block"):
        print(f"  {t('verdict.' + verdict, locale)}: {counts.get(verdict, 0)}", file=out)

    flagged = [c for c in daemon.hub.active() if c.verdict != "allow"]
    print(t("demo.flagged_list", locale), file=out)
    flagged.sort(key=lambda c: c.started_at)
    for call in flagged:
        rules = ", ".join(r.rule for r in call.reasons)
        print(f"  {call.call_id}  {call.caller_masked or '—'}  {call.score:>3}  {rules}",
              file=out)
    out.flush()
    return flagged[-1].call_id if flagged else "CALL_ID"


async def _wait_for_records(daemon: Daemon, expected: int, limit_s: float = 10.0) -> None:
    """Wait until AMI has written a record for every call, so the summary is complete."""
    assert daemon.store is not None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    since = datetime.now(UTC) - timedelta(hours=1)
    while loop.time() < deadline:
        calls = await daemon.store.recent_calls(limit=expected * 2, since=since)
        if sum(1 for c in calls if c.ended_at is not None) >= expected:
            return
        await asyncio.sleep(0.1)
