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

import tomli_w

from logship import __version__
from logship.errors import ConfigError, PositionsError
from logship.exitcodes import Exit
from logship.fsio import sync_directory, write_all
from logship.migrate.fluentd import Conversion, convert
from logship.migrate.fluentd_conf import parse_file
from logship.migrate.posfile import write_positions
from logship.migrate.takeover import Takeover, plan_takeover
from logship.settings import Settings, TailSettings, load_settings
from logship.sources.tail.positions import PositionStore

__all__ = ["migrate_fluentd"]

_DEFAULT_POSITIONS: Path = TailSettings.model_fields["positions_dir"].default


def migrate_fluentd(
    conf: Path,
    output: Path,
    pos_files: list[Path] | None = None,
    positions_dir: Path | None = None,
    force: bool = False,
    out: TextIO | None = None,
    err: TextIO | None = None,
    dry_run: bool = False,
) -> int:
    """Convert ``conf`` into ``output`` and take over its pos_files; the exit code.

    ``dry_run``: print the configuration and where logship would start each file; write nothing.
    """
    out = out or sys.stdout
    err = err or sys.stderr
    _check_output(output, replace=force or dry_run)
    conversion = convert(parse_file(conf))
    if not _convertible(conversion, conf, output, force, err):
        return Exit.USAGE
    # The store and the file that reads it go together: `run --config` must never pick up another one.
    directory = Path(os.path.abspath(positions_dir if positions_dir is not None else _DEFAULT_POSITIONS))
    conversion.settings.setdefault("tail", {})["positions_dir"] = str(directory)
    text = _commented(_header(conf, conversion, force)) + tomli_w.dumps(conversion.settings)
    with _staged(output, text, dry_run) as settings:
        plan, sources = _takeover(conversion, pos_files, settings, err)
        store = PositionStore(directory).path
        if store.exists() and not force and not dry_run:
            raise ConfigError(
                [
                    f"{store}: a logship position store exists already (logship has run here); "
                    "pass --force to replace it, or --positions-dir for another one"
                ]
            )
    if dry_run:
        print(text, file=out)
        print(f"dry run: nothing written (would write {output} and {store})", file=out)
        _report(plan, sources, None, out)
        _environment(conversion, out)
        return Exit.OK
    print(f"wrote {output} (from {conf}; check it with `logship check --config {output}`)", file=out)
    try:
        write_positions(directory, plan.positions, plan.cutover, force)
    except (ConfigError, PositionsError) as exc:
        print(f"logship migrate: position store not written: {exc}", file=err)
        return Exit.FAILED
    _report(plan, sources, store, out)
    _environment(conversion, out)
    return Exit.OK


def _check_output(output: Path, replace: bool) -> None:
    """Refuse a directory as --output, and an existing file unless it may be replaced."""
    if output.is_dir():
        raise ConfigError(
            [
                f"{output}: is a directory; --output names the TOML file to write "
                f"(e.g. {output / 'logship.toml'})"
            ]
        )
    if output.exists() and not replace:
        raise ConfigError([f"{output}: exists already; pass --force to replace it, or --output another file"])


def _environment(conversion: Conversion, out: TextIO) -> None:
    if conversion.environment:
        print("set these environment variables for logship (not written to the file):", file=out)
        for line in conversion.environment:
            print(f"  {line}", file=out)


def _convertible(conversion: Conversion, conf: Path, output: Path, force: bool, err: TextIO) -> bool:
    """Print the notes and problems; whether to go on (no problem, or ``force``)."""
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
            return False
    return True


def _report(plan: Takeover, sources: list[str], store: Path | None, out: TextIO) -> None:
    """Where logship starts each file, what could not be used, and what is lost."""
    verb = "wrote" if store is not None else "would write"
    if sources:
        print(
            f"took over {plan.resumed} position(s) from {', '.join(sources)}; cut-over point (the "
            f"pos_file's last write) {_utc(plan.cutover)}",
            file=out,
        )
    else:
        print("no pos_file: logship reads the files per `tail.read_from` at its first start", file=out)
    print(f"{verb} the position store ({len(plan.positions)} file(s)); logship starts:", file=out)
    for line in plan.starts:
        print(f"  {line}", file=out)
    if plan.skipped:
        print("not taken over:", file=out)
        for line in plan.skipped:
            print(f"  {line}", file=out)
    if plan.lost:
        print("lost (Fluentd had not shipped these and they are gone):", file=out)
        for line in plan.lost:
            print(f"  {line}", file=out)


def _utc(t: float | None) -> str:
    return "none" if t is None else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _commented(lines: list[str]) -> str:
    """``lines`` as TOML comments, then a blank line; a newline inside one must not end the comment."""
    if not lines:
        return ""
    comments = [("# " + line.replace("\r", " ").replace("\n", " ")).rstrip() for line in lines]
    return "\n".join(comments) + "\n\n"


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
    return plan_takeover(chosen, settings.tail), [str(p) for p in chosen]


class _staged:
    """Write ``text`` beside ``target``, fsync and validate it; rename it into place on success only.

    ``dry_run``: validate it in a private temporary directory, and never put it in place.
    """

    def __init__(self, target: Path, text: str, dry_run: bool = False) -> None:
        self.target = target
        self.text = text
        self.tmp: str | None = None
        self.scratch = tempfile.TemporaryDirectory(prefix="logship-migrate-") if dry_run else None

    def __enter__(self) -> Settings:
        directory = self.target.parent
        if not directory.is_dir():
            raise ConfigError([f"{self.target}: directory {directory} does not exist"])
        where = self.scratch.name if self.scratch is not None else directory
        fd, self.tmp = tempfile.mkstemp(prefix=f".{self.target.name}.", suffix=".tmp", dir=where)
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
        if kind is not None or self.tmp is None or self.scratch is not None:
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
        if self.scratch is not None:
            self.scratch.cleanup()
