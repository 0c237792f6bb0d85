"""The daemon is not running: AGI() fails at once and the dialplan rings the call untagged."""

from __future__ import annotations

import re
import socket
from pathlib import Path

from callscreen.pbx.fake import FakeAsterisk, FakeCall

DIALPLAN = Path(__file__).resolve().parents[2] / "dialplan" / "callscreen.conf"
# `same => n(label),App(data)` or `exten => s,1,App(data)` of the shipped include.
PRIORITY = re.compile(r"^\s*(?:exten\s*=>\s*[^,]+,\s*\d+|same\s*=>\s*n)(?:\((\w+)\))?\s*,"
                      r"\s*(\w+)\((.*)\)\s*$")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_refused_agi_call_still_rings(reliability) -> None:
    reliability.describe(
        "守护进程未运行，FastAGI 连接被拒绝 / daemon not running, FastAGI connection refused",
        "AGISTATUS=FAILURE, no CALLSCREEN_* variables, the call rings reception untagged")
    fake = FakeAsterisk(agi_port=_closed_port())
    await fake.start()

    try:
        result = await fake.place_call(FakeCall("13912345678", talk_seconds=0.1))
    finally:
        await fake.close()

    reliability.observed = (f"AGISTATUS={result.agi_status}, rang={result.rang}, "
                            f"variables={sorted(result.variables)}")
    assert result.agi_status == "FAILURE"
    assert result.rang
    assert not result.rejected
    assert "CALLSCREEN_VERDICT" not in result.variables


def _screen_context() -> list[tuple[str, str, str]]:
    lines = DIALPLAN.read_text(encoding="utf-8").splitlines()
    start = lines.index("[callscreen-screen]") + 1
    steps: list[tuple[str, str, str]] = []
    for line in lines[start:]:
        if line.startswith("["):
            break
        match = PRIORITY.match(line)
        if match:
            steps.append((match.group(1) or "", match.group(2), match.group(3)))
    return steps


def test_dialplan_continues_on_agi_failure(reliability) -> None:
    reliability.describe(
        "拨号方案：AGISTATUS=FAILURE / shipped dialplan with AGISTATUS=FAILURE",
        "the priority right after AGI() jumps to a label that returns to the inbound route")

    steps = _screen_context()
    apps = [app for _label, app, _data in steps]
    after_agi = steps[apps.index("AGI") + 1]
    target = after_agi[2].rsplit("?", 1)[1].rstrip(")").split(":")[0]
    labelled = {label: app for label, app, _data in steps if label}

    reliability.observed = f"after AGI(): {after_agi[1]}({after_agi[2]}); {target} -> " \
                           f"{labelled.get(target)}"
    assert after_agi[1] == "GotoIf"
    assert '"${AGISTATUS}" != "SUCCESS"' in after_agi[2]
    assert labelled[target] == "Return"
