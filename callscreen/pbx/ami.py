"""The AMI client: connect, log in, keep the connection alive and dispatch events.

panoramisk is used for the transport side: `_AmiProtocol` subclasses its
`AMIProtocol` (an asyncio.Protocol). Its framing is replaced by `AmiFramer`, because
panoramisk 1.4 decodes every TCP chunk on its own with `errors="ignore"` (so a chunk
boundary inside 张三 loses a character and GBK names vanish) and splits only on CRLF CRLF
(so the banner sticks to the first message).

panoramisk's `Manager` is not used. It reconnects through `loop.call_later` callbacks
with a fixed delay and no cap on attempts, sends queued actions before Login succeeds,
gives actions no timeout, runs coroutine handlers as untracked tasks, and lets one failing
handler abort the rest of a read. `AmiClient` does those parts itself: one `run()`
coroutine loops over sessions with capped exponential backoff, every action has a
timeout, and each event handler call is isolated.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

import structlog
from panoramisk.ami_protocol import AMIProtocol

from callscreen.errors import AmiError, AmiLoginError, AmiTimeoutError, ProtocolError
from callscreen.pbx.ami_wire import DEFAULT_MAX_MESSAGE_BYTES, AmiFramer, AmiMessage, encode_action

log = structlog.get_logger(__name__)

ActionFields = Mapping[str, str | Sequence[str]]

# Pongs missed in a row before the connection counts as hung and is dropped.
MAX_MISSED_PONGS = 3


@dataclass(slots=True)
class AmiHealth:
    """The client's state as shown on the health page and in metrics."""

    connected: bool = False
    logged_in: bool = False
    last_error: Exception | None = None
    reconnects: int = 0
    events_received: int = 0
    retry_delay_s: float = 0.0
    banner: str = ""


@dataclass(slots=True)
class _Pending:
    action: str
    future: asyncio.Future[list[AmiMessage]]
    as_list: bool
    messages: list[AmiMessage] = field(default_factory=list)

    def accepts(self, msg: AmiMessage) -> bool:
        # OriginateResponse carries both Event and Response; it is an event, not the reply.
        if not self.messages:
            return bool(msg.response) and not msg.event
        return self.as_list and bool(msg.event)

    def add(self, msg: AmiMessage) -> bool:
        """Store `msg`; return True when the action is complete."""
        self.messages.append(msg)
        if not self.as_list:
            return True
        if len(self.messages) == 1:
            return (msg.get("EventList") or "").lower() != "start"

        return _ends_list(msg)


def _ends_list(msg: AmiMessage) -> bool:
    return (msg.get("EventList") or "").lower() == "complete" or msg.event.endswith("Complete")


class _AmiProtocol(AMIProtocol):  # type: ignore[misc]
    """panoramisk's protocol with `AmiFramer` doing the framing and decoding."""

    def __init__(self, client: AmiClient, framer: AmiFramer) -> None:
        self._client = client
        self._framer = framer

    def data_received(self, data: bytes) -> None:
        try:
            messages = self._framer.feed(data)
        except ProtocolError as exc:
            self._client._abort(exc)
            self.transport.close()
            return

        if self._framer.banner:
            self._client._health.banner = self._framer.banner
        for message in messages:
            self._client._handle_message(message)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._client._abort(exc or AmiError("Asterisk closed the AMI connection"))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.transport.close()


