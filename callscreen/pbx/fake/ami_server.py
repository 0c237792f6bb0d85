"""The AMI server of the fake PBX: banner, Login, a few actions, and the event stream."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import structlog

from callscreen.pbx.fake.ami_messages import (
    BANNER,
    UNKNOWN_ACTION_TEXT,
    build_event,
    build_response,
    encode_message,
    header_value,
    header_values,
    parse_action,
)
from callscreen.pbx.fake.channel import FakeChannel, Header

log = structlog.get_logger(__name__)

MAX_ACTION_BYTES = 65536
AUTH_TIMEOUT_S = 30.0  # Asterisk's default authtimeout
IDLE_TIMEOUT_S = 600.0
MAX_BUFFERED_BYTES = 4 * 1024 * 1024  # a client this far behind is dropped


@dataclass(slots=True, eq=False)
class _Client:
    writer: asyncio.StreamWriter
    peer: str
    logged_in: bool = False
    events: bool = False


class AmiServer:
    """Serves AMI on 127.0.0.1 for the fake PBX and broadcasts its events."""

    def __init__(self, *, username: str, secret: str, system_name: str,
                 channels: Mapping[str, FakeChannel], port: int = 0,
                 login_failure_delay_s: float = 1.0) -> None:
        self.username = username
        self.secret = secret
        self.system_name = system_name
        self.channels = channels
        self.port = port
        self.login_failure_delay_s = login_failure_delay_s
        self._server: asyncio.Server | None = None
        self._clients: set[_Client] = set()
        self._started_at = time.monotonic()

    async def start(self) -> int:
        """Listen on 127.0.0.1 and return the bound port."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port,
                                                  limit=MAX_ACTION_BYTES)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("fake_ami_started", host="127.0.0.1", port=self.port)

        return self.port

    async def close(self) -> None:
        """Stop listening and close every client connection."""
        if self._server is not None:
            self._server.close()
        self.drop_connections()
        if self._server is not None:
            await self._server.wait_closed()

    def drop_connections(self) -> None:
        """Close every client socket at once, as an Asterisk restart does."""
        for client in list(self._clients):
            client.writer.close()
        self._clients.clear()

    def broadcast(self, headers: list[Header]) -> None:
        """Send one event to every logged-in client that asked for events."""
        data = encode_message(headers)
        for client in list(self._clients):
            if not (client.logged_in and client.events):
                continue
            if client.writer.transport.get_write_buffer_size() > MAX_BUFFERED_BYTES:
                log.warning("fake_ami_client_too_slow", peer=client.peer)
                self._drop(client)
                continue
            client.writer.write(data)

    def _drop(self, client: _Client) -> None:
        client.writer.close()
        self._clients.discard(client)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = _Client(writer, str(writer.get_extra_info("peername")))
        self._clients.add(client)
        writer.write(BANNER)
        try:
            await self._read_actions(reader, client)
        except (ConnectionError, TimeoutError) as exc:
            log.info("fake_ami_client_gone", peer=client.peer, error=str(exc))
        finally:
            self._drop(client)

    async def _read_actions(self, reader: asyncio.StreamReader, client: _Client) -> None:
        while True:
            timeout = IDLE_TIMEOUT_S if client.logged_in else AUTH_TIMEOUT_S
            try:
                raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=timeout)
            except asyncio.IncompleteReadError:
                return
            except asyncio.LimitOverrunError:
                log.warning("fake_ami_action_too_large", peer=client.peer)
                return
            if not await self._handle(parse_action(raw), client):
                return
            await client.writer.drain()

    async def _handle(self, action: list[Header], client: _Client) -> bool:
        """Answer one action; return False when the connection must close."""
        name = (header_value(action, "Action") or "").lower()
        action_id = header_value(action, "ActionID")
        if name == "login":
            return await self._login(action, action_id, client)
        if name == "logoff":
            self._reply(client, action_id, "Goodbye", [("Message", "Thanks for all the fish.")])
            return False
        if not client.logged_in:
            self._reply(client, action_id, "Error", [("Message", "Permission denied")])
            return True

        handler = self._handlers().get(name)
        if handler is None:
            text = UNKNOWN_ACTION_TEXT.format(action=header_value(action, "Action") or "")
            self._reply(client, action_id, "Error", [("Message", text)])
            return True

        handler(action, action_id, client)
        return True

    def _handlers(self) -> dict[str, Callable[[list[Header], str | None, _Client], None]]:
        return {"ping": self._ping, "coreshowchannels": self._core_show_channels,
                "status": self._status}

    async def _login(self, action: list[Header], action_id: str | None, client: _Client) -> bool:
        username = header_value(action, "Username")
        secret = header_value(action, "Secret")
        if username != self.username or secret != self.secret:
            # Asterisk answers a failed login about 1 s later, then closes the socket.
            await asyncio.sleep(self.login_failure_delay_s)
            self._reply(client, action_id, "Error", [("Message", "Authentication failed")])
            await client.writer.drain()
            return False

        client.logged_in = True
        client.events = (header_value(action, "Events") or "on").lower() not in ("off", "no")
        self._reply(client, action_id, "Success", [("Message", "Authentication accepted")])
        if client.events:
            self._send_login_events(client)
        return True

    def _send_login_events(self, client: _Client) -> None:
        uptime = str(int(time.monotonic() - self._started_at))
        booted = [("Uptime", uptime), ("LastReload", uptime), ("Status", "Fully Booted")]
        self._send(client, build_event("FullyBooted", "system,all", None, booted))
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime())
        local = client.writer.get_extra_info("sockname")
        remote = client.writer.get_extra_info("peername")
        auth = [
            ("EventTV", now), ("Severity", "Informational"), ("Service", "AMI"),
            ("EventVersion", "1"), ("AccountID", self.username),
            ("SessionID", f"0x{id(client):x}"),
            ("LocalAddress", f"IPV4/TCP/{local[0]}/{local[1]}"),
            ("RemoteAddress", f"IPV4/TCP/{remote[0]}/{remote[1]}"),
            ("UsingPassword", "0"), ("SessionTV", now),
        ]
        self._send(client, build_event("SuccessfulAuth", "security,all", self.system_name, auth))

    def _ping(self, _action: list[Header], action_id: str | None, client: _Client) -> None:
        body = [("Ping", "Pong"), ("Timestamp", f"{time.time():.6f}")]
        self._reply(client, action_id, "Success", body)

    def _core_show_channels(self, _action: list[Header], action_id: str | None,
                            client: _Client) -> None:
        start = [("EventList", "start"), ("Message", "Channels will follow")]
        self._reply(client, action_id, "Success", start)
        channels = list(self.channels.values())
        for channel in channels:
            body: list[Header] = [("Event", "CoreShowChannel")]
            body += [("ActionID", action_id)] if action_id is not None else []
            body += [
                *channel.snapshot(),
                ("Application", channel.application), ("ApplicationData", channel.app_data),
                ("Duration", _duration(channel.seconds_up())), ("BridgeId", channel.bridge_id),
            ]
            self._send(client, body)
        self._list_complete(client, "CoreShowChannelsComplete", action_id, len(channels))

    def _status(self, action: list[Header], action_id: str | None, client: _Client) -> None:
        wanted = header_value(action, "Channel")
        if wanted and wanted not in self.channels:
            self._reply(client, action_id, "Error", [("Message", "No such channel")])
            return

        start = [("EventList", "start"), ("Message", "Channel status will follow")]
        self._reply(client, action_id, "Success", start)
        channels = [self.channels[wanted]] if wanted else list(self.channels.values())
        names = ",".join(header_values(action, "Variables")).split(",")
        for channel in channels:
            self._send(client, _status_event(channel, action_id, [n for n in names if n]))
        self._list_complete(client, "StatusComplete", action_id, len(channels), items=True)

    def _list_complete(self, client: _Client, name: str, action_id: str | None, count: int,
                       *, items: bool = False) -> None:
        body: list[Header] = [("Event", name)]
        body += [("ActionID", action_id)] if action_id is not None else []
        body += [("EventList", "Complete"), ("ListItems", str(count))]
        body += [("Items", str(count))] if items else []
        self._send(client, body)

    def _reply(self, client: _Client, action_id: str | None, response: str,
               body: list[Header]) -> None:
        self._send(client, build_response(action_id, response, body))

    def _send(self, client: _Client, headers: list[Header]) -> None:
        client.writer.write(encode_message(headers))


