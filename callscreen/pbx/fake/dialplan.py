"""The dialplans the fake PBX can run, as data.

`capture_dialplan` mirrors the `[from-trunk]` and `[internal]` contexts that produced the
recorded Asterisk 22.10.1 traffic, so the fake's events can be compared with the capture.
`callscreen_dialplan` models the include callscreen ships: screen over FastAGI, ring
untagged when AGISTATUS is not SUCCESS, play a message and hang up with cause 21 on `block`,
otherwise tag the caller-ID name and dial reception.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

Condition = Callable[[Mapping[str, str]], bool]

_VARIABLE_REFERENCE = re.compile(r"\$\{([^}]+)\}")


@dataclass(frozen=True, slots=True)
class Step:
    """One dialplan priority: an application, its data template and an optional label.

    `data` may reference `${NAME}` the way the dialplan does. A `GotoIf` step carries a
    `condition` over the channel's variables and jumps to `target` when it is true.
    """

    app: str
    data: str = ""
    label: str = ""
    condition: Condition | None = None
    target: str = ""


@dataclass(frozen=True, slots=True)
class Dialplan:
    """The contexts one fake call walks through, and how its screening verdict is read."""

    inbound_context: str
    extensions: Mapping[str, tuple[Step, ...]]  # keyed "_X.", "s" and named extensions
    reception_context: str
    reception_steps: tuple[Step, ...]
    verdict_variable: str
    block_value: str

    def steps_for(self, exten: str) -> tuple[Step, ...]:
        """Return the priorities of `exten`, matching digits to `_X.` as Asterisk would."""
        if exten in self.extensions:
            return self.extensions[exten]
        if exten.isdigit() and "_X." in self.extensions:
            return self.extensions["_X."]

        return self.extensions["s"]


def expand(template: str, variables: Mapping[str, str]) -> str:
    """Replace each `${NAME}` by its value; an unset name expands to "" as in Asterisk."""
    return _VARIABLE_REFERENCE.sub(lambda match: variables.get(match.group(1), ""), template)


def _is_equal(name: str, value: str) -> Condition:
    return lambda variables: variables.get(name, "") == value


def _is_not_equal(name: str, value: str) -> Condition:
    return lambda variables: variables.get(name, "") != value


def capture_dialplan(agi_url: str) -> Dialplan:
    """Build the dialplan of the recorded PBX (`conf/pbx/extensions.conf` of the capture)."""
    screen = (
        Step("Set", "SCREEN_SOURCE=trunk"),
        Step("Set", "SCREEN_RESULT=unknown"),
        Step("UserEvent", "ScreenStart,CallerIDNum: ${CALLERID(num)},"
             "CallerIDName: ${CALLERID(name)},DID: ${SCREEN_DID}"),
        Step("AGI", agi_url + ",${CALLERID(num)},${SCREEN_DID}"),
        Step("UserEvent", "ScreenDecision,Result: ${SCREEN_RESULT},AGIStatus: ${AGISTATUS}"),
        Step("GotoIf", condition=_is_equal("SCREEN_RESULT", "reject"), target="reject"),
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
    reception = (
        Step("NoOp", "Reception answering call from ${CALLERID(all)}"),
        Step("Answer"),
        Step("UserEvent", "ReceptionAnswered,CallerIDNum: ${CALLERID(num)}"),
        Step("Wait", "${TALK_SECONDS}"),
        Step("Hangup"),
    )

    return Dialplan("from-trunk", extensions, "internal", reception, "SCREEN_RESULT", "reject")


def callscreen_dialplan(agi_url: str) -> Dialplan:
    """Build the model of callscreen's own include for an inbound trunk.

    NOTE: this mirrors the behaviour the include must have. If the shipped
    `dialplan/callscreen.conf` differs in applications or priorities, update these steps so
    that the fake keeps emitting the same events as a PBX running that file.
    """
    inbound = (
        Step("NoOp", "callscreen: inbound call to ${EXTEN} from ${CALLERID(all)}"),
        Step("Set", "__CALLSCREEN_DID=${EXTEN}"),
        Step("AGI", agi_url + ",${CALLERID(num)},${CALLSCREEN_DID}"),
        Step("GotoIf", condition=_is_not_equal("AGISTATUS", "SUCCESS"), target="ring"),
        Step("GotoIf", condition=_is_equal("CALLSCREEN_VERDICT", "block"), target="block"),
        Step("GotoIf", condition=_is_equal("CALLSCREEN_TAG", ""), target="ring"),
        Step("Set", "CALLERID(name)=${CALLSCREEN_TAG}${CALLERID(name)}"),
        Step("Dial", "Local/${RECEPTION}@internal,20", label="ring"),
        Step("Hangup"),
        Step("Playback", "callscreen-blocked", label="block"),
        Step("Hangup", "21"),
    )
    reception = (
        Step("NoOp", "Reception answering call from ${CALLERID(all)}"),
        Step("Answer"),
        Step("Wait", "${TALK_SECONDS}"),
        Step("Hangup"),
    )
    extensions = {"_X.": inbound, "s": inbound}

    return Dialplan("from-trunk", extensions, "internal", reception, "CALLSCREEN_VERDICT", "block")
