"""Runs one fake inbound call through a dialplan and emits its AMI events in captured order."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import urlsplit

import structlog

from callscreen.pbx.fake.agi_client import RESULT_TEXTS, AgiSession, AgiTarget
from callscreen.pbx.fake.call_events import EventWriter
from callscreen.pbx.fake.calls import FakeCall, FakeCallResult, PbxContext
from callscreen.pbx.fake.channel import STATE_UP, FakeChannel
from callscreen.pbx.fake.dial import DialRun
from callscreen.pbx.fake.dialplan import Dialplan, Step, expand
from callscreen.pbx.fake.patterns import INVALID_EXTENSION

log = structlog.get_logger(__name__)

# Marks a step after which the channel is gone and the dialplan stops.
STOP = "stop"


class Jump(NamedTuple):
    """A dialplan location to continue at."""

    context: str
    exten: str
    priority: int


@dataclass(slots=True)
class Frame:
    """One Gosub level: where Return continues and the caller's LOCAL(ARGn) values."""

    return_to: Jump
    arguments: dict[str, str]


class CallRunner:
    """Walks the inbound channel through the dialplan; also the AGI session's hooks."""

    def __init__(self, call: FakeCall, dialplan: Dialplan, context: PbxContext) -> None:
        self.call = call
        self.dialplan = dialplan
        self.context = context
        self.events = EventWriter(context)
        uniqueid = context.ids.uniqueid()
        self.channel = FakeChannel(
            name=f"IAX2/carrier-{context.ids.iax2_callno()}", uniqueid=uniqueid,
            linkedid=uniqueid, context=dialplan.inbound_context, exten=call.did or "s",
            caller_num=call.caller, caller_name=call.name_text())
        self.result = FakeCallResult(uniqueid, uniqueid, self.channel.name)
        self.caller_hung_up = False
        self._frames: list[Frame] = []
        self._arguments: dict[str, str] = {}

    async def run(self) -> FakeCallResult:
        """Run the call to its end and return what happened."""
        self.events.new_channel(self.channel)

        await self._walk()

        return self.result

    # --- AgiHooks -------------------------------------------------------------------------

    def exec_start(self, command: str) -> str:
        """Emit AGIExecStart and return its CommandId."""
        command_id = self.context.ids.command_id()
        extra = [("CommandId", command_id), ("Command", command)]
        self.events.channel("AGIExecStart", self.channel, extra, privilege="agi,all")

        return command_id

    def exec_end(self, command_id: str, command: str, code: int) -> None:
        """Emit AGIExecEnd with res_agi's ResultCode and Result words."""
        extra = [("CommandId", command_id), ("Command", command), ("ResultCode", str(code)),
                 ("Result", RESULT_TEXTS.get(code, "Failure"))]
        self.events.channel("AGIExecEnd", self.channel, extra, privilege="agi,all")

    def set_variable(self, name: str, value: str) -> None:
        """Set a channel variable from SET VARIABLE and remember it for the result."""
        self.result.variables[name] = value
        self.set_on(self.channel, name, value)

    def variables(self) -> dict[str, str]:
        """Return the inbound channel's variables and dialplan functions."""
        return self.variables_of(self.channel)

    def answer(self) -> None:
        """Answer the inbound channel."""
        if self.channel.state != STATE_UP:
            self.events.new_state(self.channel, STATE_UP)

    def hang_up_by_agi(self) -> None:
        """Soft-hang-up as res_agi does for the HANGUP command (cause 32 in the capture)."""
        self.events.soft_hangup_request(self.channel, 32)

    def hang_up_by_caller(self) -> None:
        """Emit the HangupRequest of a caller that hangs up while AGI runs."""
        self.caller_hung_up = True
        self.events.hangup_request(self.channel, 16)

    # --- dialplan -------------------------------------------------------------------------

    async def _walk(self) -> None:
        channel = self.channel
        steps = self._enter(channel.context, channel.exten)
        priority = 1
        while priority <= len(steps):
            step = steps[priority - 1]
            channel.priority = priority
            data = expand(step.data, self.variables_of(channel))
            self.events.new_exten(channel, step.app, data, channel.exten)

            outcome = await self._apply(step, data)

            if outcome == STOP:
                return
            if isinstance(outcome, Jump):
                channel.context, channel.exten, priority = outcome
                steps = self._enter(channel.context, channel.exten)
            elif isinstance(outcome, str):
                priority = _label_priority(steps, outcome)
            else:
                priority += 1

        # Running off the end of an extension hangs the channel up normally.
        self._hang_up(16)

    def _enter(self, context: str, exten: str) -> tuple[Step, ...]:
        """Return the steps for `exten`, moving the channel to "i" as Asterisk does when
        nothing in the context matches it."""
        extension = self.dialplan.resolve(context, exten)
        if extension == INVALID_EXTENSION and exten != INVALID_EXTENSION:
            self.set_on(self.channel, "INVALID_EXTEN", exten)
            self.channel.exten = INVALID_EXTENSION

        return self.dialplan.contexts[context][extension]

    async def _apply(self, step: Step, data: str) -> str | Jump | None:
        if step.app == "Set":
            self._apply_set(data)
        elif step.app == "Goto":
            return self._goto(data)
        elif step.app == "GotoIf":
            flag, _, label = data.partition("?")
            return label if flag == "1" else None
        elif step.app == "Gosub":
            return self._gosub(data)
        elif step.app == "Return":
            return self._return()
        elif step.app == "UserEvent":
            return self.user_event(self.channel, data)
        elif step.app == "AGI":
            return await self._agi(data)
        elif step.app == "Dial":
            return await self._dial(data)
        elif step.app == "Answer":
            self.answer()
        elif step.app == "Wait":
            await self.sleep(float(data or "0"))
        elif step.app == "Playback":
            self._playback()
        elif step.app == "Hangup":
            self._hang_up(int(data or "16"))
            return STOP

        return None

    def _goto(self, data: str) -> Jump:
        parts = data.split(",")
        context = parts[0] if len(parts) == 3 else self.channel.context

        return Jump(context, parts[-2], int(parts[-1] or "1"))

    def _gosub(self, data: str) -> Jump:
        """Push a return address and set the LOCAL(ARGn) variables, as app_stack does.

        NOTE: no capture contains Gosub; the VarSet names follow app_stack.c, which
        publishes each argument as `LOCAL(ARGn)`.
        """
        target, _, args = data.partition("(")
        context, exten, priority = target.split(",")
        channel = self.channel
        self._frames.append(Frame(Jump(channel.context, channel.exten, channel.priority + 1),
                                  dict(self._arguments)))
        self._arguments = {}
        for index, value in enumerate(args.rstrip(")").split(",") if args.rstrip(")") else [],
                                      start=1):
            self._arguments[f"ARG{index}"] = value
            self.events.var_set(channel, f"LOCAL(ARG{index})", value)

        return Jump(context, exten, int(priority))

    def _return(self) -> Jump | str:
        if not self._frames:
            log.warning("fake_return_without_gosub", uniqueid=self.channel.uniqueid)
            self._hang_up(16)
            return STOP

        frame = self._frames.pop()
        self._arguments = frame.arguments
        self.set_on(self.channel, "GOSUB_RETVAL", "")

        return frame.return_to

    def _apply_set(self, data: str) -> None:
        name, _, value = data.partition("=")
        if name == "CALLERID(name)":
            self.channel.caller_name = value
            self.events.new_callerid(self.channel)
            return

        self.set_on(self.channel, name, value)

    def set_on(self, channel: FakeChannel, name: str, value: str) -> None:
        """Set a variable on a channel of this call and emit VarSet."""
        channel.variables[name] = value
        self.events.var_set(channel, name, value)

    def user_event(self, channel: FakeChannel, data: str) -> str | None:
        """Emit a UserEvent from `Name,Key: Value,...` data; hang up on bytes that are not UTF-8."""
        if _has_invalid_utf8(data):
            # UserEvent builds JSON, which rejects bytes that are not UTF-8; the application
            # fails and Asterisk hangs the channel up with cause 0.
            log.warning("fake_user_event_invalid_utf8", uniqueid=channel.uniqueid)
            self._hang_up(0)
            return STOP

        name, *fields = data.split(",")
        extra = [("UserEvent", name)]
        extra += [(key, value) for key, _, value in (field.partition(": ") for field in fields)]
        self.events.channel("UserEvent", channel, extra, privilege="user,all")

        return None

    async def _agi(self, data: str) -> str | None:
        url, *args = data.split(",")
        script = urlsplit(url).path.lstrip("/")
        query = urlsplit(url).query
        target = AgiTarget(self.context.agi_host, self.context.agi_port,
                           script + (f"?{query}" if query else ""))
        session = AgiSession(self, target, args, timeout_s=self.context.agi_timeout_s,
                             caller_hangs_up=self.call.caller_hangs_up_during_agi,
                             time_scale=self.context.time_scale)

        status = await session.run()

        self.result.agi_status = status
        self.set_on(self.channel, "AGISTATUS", status)
        if status == "HANGUP":
            self._hang_up(16 if self.caller_hung_up else 0)
            return STOP
        return None

    async def _dial(self, data: str) -> str | None:
        self.result.rang = True
        dial = DialRun(self, data)

        answered = await dial.run()

        if answered:
            self._hang_up(16)
            return STOP
        return None

    def _playback(self) -> None:
        # NOTE: not in the capture. Playback answers an unanswered channel first; the fake
        # has no sound files and reports success as if the prompt existed.
        self.answer()
        self.set_on(self.channel, "PLAYBACKSTATUS", "SUCCESS")

    def _hang_up(self, cause: int) -> None:
        self.result.hangup_cause = cause
        self.result.rejected = cause == 21
        self.events.hangup_from_dialplan(self.channel, cause)

    def variables_of(self, channel: FakeChannel) -> dict[str, str]:
        """Return a channel's variables plus the dialplan functions and fake settings."""
        values = dict(self.dialplan.globals)
        values.update({name.lstrip("_"): value for name, value in channel.variables.items()})
        if channel is self.channel:
            values.update(self._arguments)
        values.update({
            "EXTEN": channel.exten,
            "CALLERID(num)": channel.caller_num,
            "CALLERID(name)": channel.caller_name,
            "CALLERID(all)": channel.callerid_all(),
            "RECEPTION": self.call.answer_by or "100",
            "TALK_SECONDS": _format_seconds(self.call.talk_seconds),
        })

        return values

    async def sleep(self, seconds: float) -> None:
        """Sleep for dialplan time, scaled by the PBX's time scale."""
        await asyncio.sleep(seconds * self.context.time_scale)


def _label_priority(steps: tuple[Step, ...], label: str) -> int:
    for index, step in enumerate(steps, start=1):
        if step.label == label:
            return index

    raise KeyError(f"dialplan label not found: {label}")


def _has_invalid_utf8(text: str) -> bool:
    return any("\udc80" <= char <= "\udcff" for char in text)


def _format_seconds(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"
