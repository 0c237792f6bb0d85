"""End to end over loopback: real Asterisk 22.10.1 bytes in, one call record per call out.

The FastAGI sessions and the AMI event stream of the same twelve IAX2 calls were recorded
together, so their Uniqueids match: the daemon decides each call from the recorded AGI
environment, then follows it through the recorded AMI events, and must join both into
exactly one row per call.
"""

import asyncio
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from callscreen.config import Config
from callscreen.daemon import Daemon
from callscreen.pbx.fake.agi_client import variables_set_by

CAPTURES = Path(__file__).resolve().parents[1] / "fixtures" / "asterisk"
BANNER = b"Asterisk Call Manager/11.0.0\r\n"
MAIN_LINE = "02188886666"


def daemon_config(tmp_path: Path) -> Config:
    config = Config()
    return replace(
        config,
        asterisk=replace(config.asterisk, agi_port=0, ami_enabled=False, ami_secret="test"),
        store=replace(config.store, path=str(tmp_path / "calls.sqlite3")),
        web=replace(config.web, enabled=False),
        notify=replace(config.notify, enabled=False),
    )


def recorded_events(name: str) -> bytes:
    """Return a capture's bytes after the banner and the Login response."""
    raw = (CAPTURES / name).read_bytes()
    assert raw.startswith(BANNER)
    login_end = raw.index(b"\r\n\r\n") + 4
    return raw[login_end:]


def recorded_environments(folder: str) -> list[bytes]:
    """Return each recorded FastAGI session's environment block, in call order."""
    sessions = sorted((CAPTURES / folder).glob("*.from-asterisk.raw"))
    return [path.read_bytes().split(b"\n\n", 1)[0] + b"\n\n" for path in sessions]


class RecordedAmi:
    """An AMI peer that accepts the Login, answers CoreShowChannels with an empty list,
    then sends recorded events in 1400-byte segments."""

    def __init__(self, events: bytes) -> None:
        self.events = events
        self.sent_all = asyncio.Event()
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(BANNER)
        streaming = False
        try:
            while action := await reader.readuntil(b"\r\n\r\n"):
                fields = dict(line.split(": ", 1) for line in
                              action.decode().strip().split("\r\n") if ": " in line)
                writer.write(self._response(fields))
                await writer.drain()
                if fields.get("Action") == "CoreShowChannels" and not streaming:
                    streaming = True
                    for start in range(0, len(self.events), 1400):
                        writer.write(self.events[start:start + 1400])
                        await writer.drain()
                    self.sent_all.set()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    @staticmethod
    def _response(fields: dict[str, str]) -> bytes:
        action_id = fields.get("ActionID", "")
        head = f"ActionID: {action_id}\r\n" if action_id else ""
        action = fields.get("Action", "")
        if action == "Login":
            body = "Response: Success\r\n" + head + "Message: Authentication accepted\r\n\r\n"
        elif action == "CoreShowChannels":
            body = ("Response: Success\r\n" + head + "EventList: start\r\n"
                    "Message: Channels will follow\r\n\r\n"
                    "Event: CoreShowChannelsComplete\r\n" + head +
                    "EventList: Complete\r\nListItems: 0\r\n\r\n")
        else:
            body = "Response: Success\r\n" + head + "Ping: Pong\r\nTimestamp: 1.0\r\n\r\n"
        return body.encode()


