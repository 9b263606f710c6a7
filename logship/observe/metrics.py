"""Prometheus metrics of one logship process.

Everything lives in the dedicated :data:`REGISTRY`, not prometheus_client's global default, so
that tests and embedding programs see exactly logship's series and nothing registered by a
library. The HTTP server exposes this registry on ``GET /metrics``.

Counters are named without ``_total``: prometheus_client appends it on exposition.
Labels are bounded sets (outcome, reason, status_class) except ``path``, whose cardinality is
the number of files matched by ``[tail] paths``. Bounded label values are created up front so
that ``rate()`` and ``increase()`` see a zero before the first event instead of no series.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.process_collector import ProcessCollector

from logship.observe._common import python_version, version

__all__ = [
    "BACKLOG_BYTES",
    "BACKLOG_OLDEST_SECONDS",
    "BACKPRESSURE_SECONDS",
    "BUILD_INFO",
    "BULK_DURATION",
    "BULK_REQUESTS",
    "BULK_STATUS_CLASSES",
    "CATCHING_UP",
    "CONCURRENCY_LIMIT",
    "DEAD_LETTER_BYTES",
    "DEAD_LETTER_FULL",
    "DEAD_LETTER_WRITE_FAILURES",
    "FILES_NOT_OPENED",
    "FILES_TRACKED",
    "FILE_LAG_BYTES",
    "FILE_OPEN_FAILURES",
    "FILE_OPEN_FAILURE_REASONS",
    "IDENTITY_COLLISIONS",
    "IDENTITY_RESOLUTIONS",
    "INFLIGHT_BYTES",
    "LANES",
    "LAST_DELIVERY",
    "LIVE_LAG",
    "LOST_BYTES",
    "PARSE_FAILURES",
    "PARSE_FAILURE_REASONS",
    "POSITION_WRITE_FAILURES",
    "READ_BYTES",
    "READ_LINES",
    "RECORDS",
    "RECORD_OUTCOMES",
    "REGISTRY",
    "REQUESTS",
    "RETRIES",
    "RETRY_REASONS",
]

# `_created` series double the page and no alert or panel uses them.
disable_created_metrics()  # type: ignore[no-untyped-call]

REGISTRY = CollectorRegistry()

# CPU, memory and open file descriptors of this process (process_* series), which the default
# registry would have carried.
ProcessCollector(registry=REGISTRY)

RECORD_OUTCOMES = ("indexed", "already_present", "dead_lettered")
PARSE_FAILURE_REASONS = (
    "invalid_json",
    "recovered_by_pattern",
    "not_an_object",
    "invalid_utf8",
    "line_truncated",
    "bad_timestamp",
    "missing_timestamp",
)
BULK_STATUS_CLASSES = ("2xx", "4xx", "5xx", "error")
RETRY_REASONS = (
    "connection",
    "timeout",
    "http_429",
    "http_5xx",
    "http_413",
    "item_429",
    "item_4xx",
    "item_5xx",
    "bad_response",
)

BUILD_INFO = Gauge(
    "logship_build_info",
    "Always 1; the labels carry the logship and Python versions.",
    ["version", "python"],
    registry=REGISTRY,
)
BUILD_INFO.labels(version=version(), python=python_version()).set(1)

READ_LINES = Counter(
    "logship_read_lines",
    "Complete lines read from a log file.",
    ["path"],
    registry=REGISTRY,
)
READ_BYTES = Counter(
    "logship_read_bytes",
    "Bytes read from a log file.",
    ["path"],
    registry=REGISTRY,
)
RECORDS = Counter(
    "logship_records",
    "Records whose delivery is final, by outcome (indexed, already_present, dead_lettered).",
    ["outcome"],
    registry=REGISTRY,
)
PARSE_FAILURES = Counter(
    "logship_parse_failures",
    "Lines that did not parse cleanly; they are still shipped, tagged with the reason.",
    ["reason"],
    registry=REGISTRY,
)
BULK_REQUESTS = Counter(
    "logship_bulk_requests",
    "Bulk requests sent, by HTTP status class (2xx, 4xx, 5xx) or 'error' when none came back.",
    ["status_class"],
    registry=REGISTRY,
)
BULK_DURATION = Histogram(
    "logship_bulk_request_duration_seconds",
    "Time from sending a bulk request to reading its whole response.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0),
    registry=REGISTRY,
)
RETRIES = Counter(
    "logship_retries",
    "Retries of whole bulk requests or of failed items, by reason.",
    ["reason"],
    registry=REGISTRY,
)
INFLIGHT_BYTES = Gauge(
    "logship_inflight_bytes",
    "Bytes read but not yet delivered (bounded by the backpressure limit).",
    registry=REGISTRY,
)
BACKPRESSURE_SECONDS = Counter(
    "logship_backpressure_seconds",
    "Time the readers spent paused because the in-flight bound was reached.",
    registry=REGISTRY,
)
FILE_LAG_BYTES = Gauge(
    "logship_file_lag_bytes",
    "Bytes of the file not yet delivered: its size minus its delivered ranges.",
    ["path"],
    registry=REGISTRY,
)
FILES_TRACKED = Gauge(
    "logship_files_tracked",
    "Files currently tailed.",
    registry=REGISTRY,
)
LOST_BYTES = Counter(
    "logship_lost_bytes",
    "Bytes deleted or truncated away (by rotation) before they were read and delivered.",
    registry=REGISTRY,
)
LAST_DELIVERY = Gauge(
    "logship_last_delivery_timestamp_seconds",
    "Unix time of the last delivered batch; 0 until the first one.",
    registry=REGISTRY,
)
CONCURRENCY_LIMIT = Gauge(
    "logship_request_concurrency_limit",
    "Bulk requests allowed in flight now (adaptive: halved on pushback, raised by one after a clean answer).",
    registry=REGISTRY,
)
DEAD_LETTER_WRITE_FAILURES = Counter(
    "logship_dead_letter_write_failures",
    "Failed attempts to write rejected documents to the dead-letter file (they stay undelivered).",
    registry=REGISTRY,
)
DEAD_LETTER_BYTES = Gauge(
    "logship_dead_letter_bytes",
    "Bytes held by the dead-letter file and its rotated copies (bounded by `dead_letter.max_bytes`).",
    registry=REGISTRY,
)
DEAD_LETTER_FULL = Gauge(
    "logship_dead_letter_full",
    "1 while rejected records wait because the dead-letter files reached `dead_letter.max_bytes`.",
    registry=REGISTRY,
)
POSITION_WRITE_FAILURES = Counter(
    "logship_position_write_failures",
    "Failed attempts to store the position file.",
    registry=REGISTRY,
)
# Files whose first line (their base identity) is that of another file known at the same time:
# given an identity of their own ("new_identity"), or read from the start under one because
# logship could not tell them from a file it had seen ("read_from_start").
IDENTITY_RESOLUTIONS = ("new_identity", "read_from_start")
IDENTITY_COLLISIONS = Counter(
    "logship_identity_collisions",
    "Files whose first line is that of another known file, by how the collision was resolved.",
    ["resolution"],
    registry=REGISTRY,
)
FILE_OPEN_FAILURE_REASONS = ("descriptors", "permission", "other")
FILE_OPEN_FAILURES = Counter(
    "logship_file_open_failures",
    "Failed attempts to open a file to follow (retried at every tick), by reason.",
    ["reason"],
    registry=REGISTRY,
)
FILES_NOT_OPENED = Gauge(
    "logship_files_not_opened",
    "Files to follow that could not be opened at the last attempt (their bytes count in the lag).",
    registry=REGISTRY,
)

# The backlog and live-first catch-up (the tail source, sources/tail/catchup.py), set at each tick.
BACKLOG_BYTES = Gauge(
    "logship_backlog_bytes",
    "Bytes written to the followed files (and to those not opened) and not yet delivered.",
    registry=REGISTRY,
)
BACKLOG_OLDEST_SECONDS = Gauge(
    "logship_backlog_oldest_seconds",
    "Estimated age of the oldest undelivered byte of the followed files (0: none undelivered); "
    "one tick precise for what was written while followed, a lower bound for what a file held "
    "when first seen.",
    registry=REGISTRY,
)
CATCHING_UP = Gauge(
    "logship_catching_up",
    "1 while catching up live-first: a live cursor ships what is written now ahead of the backlog.",
    registry=REGISTRY,
)

# -- live-first catch-up: the senders' side ----------------------------------------------------
LANES = ("live", "backfill")
REQUESTS = Counter(
    "logship_requests",
    "Batches sent to the destination (one request each, not counting retries of a whole request), by "
    "lane: live (what is written now; everything when not catching up) or backfill (the backlog "
    "while catching up live-first, at least `delivery.backfill_share` of the requests).",
    ["lane"],
    registry=REGISTRY,
)
LIVE_LAG = Histogram(
    "logship_live_lag_seconds",
    "Seconds from reading a block of live records to their delivery, per block. Writing to reading "
    "adds at most `tail.poll_interval_seconds`; searchable adds the index refresh interval.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0),
    registry=REGISTRY,
)

for _outcome in RECORD_OUTCOMES:
    RECORDS.labels(outcome=_outcome)
for _reason in PARSE_FAILURE_REASONS:
    PARSE_FAILURES.labels(reason=_reason)
for _status_class in BULK_STATUS_CLASSES:
    BULK_REQUESTS.labels(status_class=_status_class)
for _reason in RETRY_REASONS:
    RETRIES.labels(reason=_reason)
for _resolution in IDENTITY_RESOLUTIONS:
    IDENTITY_COLLISIONS.labels(resolution=_resolution)
for _reason in FILE_OPEN_FAILURE_REASONS:
    FILE_OPEN_FAILURES.labels(reason=_reason)
for _lane in LANES:
    REQUESTS.labels(lane=_lane)
