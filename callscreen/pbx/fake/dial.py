"""The `Dial(Local/<ext>@internal,20)` of a fake call: Local channels, bridge and teardown.

The event order follows an answered IAX2 call of the Asterisk 22.10.1 capture.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

from callscreen.pbx.fake.channel import STATE_DOWN, STATE_RING, STATE_UP, FakeChannel
from callscreen.pbx.fake.dialplan import expand

if TYPE_CHECKING:
    from callscreen.pbx.fake.call_runner import CallRunner

# app_dial clears these on the calling channel before it dials.
DIAL_VARIABLES = (
    "DIALSTATUS", "DIALEDPEERNUMBER", "DIALEDPEERNAME", "ANSWEREDTIME", "ANSWEREDTIME_MS",
    "DIALEDTIME", "DIALEDTIME_MS", "RINGTIME", "RINGTIME_MS", "PROGRESSTIME", "PROGRESSTIME_MS",
)


class DialRun:
    """One Dial application on the inbound channel of a `CallRunner`."""

    def __init__(self, runner: CallRunner, data: str) -> None:
        self.runner = runner
        self.events = runner.events
        self.caller = runner.channel
        target = data.split(",")[0]  # Local/100@internal
        self.dial_string = target.removeprefix("Local/")
        self.exten, _, self.context = self.dial_string.partition("@")
        ids = runner.context.ids
        base = f"{target}-{ids.local_suffix()}"
        self.one = self._local_channel(f"{base};1", ids.uniqueid(), STATE_DOWN)
        self.two = self._local_channel(f"{base};2", ids.uniqueid(), STATE_RING)
        self.bridge_id = str(uuid.uuid4())

    async def run(self) -> bool:
        """Ring reception; return True when it answered and the call ended in the bridge."""
        self._clear_dial_variables()
        self._create_local_pair()
        began = time.monotonic()
        self.events.channel("DialBegin", self.caller,
                            [*self.one.snapshot("Dest"), ("DialString", self.dial_string)])

        if self.runner.call.answer_by is None:
            await self._ring_out()
            return False

        await self.runner.sleep(self.runner.context.ring_delay_s)
        self._answer()
        answered = time.monotonic()
        self._bridge()
        await self._talk()
        self._tear_down()
        self._report_times(began, answered)
        return True

    def _local_channel(self, name: str, uniqueid: str, state: int) -> FakeChannel:
        return FakeChannel(name=name, uniqueid=uniqueid, linkedid=self.caller.linkedid,
                           context=self.context, exten=self.exten, state=state,
                           channel_type="Local")

    def _clear_dial_variables(self) -> None:
        for name in DIAL_VARIABLES:
            self.runner.set_on(self.caller, name, "")

    def _create_local_pair(self) -> None:
        self.events.new_channel(self.one)
        self.events.new_channel(self.two)
        inherited = {name: value for name, value in self.caller.variables.items()
                     if name.startswith("__")}

        self._prepare_outgoing_half(self.one, inherited)
        self.one.caller_num = self.caller.exten  # app_dial's quirk: the caller's extension
        self.one.connected_num = self.caller.caller_num
        self.one.connected_name = self.caller.caller_name
        self.one.exten = self.caller.exten
        self.events.new_exten(self.one, "AppDial", "(Outgoing Line)", self.one.exten)
        self._announce_caller_id(self.one)

        self._prepare_outgoing_half(self.two, inherited)
        self.two.caller_num = self.caller.caller_num
        self.two.caller_name = self.caller.caller_name
        self.two.connected_num = self.caller.exten
        self._announce_caller_id(self.two)
        self._local_bridge()

    def _prepare_outgoing_half(self, channel: FakeChannel, inherited: dict[str, str]) -> None:
        self.runner.set_on(channel, "DIALEDPEERNUMBER", self.dial_string)
        for name, value in inherited.items():
            self.runner.set_on(channel, name, value)

    def _announce_caller_id(self, channel: FakeChannel) -> None:
        self.events.new_callerid(channel)
        self.events.channel("NewConnectedLine", channel)

    def _local_bridge(self) -> None:
        body = self.one.snapshot("LocalOne") + self.two.snapshot("LocalTwo")
        body += [("Context", self.context), ("Exten", self.exten), ("LocalOptimization", "Yes")]
        self.events.emit("LocalBridge", "call,all", body)

    def _answer(self) -> None:
        steps = self.runner.dialplan.reception_steps
        for priority in (1, 2):  # NoOp, then Answer
            self._reception_exten(priority, steps[priority - 1].app)
        self.events.new_state(self.two, STATE_UP)
        self.events.new_state(self.one, STATE_UP)

        self.runner.set_on(self.caller, "DIALSTATUS", "ANSWER")
        self.runner.set_on(self.caller, "DIALEDPEERNAME", self.one.name)
        self.runner.set_on(self.caller, "DIALEDPEERNUMBER", self.dial_string)
        self.one.exten = ""
        self.events.channel("DialEnd", self.caller,
                            [*self.one.snapshot("Dest"), ("DialStatus", "ANSWER")])
        self.events.new_state(self.caller, STATE_UP)

    def _bridge(self) -> None:
        self.events.bridge("BridgeCreate", self.bridge_id, 0)
        self.events.new_exten(self.one, "AppDial", "(Outgoing Line)", "")
        self.events.bridge("BridgeEnter", self.bridge_id, 1, self.one)
        self.events.bridge("BridgeEnter", self.bridge_id, 2, self.caller)
        self.runner.set_on(self.one, "BRIDGEPEER", self.caller.name)
        self.runner.set_on(self.caller, "BRIDGEPEER", self.one.name)

    async def _talk(self) -> None:
        steps = self.runner.dialplan.reception_steps
        for priority in range(3, len(steps) + 1):
            step = steps[priority - 1]
            data = self._reception_exten(priority, step.app)
            if step.app == "UserEvent":
                self.runner.user_event(self.two, data)
            elif step.app == "Wait":
                await self.runner.sleep(float(data or "0"))

    def _reception_exten(self, priority: int, app: str) -> str:
        self.two.priority = priority
        step = self.runner.dialplan.reception_steps[priority - 1]
        data = expand(step.data, self.runner.variables_of(self.two))
        self.events.new_exten(self.two, app, data, self.two.exten)

        return data

    def _tear_down(self) -> None:
        # Threads race here: Asterisk emitted the Hangup of `;2` before the BRIDGEPEER
        # clearing in some captured calls and after it in others. This is the former order.
        self.events.soft_hangup_request(self.two, 16)
        self.events.hangup_request(self.one, 16)
        self.events.hangup(self.two, 16)
        self.runner.set_on(self.one, "BRIDGEPEER", "")
        self.runner.set_on(self.caller, "BRIDGEPEER", "")
        self.events.bridge("BridgeLeave", self.bridge_id, 1, self.one)
        self.events.hangup(self.one, 16)
        self.events.bridge("BridgeLeave", self.bridge_id, 0, self.caller)
        self.events.bridge("BridgeDestroy", self.bridge_id, 0)

    def _report_times(self, began: float, answered: float) -> None:
        now = time.monotonic()
        answered_ms = int((now - answered) * 1000)
        dialed_ms = int((now - began) * 1000)
        for name, value in (("ANSWEREDTIME", str(answered_ms // 1000)),
                            ("ANSWEREDTIME_MS", str(answered_ms)),
                            ("DIALEDTIME", str(dialed_ms // 1000)),
                            ("DIALEDTIME_MS", str(dialed_ms)), ("DIALSTATUS", "ANSWER")):
            self.runner.set_on(self.caller, name, value)

    async def _ring_out(self) -> None:
        # NOTE: no unanswered call was captured. This follows app_dial's documented result
        # (DIALSTATUS=NOANSWER after the timeout); the Local pair's hangup events are a guess.
        await self.runner.sleep(self.runner.context.dial_timeout_s)
        self.events.hangup_request(self.one, 16)
        self.events.hangup(self.two, 16)
        self.events.hangup(self.one, 16)
        self.events.channel("DialEnd", self.caller,
                            [*self.one.snapshot("Dest"), ("DialStatus", "NOANSWER")])
        self.runner.set_on(self.caller, "DIALSTATUS", "NOANSWER")
