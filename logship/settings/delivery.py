"""The sections of delivery and the service: [batch], [delivery], [dead_letter], [pipeline], [log]."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from logship.settings.section import MiB, Section

__all__ = ["BatchSettings", "DeadLetterSettings", "DeliverySettings", "LogSettings", "PipelineSettings"]


class BatchSettings(Section):
    max_documents: int = Field(5000, ge=1, description="Documents per bulk request at most.")
    max_bytes: int = Field(
        8 * MiB,
        ge=1024,
        description="Bytes per bulk request body at most (a single larger document goes alone).",
    )
    flush_interval_seconds: float = Field(1.0, gt=0, description="A partial batch is sent after this long.")


class DeliverySettings(Section):
    max_concurrent_requests: int = Field(2, ge=1, le=64, description="Bulk requests in flight at once.")
    max_inflight_bytes: int = Field(
        16 * MiB,
        ge=MiB,
        description="Readers pause while this many encoded bytes are read but not yet delivered.",
    )
    retry_initial_seconds: float = Field(
        0.5, gt=0, description="First retry delay; it doubles on each failure, with jitter."
    )
    retry_max_seconds: float = Field(30.0, gt=0, description="Longest retry delay.")
    max_retries: int = Field(
        0,
        ge=0,
        description="Retries of a failing document before it is dead-lettered; 0 retries without limit.",
    )
    catch_up: Literal["live-first", "in-order"] = Field(
        "live-first",
        description="After an outage or a slow spell, `live-first` ships what is written now first and "
        "the backlog behind it with the remaining capacity (records then arrive out of order); "
        "`in-order` ships the backlog oldest first, as other shippers do.",
    )
    catch_up_after_seconds: float = Field(
        10.0,
        gt=0,
        description="Live-first catch-up starts once the undelivered backlog holds more than this many "
        "seconds of the current write rate (and at least `catch_up_min_bytes`).",
    )
    catch_up_min_bytes: int = Field(
        4 * MiB,
        ge=0,
        description="Live-first catch-up never starts for a backlog smaller than this.",
    )
    backfill_share: float = Field(
        0.2,
        gt=0,
        le=1,
        description="While catching up live-first, the share of requests the backlog gets at least, "
        "however much is written now.",
    )


class DeadLetterSettings(Section):
    path: Path = Field(
        Path("/var/lib/logship/dead-letter.ndjson"),
        description="NDJSON file of documents the engine rejected for good.",
    )
    max_bytes: int = Field(
        1024 * MiB,
        ge=64 * 1024,
        description="Bytes the dead-letter file and its rotated copies may hold together. Once reached, "
        "rejected records are not acknowledged: reading pauses, as for an engine outage, until "
        "`logship replay --dead-letter` has delivered and removed files or the bound is raised.",
    )
    max_files: int = Field(
        4,
        ge=1,
        le=100,
        description="The dead-letter file rotates to `<path>.1` ... `<path>.<max_files - 1>` once it holds "
        "`max_bytes / max_files`; rotation never deletes a file.",
    )


class PipelineSettings(Section):
    drain_timeout_seconds: float = Field(
        20.0, gt=0, description="On SIGTERM, time allowed to deliver what is in flight before exiting."
    )
    positions_flush_seconds: float = Field(
        2.0,
        gt=0,
        description="How often delivered positions are written to disk (when they moved); after a crash, "
        "about this long of records is sent again (and recognised by their ids: no duplicates).",
    )
    state_files_group_readable: bool = Field(
        False,
        description="Create the position store and the dead-letter file 0640 (readable by the group) "
        "instead of 0600.",
    )


class LogSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Level of logship's own JSON logs on stderr."
    )
