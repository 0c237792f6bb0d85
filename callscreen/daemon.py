"""The callscreen daemon: FastAGI decisions, AMI call tracking, store, console, HR hooks.

Everything runs in one event loop. The ring-time path (`decide`) reads history from memory
and awaits nothing else. The call's row, console push, metrics and log line wait until its
variables are sent; writes and HR evaluation run in tracked background tasks, so a slow disk
or a slow receiver does not delay a call.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import secrets
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

import structlog

from callscreen.admin.purge import purge_loop
from callscreen.admin.reload import ReloadResult, reload_daemon
from callscreen.call_records import CallRecordWriter, FinishedCall, RecordedHook
from callscreen.classifier import Decision, fallback_decision
from callscreen.config import Config
from callscreen.errors import CallscreenError
from callscreen.extensions import Extension
from callscreen.hub import CallHub, CallUpdate
from callscreen.metrics import Metrics
from callscreen.numbers.model import NumberFacts
from callscreen.pbx.ami import AmiClient
from callscreen.pbx.ami_wire import AmiMessage
from callscreen.pbx.channel_list import ChannelList
from callscreen.pbx.fastagi import FastAgiServer, Verdict
from callscreen.pbx.model import AgiRequest, CallerName, CallRecord
from callscreen.pbx.tracker import (
    CallAnswered,
    CallEnded,
    CallStarted,
    CallTracker,
    CallTransferred,
    TrackerEvent,
)
from callscreen.recent import RecentHistory
from callscreen.screening import Screened, Screener
from callscreen.store import DecisionRow, Store
from callscreen.store.calls import ami_call_id
from callscreen.tasks import TaskSet

log = structlog.get_logger(__name__)

# Ring-time rows written in one transaction at most.
MAX_ROWS_PER_WRITE = 200
# How long a ring-time row waits for others to share its transaction. Each transaction is
# three hand-offs to aiosqlite's thread. With one transaction per call, they took about
# 0.4 ms of every call's CPU time and delayed the next call's verdict through the GIL.
ROW_BATCH_WINDOW_S = 0.05
# How often tags and list entries written by other processes (CLI, a second console) are read.
REFRESH_INTERVAL_S = 5.0
# Uniqueid -> call_id of recent AGI decisions, so AMI events find the call they belong to.
# A decision normally meets its AMI record within the call's length; the bound keeps memory
# flat when AMI is down. A call forgotten here still gets its row joined by Uniqueid.
MAX_REMEMBERED_DECISIONS = 5_000


@dataclass(frozen=True, slots=True)
class KnownDecision:
    """A decision made at ring time, waiting for its call's AMI record."""

    call_id: str
    decision: Decision
    write: asyncio.Future[None] | None  # the ring-time row's write, None in observe mode


def utc_now() -> datetime:
    """Return the current time in UTC (the daemon's default clock)."""
    return datetime.now(UTC)


def new_call_id(now: datetime) -> str:
    """Return a short, sortable, unique call id such as "c20261204-1a2b3c4d"."""
    return f"c{now:%Y%m%d}-{secrets.token_hex(4)}"