async def run_agi_session(port: int, environment: bytes) -> dict[str, str]:
    """Play Asterisk's side of one FastAGI session; return the variables the daemon set."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(environment)
    variables: dict[str, str] = {}
    while line := await asyncio.wait_for(reader.readline(), timeout=5):
        variables.update(variables_set_by(line.decode()) or {})
        writer.write(b"200 result=0\n" if line.startswith(b"EXEC") else b"200 result=1\n")
    writer.close()
    return variables


def stored_calls(path: str) -> list[sqlite3.Row]:
    with sqlite3.connect(path) as connection:
        connection.row_factory = sqlite3.Row
        return connection.execute("SELECT * FROM calls ORDER BY started_at, uniqueid").fetchall()


async def wait_for_ended_rows(path: str, expected: int, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if sum(1 for row in stored_calls(path) if row["ended_at"]) >= expected:
            return
        await asyncio.sleep(0.1)


@pytest.fixture
async def daemon(tmp_path: Path):
    running = Daemon(daemon_config(tmp_path))
    await running.start()
    yield running
    await running.close()


async def replay_calls(daemon: Daemon, capture: str, agi_folder: str | None,
                       expected: int) -> tuple[list[dict[str, str]], list[sqlite3.Row]]:
    assert daemon.agi is not None
    verdicts = []
    if agi_folder is not None:
        for environment in recorded_environments(agi_folder):
            verdicts.append(await run_agi_session(daemon.agi.port, environment))

    peer = RecordedAmi(recorded_events(capture))
    daemon.start_ami("127.0.0.1", await peer.start())
    try:
        await asyncio.wait_for(peer.sent_all.wait(), timeout=10)
        await wait_for_ended_rows(daemon.config.store.path, expected)
    finally:
        await peer.close()
    return verdicts, stored_calls(daemon.config.store.path)


async def test_recorded_iax2_calls_get_variables_and_one_record_each(daemon: Daemon) -> None:
    variables, rows = await replay_calls(daemon, "ami-inbound-calls-iax2.raw", "fastagi-iax2", 12)

    assert len(variables) == 12
    for answer in variables:
        assert answer["CALLSCREEN_VERDICT"] in {"allow", "flag", "block"}
        assert answer["CALLSCREEN_CALL_ID"].startswith("c")
    assert len(rows) == 12
    assert {row["call_id"] for row in rows} == {v["CALLSCREEN_CALL_ID"] for v in variables}


async def test_recorded_iax2_records_carry_ami_facts(daemon: Daemon) -> None:
    _variables, rows = await replay_calls(daemon, "ami-inbound-calls-iax2.raw", "fastagi-iax2",
                                          12)

    assert all(row["did"] == MAIN_LINE for row in rows)
    assert all(row["ended_at"] for row in rows)
    assert all(row["decision_source"] == "agi" for row in rows)
    causes = [row["hangup_cause"] for row in rows]
    assert causes.count(21) == 2  # calls 7 and 8: the recorded dialplan rejected them
    assert causes.count(0) == 1  # call 9: the AGI server sent HANGUP
    assert sum(1 for row in rows if row["answered_by"] == "100") == 8  # not 5, 7, 8, 9


async def test_recorded_callers_are_normalised_in_records(daemon: Daemon) -> None:
    _variables, rows = await replay_calls(daemon, "ami-inbound-calls-iax2.raw", "fastagi-iax2",
                                          12)

    keys = [row["caller_key"] for row in rows]
    assert keys.count("+8613912345678") == 3  # +86..., 0139... and the "李四" call
    assert keys.count("+8613800138000") == 2
    assert keys.count("svc:95588") == 2
    kinds = [row["caller_kind"] for row in rows]
    assert kinds.count("anonymous") == 3
    assert "张三" in [row["caller_name"] for row in rows]


async def test_recorded_gbk_calls_keep_raw_name_without_agi(daemon: Daemon) -> None:
    _variables, rows = await replay_calls(daemon, "ami-extra-calls.raw", None, 4)

    gbk = [row for row in rows if row["caller_name_raw"] == "张伟".encode("gbk")]
    assert gbk, "the GBK-named calls must keep their raw bytes"
    assert all(row["caller_name"] == "张伟" for row in gbk)
    assert all(row["caller_name_encoding"] == "gb18030" for row in gbk)
    assert all(row["decision_source"] == "ami" for row in rows)
    assert len({row["linkedid"] for row in rows}) == len(rows)