def _status_event(channel: FakeChannel, action_id: str | None,
                  variables: list[str]) -> list[Header]:
    """Build one `Event: Status` item: capital-C Privilege and ActionID last, as captured."""
    headers: list[Header] = [("Event", "Status"), ("Privilege", "Call")]
    headers += [
        *channel.snapshot(),
        ("Type", channel.channel_type), ("DNID", ""),
        ("EffectiveConnectedLineNum", channel.connected_num or "<unknown>"),
        ("EffectiveConnectedLineName", channel.connected_name or "<unknown>"),
        ("TimeToHangup", "0"), ("BridgeID", channel.bridge_id),
        ("Application", channel.application), ("Data", channel.app_data),
        ("Nativeformats", "(slin)"), ("Readformat", "slin"), ("Readtrans", ""),
        ("Writeformat", "slin"), ("Writetrans", ""), ("Callgroup", "0"), ("Pickupgroup", "0"),
        ("Seconds", str(channel.seconds_up())),
    ]
    headers += [("Variable", f"{name}={_variable(channel, name)}") for name in variables]
    headers += [("ActionID", action_id)] if action_id is not None else []

    return headers


def _variable(channel: FakeChannel, name: str) -> str:
    # Inherited variables are stored as set (`__NAME`) but read back by their bare name.
    return channel.variables.get(name, channel.variables.get(f"__{name}", ""))


def _duration(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
