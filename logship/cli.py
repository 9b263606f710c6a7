"""Command line: `logship run`, `replay`, `check`, `setup`, `prune`: parses arguments and calls the pipeline.

Exit codes: 0 success; 1 records not delivered (replay), a runtime failure, or an engine that
does not answer or refuses (`check --connect`, `setup`, `prune`); 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import orjson

from logship import __version__, deadletter_files
from logship.allocator import keep_freed_memory
from logship.errors import ConfigError, EngineRejected, EngineUnreachable, LogshipError, PipelineFailed
from logship.observe.logs import configure_logging, redact, redact_mapping
from logship.pipeline import ReplayProgress, replay_dead_letters, replay_files
from logship.progress import ProgressReporter
from logship.settings import Settings, load_settings
from logship.sinks.elasticsearch.bulk import BulkClient, transport_warnings, warn_about_transport
from logship.sources.tail.positions import PositionStore
from logship.transforms.enrich import configured_fields

__all__ = ["main"]

log = logging.getLogger("logship")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        code: int = args.handler(args)
        return code
    except ConfigError as exc:
        _print_problems(exc.problems)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="logship",
        description="Tail the AI Chat backend's JSON logs and bulk-index every record into Elasticsearch, "
        "exactly once.",
    )
    parser.add_argument("--version", action="version", version=f"logship {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    config_help = "TOML configuration file (default: the built-in defaults, equal to conf/logship.toml)"

    run = sub.add_parser(
        "run",
        help="follow the log files and ship them until SIGTERM",
        description="Follow the configured log files and ship every record until SIGTERM or "
        "SIGINT, then deliver what is in flight and exit 0. SIGHUP reloads the configuration.",
    )
    run.add_argument("--config", type=Path, help=config_help)
    run.set_defaults(handler=_run)

    replay = sub.add_parser(
        "replay",
        help="ship whole files once and exit",
        description="Ship the named files from their first byte to their end and exit: 0 when "
        "every record was delivered, 1 when any was dead-lettered or not delivered, "
        "2 on a usage or configuration error. Already indexed records are not duplicated.",
    )
    replay.add_argument("files", nargs="+", type=Path, metavar="FILE")
    replay.add_argument("--config", type=Path, help=config_help)
    replay.add_argument(
        "--print",
        action="store_true",
        dest="print_only",
        help="write the documents that would be sent to stdout, one per line; contact nothing",
    )
    replay.add_argument(
        "--dead-letter",
        action="store_true",
        help="the files are dead-letter files: send their documents again with their original index and id",
    )
    replay.add_argument(
        "--max-retries",
        type=int,
        default=10,
        metavar="N",
        help="give up on a request after N failed attempts (default 10; 0 = never give up)",
    )
    replay.set_defaults(handler=_replay)

    check = sub.add_parser(
        "check",
        help="validate the configuration",
        description="Validate the configuration: exit 0, or print every problem and exit 2.",
    )
    check.add_argument("--config", type=Path, help=config_help)
    check.add_argument(
        "--connect", action="store_true", help="also check that the search engine answers (exit 1 if not)"
    )
    check.set_defaults(handler=_check)

    setup = sub.add_parser(
        "setup",
        help="install the index template and the retention policy in the engine",
        description="Install, idempotently, the index template of the <prefix>-<date> indices and, "
        "when retention is the engine's, its ILM (Elasticsearch) or ISM (OpenSearch) policy. Prints "
        "what was created, updated or already up to date. Exit 0; 1 when the engine does not "
        "answer or refuses, or an object not installed by logship was left alone; 2 on a "
        "configuration error.",
    )
    setup.add_argument("--config", type=Path, help=config_help)
    setup.add_argument(
        "--dry-run", action="store_true", help="print the requests that would change the engine; send none"
    )
    setup.add_argument(
        "--overwrite",
        action="store_true",
        help="also replace a template or policy of the same name that logship did not install",
    )
    setup.set_defaults(handler=_setup)

    prune_ = sub.add_parser(
        "prune",
        help="delete the daily indices older than index.retention_days",
        description="Delete the <prefix>-<date> indices whose day is older than index.retention_days; "
        "names that do not parse with elasticsearch.index_date_format are never touched. Exit 0; "
        "1 when the engine does not answer or refuses; 2 on a configuration error.",
    )
    prune_.add_argument("--config", type=Path, help=config_help)
    prune_.add_argument(
        "--dry-run", action="store_true", help="print the DELETE requests and the indices; send none"
    )
    prune_.set_defaults(handler=_prune)
    _add_migrate(sub)
    return parser


def _print_problems(problems: list[str]) -> None:
    print(f"logship: configuration error{'s' if len(problems) > 1 else ''}:", file=sys.stderr)
    for problem in problems:
        print(f"  - {problem}", file=sys.stderr)


# -- run ------------------------------------------------------------------------------------


def _where(config: Path | None) -> str:
    return str(config) if config else "the built-in defaults"


def _check_fields(settings: Settings, config: Path | None) -> None:
    """Expand `enrich.fields` now, so that an unset or refused variable is a configuration error."""
    try:
        configured_fields(settings)
    except ConfigError as exc:
        raise ConfigError([f"{_where(config)}: {p}" for p in exc.problems]) from exc


def _run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    # Here, not at the top: the service and its HTTP server are `run`'s alone.
    from logship.supervisor import supervise

    _check_fields(settings, args.config)
    configure_logging(settings.log.level)
    _keep_freed_memory(settings)
    try:
        # Shipping without saving positions would send everything again at the next start.
        PositionStore(settings.tail.positions_dir, settings.state_file_mode).check_writable()
        return asyncio.run(supervise(args.config, settings))
    except PipelineFailed as exc:
        # A bug: exit non-zero so that systemd or Kubernetes restarts logship. What the failed part
        # held was never committed, so it is read again then.
        log.critical("Stopped after a failure inside the pipeline", exc_info=exc)
        return EXIT_FAILED
    except LogshipError as exc:
        log.critical("Cannot run", extra={"error": str(exc)})
        return EXIT_FAILED


def _keep_freed_memory(settings: Settings) -> None:
    # A bulk body (plus its headers) comes from the heap; up to the in-flight bound stays mapped.
    keep_freed_memory(settings.batch.max_bytes + 2**20, settings.delivery.max_inflight_bytes)


# -- replay ---------------------------------------------------------------------------------


def _replay(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    if args.max_retries < 0:
        raise ConfigError(["--max-retries: must be 0 or more"])
    configure_logging(settings.log.level)
    _keep_freed_memory(settings)
    if not args.print_only:
        warn_about_transport(settings.elasticsearch)
    if args.dead_letter:  # with its rotated copies, oldest first
        args.files = list(dict.fromkeys(p for f in args.files for p in deadletter_files.existing(f) or [f]))
    missing = [f"{f}: no such file" for f in args.files if not f.is_file()]
    if missing:
        for line in missing:
            print(f"logship replay: {line}", file=sys.stderr)
        return EXIT_USAGE
    progress = ReplayProgress(total_bytes=sum(f.stat().st_size for f in args.files))
    reporter = ProgressReporter(progress, sys.stderr) if not args.print_only else None

    async def go() -> int:
        task = asyncio.create_task(
            replay_dead_letters(settings, args.files, progress, args.max_retries)
            if args.dead_letter
            else replay_files(
                settings,
                args.files,
                progress,
                sys.stdout.buffer if args.print_only else None,
                args.max_retries,
            )
        )
        if reporter is not None:
            await reporter.follow(task)
        tally = await task
        seconds = time.monotonic() - progress.started
        summary = (
            f"records read: {progress.records}, indexed: {tally.indexed}, already present: "
            f"{tally.already_present}, dead-lettered: {tally.dead_lettered}, not delivered: "
            f"{tally.undelivered}, seconds: {seconds:.2f}"
        )
        print(summary, file=sys.stderr if args.print_only else sys.stdout)
        if tally.dead_lettered:
            print(
                f"dead-lettered documents are in {settings.dead_letter.path}; fix the cause, then run "
                f"`logship replay --dead-letter {settings.dead_letter.path}`",
                file=sys.stderr,
            )
        return EXIT_FAILED if tally.dead_lettered or tally.undelivered else EXIT_OK

    return asyncio.run(go())


# -- check ----------------------------------------------------------------------------------


def _check(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    problems: list[str] = []
    where = _where(args.config)
    try:
        _check_fields(settings, args.config)
    except ConfigError as exc:
        problems.extend(exc.problems)
    for setting, directory in (
        ("tail.positions_dir", settings.tail.positions_dir),
        ("dead_letter.path", settings.dead_letter.path.parent),
    ):
        if not _writable_dir(directory):
            problems.append(
                f"{where}: setting `{setting}`: {directory} cannot be created or written by this user"
            )
    if problems:
        raise ConfigError(problems)
    print(orjson.dumps(redact_mapping(settings.model_dump(mode="json")), option=orjson.OPT_INDENT_2).decode())
    for warning in transport_warnings(settings.elasticsearch):
        print(f"warning: {warning}", file=sys.stderr)
    print(f"configuration OK ({where})", file=sys.stderr)
    if args.connect:
        return asyncio.run(_connect(settings))
    return EXIT_OK


def _writable_dir(directory: Path) -> bool:
    existing = directory
    while not existing.exists():
        if existing.parent == existing:
            return False
        existing = existing.parent
    return existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)


async def _connect(settings: Settings) -> int:
    client = BulkClient(settings.elasticsearch)
    try:
        response = await client.info()
    except EngineUnreachable as exc:
        print(f"search engine: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        await client.close()
    if response.status != 200:
        print(
            f"search engine answered HTTP {response.status}: "
            f"{redact(response.body[:300].decode('utf-8', 'replace'))} "
            "(check `elasticsearch.username`/`password`/`api_key`)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    info = orjson.loads(response.body)
    version = info.get("version", {})
    print(
        f"search engine answered: {version.get('distribution', 'elasticsearch')} {version.get('number')} "
        f"(cluster {info.get('cluster_name')})",
        file=sys.stderr,
    )
    return EXIT_OK


# -- migrate ---------------------------------------------------------------------------------


def _add_migrate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    migrate = sub.add_parser(
        "migrate",
        help="convert another shipper's configuration and positions",
        description="Convert another shipper's configuration into logship's, and take over its positions.",
    )
    sources = migrate.add_subparsers(dest="source", metavar="SOURCE", required=True)
    fluentd = sources.add_parser(
        "fluentd",
        help="convert a Fluentd tail + record_transformer + elasticsearch configuration",
        description="Convert a Fluentd configuration into a logship TOML file and take over in_tail's "
        "pos_file, so logship resumes where Fluentd stopped (stop Fluentd first). Exit 0 when converted; "
        "2 when something cannot be converted (each item listed with file and line; nothing is written "
        "unless --force), or on a usage or configuration error.",
    )
    fluentd.add_argument("conf", type=Path, metavar="FLUENT_CONF")
    fluentd.add_argument(
        "--pos-file",
        type=Path,
        action="append",
        metavar="FILE",
        help="in_tail pos_file to take over (repeatable; default: the pos_file of each tail source)",
    )
    fluentd.add_argument(
        "--output", type=Path, default=Path("logship.toml"), help="TOML file to write (default: logship.toml)"
    )
    fluentd.add_argument(
        "--positions-dir",
        type=Path,
        metavar="DIR",
        help="where to write logship's position store (default: `tail.positions_dir` of the converted file)",
    )
    fluentd.add_argument(
        "--force",
        action="store_true",
        help="write even with unconvertible items (commented in the file); replace an existing output "
        "file or position store",
    )
    fluentd.add_argument(
        "--dry-run",
        action="store_true",
        help="print the configuration and where logship will start each file (path, inode, offset); "
        "write nothing",
    )
    fluentd.set_defaults(handler=_migrate_fluentd)


def _migrate_fluentd(args: argparse.Namespace) -> int:
    from logship.migrate.command import migrate_fluentd  # only this command needs the converter

    return migrate_fluentd(
        args.conf, args.output, args.pos_file, args.positions_dir, args.force, dry_run=args.dry_run
    )


# -- setup, prune ---------------------------------------------------------------------------


def _setup(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    from logship.sinks.elasticsearch.setup import install

    return _admin(install(settings, dry_run=args.dry_run, overwrite=args.overwrite))


def _prune(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    from logship.sinks.elasticsearch.prune import prune

    return _admin(prune(settings, dry_run=args.dry_run))


def _admin(work: Coroutine[Any, Any, object]) -> int:
    try:
        result = asyncio.run(work)
    except (EngineUnreachable, EngineRejected) as exc:
        print(f"logship: search engine: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_FAILED if result is False else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