class AmiClient:
    """A long-lived AMI connection that logs in, pings, reconnects and dispatches events.

    `on_event` is called synchronously for every event, in wire order. An exception from
    it is logged with the event name and ids, and the next events are still delivered.
    `on_connected` runs after each successful login, e.g. to reconcile with
    CoreShowChannels.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        secret: str,
        on_event: Callable[[AmiMessage], None],
        on_connected: Callable[[], Awaitable[None]] | None = None,
        ping_interval_s: float = 20.0,
        ping_timeout_s: float = 5.0,
        reconnect_min_s: float = 1.0,
        reconnect_max_s: float = 60.0,
        connect_timeout_s: float = 5.0,
        action_timeout_s: float = 10.0,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self._secret = secret
        self._on_event = on_event
        self._on_connected = on_connected
        self._ping_interval_s = ping_interval_s
        self._ping_timeout_s = ping_timeout_s
        self._reconnect_min_s = reconnect_min_s
        self._reconnect_max_s = reconnect_max_s
        self._connect_timeout_s = connect_timeout_s
        self._action_timeout_s = action_timeout_s
        self._max_message_bytes = max_message_bytes
        self._health = AmiHealth()
        self._pending: dict[str, _Pending] = {}
        self._protocol: _AmiProtocol | None = None
        self._lost: asyncio.Future[Exception] | None = None
        self._session_logged_in = False
        self._id_prefix = f"cs-{uuid.uuid4().hex[:8]}-"
        self._id_counter = itertools.count(1)

    def __repr__(self) -> str:
        return f"<AmiClient {self.username}@{self.host}:{self.port}>"

    @property
    def health(self) -> AmiHealth:
        """A copy of the current connection state."""
        return dataclasses.replace(self._health)

    async def run(self) -> None:
        """Connect, log in and stay connected until cancelled, reconnecting with backoff."""
        attempt = 0
        while True:
            try:
                await self._session()
            except (OSError, AmiError, ProtocolError) as exc:
                self._health.last_error = exc
            finally:
                self._end_session()

            if self._session_logged_in:
                attempt = 0
            delay = backoff_delay(attempt, self._reconnect_min_s, self._reconnect_max_s)
            attempt += 1
            self._health.reconnects += 1
            self._health.retry_delay_s = delay
            self._log_retry(delay)
            await asyncio.sleep(delay)

    async def send_action(self, action: ActionFields) -> AmiMessage:
        """Send one action and return its response (`Response: Success` or `Error`).

        Raises AmiError when not logged in or when the connection drops, and
        AmiTimeoutError when no response arrives within the action timeout.
        """
        messages = await self._send(action, as_list=False)

        return messages[0]

    async def send_action_list(self, action: ActionFields) -> list[AmiMessage]:
        """Send an EventList action (CoreShowChannels, Status, ...) and return every message.

        The list is the response followed by the events up to the closing `...Complete`
        event. A response without `EventList: start` (an error) is returned alone.
        """
        return await self._send(action, as_list=True)

    # Session lifecycle.

    async def _session(self) -> None:
        self._session_logged_in = False
        loop = asyncio.get_running_loop()
        self._lost = loop.create_future()
        framer = AmiFramer(max_message_bytes=self._max_message_bytes)
        # TODO: plain TCP only; AMI over TLS (manager.conf tlsenable) needs an ssl context.
        # asyncio.timeout rather than wait_for: on Python 3.11, wait_for can swallow a
        # cancellation that arrives as the connection fails, and the client never stops.
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                _transport, protocol = await loop.create_connection(
                    lambda: _AmiProtocol(self, framer), self.host, self.port)
        except (OSError, TimeoutError) as exc:
            raise AmiError(
                f"无法连接 AMI / cannot connect to AMI at {self.host}:{self.port}: {exc}",
                host=self.host,
                port=self.port,
            ) from exc

        self._protocol = protocol
        self._health.connected = True
        log.info("ami_connected", host=self.host, port=self.port)
        await self._login()
        self._session_logged_in = True
        await self._run_on_connected()
        await self._keep_alive()

    async def _run_on_connected(self) -> None:
        if self._on_connected is None:
            return

        try:
            await self._on_connected()
        except Exception:  # the connection is fine; a failed hook must not drop it
            log.exception("ami_on_connected_failed", host=self.host, port=self.port)

    async def _login(self) -> None:
        fields = {"Action": "Login", "Username": self.username, "Secret": self._secret}
        response = (await self._send({**fields, "Events": "on"}, as_list=False, login=True))[0]
        if response.response.lower() != "success":
            reason = response.get("Message") or response.response
            raise AmiLoginError(
                f"AMI 登录失败 / AMI login failed for user {self.username!r} "
                f"on {self.host}:{self.port}: {reason}",
                host=self.host,
                port=self.port,
                action="Login",
            )

        self._health.logged_in = True
        self._health.last_error = None
        log.info("ami_logged_in", host=self.host, port=self.port, user=self.username)

    async def _keep_alive(self) -> None:
        # A hung Asterisk keeps the socket open but stops answering; only Ping notices.
        lost = self._lost
        assert lost is not None
        missed = 0
        while True:
            done, _ = await asyncio.wait({lost}, timeout=self._ping_interval_s)
            if done:
                raise lost.result()
            try:
                await self._send({"Action": "Ping"}, as_list=False, wait_s=self._ping_timeout_s)
                missed = 0
            except AmiTimeoutError:
                missed += 1
                log.warning("ami_ping_missed", host=self.host, port=self.port, missed=missed)
                if missed >= MAX_MISSED_PONGS:
                    raise

    def _end_session(self) -> None:
        if self._protocol is not None:
            self._protocol.close()
            self._protocol = None
        self._fail_pending(AmiError(f"AMI connection to {self.host}:{self.port} closed"))
        self._health.connected = False
        self._health.logged_in = False

    def _abort(self, exc: Exception) -> None:
        """Mark the session as lost; called from the protocol on EOF or bad bytes."""
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(exc)
        self._fail_pending(
            AmiError(f"AMI connection to {self.host}:{self.port} lost: {exc}", host=self.host)
        )

    def _log_retry(self, delay: float) -> None:
        error = self._health.last_error
        if isinstance(error, AmiLoginError):
            log.error("ami_login_failed", host=self.host, port=self.port, user=self.username,
                      error=str(error), retry_in_s=delay)
            return
        log.warning("ami_disconnected", host=self.host, port=self.port, error=str(error),
                    retry_in_s=delay)

    # Actions.

    async def _send(
        self,
        action: ActionFields,
        *,
        as_list: bool,
        login: bool = False,
        wait_s: float | None = None,
    ) -> list[AmiMessage]:
        name = _action_name(action)
        protocol = self._protocol
        if protocol is None or protocol.closed or not (login or self._health.logged_in):
            raise AmiError(f"AMI not logged in; cannot send {name}", host=self.host,
                           port=self.port, action=name)

        action_id = _field(action, "ActionID") or f"{self._id_prefix}{next(self._id_counter)}"
        payload = encode_action(_flatten(action, action_id))
        future: asyncio.Future[list[AmiMessage]] = asyncio.get_running_loop().create_future()
        self._pending[action_id] = _Pending(name, future, as_list)
        protocol.transport.write(payload)
        log.debug("ami_action_sent", action=name, action_id=action_id)
        try:
            async with asyncio.timeout(wait_s or self._action_timeout_s):
                return await future
        except TimeoutError as exc:
            raise AmiTimeoutError(
                f"AMI action {name} timed out on {self.host}:{self.port}",
                host=self.host, port=self.port, action=name, action_id=action_id,
            ) from exc
        finally:
            self._pending.pop(action_id, None)

    def _fail_pending(self, exc: AmiError) -> None:
        pending, self._pending = self._pending, {}
        for item in pending.values():
            if not item.future.done():
                item.future.set_exception(exc)

    # Incoming messages.

    def _handle_message(self, msg: AmiMessage) -> None:
        # Most messages are events while no action waits; skip reading their ActionID.
        pending = self._pending.get(msg.action_id) if self._pending else None
        if pending is not None and pending.accepts(msg):
            if pending.add(msg) and not pending.future.done():
                pending.future.set_result(pending.messages)
            return

        if msg.event:
            self._dispatch(msg)
            return
        # Responses to actions that timed out, or to other clients behind an AMI proxy.
        log.debug("ami_response_ignored", action_id=msg.action_id, response=msg.response)

    def _dispatch(self, msg: AmiMessage) -> None:
        self._health.events_received += 1
        try:
            self._on_event(msg)
        except Exception:  # a handler bug must not cost the other events of this read
            log.exception(
                "ami_event_handler_failed",
                ami_event=msg.event,
                uniqueid=msg.get("Uniqueid"),
                linkedid=msg.get("Linkedid"),
            )


def backoff_delay(attempt: int, minimum: float, maximum: float) -> float:
    """Return the wait before reconnect number `attempt` (0-based): doubling, capped."""
    return float(min(maximum, minimum * 2.0 ** min(attempt, 30)))


def _action_name(action: ActionFields) -> str:
    return _field(action, "Action") or "?"


def _field(action: ActionFields, key: str) -> str:
    for name, value in action.items():
        if name.lower() == key.lower() and isinstance(value, str):
            return value
    return ""


def _flatten(action: ActionFields, action_id: str) -> list[tuple[str, str]]:
    fields = [(name, value) for name, value in action.items() if name.lower() != "actionid"]

    pairs: list[tuple[str, str]] = []
    for name, value in fields:
        if isinstance(value, str):
            pairs.append((name, value))
        else:
            pairs.extend((name, item) for item in value)
    pairs.append(("ActionID", action_id))

    return pairs
