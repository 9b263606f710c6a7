"""Fluentd's configuration syntax, read into a tree of directives that remember file and line
(:mod:`logship.migrate.fluentd_tree`).

The syntax follows Fluentd v1: ``<name arg>`` ... ``</name>`` sections, one ``key value`` per
line, ``#`` comments and ``@include`` of files and globs (relative to the including file). The
values (quoted strings, JSON, embedded Ruby, listed in :attr:`Param.ruby` when logship cannot
express it) are read by :mod:`logship.migrate.fluentd_literals`.
"""

from __future__ import annotations

import glob
import re
from pathlib import Path

from logship.errors import ConfigError
from logship.migrate.fluentd_literals import LINE_END, MAX_DEPTH, Scanner, translate_ruby
from logship.migrate.fluentd_tree import ConfTree, Directive, Param, Where

__all__ = ["ConfTree", "Directive", "Param", "Where", "parse_file", "translate_ruby"]

_SPACING = re.compile(r"(?:[ \t\r\n]|#[^\n]*(?:\n|\Z))+")
_BLANKS = re.compile(r"[ \t\r\n]+")
_LINE_ENDS = re.compile(r"(?:[ \t]*(?:#[^\n]*)?(?:\r?\n|\r))*[ \t]*(?:#[^\n]*)?(?:\r?\n|\r|\Z)")
_GT = re.compile(">")
_NAME = re.compile(r"[A-Za-z0-9_]+")
_KEY = re.compile(r"[^ \t\r\n]+")
_ARG_END = re.compile(r"(?:[ \t\r\n]|#[^\n]*(?:\n|\Z))*>")
# Bounds on what one configuration may expand to (MAX_DEPTH bounds the nesting): real ones include
# tens of files; beyond these, a file is a mistake (or an @include that doubles at every level).
MAX_INCLUDED_FILES = 1000
MAX_TOTAL_BYTES = 16 * 1024 * 1024


def parse_file(path: Path) -> ConfTree:
    """Parse ``path`` and everything it includes; raise ConfigError naming file and line on bad syntax."""
    path = Path(path)
    tree = ConfTree(Directive("ROOT", "", Where(path, 1)), [], [])
    _parse_into(tree, path, tree.root, [])
    return tree


def _parse_into(
    tree: ConfTree,
    path: Path,
    target: Directive,
    including: list[Path],
    including_where: Where | None = None,
    depth: int = 0,
) -> None:
    """Parse ``path`` into ``target``; ``including_where``: the @include line that named it;
    ``depth``: sections open around that line."""
    resolved = path.resolve()
    if resolved in including:
        raise ConfigError([f"{path}: included again by itself (an @include cycle)"])
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read: {exc}"]) from exc
    tree.files.append(path)
    tree.total_bytes += len(text)
    if len(tree.files) > MAX_INCLUDED_FILES or tree.total_bytes > MAX_TOTAL_BYTES:
        raise ConfigError(
            [
                f"{including_where or path}: @include expands to more than {MAX_INCLUDED_FILES} files or "
                f"{MAX_TOTAL_BYTES // (1024 * 1024)} MiB ({len(tree.files)} files, {tree.total_bytes} "
                "characters so far): an @include repeated at several levels multiplies; include each "
                "file once"
            ]
        )
    _Parser(tree, text, path, [*including, resolved], depth).body(target, root=True)


class _Parser(Scanner):
    """Sections, parameters and includes of one file, read into a Directive."""

    def __init__(self, tree: ConfTree, text: str, path: Path, including: list[Path], depth: int) -> None:
        super().__init__(text, path)
        self.tree = tree
        self.depth = depth  # sections open around the current position, in this file and its includers
        self.including = including

    def line_end(self, what: str) -> None:
        if self.skip(_LINE_ENDS) is None:
            rest = self.text[self.pos :].split("\n", 1)[0]
            raise self.error(f"unexpected {rest!r} after {what} (one parameter or tag per line)")

    # -- structure -------------------------------------------------------------------------

    def body(self, directive: Directive, root: bool) -> None:
        """Read ``directive``'s parameters and sections up to its closing tag (the root: to the end)."""
        while True:
            self.skip(_SPACING)
            if self.eof():
                if root:
                    return
                closing = f"</{directive.name}>"
                raise ConfigError(
                    [f"{directive.where}: {directive} opened here is never closed (expected {closing})"]
                )
            if self.text.startswith("</", self.pos):
                self.closing_tag(directive, root)
                return
            if self.text.startswith("<", self.pos):
                directive.children.append(self.section())
            else:
                self.parameter(directive, root)

    def closing_tag(self, directive: Directive, root: bool) -> None:
        start = self.pos
        self.pos += 2
        name = self.skip(_NAME) or ""
        self.skip(_BLANKS)
        if self.skip(_GT) is None:
            raise self.error(f"expected '>' to end the closing tag </{name}")
        self.line_end(f"</{name}>")
        if root:
            raise self.error(f"</{name}> closes nothing (no <{name}> is open here)", start)
        if name != directive.name:
            opened_at = directive.where.line
            raise self.error(f"</{name}> does not close {directive} opened at line {opened_at}", start)

    def section(self) -> Directive:
        """The ``<name arg>`` section at the current position, read up to its closing tag."""
        start = self.pos
        self.pos += 1
        opened = self.skip(_NAME)
        if opened is None:
            raise self.error("expected a section name after '<'")
        self.skip(_SPACING)
        arg = "" if self.text.startswith(">", self.pos) else self.string(_ARG_END)[0]
        self.skip(_SPACING)
        if self.skip(_GT) is None:
            raise self.error(f"expected '>' to end <{opened}")
        self.line_end(f"<{opened}>")
        child = Directive(opened, arg.strip(), self.where(start))
        if self.depth >= MAX_DEPTH:
            raise self.error(
                f"<{opened}> is nested more than {MAX_DEPTH} sections deep; Fluentd "
                "configurations nest a few levels (is a closing tag missing?)",
                start,
            )
        self.depth += 1
        self.body(child, root=False)
        self.depth -= 1
        return child

    def parameter(self, directive: Directive, root: bool) -> None:
        """One ``key value`` line, or an ``@include`` (plain ``include`` at the top level)."""
        where = self.where()
        key = self.skip(_KEY) or ""
        if key == "@include" or (root and key == "include"):
            self.skip(re.compile(r"[ \t]*"))
            pattern = self.string(LINE_END)[0]
            self.line_end(key)
            self.include(pattern.strip(), directive, where)
            return
        blanks = self.skip(_BLANKS) or ""
        if "\n" in blanks or self.eof():
            directive.params.append(Param(key, "", where))  # a key without a value
            return
        value, placeholders, ruby = self.literal()
        self.line_end(f"the value of `{key}`")
        directive.params.append(Param(key, value, where, placeholders, ruby))

    def include(self, pattern: str, directive: Directive, where: Where) -> None:
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]+://", pattern) and not pattern.startswith("file://"):
            raise ConfigError(
                [f"{where}: @include {pattern}: remote includes are not supported (copy the file)"]
            )
        pattern = pattern.removeprefix("file://")
        full = pattern if Path(pattern).is_absolute() else str(self.path.parent / pattern)
        if not glob.has_magic(full):
            if not Path(full).exists():
                raise ConfigError([f"{where}: @include {pattern}: no such file ({full})"])
            matches = [full]
        else:
            matches = sorted(glob.glob(full))
            if not matches:
                self.tree.warnings.append((where, f"@include {pattern} matches no file"))
        for match in matches:
            _parse_into(self.tree, Path(match), directive, self.including, where, self.depth)
