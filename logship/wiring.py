"""The one place that turns settings into a source and a sink.

`logship run` follows the configured globs (`TailSource`); `logship replay` reads named files
(`FileReplaySource`) or dead-letter files (`DeadLetterSource`). Every command sends to
Elasticsearch, except `replay --print`, which prints. A new source or sink is chosen here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from logship.budget import InflightBudget
from logship.observe.health import HealthState
from logship.settings import Settings
from logship.sinks import Sink
from logship.sinks.elasticsearch.deadletter import DeadLetterFile
from logship.sinks.elasticsearch.sink import ElasticsearchSink
from logship.sinks.stdout import PrintSink
from logship.sources import LiveSource
from logship.sources.deadletter import DeadLetterSource
from logship.sources.replay import FileReplaySource
from logship.sources.tail.multiline import RecordSplitter
from logship.sources.tail.positions import PositionStore, StoreState
from logship.transforms.enrich import configured_fields

__all__ = [
    "build_sink",
    "dead_letter_source",
    "file_replay_source",
    "run_sink",
    "splitter",
    "tail_source",
]


def build_sink(
    settings: Settings,
    health: HealthState | None,
    *,
    print_to: BinaryIO | None = None,
    abandon_after: int = 0,
    long_run: bool = False,
) -> Sink:
    """``print_to``: print the documents there instead of sending them; ``abandon_after`` > 0:
    give up on a record after that many failed attempts (replay); ``long_run``: `logship run`,
    whose sink also keeps the engine set up and pruned (`Sink.start`)."""
    if print_to is not None:
        return PrintSink(print_to)
    # Document ids are namespaced by the host name the records carry (`enrich.fields.hostname`),
    # so equal files on two hosts never share ids.
    namespace = configured_fields(settings).get("hostname", "")
    return ElasticsearchSink(
        settings.elasticsearch,
        settings.delivery,
        DeadLetterFile(
            settings.dead_letter.path,
            settings.state_file_mode,
            settings.dead_letter.max_bytes,
            settings.dead_letter.max_files,
        ),
        namespace=namespace,
        health=health,
        abandon_after=abandon_after,
        run_settings=settings if long_run else None,
    )


def run_sink(settings: Settings, health: HealthState) -> Sink:
    """The sink of `logship run`."""
    return build_sink(settings, health, long_run=True)


def splitter(settings: Settings) -> RecordSplitter:
    m = settings.multiline
    return RecordSplitter(m.start_pattern, m.max_lines, settings.tail.max_line_bytes, m.max_bytes)


def tail_source(
    settings: Settings,
    restored: StoreState,
    budget: InflightBudget,
    caught_up: Callable[[], None],
    unreachable: Callable[[], bool],
) -> LiveSource:
    """The source of `logship run`, from the positions ``restored``."""
    # Imported here: a replay has no use for the tail source, whose modules are a tenth of its start-up.
    from logship.sources.tail.source import TailSource

    store = PositionStore(settings.tail.positions_dir, settings.state_file_mode)
    ignore = {str(settings.dead_letter.path), str(store.path)}  # logship's own; their rotations too
    return TailSource(
        settings.tail,
        splitter(settings),
        settings.multiline.flush_timeout_seconds,
        restored,
        budget,
        ignore,
        caught_up,
        settings.delivery,
        unreachable,
    )


def file_replay_source(
    settings: Settings, paths: list[Path], budget: InflightBudget, on_read: Callable[[int, int], None]
) -> FileReplaySource:
    """Named files, each once from its first byte (`logship replay`)."""
    return FileReplaySource(paths, settings.tail, splitter(settings), budget, on_read)


def dead_letter_source(paths: list[Path], on_read: Callable[[int, int], None]) -> DeadLetterSource:
    """Finished documents from dead-letter files (`logship replay --dead-letter`)."""
    return DeadLetterSource(paths, on_read)
