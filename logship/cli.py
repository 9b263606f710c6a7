"""Command line: `logship run`, `replay`, `check`, `setup`, `prune`, `migrate`: parses the arguments,
loads the configuration once, and calls the module that owns the command.

Exit codes: `logship.exitcodes.Exit` (0 success; 1 records not delivered, a runtime failure, or an
engine that does not answer or refuses; 2 usage or configuration error).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from logship import __version__
from logship.errors import ConfigError
from logship.exitcodes import Exit
from logship.settings import Settings, load_settings

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return Exit.USAGE
    try:
        if "config" in args:
            code: int = args.handler(args, load_settings(args.config))
        else:
            code = args.handler(args)
        return code
    except ConfigError as exc:
        _print_problems(exc.problems)
        return Exit.USAGE
    except KeyboardInterrupt:
        return Exit.INTERRUPTED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="logship",
        description="Tail the AI Chat backend's JSON logs and bulk-index every record into Elasticsearch, "
        "exactly once.",
    )
    parser.add_argument("--version", action="version", version=f"logship {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    # The options every command that reads the configuration shares.
    configured = argparse.ArgumentParser(add_help=False)
    configured.add_argument(
        "--config",
        type=Path,
        help="TOML configuration file (default: the built-in defaults, equal to conf/logship.toml)",
    )

    run = sub.add_parser(
        "run",
        parents=[configured],
        help="follow the log files and ship them until SIGTERM",
        description="Follow the configured log files and ship every record until SIGTERM or "
        "SIGINT, then deliver what is in flight and exit 0. SIGHUP reloads the configuration.",
    )
    run.set_defaults(handler=_run)
    _add_replay(sub, configured)

    check = sub.add_parser(
        "check",
        parents=[configured],
        help="validate the configuration",
        description="Validate the configuration: exit 0, or print every problem and exit 2.",
    )
    check.add_argument(
        "--connect", action="store_true", help="also check that the search engine answers (exit 1 if not)"
    )
    check.set_defaults(handler=_check)
    _add_setup_and_prune(sub, configured)
    _add_migrate(sub)
    return parser


def _add_replay(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], configured: argparse.ArgumentParser
) -> None:
    replay = sub.add_parser(
        "replay",
        parents=[configured],
        help="ship whole files once and exit",
        description="Ship the named files from their first byte to their end and exit: 0 when "
        "every record was delivered, 1 when any was dead-lettered or not delivered, "
        "2 on a usage or configuration error. Already indexed records are not duplicated.",
    )
    replay.add_argument("files", nargs="+", type=Path, metavar="FILE")
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


def _add_setup_and_prune(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], configured: argparse.ArgumentParser
) -> None:
    setup = sub.add_parser(
        "setup",
        parents=[configured],
        help="install the index template and the retention policy in the engine",
        description="Install, idempotently, the index template of the <prefix>-<date> indices and, "
        "when retention is the engine's, its ILM (Elasticsearch) or ISM (OpenSearch) policy. Prints "
        "what was created, updated or already up to date. Exit 0; 1 when the engine does not "
        "answer or refuses, or an object not installed by logship was left alone; 2 on a "
        "configuration error.",
    )
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
        parents=[configured],
        help="delete the daily indices older than index.retention_days",
        description="Delete the <prefix>-<date> indices whose day is older than index.retention_days; "
        "names that do not parse with elasticsearch.index_date_format are never touched. Exit 0; "
        "1 when the engine does not answer or refuses; 2 on a configuration error.",
    )
    prune_.add_argument(
        "--dry-run", action="store_true", help="print the DELETE requests and the indices; send none"
    )
    prune_.set_defaults(handler=_prune)


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


def _print_problems(problems: list[str]) -> None:
    print(f"logship: configuration error{'s' if len(problems) > 1 else ''}:", file=sys.stderr)
    for problem in problems:
        print(f"  - {problem}", file=sys.stderr)


# The handlers import their command's module when called: each command loads only what it uses.


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from logship.supervisor import run

    return run(args.config, settings)


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from logship.replay_command import replay

    return replay(
        settings,
        args.files,
        print_only=args.print_only,
        dead_letter=args.dead_letter,
        max_retries=args.max_retries,
    )


def _check(args: argparse.Namespace, settings: Settings) -> int:
    from logship.config_check import check

    return check(settings, args.config, args.connect)


def _setup(args: argparse.Namespace, settings: Settings) -> int:
    from logship.engine_commands import setup

    return setup(settings, args.dry_run, args.overwrite)


def _prune(args: argparse.Namespace, settings: Settings) -> int:
    from logship.engine_commands import prune

    return prune(settings, args.dry_run)


def _migrate_fluentd(args: argparse.Namespace) -> int:
    from logship.migrate.command import migrate_fluentd

    return migrate_fluentd(
        args.conf, args.output, args.pos_file, args.positions_dir, args.force, dry_run=args.dry_run
    )


if __name__ == "__main__":
    sys.exit(main())
