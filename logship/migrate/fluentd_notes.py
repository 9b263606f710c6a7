"""The Fluentd parameters that change nothing for logship, per plugin, and why.

Each is reported as a note (``name`` ignored: why) rather than a problem. An empty reason means the
parameter is dropped without a note.
"""

from __future__ import annotations

__all__ = ["BUFFER_NOTES", "ES_NOTES", "PARSE_NOTES", "TAIL_NOTES"]

TAIL_NOTES: dict[str, str] = {
    "read_lines_limit": "logship reads `tail.read_block_bytes` at a time",
    "enable_watch_timer": "logship polls the files it follows every `tail.poll_interval_seconds`",
    "enable_stat_watcher": "logship polls the files it follows every `tail.poll_interval_seconds`",
    "pos_file_compaction_interval": "logship's position store has no compaction",
    "open_on_every_update": "logship keeps files open and detects rotation itself",
    "skip_refresh_on_startup": "logship scans once at start",
    "ignore_repeated_permission_error": "logship logs an unreadable file once per scan",
    "follow_inodes": "logship identifies files by their first line, across renames",
    "emit_unmatched_lines": "logship ships every line",
    "@log_level": "logship has one `log.level`",
}
PARSE_NOTES: dict[str, str] = {
    "json_parser": "logship parses JSON with orjson",
    "@log_level": "logship has one `log.level`",
}
ES_NOTES: dict[str, str] = {
    "type_name": "mapping types do not exist on Elasticsearch 8+",
    "suppress_type_name": "mapping types do not exist on Elasticsearch 8+",
    "reload_connections": "logship rotates requests over `elasticsearch.hosts`",
    "reload_on_failure": "logship rotates requests over `elasticsearch.hosts`",
    "reconnect_on_error": "logship reconnects on every error",
    "reload_after": "logship rotates requests over `elasticsearch.hosts`",
    "sniffer_class_name": "logship does not sniff the cluster",
    "with_transporter_log": "logship logs failed requests itself",
    "log_es_400_reason": "logship always keeps the engine's reason (in the dead-letter file)",
    "verify_es_version_at_startup": "logship speaks plain _bulk to Elasticsearch 8, 9 and OpenSearch 2",
    "default_elasticsearch_version": "logship speaks plain _bulk to Elasticsearch 8, 9 and OpenSearch 2",
    "validate_client_version": "logship speaks plain _bulk to Elasticsearch 8, 9 and OpenSearch 2",
    "http_backend": "logship sends bulk requests over its own kept-alive HTTP/1.1 connections",
    "prefer_oj_serializer": "logship encodes with orjson",
    "include_timestamp": "logship always writes @timestamp",
    "utc_index": "logship's index dates are in UTC",
    "write_operation": "logship uses `create` with deterministic ids, so nothing is indexed twice",
    "unrecoverable_error_types": "logship dead-letters documents the engine refuses for good",
    "emit_error_for_missing_id": "logship sets every document's id",
    "slow_flush_log_threshold": "see the `logship_bulk_request_duration_seconds` metric",
    "ssl_version": "negotiated by Python's ssl module",
    "ssl_min_version": "negotiated by Python's ssl module",
    "ssl_max_version": "negotiated by Python's ssl module",
    "@log_level": "logship has one `log.level`",
}
BUFFER_NOTES: dict[str, str] = {
    "@type": "the log files are logship's buffer; it keeps no copy",
    "type": "the log files are logship's buffer; it keeps no copy",
    "path": "the log files are logship's buffer; it keeps no copy",
    "flush_mode": "logship flushes on size or `batch.flush_interval_seconds`",
    "flush_at_shutdown": "logship drains on SIGTERM (`pipeline.drain_timeout_seconds`)",
    "overflow_action": "logship pauses reading at `delivery.max_inflight_bytes`",
    "total_limit_size": "logship pauses reading at `delivery.max_inflight_bytes`; nothing is dropped",
    "queue_limit_length": "logship pauses reading at `delivery.max_inflight_bytes`; nothing is dropped",
    "queued_chunks_limit_size": "logship pauses reading at `delivery.max_inflight_bytes`",
    "retry_type": "logship backs off exponentially with jitter",
    "retry_exponential_backoff_base": "logship doubles the delay on each failure",
    "retry_randomize": "logship always adds jitter",
    "retry_timeout": "logship retries until delivered (or `delivery.max_retries`)",
    "chunk_full_threshold": "logship sends a batch when it is full",
    "compress": "see `elasticsearch.gzip`",
    "timekey": "logship batches by size and time, not by record time",
    "timekey_wait": "logship batches by size and time, not by record time",
    "timekey_use_utc": "logship batches by size and time, not by record time",
    "@id": "",
}
