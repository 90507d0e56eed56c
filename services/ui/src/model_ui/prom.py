"""Read the API's Prometheus text: counters, histograms, quantiles and rates between two scrapes."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

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
    ready: float | None = None

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