class Daemon:
    """Owns every long-running part; `start()` brings them up, `close()` takes them down."""

    def __init__(self, config: Config, clock: Callable[[], datetime] = utc_now) -> None:
        self.config = config
        # Every time the daemon stamps (decisions, AMI events, history windows) comes from
        # here, so the memory benchmark can run days of calls in minutes.
        self.clock = clock
        self.hub = CallHub()
        self.store: Store | None = None
        self.screener: Screener | None = None
        self.agi: FastAgiServer | None = None
        self.ami: AmiClient | None = None
        self.recent = RecentHistory(config.rules)
        self.tracker = CallTracker(inbound_contexts=frozenset(config.asterisk.inbound_contexts))
        self.background = TaskSet("daemon")
        self.web_url = ""
        self.web_app: object | None = None
        self.hr: Any = None  # the HR hooks' context, set when extensions start
        # Where the "print" notification channel writes (the demo prints to its terminal).
        self.notification_stream: TextIO | None = None
        self._decisions: OrderedDict[str, KnownDecision] = OrderedDict()
        self._observed: dict[str, KnownDecision] = {}
        self._web_runner: object | None = None
        self._extensions: list[Extension] = []
        # Tasks that run until cancelled (AMI, retention purge), stopped first on close.
        self._services: list[asyncio.Task[None]] = []
        self._rows: list[tuple[DecisionRow, asyncio.Future[None]]] = []
        self._row_writer: asyncio.Task[None] | None = None
        self.metrics = Metrics()
        self.metrics.bind_ami(lambda: self.ami.health if self.ami is not None else None)
        self.last_reload: ReloadResult | None = None
        # Called with the new config after a reload was applied (web scripts, HR config).
        self.reload_hooks: list[Callable[[Config], None]] = []
        # Run for each call record inside its batch's transaction (HR evaluation).
        self.call_recorded_hooks: list[RecordedHook] = []
        self.call_records = CallRecordWriter(self.background, self.call_recorded_hooks,
                                             self._show_recorded)

    # -- life cycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store, then start FastAGI, AMI and the web console as configured."""
        self.store = await Store.open(self.config.store.path)
        self.call_records.store = self.store
        await self.recent.load(self.store, self.clock(), self.config.rules)
        self.screener = Screener(self.config, self.store, self.recent)
        await self.screener.refresh_lists()

        asterisk = self.config.asterisk
        if asterisk.mode == "screen":
            self.agi = FastAgiServer(host=asterisk.agi_host, port=asterisk.agi_port,
                                     route=self.decide, fallback=self.fallback,
                                     deadline_ms=asterisk.decision_deadline_ms,
                                     use_mset=asterisk.agi_mset)
            await self.agi.start()
            log.info("fastagi_listening", host=asterisk.agi_host, port=self.agi.port)
        if asterisk.ami_enabled:
            self.start_ami(asterisk.ami_host, asterisk.ami_port)

        await self._start_extensions()
        self._services.append(self.background.start(purge_loop(self), name="retention_purge"))
        self._services.append(self.background.start(self._refresh_loop(), name="refresh"))
        log.info("daemon_started", mode=asterisk.mode, store=self.config.store.path)

    async def reload(self, path: str) -> ReloadResult:
        """Reload config, rules and reply scripts from `path`; keep the old ones if invalid."""
        result = await reload_daemon(self, path, metrics=self.metrics)
        if result.ok and self.store is not None:
            # The windows may have changed: reload them, and keep decisions in memory.
            await self.recent.load(self.store, self.clock(), self.config.rules)
            self.screener = Screener(self.config, self.store, self.recent)
            await self.screener.refresh_lists()
        if result.ok:
            for hook in self.reload_hooks:
                hook(self.config)
        return result

    async def refresh_history(self) -> None:
        """Read tags and list entries stored since the last read (by any process)."""
        assert self.store is not None and self.screener is not None
        now = self.clock()
        await self.recent.refresh_tags(self.store, now)
        await self.screener.refresh_lists(now)

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_INTERVAL_S)
            try:
                await self.refresh_history()
            except CallscreenError as exc:
                log.error("history_refresh_failed", error=str(exc))
            # In steps, so that a ringing call does not wait for a whole pass over every number.
            for _step in self.recent.prune_steps(self.clock()):
                await asyncio.sleep(0)

    def start_ami(self, host: str, port: int) -> None:
        """Start following calls over AMI at host:port (the demo calls this itself)."""
        asterisk = self.config.asterisk
        self.ami = AmiClient(host=host, port=port, username=asterisk.ami_username,
                             secret=asterisk.ami_secret, on_event=self.on_ami_event,
                             on_connected=self.reconcile,
                             ping_interval_s=asterisk.ami_ping_interval_s,
                             ping_timeout_s=asterisk.ami_ping_timeout_s,
                             reconnect_max_s=asterisk.ami_reconnect_max_s)
        self._services.append(self.background.start(self.ami.run(), name="ami"))

    async def close(self) -> None:
        """Stop accepting calls, finish background writes and queued records, close the store."""
        if self.agi is not None:
            await self.agi.close()
        for task in self._services:
            task.cancel()
        if self._services:
            await asyncio.wait(self._services)
        for extension in reversed(self._extensions):
            await extension.close()

        await self.background.drain(grace_s=5.0)
        if self.store is not None:
            await self.call_records.flush()
            await self.store.close()
        log.info("daemon_stopped")

    async def _start_extensions(self) -> None:
        # The console and the HR parts are optional layers over the core daemon.
        from callscreen.extensions import start_extensions

        self._extensions = await start_extensions(self)

    # -- FastAGI -------------------------------------------------------------------------

    async def screen(self, request: AgiRequest) -> Mapping[str, str]:
        """Decide one call and record it. Returns the CALLSCREEN_* channel variables."""
        verdict = await self.decide(request)
        verdict.after()
        return verdict.variables

    async def decide(self, request: AgiRequest) -> Verdict:
        """Decide one call for the dialplan. The Verdict's `after` records the call.

        Only what the next decision or the call's AMI record needs happens at once: the
        call counts for the repeat-caller rule, and its Uniqueid is remembered. The row,
        console push, metrics and log line can wait until Asterisk has the verdict.
        """
        assert self.screener is not None
        now = self.clock()
        call_id = new_call_id(now)

        screened = await self.screener.screen(request.callerid, now=now)
        self.recent.add_call(screened.facts.key, now)
        written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._remember(request.uniqueid, call_id, screened.decision, written)

        return Verdict(channel_variables(call_id, screened.decision),
                       after=functools.partial(self._record_screened, request, call_id, now,
                                               screened, written))

    def _record_screened(self, request: AgiRequest, call_id: str, now: datetime,
                         screened: Screened, written: asyncio.Future[None]) -> None:
        decision = screened.decision
        self.metrics.observe_decision(decision.verdict.value, decision.category.value,
                                      screened.elapsed_ms / 1000)
        self._announce(call_id, now, request.calleridname, request.did, decision,
                       screened.facts)
        self._queue_row(DecisionRow(
            call_id, request.uniqueid, now, request.callerid, request.calleridname,
            request.did, decision, "agi", screened.elapsed_ms), written)
        log.info("call_screened", call_id=call_id, uniqueid=request.uniqueid,
                 caller=screened.facts.masked, verdict=str(decision.verdict),
                 score=decision.score, ms=round(screened.elapsed_ms, 2))

    def fallback(self, request: AgiRequest | None, exc: BaseException | None) -> Mapping[str, str]:
        """Return the "allow" variables for a decision that failed or missed its deadline."""
        now = self.clock()
        call_id = new_call_id(now)
        decision = fallback_decision()

        if request is not None:
            write = self._queue_row(DecisionRow(
                call_id, request.uniqueid, now, request.callerid, request.calleridname,
                request.did, decision, "agi", float(self.config.asterisk.decision_deadline_ms)))
            self._remember(request.uniqueid, call_id, decision, write)
        log.warning("call_allowed_by_fallback", call_id=call_id,
                    uniqueid=request.uniqueid if request else "", error=repr(exc))
        return channel_variables(call_id, decision)

    def _queue_row(self, row: DecisionRow,
                   written: asyncio.Future[None] | None = None) -> asyncio.Future[None]:
        """Queue a ring-time row. Return `written` (or a new future), done once it is written.

        Rows decided within ROW_BATCH_WINDOW_S, or while a write is running, go into one
        transaction together, so there is one commit per batch instead of one per call.
        """
        if written is None:
            written = asyncio.get_running_loop().create_future()
        self._rows.append((row, written))
        if self._row_writer is None or self._row_writer.done():
            self._row_writer = self.background.start(self._write_rows(), name="store_decisions")
        return written

    async def _write_rows(self) -> None:
        assert self.store is not None
        while self._rows:
            if len(self._rows) < MAX_ROWS_PER_WRITE:
                await asyncio.sleep(ROW_BATCH_WINDOW_S)
            batch, self._rows = self._rows[:MAX_ROWS_PER_WRITE], self._rows[MAX_ROWS_PER_WRITE:]
            try:
                await self.store.record_decisions([row for row, _written in batch])
            finally:
                # Waiters only need to know that the attempt is over. A failure is logged by
                # the task set, and the AMI record then creates the row itself.
                for _row, written in batch:
                    if not written.done():
                        written.set_result(None)

    def _remember(self, uniqueid: str, call_id: str, decision: Decision,
                  write: asyncio.Future[None]) -> None:
        self._decisions[uniqueid] = KnownDecision(call_id, decision, write)
        while len(self._decisions) > MAX_REMEMBERED_DECISIONS:
            self._decisions.popitem(last=False)

    # -- AMI -----------------------------------------------------------------------------

    def on_ami_event(self, message: AmiMessage) -> None:
        """Feed one AMI event to the tracker and act on the calls it starts or ends."""
        now = self.clock()
        self.metrics.count_event()
        self._apply(self.tracker.feed(message, now), now)

    async def reconcile(self) -> None:
        """After (re)connecting, end the calls that vanished while AMI was down and catch
        up on answers and transfers of the calls still up."""
        assert self.ami is not None
        followed_before = self.tracker.linkedids()
        listed = await self.ami.send_action_list({"Action": "CoreShowChannels"})
        channels = ChannelList.from_messages(listed)
        active = channels.linkedids()
        # Events keep arriving while the list is read: calls that started meanwhile are
        # live even though the list, taken earlier, could not name them.
        active |= self.tracker.linkedids() - followed_before

        now = self.clock()
        effects = self.tracker.reconcile(active, now, channels)
        if effects:
            ended = sum(1 for effect in effects if isinstance(effect, CallEnded))
            log.info("ami_calls_reconciled", ended=ended, caught_up=len(effects) - ended,
                     active=len(active))
        self._apply(effects, now)

    def _apply(self, effects: Iterable[TrackerEvent], now: datetime) -> None:
        for effect in effects:
            if isinstance(effect, CallStarted):
                self._on_call_started(effect.record, now)
            elif isinstance(effect, CallAnswered | CallTransferred):
                self._show_progress(effect.record, now)
            elif isinstance(effect, CallEnded):
                self.background.start(self._on_call_ended(effect), name="call_ended",
                                      linkedid=effect.record.linkedid)

    def _show_progress(self, record: CallRecord, now: datetime) -> None:
        """Show an answer or a transfer on the console while the call is still up."""
        known = self._observed.get(record.linkedid) or self._decisions.get(record.uniqueid)
        if known is None:
            return
        shown = self.hub.get(known.call_id)
        if shown is None or shown.state == "ended":
            return

        self.hub.update(known.call_id, state="answered", at=now,
                        answered_by=record.answered_by, transferred_to=record.transferred_to)

    def _on_call_started(self, record: CallRecord, now: datetime) -> None:
        if self.config.asterisk.mode != "observe":
            return
        self.background.start(self._observe(record, now), name="observe_call",
                              linkedid=record.linkedid)

    async def _observe(self, record: CallRecord, now: datetime) -> None:
        assert self.screener is not None
        screened = await self.screener.screen(record.caller_raw, now=now)
        # The same id the store gives the row, so console feedback finds the call.
        call_id = ami_call_id(record)
        self.recent.add_call(screened.facts.key, now)

        self._observed[record.linkedid] = KnownDecision(call_id, screened.decision, None)
        self.metrics.count_call(screened.decision.verdict.value, screened.decision.category.value)
        self._announce(call_id, record.started_at, record.caller_name, record.did,
                       screened.decision, screened.facts)
        log.info("call_observed", call_id=call_id, linkedid=record.linkedid,
                 caller=screened.facts.masked, verdict=str(screened.decision.verdict))

    async def _on_call_ended(self, ended: CallEnded) -> None:
        assert self.store is not None and self.screener is not None
        record = ended.record
        uniqueids = set(getattr(ended, "uniqueids", ())) | {record.uniqueid}

        known = self._observed.pop(record.linkedid, None) or self._known_decision(uniqueids)
        if known is None:
            # AGI never ran (fail-open path, or the call died first): classify now for the log.
            screened = await self.screener.screen(record.caller_raw, now=record.started_at)
            decision = screened.decision
            self.recent.add_call(screened.facts.key, record.started_at)
        else:
            decision = known.decision
            # A very short call can end before its ring-time row is written. Waiting for
            # that write lets the AMI record join the row instead of creating a second one.
            if known.write is not None:
                await asyncio.wait([known.write])

        self.call_records.queue(FinishedCall(record, frozenset(uniqueids), decision))

    def _show_recorded(self, call: FinishedCall, call_id: str) -> None:
        """Show the call as ended, once its record and hooks have committed."""
        record = call.record
        self.hub.update(call_id, state="ended", at=record.ended_at or self.clock(),
                        answered_by=record.answered_by, transferred_to=record.transferred_to)
        log.info("call_recorded", call_id=call_id, linkedid=record.linkedid,
                 answered_by=record.answered_by, transferred_to=record.transferred_to,
                 answered_at_observed=record.answered_at_observed,
                 talk_seconds=record.talk_seconds,
                 hangup_cause=record.hangup_cause)

    def _known_decision(self, uniqueids: set[str]) -> KnownDecision | None:
        for uniqueid in uniqueids:
            if uniqueid in self._decisions:
                return self._decisions.pop(uniqueid)
        return None

    # -- console -------------------------------------------------------------------------

    def _announce(self, call_id: str, now: datetime, name: CallerName, did: str,
                  decision: Decision, facts: NumberFacts) -> None:
        self.hub.publish(CallUpdate(
            call_id=call_id, state="ringing", at=now, started_at=now,
            caller_masked=facts.masked, caller_key=facts.key, caller_block=facts.block,
            caller_name=name.text, kind=facts.kind.value, region=facts.region, did=did,
            verdict=decision.verdict.value, category=decision.category.value,
            score=decision.score, tag=decision.tag, reasons=decision.reasons,
            caller_org=self.recent.stated_org(facts.key),
        ))


