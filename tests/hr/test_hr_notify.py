"""The outbox and its senders against real loopback receivers (aiohttp and aiosmtpd)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy

import pytest
from aiohttp import web
from aiosmtpd.smtp import SMTP

from callscreen.config.model import NotifyConfig
from callscreen.errors import ConfigError
from callscreen.notify.backoff import retry_delay
from callscreen.notify.model import Notification
from callscreen.notify.outbox import Notifier
from callscreen.store import Store
from callscreen.store import outbox as queries

NOTE = Notification(event="opened", case_no="HR-2026-0001", risk="medium",
                    counts={"short_calls": 8, "short_numbers": 8, "short_blocks": 1,
                            "long_calls": 8},
                    link="http://127.0.0.1:8080/hr/cases/1", employee_name="张伟")
DINGTALK_SECRET = "SEC-dingtalk-test"
FEISHU_SECRET = "feishu-test-secret"
WAIT_LIMIT_S = 10.0


@dataclass
class Receiver:
    """What the loopback robots saw; filled by handlers, checked in the tests."""

    completed: list[str] = field(default_factory=list)
    bodies: list[dict] = field(default_factory=list)
    signatures_valid: list[bool] = field(default_factory=list)
    failures_left: int = 0
    hang_once: set[str] = field(default_factory=set)
    hang_always: bool = False
    attempts: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)


def _app(receiver: Receiver) -> web.Application:
    async def webhook(request: web.Request) -> web.Response:
        receiver.attempts += 1
        key = request.headers["X-Callscreen-Dedupe-Key"]
        if key in receiver.hang_once or receiver.hang_always:
            receiver.hang_once.discard(key)
            await receiver.release.wait()
            raise web.HTTPServiceUnavailable
        if receiver.failures_left > 0:
            receiver.failures_left -= 1
            return web.Response(status=500)
        receiver.completed.append(key)
        receiver.bodies.append(await request.json())
        return web.json_response({"ok": True})

    async def dingtalk(request: web.Request) -> web.Response:
        timestamp = request.query["timestamp"]
        text = f"{timestamp}\n{DINGTALK_SECRET}".encode()
        expected = base64.b64encode(
            hmac.new(DINGTALK_SECRET.encode(), text, hashlib.sha256).digest()).decode()
        receiver.signatures_valid.append(request.query["sign"] == expected)
        receiver.bodies.append(await request.json())
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def feishu(request: web.Request) -> web.Response:
        body = await request.json()
        key = f"{body['timestamp']}\n{FEISHU_SECRET}".encode()
        expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
        receiver.signatures_valid.append(body["sign"] == expected)
        receiver.bodies.append(body)
        return web.json_response({"code": 0, "msg": "success"})

    async def wecom_rejects(request: web.Request) -> web.Response:
        receiver.attempts += 1
        return web.json_response({"errcode": 93000, "errmsg": "invalid webhook url"})

    app = web.Application()
    app.router.add_post("/hook", webhook)
    app.router.add_post("/robot/send", dingtalk)
    app.router.add_post("/open-apis/bot/v2/hook/test", feishu)
    app.router.add_post("/cgi-bin/webhook/send", wecom_rejects)
    return app


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    state = Receiver()
    runner = web.AppRunner(_app(state))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield state, f"http://127.0.0.1:{port}"
    state.release.set()
    await runner.cleanup()


def _notify_config(**overrides) -> NotifyConfig:
    settings = {"timeout_s": 5.0, "backoff_initial_s": 0.05, "backoff_max_s": 0.2,
                "poll_interval_s": 0.05, **overrides}
    return NotifyConfig(**settings)


async def _wait_until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT_LIMIT_S):
        # Polls state another task changes; the timeout above bounds the wait.
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def _wait_for_states(store: Store, wanted: Callable[[dict[str, int]], bool]) -> None:
    async with asyncio.timeout(WAIT_LIMIT_S):
        while not wanted(await queries.count_by_state(store.db)):  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def _start(notifier: Notifier) -> asyncio.Task[None]:
    return asyncio.create_task(notifier.run())


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_restart_mid_delivery_loses_nothing(tmp_path, receiver):
    state, base = receiver
    keys = [f"HR-2026-000{index}:medium:opened" for index in range(1, 5)]
    state.hang_once.add(keys[1])
    path = tmp_path / "outbox.sqlite3"
    config = _notify_config(channels=["webhook"], webhook_url=f"{base}/hook", timeout_s=30.0)
    store = await Store.open(path)
    first = Notifier(store, config)
    for key in keys:
        await first.enqueue(NOTE, dedupe_key=key)
    task = await _start(first)
    await _wait_until(lambda: len(state.completed) == 3)

    await _stop(task)
    await store.close()
    store = await Store.open(path)
    task = await _start(Notifier(store, config))
    await _wait_until(lambda: len(state.completed) == 4)
    await _stop(task)
    counts = await queries.count_by_state(store.db)
    await store.close()

    assert sorted(state.completed) == sorted(keys)
    assert counts == {"sent": 4}


async def test_same_dedupe_key_is_queued_once(store):
    notifier = Notifier(store, _notify_config(channels=["print"]))

    first = await notifier.enqueue(NOTE, dedupe_key="HR-2026-0001:medium:opened")
    second = await notifier.enqueue(NOTE, dedupe_key="HR-2026-0001:medium:opened")

    assert (first, second) == (1, 0)


async def test_failing_receiver_is_retried_until_it_accepts(store, receiver):
    state, base = receiver
    state.failures_left = 2
    notifier = Notifier(store, _notify_config(channels=["webhook"], webhook_url=f"{base}/hook"))
    await notifier.enqueue(NOTE, dedupe_key="k500")

    task = await _start(notifier)
    await _wait_for_states(store, lambda counts: counts == {"sent": 1})
    await _stop(task)

    assert state.attempts == 3
    assert state.completed == ["k500"]


async def test_hanging_receiver_does_not_block_other_channels(store, receiver):
    state, base = receiver
    state.hang_always = True
    config = _notify_config(channels=["webhook", "feishu"], webhook_url=f"{base}/hook",
                            feishu_url_secret=f"{base}/open-apis/bot/v2/hook/test",
                            feishu_secret=FEISHU_SECRET, timeout_s=0.3)
    notifier = Notifier(store, config)
    await notifier.enqueue(NOTE, dedupe_key="khang")

    task = await _start(notifier)
    await _wait_until(lambda: len(state.bodies) == 1)
    await _wait_until(lambda: state.attempts >= 2)
    await _stop(task)

    rows = await store.db.fetch_all("SELECT channel, state, attempts, last_error FROM outbox"
                                    " ORDER BY channel", (), action="test")
    by_channel = {row[0]: (row[1], row[2], row[3]) for row in rows}
    assert by_channel["feishu"][0] == "sent"
    assert by_channel["webhook"][0] in ("pending", "sending")
    assert by_channel["webhook"][1] >= 1
    assert "TimeoutError" in by_channel["webhook"][2]


async def test_robot_error_code_is_a_failed_attempt(store, receiver):
    state, base = receiver
    config = _notify_config(channels=["wecom"], wecom_url_secret=f"{base}/cgi-bin/webhook/send",
                            max_attempts=2)
    notifier = Notifier(store, config)
    await notifier.enqueue(NOTE, dedupe_key="kwecom")

    task = await _start(notifier)
    await _wait_for_states(store, lambda counts: counts == {"failed": 1})
    await _stop(task)

    assert state.attempts == 2


async def test_dingtalk_signature_verifies(store, receiver):
    state, base = receiver
    config = _notify_config(channels=["dingtalk"],
                            dingtalk_url_secret=f"{base}/robot/send?access_token=abc",
                            dingtalk_secret=DINGTALK_SECRET)
    notifier = Notifier(store, config)
    await notifier.enqueue(NOTE, dedupe_key="kding")

    task = await _start(notifier)
    await _wait_for_states(store, lambda counts: counts == {"sent": 1})
    await _stop(task)

    assert state.signatures_valid == [True]
    assert "HR-2026-0001" in state.bodies[0]["text"]["content"]


async def test_feishu_signature_verifies(store, receiver):
    state, base = receiver
    config = _notify_config(channels=["feishu"],
                            feishu_url_secret=f"{base}/open-apis/bot/v2/hook/test",
                            feishu_secret=FEISHU_SECRET)
    notifier = Notifier(store, config)
    await notifier.enqueue(NOTE, dedupe_key="kfeishu")

    task = await _start(notifier)
    await _wait_for_states(store, lambda counts: counts == {"sent": 1})
    await _stop(task)

    assert state.signatures_valid == [True]


async def test_chat_message_carries_no_name(store, receiver):
    state, base = receiver
    notifier = Notifier(store, _notify_config(channels=["webhook"], webhook_url=f"{base}/hook",
                                              email_include_name=True))
    await notifier.enqueue(NOTE, dedupe_key="kname")

    task = await _start(notifier)
    await _wait_for_states(store, lambda counts: counts == {"sent": 1})
    await _stop(task)

    body = state.bodies[0]
    assert "张伟" not in json.dumps(body, ensure_ascii=False)
    assert body["case_no"] == "HR-2026-0001"
    assert "风险等级：中" in body["text"]


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(envelope.content)
        return "250 Message accepted for delivery"


async def test_email_to_hr_may_carry_name(store):
    mailbox = _Mailbox()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(mailbox, hostname="127.0.0.1"),
                                      "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    config = _notify_config(channels=["email"], smtp_host="127.0.0.1", smtp_port=port,
                            email_to=["hr@example.test"], email_include_name=True, timeout_s=5.0)
    notifier = Notifier(store, config)
    await notifier.enqueue(NOTE, dedupe_key="kmail")

    task = await _start(notifier)
    await _wait_for_states(store, lambda counts: counts == {"sent": 1})
    await _stop(task)
    server.close()
    await server.wait_closed()

    message = message_from_bytes(mailbox.messages[0], policy=policy.default)
    assert message["X-Callscreen-Dedupe-Key"] == "kmail"
    assert "HR-2026-0001" in str(message["Subject"])
    assert "员工：张伟" in message.get_content()


async def test_print_channel_writes_chinese_text(store):
    stream = io.StringIO()
    notifier = Notifier(store, _notify_config(channels=["print"]), print_stream=stream)
    await notifier.enqueue(NOTE, dedupe_key="kprint")

    task = await _start(notifier)
    await _wait_for_states(store, lambda counts: counts == {"sent": 1})
    await _stop(task)

    assert stream.getvalue().startswith("【人事关怀】新个案 HR-2026-0001，风险等级：中")


def test_unknown_channel_is_a_config_error(store):
    with pytest.raises(ConfigError, match="sms"):
        Notifier(store, _notify_config(channels=["sms"]))


def test_channel_without_address_is_a_config_error(store):
    with pytest.raises(ConfigError, match="webhook_url"):
        Notifier(store, _notify_config(channels=["webhook"]))


@pytest.mark.parametrize(("attempt", "delay"), [(1, 5.0), (2, 10.0), (3, 20.0), (10, 60.0)])
def test_retry_delay_doubles_up_to_maximum(attempt, delay):
    assert retry_delay(attempt, initial=5.0, maximum=60.0) == delay
