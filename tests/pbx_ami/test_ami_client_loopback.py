"""AmiClient against a scripted fake AMI server on 127.0.0.1, answering with captured bytes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from pbx_ami_captures import raw_bytes

from callscreen.errors import AmiError, AmiLoginError, AmiTimeoutError
from callscreen.pbx.ami import MAX_MISSED_PONGS, AmiClient, backoff_delay
from callscreen.pbx.ami_wire import AmiFramer, AmiMessage

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
SECRET = "s3cret-do-not-log"


def captured(base: str, action_id: str) -> list[bytes]:
    """Return the messages of capture `base` that carry `action_id`, each with its CRLF CRLF."""
    body = raw_bytes(base).split(b"\r\n", 1)[1]
    blocks = [block + b"\r\n\r\n" for block in body.split(b"\r\n\r\n") if block]
    return [block for block in blocks if f"ActionID: {action_id}\r\n".encode() in block]


def with_action_id(block: bytes, old: str, new: str) -> bytes:
    return block.replace(f"ActionID: {old}\r\n".encode(), f"ActionID: {new}\r\n".encode())


LOGIN_OK = captured("ami-actions", "act-01-login")[0]
LOGIN_FAILED = captured("ami-bad-login", "bad-01-login")[0]
PONG = captured("ami-actions", "act-02-ping")[0]
CORE_SHOW_CHANNELS = captured("ami-actions", "act-04-coreshowchannels")


@dataclass
class FakeAmi:
    """A fake Asterisk manager: replies from the captures, scripted per test."""

    login_ok: bool = True
    answer_ping: bool = True
    drop_first_after_login: bool = False
    after_login: bytes = b""
    connections: int = 0
    logins: int = 0
    pings: int = 0
    first_actions: list[str] = field(default_factory=list)
    secrets_seen: list[str] = field(default_factory=list)
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        writer.write(BANNER)
        framer = AmiFramer(expect_banner=False)
        first = True
        while data := await reader.read(4096):
            for action in framer.feed(data):
                if first:
                    self.first_actions.append(action.get("Action") or "")
                    first = False
                if not await self.reply(action, writer):
                    writer.close()
                    return
        writer.close()

    async def reply(self, action: AmiMessage, writer: asyncio.StreamWriter) -> bool:
        name = (action.get("Action") or "").lower()
        action_id = action.action_id
        if name == "login":
            return await self.reply_login(action, writer)
        if name == "ping":
            self.pings += 1
            if self.answer_ping:
                writer.write(with_action_id(PONG, "act-02-ping", action_id))
        elif name == "coreshowchannels":
            for block in CORE_SHOW_CHANNELS:
                writer.write(with_action_id(block, "act-04-coreshowchannels", action_id))
        await writer.drain()
        return True

    async def reply_login(self, action: AmiMessage, writer: asyncio.StreamWriter) -> bool:
        self.secrets_seen.append(action.get("Secret") or "")
        if not self.login_ok:
            writer.write(with_action_id(LOGIN_FAILED, "bad-01-login", action.action_id))
            await writer.drain()
            return False
        self.logins += 1
        writer.write(with_action_id(LOGIN_OK, "act-01-login", action.action_id))
        writer.write(self.after_login)
        await writer.drain()
        return not (self.drop_first_after_login and self.logins == 1)


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeAmi, int]]:
    server_state = FakeAmi()
    server = await asyncio.start_server(server_state.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield server_state, port
    for writer in server_state.writers:
        writer.close()
    server.close()
    await server.wait_closed()


def make_client(port: int, events: list[AmiMessage] | None = None, **options: float) -> AmiClient:
    received = events if events is not None else []
    settings: dict[str, float] = {
        "ping_interval_s": 30.0,
        "ping_timeout_s": 1.0,
        "reconnect_min_s": 0.01,
        "reconnect_max_s": 0.2,
        "connect_timeout_s": 2.0,
        "action_timeout_s": 2.0,
    }
    settings.update(options)
    return AmiClient(
        host="127.0.0.1",
        port=port,
        username="callscreen",
        secret=SECRET,
        on_event=received.append,
        **settings,  # type: ignore[arg-type]
    )


async def wait_for(condition: Callable[[], bool], limit_s: float = 5.0) -> None:
    # Polling keeps the fake server free of test hooks; the timeout bounds the wait.
    async with asyncio.timeout(limit_s):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def with_running(client: AmiClient, body: Callable[[], Awaitable[None]]) -> None:
    task = asyncio.create_task(client.run())
    try:
        await body()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_client_logs_in_and_pings(fake: tuple[FakeAmi, int]) -> None:
    server, port = fake
    client = make_client(port, ping_interval_s=0.05)

    await with_running(client, lambda: wait_for(lambda: server.pings >= 2))

    assert server.logins == 1
    assert server.first_actions == ["Login"]
    assert server.secrets_seen == [SECRET]


async def test_client_health_after_login(fake: tuple[FakeAmi, int]) -> None:
    _server, port = fake
    client = make_client(port)
    seen: list[bool] = []

    async def body() -> None:
        await wait_for(lambda: client.health.logged_in)
        seen.append(client.health.connected)

    await with_running(client, body)

    assert seen == [True]
    assert client.health.banner == "Asterisk Call Manager/11.0.0"
    assert client.health.logged_in is False


async def test_send_action_returns_pong(fake: tuple[FakeAmi, int]) -> None:
    _server, port = fake
    client = make_client(port)
    replies: list[AmiMessage] = []

    async def body() -> None:
        await wait_for(lambda: client.health.logged_in)
        replies.append(await client.send_action({"Action": "Ping"}))

    await with_running(client, body)

    assert replies[0].get("Ping") == "Pong"


async def test_send_action_list_collects_core_show_channels(fake: tuple[FakeAmi, int]) -> None:
    _server, port = fake
    client = make_client(port)
    replies: list[list[AmiMessage]] = []

    async def body() -> None:
        await wait_for(lambda: client.health.logged_in)
        replies.append(await client.send_action_list({"Action": "CoreShowChannels"}))

    await with_running(client, body)

    assert len(replies[0]) == len(CORE_SHOW_CHANNELS)
    assert replies[0][-1].event == "CoreShowChannelsComplete"


async def test_send_action_before_login_is_rejected(fake: tuple[FakeAmi, int]) -> None:
    _server, port = fake
    client = make_client(port)

    with pytest.raises(AmiError, match="not logged in"):
        await client.send_action({"Action": "Ping"})


async def test_bad_login_names_host_and_user_not_secret(fake: tuple[FakeAmi, int]) -> None:
    server, port = fake
    server.login_ok = False
    client = make_client(port)

    await with_running(client, lambda: wait_for(lambda: server.connections >= 4))

    error = client.health.last_error
    assert isinstance(error, AmiLoginError)
    assert "127.0.0.1" in str(error)
    assert "callscreen" in str(error)
    assert SECRET not in str(error)
    assert client.health.logged_in is False


async def test_bad_login_backoff_grows(fake: tuple[FakeAmi, int]) -> None:
    server, port = fake
    server.login_ok = False
    client = make_client(port, reconnect_min_s=0.01, reconnect_max_s=10.0)

    await with_running(client, lambda: wait_for(lambda: client.health.reconnects >= 4))

    assert client.health.retry_delay_s >= 0.08


def test_backoff_delay_doubles_then_caps() -> None:
    delays = [backoff_delay(attempt, 1.0, 60.0) for attempt in range(8)]

    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]
    assert backoff_delay(10_000, 1.0, 60.0) == 60.0


async def test_dropped_connection_reconnects_and_logs_in(fake: tuple[FakeAmi, int]) -> None:
    server, port = fake
    server.drop_first_after_login = True
    client = make_client(port)

    await with_running(client, lambda: wait_for(lambda: server.logins >= 2))

    assert server.connections == 2
    assert server.first_actions == ["Login", "Login"]


async def test_hung_server_without_pong_reconnects(fake: tuple[FakeAmi, int]) -> None:
    server, port = fake
    server.answer_ping = False
    client = make_client(port, ping_interval_s=0.02, ping_timeout_s=0.05)

    await with_running(client, lambda: wait_for(lambda: server.connections >= 2))

    assert server.pings >= MAX_MISSED_PONGS
    assert server.logins >= 2


async def test_action_without_reply_times_out(fake: tuple[FakeAmi, int]) -> None:
    _server, port = fake
    client = make_client(port, action_timeout_s=0.1)
    errors: list[AmiTimeoutError] = []

    async def body() -> None:
        await wait_for(lambda: client.health.logged_in)
        with pytest.raises(AmiTimeoutError) as caught:
            await client.send_action({"Action": "CoreStatus"})
        errors.append(caught.value)

    await with_running(client, body)

    assert errors[0].action == "CoreStatus"


async def test_raising_handler_keeps_next_events(fake: tuple[FakeAmi, int]) -> None:
    server, port = fake
    server.after_login = (
        b"Event: Newchannel\r\nPrivilege: call,all\r\nUniqueid: u1\r\nLinkedid: u1\r\n\r\n"
        b"Event: Hangup\r\nPrivilege: call,all\r\nUniqueid: u1\r\nLinkedid: u1\r\n\r\n"
    )
    received: list[str] = []

    def handler(msg: AmiMessage) -> None:
        received.append(msg.event)
        if msg.event == "Newchannel":
            raise RuntimeError("handler bug")

    client = make_client(port)
    client._on_event = handler

    await with_running(client, lambda: wait_for(lambda: len(received) >= 2))

    assert received == ["Newchannel", "Hangup"]
    assert server.connections == 1


async def test_foreign_action_id_response_is_ignored(fake: tuple[FakeAmi, int]) -> None:
    server, port = fake
    server.after_login = (
        b"Response: Success\r\nActionID: someone-else-7\r\nPing: Pong\r\n\r\n"
        b"Event: FullyBooted\r\nPrivilege: system,all\r\n\r\n"
    )
    events: list[AmiMessage] = []
    client = make_client(port, events)

    await with_running(client, lambda: wait_for(lambda: len(events) >= 1))

    assert [event.event for event in events] == ["FullyBooted"]
    assert server.connections == 1