def channel_variables(call_id: str, decision: Decision) -> dict[str, str]:
    """Return the CALLSCREEN_* variables the dialplan reads (the contract in dialplan/)."""
    return {
        "CALLSCREEN_VERDICT": decision.verdict.value,
        "CALLSCREEN_CATEGORY": decision.category.value,
        "CALLSCREEN_SCORE": str(decision.score),
        "CALLSCREEN_TAG": decision.tag,
        "CALLSCREEN_CALL_ID": call_id,
        "CALLSCREEN_REASONS": ",".join(reason.rule for reason in decision.reasons),
    }


def freeze_startup_objects() -> None:
    """Exempt what start-up allocated from garbage collection for the life of the process.

    Phone number metadata, config, templates and modules are never freed, yet every full
    collection walked them again, a pause of tens of milliseconds in the middle of calls.
    Call it once per process, after start-up: frozen objects are never freed.
    """
    # No gc.collect() first: it took 30 ms on an idle daemon (more under load), and
    # Asterisk may already be connecting. After a start without the web console it freed 29
    # objects.
    gc.freeze()


async def run_until_stopped(daemon: Daemon, stop: asyncio.Event) -> None:
    """Start the daemon, wait for `stop`, then close it (also when starting failed)."""
    try:
        await daemon.start()
        freeze_startup_objects()
        await stop.wait()
    finally:
        await daemon.close()
