"""The durable outbox: enqueue inside the caller's transaction, deliver in a background loop.

Delivery is at-least-once. An item is marked 'sending' when claimed and 'sent' after the
peer accepted it; an item still 'sending' when the process stops goes again after a
restart, so every HTTP delivery carries its dedupe key for the receiver to drop repeats.
Each delivery runs in its own task with the configured timeout, so a hanging peer holds
one slot of `max_in_flight`, never the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TextIO

import aiohttp
import aiosqlite
import structlog

from callscreen.config.model import NotifyConfig
from callscreen.errors import ConfigError
from callscreen.i18n import both
from callscreen.notify import robots
from callscreen.notify.backoff import retry_delay
from callscreen.notify.model import Channel, DeliveryError, Notification
from callscreen.notify.render import chat_text, email_message
from callscreen.notify.smtp import send_email
from callscreen.store import Store
from callscreen.store import outbox as queries
from callscreen.store.outbox import OutboxItem

log = structlog.get_logger(__name__)

# Keys a channel cannot work without.
REQUIRED_KEYS: dict[Channel, tuple[str, ...]] = {
    Channel.EMAIL: ("email_to",),
    Channel.WECOM: ("wecom_url_secret",),
    Channel.DINGTALK: ("dingtalk_url_secret",),
    Channel.FEISHU: ("feishu_url_secret",),
    Channel.WEBHOOK: ("webhook_url",),
}


def validate_channels(config: NotifyConfig, source: str = "") -> tuple[Channel, ...]:
    """Return the configured channels; raise ConfigError naming each unknown or incomplete one."""
    problems: list[str] = []
    channels: list[Channel] = []
    for name in config.channels:
        if name not in set(Channel):
            problems.append(f"{source}: [notify] channels = {name!r}: " + both(
                "notify.unknown_channel", channel=name, allowed=", ".join(Channel)))
            continue
        channel = Channel(name)
        channels.append(channel)
        problems += [
            f"{source}: [notify] {key}: " + both("notify.channel_incomplete", channel=name, key=key)
            for key in REQUIRED_KEYS.get(channel, ()) if not getattr(config, key)
        ]

    if problems:
        raise ConfigError(source, problems)

    return tuple(channels)


class Notifier:
    """Queues notifications in the store's outbox and delivers them until cancelled."""

    def __init__(self, store: Store, config: NotifyConfig, *, source: str = "",
                 clock: Callable[[], datetime] | None = None,
                 print_stream: TextIO | None = None) -> None:
        self.store = store
        self.config = config
        self.channels = validate_channels(config, source) if config.enabled else ()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._print_stream = print_stream
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None

    async def stage(self, connection: aiosqlite.Connection, note: Notification, *,
                    dedupe_key: str) -> int:
        """Queue `note` on every channel inside the caller's write transaction.

        Returns how many items were new; a dedupe key already queued on a channel adds
        nothing there. Call `wake()` after the transaction commits.
        """
        added = 0
        for channel in self.channels:
            payload = note if channel is Channel.EMAIL and self.config.email_include_name \
                else note.without_name()
            added += await queries.insert_item(connection, dedupe_key=dedupe_key,
                                               channel=str(channel), payload=payload.to_payload(),
                                               now=self._clock())

        return added

    async def enqueue(self, note: Notification, *, dedupe_key: str) -> int:
        """Queue `note` in its own transaction and wake the delivery loop."""
        async with self.store.db.write("enqueue_notification") as connection:
            added = await self.stage(connection, note, dedupe_key=dedupe_key)

        self.wake()
        return added

    def wake(self) -> None:
        """Make the delivery loop look for due items now."""
        self._wake.set()

    async def run(self) -> None:
        """Deliver due items until cancelled; items in flight then go again after a restart."""
        released = await queries.release_claimed(self.store.db)
        if released:
            log.info("outbox_released_after_restart", items=released)

        timeout = aiohttp.ClientTimeout(total=self.config.timeout_s)
        log.info("notifier_started", channels=[str(channel) for channel in self.channels])
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                self._session = session
                while True:
                    await self.dispatch_due()
                    await self._wait_for_work()
        finally:
            await self._cancel_in_flight()
            log.info("notifier_stopped")

    async def dispatch_due(self) -> int:
        """Claim due items up to the free delivery slots and start a task for each."""
        free = self.config.max_in_flight - len(self._tasks)
        if free <= 0:
            return 0

        items = await queries.claim_due(self.store.db, now=self._clock(), limit=free)
        for item in items:
            task = asyncio.create_task(self._deliver(item), name=f"outbox-{item.id}")
            self._tasks.add(task)
            task.add_done_callback(self._task_done)

        return len(items)

    async def _wait_for_work(self) -> None:
        delay = self.config.poll_interval_s
        due = await queries.next_due_at(self.store.db)
        if due is not None:
            delay = min(delay, max((due - self._clock()).total_seconds(), 0.0))

        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=delay)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._wake.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("outbox_delivery_crashed", task=task.get_name(),
                      error=repr(task.exception()))

    async def _cancel_in_flight(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._session = None

    async def _deliver(self, item: OutboxItem) -> None:
        try:
            await self._send(item)
        except DeliveryError as exc:
            await self._schedule_retry(item, exc)
            return

        await queries.mark_sent(self.store.db, item.id, now=self._clock())
        log.info("notification_sent", outbox_id=item.id, channel=item.channel,
                 dedupe_key=item.dedupe_key, attempts=item.attempts + 1)

    async def _schedule_retry(self, item: OutboxItem, exc: DeliveryError) -> None:
        attempt = item.attempts + 1
        if attempt >= self.config.max_attempts:
            await queries.mark_retry(self.store.db, item.id, next_attempt_at=None, error=str(exc))
            log.error("notification_given_up", outbox_id=item.id, channel=item.channel,
                      dedupe_key=item.dedupe_key, attempts=attempt, error=str(exc))
            return

        delay = retry_delay(attempt, initial=self.config.backoff_initial_s,
                            maximum=self.config.backoff_max_s, jitter=0.1)
        due = self._clock() + timedelta(seconds=delay)
        await queries.mark_retry(self.store.db, item.id, next_attempt_at=due, error=str(exc))
        log.warning("notification_retry_scheduled", outbox_id=item.id, channel=item.channel,
                    dedupe_key=item.dedupe_key, attempts=attempt, delay_s=round(delay, 3),
                    error=str(exc))

    async def _send(self, item: OutboxItem) -> None:
        note = Notification.from_payload(item.payload)
        text = chat_text(note, self.config.locale)
        session = self._session
        if session is None:
            raise DeliveryError("notifier is not running", channel=item.channel)

        await self._send_on(Channel(item.channel), session, item, note, text)

    async def _send_on(self, channel: Channel, session: aiohttp.ClientSession,
                       item: OutboxItem, note: Notification, text: str) -> None:
        config = self.config
        if channel is Channel.PRINT:
            self._print(item, text)
        elif channel is Channel.EMAIL:
            message = email_message(note, dedupe_key=item.dedupe_key, sender=config.email_from,
                                    recipients=list(config.email_to), locale=config.locale)
            await send_email(message, config)
        elif channel is Channel.WECOM:
            await robots.send_wecom(session, config.wecom_url_secret, text)
        elif channel is Channel.DINGTALK:
            await robots.send_dingtalk(session, config.dingtalk_url_secret,
                                       config.dingtalk_secret, text)
        elif channel is Channel.FEISHU:
            await robots.send_feishu(session, config.feishu_url_secret, config.feishu_secret,
                                     text)
        else:
            body = {**note.without_name().to_payload(), "dedupe_key": item.dedupe_key,
                    "text": text}
            await robots.send_webhook(session, config.webhook_url, config.webhook_secret, body,
                                      dedupe_key=item.dedupe_key)

    def _print(self, item: OutboxItem, text: str) -> None:
        stream = self._print_stream or sys.stdout
        print(text, file=stream, flush=True)
        log.info("notification_printed", outbox_id=item.id, dedupe_key=item.dedupe_key)
