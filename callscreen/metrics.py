"""Prometheus metrics for `/metrics`: one registry per daemon, filled by the parts that act.

The daemon creates one `Metrics`, passes it to the code that decides calls, follows AMI,
opens cases and reloads the config, and serves `render()` on `/metrics`. Values that other
objects already keep (the AMI client's health, the outbox backlog) are read through callbacks
at scrape time instead of being copied on every change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from callscreen.pbx.ami import AmiHealth

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Decisions must finish inside the FastAGI deadline (20-5000 ms in the config), so the
# buckets are dense below 0.3 s, the default deadline, and stop at the 5 s maximum.
DECISION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0)

AmiHealthSource = Callable[[], AmiHealth | None]
BacklogSource = Callable[[], float]


class _AmiCollector(Collector):
    """Reads the AMI client's health when Prometheus scrapes."""

    def __init__(self) -> None:
        self.source: AmiHealthSource = lambda: None

    def collect(self) -> Iterator[Metric]:
        health = self.source()
        connected = GaugeMetricFamily(
            "callscreen_ami_connected", "1 while the AMI connection is up and logged in.")
        reconnects = CounterMetricFamily(
            "callscreen_ami_reconnects", "AMI reconnect attempts since the daemon started.")
        received = CounterMetricFamily(
            "callscreen_ami_events_received", "AMI events read from Asterisk.")

        up = health is not None and health.connected and health.logged_in
        connected.add_metric([], 1.0 if up else 0.0)
        reconnects.add_metric([], float(health.reconnects if health else 0))
        received.add_metric([], float(health.events_received if health else 0))

        yield connected
        yield reconnects
        yield received


class _EventCounter(Collector):
    """Counts AMI events with a plain integer, read when Prometheus scrapes.

    `Counter.inc` takes a lock on every call; at thousands of AMI events a second that
    lock was a visible share of the ingestion time.
    """

    def __init__(self) -> None:
        self.count = 0

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily("callscreen_events_processed",
                                  "AMI events fed to the call tracker.", value=self.count)


class Metrics:
    """The metric families of one daemon, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.calls = Counter(
            "callscreen_calls", "Calls decided, by verdict and category.",
            ["verdict", "category"], registry=self.registry)
        self.decision_seconds = Histogram(
            "callscreen_decision_seconds", "Time to decide one FastAGI call, in seconds.",
            buckets=DECISION_BUCKETS, registry=self.registry)
        self._events = _EventCounter()
        self.registry.register(self._events)
        self.outbox_backlog = Gauge(
            "callscreen_outbox_backlog", "Notifications waiting in the outbox.",
            registry=self.registry)
        self.cases_opened = Counter(
            "callscreen_cases_opened", "HR cases opened, by risk level.", ["risk"],
            registry=self.registry)
        self.reload_failures = Counter(
            "callscreen_config_reload_failures", "Config reloads rejected as invalid.",
            registry=self.registry)
        self.reloads = Counter(
            "callscreen_config_reloads", "Config reloads applied.", registry=self.registry)
        self._ami = _AmiCollector()
        self.registry.register(self._ami)
        self._backlog_source: BacklogSource = lambda: 0.0
        self.outbox_backlog.set_function(self._read_backlog)

    def observe_decision(self, verdict: str, category: str, seconds: float) -> None:
        """Count one decided call and record how long its decision took."""
        self.calls.labels(verdict=verdict, category=category).inc()
        self.decision_seconds.observe(seconds)

    def count_call(self, verdict: str, category: str) -> None:
        """Count one call decided outside FastAGI (observe-only mode, AMI fallback)."""
        self.calls.labels(verdict=verdict, category=category).inc()

    def count_event(self) -> None:
        """Count one AMI event handed to the call tracker."""
        self._events.count += 1

    def count_case_opened(self, risk: str) -> None:
        """Count one HR case opened at `risk` ("low", "medium" or "high")."""
        self.cases_opened.labels(risk=risk).inc()

    def count_reload(self, *, ok: bool) -> None:
        """Count one config reload, applied (`ok`) or rejected."""
        if ok:
            self.reloads.inc()
        else:
            self.reload_failures.inc()

    def bind_ami(self, source: AmiHealthSource) -> None:
        """Read AMI health from `source()` at scrape time; it returns None before AMI starts."""
        self._ami.source = source

    def bind_outbox_backlog(self, source: BacklogSource) -> None:
        """Read the outbox backlog from `source()` at scrape time.

        `render()` is synchronous, so `source` must return a number the HR side keeps up to
        date, never query the store.
        """
        self._backlog_source = source

    def outbox_backlog_value(self) -> float:
        """Return the outbox backlog as the bound source reports it now."""
        return self._read_backlog()

    def render(self) -> bytes:
        """Return every family in the Prometheus text format (serve it with CONTENT_TYPE)."""
        return generate_latest(self.registry)

    def _read_backlog(self) -> float:
        return float(self._backlog_source())
