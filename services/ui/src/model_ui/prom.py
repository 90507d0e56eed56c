"""Read the API's Prometheus text: counters, histograms, quantiles and rates between two scrapes."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel, ConfigDict, Field

PREFIX = "model_api_"
QUANTILES = (0.5, 0.95, 0.99)

Buckets = dict[float, float]  # upper bound ("le") -> cumulative count


@dataclass(frozen=True)
class Snapshot:
    """The figures the Monitoring page needs from one scrape of /metrics, at time ``at``."""

    at: float
    requests: dict[tuple[str, str, str], float] = field(
        default_factory=dict
    )  # route, method, status
    latency: dict[str, Buckets] = field(default_factory=dict)  # route -> buckets (all methods)
    errors: dict[str, float] = field(default_factory=dict)  # kind -> count
    predictions: dict[tuple[str, str, str], float] = field(
        default_factory=dict
    )  # model, version, label
    rows: dict[tuple[str, str], float] = field(default_factory=dict)  # model, version
    in_flight: float = 0.0
    ready: float | None = None  # one pod: its model_api_ready; Prometheus: how many pods are ready
    pods: int | None = None  # how many pods Prometheus scrapes (None: the one that answered)

    @property
    def total_requests(self) -> float:
        return sum(self.requests.values())

    @property
    def failed_requests(self) -> float:
        return sum(v for (_, _, status), v in self.requests.items() if status[:1] in "45")

    def all_latency(self) -> Buckets:
        merged: Buckets = defaultdict(float)
        for buckets in self.latency.values():
            for bound, count in buckets.items():
                merged[bound] += count
        return dict(merged)


def parse(text: str, at: float) -> Snapshot:
    """Pick the model API's metrics out of an exposition text (other series are ignored)."""
    requests: dict[tuple[str, str, str], float] = {}
    latency: dict[str, Buckets] = defaultdict(lambda: defaultdict(float))
    errors: dict[str, float] = {}
    predictions: dict[tuple[str, str, str], float] = {}
    rows: dict[tuple[str, str], float] = {}
    in_flight, ready = 0.0, None
    for family in text_string_to_metric_families(text):
        if not family.name.startswith(PREFIX):
            continue
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, float(sample.value)
            if name == "model_api_http_requests_total":
                requests[(labels["route"], labels["method"], labels["status"])] = value
            elif name == "model_api_http_request_duration_seconds_bucket":
                latency[labels["route"]][float(labels["le"])] += value
            elif name == "model_api_errors_total":
                errors[labels["kind"]] = value
            elif name == "model_api_predictions_total":
                predictions[(labels["model"], labels["version"], labels["label"])] = value
            elif name == "model_api_inference_rows_total":
                rows[(labels["model"], labels["version"])] = value
            elif name == "model_api_http_requests_in_flight":
                in_flight = value
            elif name == "model_api_ready":
                ready = value
    return Snapshot(
        at=at,
        requests=requests,
        latency={route: dict(b) for route, b in latency.items()},
        errors=errors,
        predictions=predictions,
        rows=rows,
        in_flight=in_flight,
        ready=ready,
    )


def quantile(q: float, buckets: Buckets) -> float | None:
    """Prometheus' histogram_quantile: linear interpolation inside the bucket holding rank q."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    total = buckets[bounds[-1]]
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower_bound  # past the last finite bucket: its upper bound is all we know
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return bounds[-1]


def delta_buckets(new: Buckets, old: Buckets) -> Buckets:
    """Observations between two scrapes (a counter reset restarts from the new values)."""
    if any(new.get(b, 0.0) < v for b, v in old.items()):
        return dict(new)
    return {b: v - old.get(b, 0.0) for b, v in new.items()}


@dataclass(frozen=True)
class Window:
    """Rates and latency between two scrapes."""

    request_rate: float
    error_rate: float
    latency: dict[float, float | None]


def window(new: Snapshot, old: Snapshot) -> Window:
    seconds = max(new.at - old.at, 1e-9)
    requests = max(new.total_requests - old.total_requests, 0.0)
    failed = max(new.failed_requests - old.failed_requests, 0.0)
    recent = delta_buckets(new.all_latency(), old.all_latency())
    return Window(
        request_rate=requests / seconds,
        error_rate=failed / seconds,
        latency={q: quantile(q, recent) for q in QUANTILES},
    )


# ------------------------------------------------------------------- Prometheus' query API
# With several API pods, one pod's /metrics (whichever the Service picks) says nothing about the
# others, and two reads may come from two pods. Prometheus scrapes every pod, so rate() and
# histogram_quantile() there give the figures across all of them, counter resets included.


class PromSeries(BaseModel):
    """One series of a query answer: instant (``value``) or range (``values``)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    metric: dict[str, str] = Field(default_factory=dict)
    value: tuple[float, str] | None = None
    values: list[tuple[float, str]] = Field(default_factory=list)

    def number(self) -> float | None:
        """The instant value; None when absent or NaN (a quantile of no traffic)."""
        return _number(self.value[1]) if self.value else None

    def points(self) -> list[tuple[float, float]]:
        """(time, value) of a range answer, NaN points left out."""
        return [(at, v) for at, text in self.values if (v := _number(text)) is not None]


