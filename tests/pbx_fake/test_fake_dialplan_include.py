"""The fake PBX's model of callscreen's include matches the shipped dialplan/callscreen.conf."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from callscreen.pbx.fake.dialplan import Step, callscreen_include
from callscreen.pbx.tracker import DID_VARIABLES

CONF = Path(__file__).resolve().parents[2] / "dialplan" / "callscreen.conf"
AGI_URL = "agi://127.0.0.1:4573/screen"

_PRIORITY = re.compile(r"^(?:exten\s*=>\s*([^,]+),1|same\s*=>\s*n(?:\(([^)]*)\))?),(\w+)\((.*)\)$")


def strip_comment(line: str) -> str:
    """Cut an Asterisk config line at its first unescaped ';' and unescape '\\;'."""
    kept = re.split(r"(?<!\\);", line, maxsplit=1)[0]
    return kept.replace("\\;", ";").strip()


def parse_conf(text: str) -> tuple[dict[str, str], dict[str, dict[str, list[Step]]]]:
    """Read [globals] and every context's priorities of an extensions.conf-style file."""
    globals_: dict[str, str] = {}
    contexts: dict[str, dict[str, list[Step]]] = {}
    context = ""
    exten = ""
    for raw in text.splitlines():
        line = strip_comment(raw)
        if not line:
            continue
        if line.startswith("["):
            context = line.strip("[]")
            contexts.setdefault(context, {})
            continue
        if context == "globals":
            name, _, value = line.partition("=")
            globals_[name] = value
            continue
        match = _PRIORITY.match(line)
        assert match is not None, f"unparsed dialplan line: {raw!r}"
        new_exten, label, app, data = match.groups()
        if new_exten is not None:
            exten = new_exten
            contexts[context][exten] = []
        contexts[context][exten].append(Step(app, data, label or ""))
    contexts.pop("globals", None)
    return globals_, contexts


@pytest.fixture(scope="module")
def shipped() -> tuple[dict[str, str], dict[str, dict[str, list[Step]]]]:
    return parse_conf(CONF.read_text(encoding="utf-8"))


def test_model_globals_match_conf(shipped) -> None:
    conf_globals, _contexts = shipped

    model_globals, _model = callscreen_include(conf_globals["CALLSCREEN_AGI"])

    assert model_globals == conf_globals


def test_model_contexts_match_conf(shipped) -> None:
    _globals, conf_contexts = shipped

    _model_globals, model = callscreen_include(AGI_URL)

    assert sorted(model) == sorted(conf_contexts)
    for context, extensions in conf_contexts.items():
        assert sorted(model[context]) == sorted(extensions), context
        for exten, steps in extensions.items():
            assert list(model[context][exten]) == steps, f"{context},{exten}"


def test_conf_sets_variable_tracker_reads(shipped) -> None:
    _globals, conf_contexts = shipped

    set_names = {
        step.data.partition("=")[0].lower()
        for extensions in conf_contexts.values()
        for steps in extensions.values()
        for step in steps
        if step.app == "Set"
    }

    assert set_names & DID_VARIABLES == {"__callscreen_did"}


def test_conf_passes_did_to_agi(shipped) -> None:
    _globals, conf_contexts = shipped

    agi_steps = [step for step in conf_contexts["callscreen-screen"]["s"] if step.app == "AGI"]

    assert [step.data for step in agi_steps] == [
        "${CALLSCREEN_AGI},${CALLERID(num)},${CALLSCREEN_DID}"
    ]


def test_comment_strip_keeps_escaped_semicolon() -> None:
    assert strip_comment(r"X=a\;b ; note") == "X=a;b"
