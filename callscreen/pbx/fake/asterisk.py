"""`FakeAsterisk`: an in-process stand-in for Asterisk 22.10.1 with AMI and FastAGI sides."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Literal

import structlog

from callscreen.errors import CallscreenError
from callscreen.pbx.fake.ami_server import AmiServer
from callscreen.pbx.fake.call_runner import CallRunner
from callscreen.pbx.fake.calls import FakeCall, FakeCallResult, IdSource, PbxContext
from callscreen.pbx.fake.channel import FakeChannel
from callscreen.pbx.fake.dialplan import Dialplan, callscreen_dialplan, capture_dialplan

log = structlog.get_logger(__name__)

# Guards only a fake bound to 127.0.0.1 for the demo and tests.
DEMO_AMI_SECRET = "callscreen-demo"
_LOOPBACK_ONLY = "agi_host 必须是回环地址 / agi_host must be a loopback address, got {host!r}"


class FakePbxError(CallscreenError, ValueError):
    """The fake PBX was configured with something it does not support."""


class FakeAsterisk:
    """A fake PBX: serves AMI on 127.0.0.1 and calls a FastAGI server for each placed call.

    `dialplan="callscreen"` runs the model of callscreen's include wired into a plain
    Asterisk trunk context, `"callscreen-freepbx"` the same include with the trunk delivering
    to `[callscreen-from-trunk]` as on FreePBX, and `"capture"` the dialplan that produced
    the recorded traffic, for comparisons with the capture.
    """

    def __init__(self, *, agi_host: str = "127.0.0.1", agi_port: int = 4573,
                 ami_username: str = "callscreen", ami_secret: str = DEMO_AMI_SECRET,
                 system_name: str = "callscreen-pbx", ring_delay_s: float = 0.0,
                 time_scale: float = 1.0, ami_port: int = 0,
                 login_failure_delay_s: float = 1.0, agi_timeout_s: float = 10.0,
                 dialplan: Literal["callscreen", "callscreen-freepbx", "capture"] = "callscreen",
                 ) -> None:
        _require_loopback(agi_host)
        self._channels: dict[str, FakeChannel] = {}
        self._ami = AmiServer(username=ami_username, secret=ami_secret,
                              system_name=system_name, channels=self._channels, port=ami_port,
                              login_failure_delay_s=login_failure_delay_s)
        self._context = PbxContext(
            system_name=system_name, emit=self._ami.broadcast, ids=IdSource(system_name),
            channels=self._channels, agi_host=agi_host, agi_port=agi_port,
            agi_timeout_s=agi_timeout_s, ring_delay_s=ring_delay_s, time_scale=time_scale)
        self._dialplan = _build_dialplan(dialplan, agi_host, agi_port)
        self._tasks: set[asyncio.Task[FakeCallResult]] = set()

    @property
    def ami_port(self) -> int:
        """Return the AMI port; the bound one once `start()` has run."""
        return self._ami.port

    async def start(self) -> None:
        """Start serving AMI."""
        await self._ami.start()

    async def close(self) -> None:
        """Cancel and await every running call, then close the AMI server."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._ami.close()
        log.info("fake_pbx_closed", calls_cancelled=len(tasks))

    def drop_ami_connections(self) -> None:
        """Close every AMI client connection, as an Asterisk restart would."""
        self._ami.drop_connections()

    async def place_call(self, call: FakeCall) -> FakeCallResult:
        """Run one inbound call through the dialplan and return how it went."""
        if call.transfer_to is not None:
            # TODO: model blind and attended transfers once a capture of them exists;
            # inventing BlindTransfer/AttendedTransfer headers would mislead the tracker.
            raise FakePbxError("模拟 PBX 尚不支持转接 / "
                               "transfers are not modelled by the fake PBX yet")

        runner = CallRunner(call, self._dialplan, self._context)
        task = asyncio.create_task(runner.run(), name=f"fake-call-{runner.result.uniqueid}")
        self._tasks.add(task)
        task.add_done_callback(self._forget)

        return await task

    def _forget(self, task: asyncio.Task[FakeCallResult]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("fake_call_failed", task=task.get_name(), error=repr(task.exception()))


def _build_dialplan(kind: str, agi_host: str, agi_port: int) -> Dialplan:
    url = f"agi://{agi_host}:{agi_port}/screen"
    if kind == "capture":
        return capture_dialplan(url)
    if kind == "callscreen":
        return callscreen_dialplan(url)
    if kind == "callscreen-freepbx":
        return callscreen_dialplan(url, freepbx=True)

    raise FakePbxError(f"未知的模拟拨号方案 / unknown fake dialplan {kind!r}; "
                       "use 'callscreen', 'callscreen-freepbx' or 'capture'")


def _require_loopback(host: str) -> None:
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError as exc:
        raise FakePbxError(_LOOPBACK_ONLY.format(host=host)) from exc
    if not loopback:
        raise FakePbxError(_LOOPBACK_ONLY.format(host=host))