class PromData(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    result: list[PromSeries]


class PromAnswer(BaseModel):
    """The body of Prometheus' GET /api/v1/query and /api/v1/query_range."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    status: str
    data: PromData


def _number(text: str) -> float | None:
    value = float(text)
    return None if math.isnan(value) else value


@dataclass(frozen=True)
class Queries:
    """The Monitoring page's PromQL over the API's series (``matchers``, e.g. ``job="api"``)."""

    matchers: str
    window: str

    def series(self, metric: str, extra: str = "") -> str:
        """``model_api_<metric>{matchers,extra}``."""
        inner = [part for part in (self.matchers.strip().strip(","), extra) if part]
        return f"model_api_{metric}{{{','.join(inner)}}}"

    def summed(self, metric: str, by: str = "") -> str:
        """The sum over every pod of a counter or gauge, keeping the labels ``by``."""
        grouping = f" by ({by})" if by else ""
        return f"sum{grouping} ({self.series(metric)})"

    @property
    def targets(self) -> str:
        """One ``up`` series per API pod Prometheus scrapes, answering or not: a pod whose scrape
        fails loses its other series, so counting those would forget it. Only the jobs that
        expose the API's series count (an empty selector would take every target's ``up``)."""
        inner = self.matchers.strip().strip(",")
        return f"up{{{inner}}} and on (job) {self.series('ready')}"

    @property
    def ready(self) -> str:
        return self.summed("ready")

    @property
    def request_rate(self) -> str:
        return f"sum(rate({self.series('http_requests_total')}[{self.window}]))"

    @property
    def error_rate(self) -> str:
        failed = self.series("http_requests_total", 'status=~"[45].."')
        # No 4xx/5xx series yet means no errors: 0, not a gap (request_rate tells of no data).
        return f"sum(rate({failed}[{self.window}])) or vector(0)"

    def latency(self, q: float) -> str:
        buckets = self.series("http_request_duration_seconds_bucket")
        return f"histogram_quantile({q:g}, sum by (le) (rate({buckets}[{self.window}])))"


Query = Callable[[str], list[PromSeries]]  # PromQL -> series (instant or range)


def _table(series: list[PromSeries], *labels: str) -> dict[tuple[str, ...], float]:
    return {
        tuple(s.metric.get(label, "") for label in labels): value
        for s in series
        if (value := s.number()) is not None
    }


def summed_snapshot(query: Query, queries: Queries, at: float) -> Snapshot:
    """What :func:`parse` reads from one pod, summed over every pod Prometheus scrapes.

    Totals are those of the pods running now, each counted since it started."""
    requests = _table(
        query(queries.summed("http_requests_total", "route, method, status")),
        "route",
        "method",
        "status",
    )
    buckets = _table(
        query(queries.summed("http_request_duration_seconds_bucket", "route, le")), "route", "le"
    )
    latency: dict[str, Buckets] = defaultdict(dict)
    for (route, le), count in buckets.items():
        latency[route][float(le)] = count
    predictions = _table(
        query(queries.summed("predictions_total", "model, version, label")),
        "model",
        "version",
        "label",
    )
    rows = _table(
        query(queries.summed("inference_rows_total", "model, version")), "model", "version"
    )
    errors = _table(query(queries.summed("errors_total", "kind")), "kind")
    in_flight = _table(query(queries.summed("http_requests_in_flight")))
    targets = query(queries.targets)
    ready = _table(query(queries.ready))
    return Snapshot(
        at=at,
        requests={(r, m, s): v for (r, m, s), v in requests.items()},
        latency=dict(latency),
        errors={kind: v for (kind,), v in errors.items()},
        predictions={(m, ver, label): v for (m, ver, label), v in predictions.items()},
        rows={(m, ver): v for (m, ver), v in rows.items()},
        in_flight=sum(in_flight.values()),
        ready=sum(ready.values()),
        pods=len(targets),
    )


@dataclass(frozen=True)
class Trend:
    """Rates and latency percentiles across every pod, as (time, value) points up to ``end``."""

    end: float
    step: float
    request_rate: list[tuple[float, float]]
    error_rate: list[tuple[float, float]]
    latency: dict[float, list[tuple[float, float]]]

    def _last(self, points: list[tuple[float, float]]) -> float | None:
        """The point at ``end``; None when the series stopped before (no old figure as news)."""
        return points[-1][1] if points and points[-1][0] > self.end - self.step / 2 else None

    def now(self) -> Window | None:
        """The figures at ``end``; None when Prometheus has no current data."""
        rate = self._last(self.request_rate)
        if rate is None:
            return None
        return Window(
            request_rate=rate,
            error_rate=self._last(self.error_rate) or 0.0,
            latency={q: self._last(points) for q, points in self.latency.items()},
        )


def trend(query_range: Query, queries: Queries, end: float, step: float) -> Trend:
    """The rate and latency series of the charts; ``query_range`` asks for them up to ``end``."""

    def points(expr: str) -> list[tuple[float, float]]:
        return next((s.points() for s in query_range(expr)), [])

    return Trend(
        end=end,
        step=step,
        request_rate=points(queries.request_rate),
        error_rate=points(queries.error_rate),
        latency={q: points(queries.latency(q)) for q in QUANTILES},
    )
