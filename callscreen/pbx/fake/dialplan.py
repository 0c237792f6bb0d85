"""The dialplans the fake PBX can run, as data.

`capture_dialplan` mirrors the `[from-trunk]` and `[internal]` contexts that produced the
recorded Asterisk 22.10.1 traffic, so the fake's events can be compared with the capture.
`callscreen_dialplan` models the include callscreen ships (`dialplan/callscreen.conf`),
wired either the plain Asterisk way (the trunk context calls `Gosub(callscreen-screen,...)`)
or the FreePBX way (the trunk delivers to `[callscreen-from-trunk]`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from callscreen.pbx.fake.patterns import INVALID_EXTENSION, best_match

Extensions = Mapping[str, tuple["Step", ...]]

_VARIABLE_REFERENCE = re.compile(r"\$\{([^}]+)\}")
# The only expression form the dialplans here use: $["left" = "right"] or with !=.
_COMPARISON = re.compile(r'\$\["([^"]*)" (!?=) "([^"]*)"\]')

# The contexts of callscreen's include; a test checks them against dialplan/callscreen.conf.
SCREEN_CONTEXT = "callscreen-screen"
FROM_TRUNK_CONTEXT = "callscreen-from-trunk"
# The patterns [callscreen-from-trunk] uses to catch every DID; dialplan/README.md advises
# the same ones for a site's own trunk context.
DID_PATTERNS = ("_[+0-9].", "_X", "_[a-zA-Z].")


class NoExtensionError(LookupError):
    """A channel reached an extension its context neither has nor catches with "i"."""


@dataclass(frozen=True, slots=True)
class Step:
    """One dialplan priority: an application, its data as written and an optional label.

    `data` may reference `${NAME}` and compare with `$["a" = "b"]` the way the dialplan does.
    """

    app: str
    data: str = ""
    label: str = ""


@dataclass(frozen=True, slots=True)
class Dialplan:
    """The contexts one fake call walks through, and how its screening verdict is read."""

    inbound_context: str
    contexts: Mapping[str, Extensions]  # extensions keyed by name ("s") or "_pattern"
    reception_context: str
    reception_steps: tuple[Step, ...]
    verdict_variable: str
    block_value: str
    globals: Mapping[str, str] = field(default_factory=dict)

    def resolve(self, context: str, exten: str) -> str:
        """Return the extension Asterisk runs for `exten` in `context`: an exact name, the
        best matching pattern, or "i" when nothing matches.

        Raises NoExtensionError when nothing matches and the context has no "i", where
        Asterisk would fail the call.
        """
        extensions = self.contexts[context]
        matched = best_match(extensions, exten)
        if matched is not None:
            return matched
        if INVALID_EXTENSION in extensions:
            return INVALID_EXTENSION

        raise NoExtensionError(f"extension {exten!r} matches nothing in context {context!r}")

    def steps_for(self, context: str, exten: str) -> tuple[Step, ...]:
        """Return the priorities Asterisk runs for `exten` in `context` (see `resolve`)."""
        return self.contexts[context][self.resolve(context, exten)]


def expand(template: str, variables: Mapping[str, str]) -> str:
    """Replace each `${NAME}` by its value (unset expands to "") and evaluate comparisons."""
    text = _VARIABLE_REFERENCE.sub(lambda match: variables.get(match.group(1), ""), template)

    return _COMPARISON.sub(_compare, text)


def _compare(match: re.Match[str]) -> str:
    left, operator, right = match.groups()
    equal = left == right

    return str(int(equal if operator == "=" else not equal))


def capture_dialplan(agi_url: str) -> Dialplan:
    """Build the dialplan of the recorded PBX (`conf/pbx/extensions.conf` of the capture)."""
    screen = (
        Step("Set", "SCREEN_SOURCE=trunk"),
        Step("Set", "SCREEN_RESULT=unknown"),
        Step("UserEvent", "ScreenStart,CallerIDNum: ${CALLERID(num)},"
             "CallerIDName: ${CALLERID(name)},DID: ${SCREEN_DID}"),
        Step("AGI", agi_url + ",${CALLERID(num)},${SCREEN_DID}"),
        Step("UserEvent", "ScreenDecision,Result: ${SCREEN_RESULT},AGIStatus: ${AGISTATUS}"),
        Step("GotoIf", '$["${SCREEN_RESULT}" = "reject"]?reject'),
        Step("Dial", "Local/${RECEPTION}@internal,20"),
        Step("Hangup"),
        Step("Hangup", "21", label="reject"),
    )
    extensions = {
        "_X.": (
            Step("NoOp", "Inbound call to DID ${EXTEN} from ${CALLERID(all)}"),
            Step("Set", "__SCREEN_DID=${EXTEN}"),
            Step("Goto", "screen,1"),
        ),
        "s": (
            Step("NoOp", "Inbound call without DID from ${CALLERID(all)}"),
            Step("Set", "__SCREEN_DID=s"),
            Step("Goto", "screen,1"),
        ),
        "screen": screen,
    }

    return Dialplan("from-trunk", {"from-trunk": extensions}, "internal", _capture_reception(),
                    "SCREEN_RESULT", "reject")


def _capture_reception() -> tuple[Step, ...]:
    return (
        Step("NoOp", "Reception answering call from ${CALLERID(all)}"),
        Step("Answer"),
        Step("UserEvent", "ReceptionAnswered,CallerIDNum: ${CALLERID(num)}"),
        Step("Wait", "${TALK_SECONDS}"),
        Step("Hangup"),
    )


def callscreen_include(agi_url: str) -> tuple[dict[str, str], dict[str, Extensions]]:
    """Build the `[globals]` and the contexts of `dialplan/callscreen.conf`, step for step.

    The shipped file is what users install, so this model follows it; a test parses the file
    and compares every priority, so the two cannot drift apart.
    """
    globals_ = {
        "CALLSCREEN_AGI": agi_url,
        "CALLSCREEN_ALERT_INFO": "<http://127.0.0.1/callscreen>;info=callscreen-flagged",
        "CALLSCREEN_BLOCK_SOUND": "callscreen-blocked",
    }
    screen = (
        Step("Set", "__CALLSCREEN_DID=${ARG1}"),
        Step("Set", "__CALLSCREEN_VERDICT="),
        Step("Set", "__CALLSCREEN_TAG="),
        Step("AGI", "${CALLSCREEN_AGI},${CALLERID(num)},${CALLSCREEN_DID}"),
        Step("GotoIf", '$["${AGISTATUS}" != "SUCCESS"]?done'),
        Step("GotoIf", '$["${CALLSCREEN_VERDICT}" = "block"]?block'),
        Step("GotoIf", '$["${CALLSCREEN_VERDICT}" != "flag"]?done'),
        Step("Set", "__CALLSCREEN_VERDICT=${CALLSCREEN_VERDICT}"),
        Step("Set", "__CALLSCREEN_CALL_ID=${CALLSCREEN_CALL_ID}"),
        Step("Set", "CALLERID(name)=${CALLSCREEN_TAG}${CALLERID(name)}"),
        Step("Set", "__SIPADDHEADER51=Alert-Info: ${CALLSCREEN_ALERT_INFO}"),
        Step("Return", label="done"),
        Step("Answer", label="block"),
        Step("Wait", "0.5"),
        Step("Playback", "${CALLSCREEN_BLOCK_SOUND}"),
        Step("Hangup", "21"),
    )
    predial = (
        Step("GotoIf", '$["${CALLSCREEN_VERDICT}" != "flag"]?done'),
        Step("Set", "PJSIP_HEADER(add,Alert-Info)=${CALLSCREEN_ALERT_INFO}"),
        Step("Return", label="done"),
    )
    from_trunk: dict[str, tuple[Step, ...]] = {
        pattern: (
            Step("Gosub", SCREEN_CONTEXT + ",s,1(${EXTEN})"),
            Step("Goto", "from-trunk,${EXTEN},1"),
        )
        for pattern in DID_PATTERNS
    }
    from_trunk["s"] = (
        Step("Gosub", SCREEN_CONTEXT + ",s,1()"),
        Step("Goto", "from-trunk,s,1"),
    )
    from_trunk[INVALID_EXTENSION] = (
        Step("Gosub", SCREEN_CONTEXT + ",s,1(${INVALID_EXTEN})"),
        Step("Goto", "from-trunk,${INVALID_EXTEN},1"),
    )
    contexts: dict[str, Extensions] = {
        SCREEN_CONTEXT: {"s": screen},
        "callscreen-predial": {"s": predial},
        FROM_TRUNK_CONTEXT: from_trunk,
    }

    return globals_, contexts


def callscreen_dialplan(agi_url: str, *, freepbx: bool = False) -> Dialplan:
    """Build a PBX running callscreen's include, wired as `dialplan/README.md` shows.

    Plain Asterisk: the trunk delivers to `[from-trunk]`, which calls the screening
    subroutine and then rings reception. FreePBX (`freepbx=True`): the trunk's context is
    `[callscreen-from-trunk]`, which screens and then jumps to `[from-trunk]`, where
    FreePBX's inbound routes ring reception.
    """
    globals_, contexts = callscreen_include(agi_url)
    ring: tuple[Step, ...] = (
        Step("Dial", "Local/${RECEPTION}@internal,20"),
        Step("Hangup"),
    )
    if not freepbx:
        ring = (Step("Gosub", SCREEN_CONTEXT + ",s,1(${EXTEN})"), *ring)
    # The site's context catches every DID too, as FreePBX's inbound-route catch-all does.
    trunk = {pattern: ring for pattern in (*DID_PATTERNS, "s", INVALID_EXTENSION)}
    contexts["from-trunk"] = trunk
    reception = (
        Step("NoOp", "Reception answering call from ${CALLERID(all)}"),
        Step("Answer"),
        Step("Wait", "${TALK_SECONDS}"),
        Step("Hangup"),
    )
    inbound = FROM_TRUNK_CONTEXT if freepbx else "from-trunk"

    return Dialplan(inbound, contexts, "internal", reception, "CALLSCREEN_VERDICT", "block",
                    globals_)
