"""`logship migrate fluentd`: convert the configuration, take over the positions, report both.

Nothing is written while anything cannot be converted (unless forced), and nothing is written
half: the configuration goes to a temporary file beside the target, is fsynced, validated with
logship's own loader, and only then renamed into place.
"""

from __future__ import annotations

import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from logship import __version__
from logship.errors import ConfigError, PositionsError
from logship.fsio import sync_directory, write_all
from logship.migrate.fluentd import Conversion, convert
from logship.migrate.fluentd_conf import parse_file
from logship.migrate.posfile import Takeover, plan_takeover, write_positions
from logship.migrate.toml_out import dumps
from logship.settings import Settings, load_settings

__all__ = ["migrate_fluentd"]

EXIT_OK, EXIT_FAILED, EXIT_REFUSED = 0, 1, 2


def migrate_fluentd(
    conf: Path,
    output: Path,
    pos_files: list[Path] | None = None,
    positions_dir: Path | None = None,
    force: bool = False,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Convert ``conf`` into ``output`` and take over its pos_files; the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    if output.is_dir():
        raise ConfigError(
            [
                f"{output}: is a directory; --output names the TOML file to write "
                f"(e.g. {output / 'logship.toml'})"
            ]
        )
    if output.exists() and not force:
        raise ConfigError([f"{output}: exists already; pass --force to replace it, or --output another file"])
    conversion = convert(parse_file(conf))
    for note in conversion.notes:
        print(f"note: {note}", file=err)
    if conversion.problems:
        print(f"logship migrate: {len(conversion.problems)} item(s) cannot be converted:", file=err)
        for problem in conversion.problems:
            print(f"  {problem}", file=err)
        if not force:
            print(
                f"nothing written; adapt {conf} or pass --force to write {output} with a comment for each",
                file=err,
            )
            return EXIT_REFUSED
    text = dumps(conversion.settings, _header(conf, conversion, force))
    with _staged(output, text) as settings:
        plan, sources = _takeover(conversion, pos_files, settings, err)
        directory = positions_dir if positions_dir is not None else settings.tail.positions_dir
        if plan.positions and (directory / "positions.json").exists() and not force:
            raise ConfigError(
                [
                    f"{directory / 'positions.json'}: a logship position store exists already "
                    "(logship has run here); pass --force to replace it, or --positions-dir for another one"
                ]
            )
    print(f"wrote {output} (from {conf}; check it with `logship check --config {output}`)", file=out)
    code = EXIT_OK
    if plan.positions:
        try:
            store = write_positions(directory, plan, force)
        except (ConfigError, PositionsError) as exc:
            print(f"logship migrate: positions not taken over: {exc}", file=err)
            code = EXIT_FAILED
        else:
            print(
                f"took over {len(plan.positions)} position(s) from {', '.join(sources)} into {store}:",
                file=out,
            )
    elif sources:
        print(f"no position taken over from {', '.join(sources)}", file=out)
    for line in plan.taken:
        print(f"  {line}", file=out)
    if plan.skipped:
        print("not taken over (logship reads these per `tail.read_from`):", file=out)
        for line in plan.skipped:
            print(f"  {line}", file=out)
    if conversion.environment:
        print("set these environment variables for logship (not written to the file):", file=out)
        for line in conversion.environment:
            print(f"  {line}", file=out)
    return code


def _header(conf: Path, conversion: Conversion, force: bool) -> list[str]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = [
        f"logship configuration converted from the Fluentd configuration {conf}",
        f"by `logship migrate fluentd` (logship {__version__}) on {now}.",
    ]
    if conversion.environment:
        lines += ["", "Secrets are not copied into this file; set them in logship's environment:"]
        lines += [f"  {line}" for line in conversion.environment]
    if conversion.problems and force:
        lines += ["", "NOT CONVERTED (written anyway with --force); each needs a decision:"]
        lines += [f"  {p}" for p in conversion.problems]
    if conversion.notes:
        lines += ["", "Notes:"]
        lines += [f"  {n}" for n in conversion.notes]
    return lines


def _takeover(
    conversion: Conversion, pos_files: list[Path] | None, settings: Settings, err: TextIO
) -> tuple[Takeover, list[str]]:
    if pos_files:
        missing = [f"{p}: no such pos_file (--pos-file)" for p in pos_files if not p.is_file()]
        if missing:
            raise ConfigError(missing)
        chosen = pos_files
    else:
        chosen = []
        for where, name in conversion.pos_files:
            if Path(name).is_file():
                chosen.append(Path(name))
            else:
                print(
                    f"note: {where}: pos_file {name} does not exist here; no positions taken over from it "
                    "(run the command on the host where Fluentd ran, or pass --pos-file)",
                    file=err,
                )
    plan = plan_takeover(chosen, settings.tail.fingerprint_bytes)
    return plan, [str(p) for p in chosen]


class _staged:
    """Write ``text`` beside ``target``, fsync and validate it; rename it into place on success only."""

    def __init__(self, target: Path, text: str) -> None:
        self.target = target
        self.text = text
        self.tmp: str | None = None

    def __enter__(self) -> Settings:
        directory = self.target.parent
        if not directory.is_dir():
            raise ConfigError([f"{self.target}: directory {directory} does not exist"])
        fd, self.tmp = tempfile.mkstemp(prefix=f".{self.target.name}.", suffix=".tmp", dir=directory)
        try:
            try:
                write_all(fd, self.text.encode())
                os.fchmod(fd, 0o644)
                os.fsync(fd)
            finally:
                os.close(fd)
            return load_settings(Path(self.tmp))
        except ConfigError as exc:
            tmp = self.tmp
            self._discard()
            raise ConfigError(
                [
                    f"the converted configuration is not valid: {p.replace(tmp, str(self.target))}"
                    for p in exc.problems
                ]
            ) from exc
        except BaseException:
            self._discard()
            raise

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        if kind is not None or self.tmp is None:
            self._discard()
            return
        os.replace(self.tmp, self.target)
        sync_directory(self.target.parent)

    def _discard(self) -> None:
        if self.tmp is not None:
            try:
                os.unlink(self.tmp)
            except FileNotFoundError:
                pass
            self.tmp = None
