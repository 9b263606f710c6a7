"""Fluentd's configuration syntax, read into a tree of directives that remember file and line
(:mod:`logship.migrate.fluentd_tree`).

The syntax follows Fluentd v1: ``<name arg>`` ... ``</name>`` sections, one ``key value`` per
line, ``#`` comments, ``@include`` of files and globs (relative to the including file), single-
and double-quoted strings (escapes and multiple lines in double quotes only, ``\\`` before a
newline joins the lines), and JSON arrays and hashes that may span lines.

Embedded Ruby (``"#{...}"`` in double quotes) is never evaluated. The forms that only read the
environment or the host name become logship's ``${VAR}`` syntax; anything else is kept in the
text and listed in :attr:`Param.ruby` so the caller can report it.
"""

from __future__ import annotations

import bisect
import glob
import json
import re
from pathlib import Path
from typing import Any

from logship.errors import ConfigError
from logship.migrate.fluentd_tree import ConfTree, Directive, Param, Where

__all__ = ["ConfTree", "Directive", "Param", "Where", "parse_file", "translate_ruby"]

_SPACING = re.compile(r"(?:[ \t\r\n]|#[^\n]*(?:\n|\Z))+")
_BLANKS = re.compile(r"[ \t\r\n]+")
_LINE_END = re.compile(r"[ \t]*(?:#[^\n]*)?(?:\r?\n|\r|\Z)")
_LINE_ENDS = re.compile(r"(?:[ \t]*(?:#[^\n]*)?(?:\r?\n|\r))*[ \t]*(?:#[^\n]*)?(?:\r?\n|\r|\Z)")
_GT = re.compile(">")
_NAME = re.compile(r"[A-Za-z0-9_]+")
_KEY = re.compile(r"[^ \t\r\n]+")
_ARG_END = re.compile(r"(?:[ \t\r\n]|#[^\n]*(?:\n|\Z))*>")
_ESCAPES = {'"': '"', "'": "'", "r": "\r", "n": "\n", "t": "\t", "f": "\f", "b": "\b", "0": "\0"}
_ENV_VAR = r"[A-Za-z_][A-Za-z0-9_]*"
# The embedded Ruby logship can express, and its `${VAR}` form (a re.Match.expand template).
_RUBY_FORMS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?:Socket\.gethostname|hostname)"), "${HOSTNAME}"),
    (re.compile(rf"""ENV\[\s*(['"])({_ENV_VAR})\1\s*\]\s*\|\|\s*(['"])([^'"}}]*)\3"""), r"${\2:-\4}"),
    (re.compile(rf"""ENV\.fetch\(\s*(['"])({_ENV_VAR})\1\s*,\s*(['"])([^'"}}]*)\3\s*\)"""), r"${\2:-\4}"),
    (re.compile(rf"""ENV\[\s*(['"])({_ENV_VAR})\1\s*\]"""), r"${\2}"),
    (re.compile(rf"""ENV\.fetch\(\s*(['"])({_ENV_VAR})\1\s*\)"""), r"${\2}"),
)
_PLACEHOLDER = re.compile(r"\$\{[^}]*\}")
# Bounds on what one configuration may expand to: real ones nest a few levels and include tens of
# files; beyond these, a file is a mistake (or an @include that doubles at every level).
MAX_DEPTH = 64
MAX_INCLUDED_FILES = 1000
MAX_TOTAL_BYTES = 16 * 1024 * 1024


def translate_ruby(code: str) -> str | None:
    """logship's ``${VAR}`` form of an embedded Ruby expression, or None when it has none."""
    stripped = code.strip()
    for pattern, template in _RUBY_FORMS:
        m = pattern.fullmatch(stripped)
        if m is not None:
            return m.expand(template)
    return None


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


class _Parser:
    def __init__(self, tree: ConfTree, text: str, path: Path, including: list[Path], depth: int) -> None:
        self.tree = tree
        self.depth = depth  # sections open around the current position, in this file and its includers
        self.text = text
        self.path = path
        self.including = including
        self.pos = 0
        self._newlines = [i for i, c in enumerate(text) if c == "\n"]

    # -- helpers ---------------------------------------------------------------------------

    def where(self, pos: int | None = None) -> Where:
        return Where(self.path, bisect.bisect_left(self._newlines, self.pos if pos is None else pos) + 1)

    def error(self, message: str, pos: int | None = None) -> ConfigError:
        return ConfigError([f"{self.where(pos)}: {message}"])

    def skip(self, pattern: re.Pattern[str]) -> str | None:
        m = pattern.match(self.text, self.pos)
        if m is None:
            return None
        self.pos = m.end()
        return m.group(0)

    def eof(self) -> bool:
        return self.pos >= len(self.text)

    def line_end(self, what: str) -> None:
        if self.skip(_LINE_ENDS) is None:
            rest = self.text[self.pos :].split("\n", 1)[0]
            raise self.error(f"unexpected {rest!r} after {what} (one parameter or tag per line)")

    # -- structure -------------------------------------------------------------------------

    def body(self, directive: Directive, root: bool) -> None:
        while True:
            self.skip(_SPACING)
            if self.eof():
                if root:
                    return
                closing = f"</{directive.name}>"
                raise ConfigError(
                    [f"{directive.where}: {directive} opened here is never closed (expected {closing})"]
                )
            start = self.pos
            if self.text.startswith("</", self.pos):
                self.pos += 2
                name = self.skip(_NAME) or ""
                self.skip(_BLANKS)
                if self.skip(_GT) is None:
                    raise self.error(f"expected '>' to end the closing tag </{name}")
                self.line_end(f"</{name}>")
                if root:
                    raise self.error(f"</{name}> closes nothing (no <{name}> is open here)", start)
                if name != directive.name:
                    raise self.error(
                        f"</{name}> does not close {directive} opened at line {directive.where.line}", start
                    )
                return
            if self.text.startswith("<", self.pos):
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
                directive.children.append(child)
                continue
            key = self.skip(_KEY) or ""
            where = self.where(start)
            if key == "@include" or (root and key == "include"):
                self.skip(re.compile(r"[ \t]*"))
                pattern = self.string(_LINE_END)[0]
                self.line_end(key)
                self.include(pattern.strip(), directive, where)
                continue
            blanks = self.skip(_BLANKS) or ""
            if "\n" in blanks or self.eof():
                directive.params.append(Param(key, "", where))  # a key without a value
                continue
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

    # -- values ----------------------------------------------------------------------------

    def literal(self) -> tuple[str | list[Any] | dict[str, Any], tuple[str, ...], tuple[str, ...]]:
        c = self.text[self.pos]
        if c in "[{":
            return self.json_value()
        return self.string(_LINE_END)

    def string(self, boundary: re.Pattern[str]) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
        c = self.text[self.pos] if not self.eof() else ""
        if c == '"':
            return self.double_quoted()
        if c == "'":
            text = self.single_quoted()
            return text, tuple(_PLACEHOLDER.findall(text)), ()
        out = []
        while not self.eof():
            ch = self.text[self.pos]
            # A '#' inside a word is text; only blanks followed by '#' start a comment.
            if ch != "#" and boundary.match(self.text, self.pos):
                break
            out.append(ch)
            self.pos += 1
        text = "".join(out)
        return text, tuple(_PLACEHOLDER.findall(text)), ()

    def single_quoted(self) -> str:
        start = self.pos
        self.pos += 1
        out = []
        while True:
            if self.eof() or self.text[self.pos] in "\r\n":
                raise self.error("single-quoted string is not closed on its line", start)
            if self.text.startswith("\\'", self.pos) or self.text.startswith("\\\\", self.pos):
                out.append(self.text[self.pos + 1])
                self.pos += 2
            elif self.text[self.pos] == "'":
                self.pos += 1
                return "".join(out)
            else:
                out.append(self.text[self.pos])
                self.pos += 1

    def double_quoted(self) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
        start = self.pos
        self.pos += 1
        out: list[str] = []
        literal: list[str] = []  # the text written in the file, for its ${...} placeholders
        ruby: list[str] = []
        while True:
            if self.eof():
                raise self.error("double-quoted string is never closed", start)
            ch = self.text[self.pos]
            if ch == '"':
                self.pos += 1
                placeholders = tuple(_PLACEHOLDER.findall("".join(literal)))
                return "".join(out), placeholders, tuple(ruby)
            if ch == "\\":
                nxt = self.text[self.pos + 1 : self.pos + 2]
                if nxt in ("\n", "\r"):  # a continuation: the lines are joined
                    self.pos += 3 if self.text.startswith("\r\n", self.pos + 1) else 2
                    continue
                if nxt in _ESCAPES:
                    out.append(_ESCAPES[nxt])
                elif nxt.isalnum():
                    raise self.error(f'unknown escape "\\{nxt}" in a double-quoted string')
                elif nxt == "":
                    raise self.error("double-quoted string is never closed", start)
                else:
                    out.append(nxt)
                literal.append(" ")
                self.pos += 2
            elif self.text.startswith("#{", self.pos):
                code = self.ruby_code()
                translated = translate_ruby(code)
                if translated is None:
                    ruby.append(code)
                    out.append("#{" + code + "}")
                else:
                    out.append(translated)
                literal.append(" ")
            else:
                out.append(ch)
                literal.append(ch)
                self.pos += 1

    def ruby_code(self) -> str:
        """The code of ``#{...}`` at the current position, up to its matching brace."""
        start = self.pos
        i = self.pos + 2
        depth = 0
        quote = ""
        while i < len(self.text):
            ch = self.text[i]
            if quote:
                if ch == "\\":
                    i += 1
                elif ch == quote:
                    quote = ""
            elif ch in "'\"":
                quote = ch
            elif ch == "{":
                depth += 1
            elif ch == "}":
                if depth == 0:
                    self.pos = i + 1
                    return self.text[start + 2 : i]
                depth -= 1
            i += 1
        raise self.error("embedded code #{...} is never closed", start)

    def json_value(self) -> tuple[list[Any] | dict[str, Any], tuple[str, ...], tuple[str, ...]]:
        start = self.pos
        kind = "array" if self.text[start] == "[" else "hash"
        out: list[str] = []
        ruby: list[str] = []
        depth = 0
        in_string = False
        while not self.eof():
            ch = self.text[self.pos]
            if in_string:
                if ch == "\\":
                    out.append(self.text[self.pos : self.pos + 2])
                    self.pos += 2
                    continue
                if self.text.startswith("#{", self.pos):
                    code = self.ruby_code()
                    translated = translate_ruby(code)
                    if translated is None:
                        ruby.append(code)
                    out.append(json.dumps(translated or "#{" + code + "}")[1:-1])
                    continue
                if ch == '"':
                    in_string = False
            elif ch == '"':
                in_string = True
            elif ch == "#":  # a comment, outside JSON strings
                end = self.text.find("\n", self.pos)
                self.pos = len(self.text) if end < 0 else end
                continue
            elif ch in "[{":
                depth += 1
                if depth > MAX_DEPTH:
                    raise self.error(f"JSON {kind} nested more than {MAX_DEPTH} levels deep", start)
            elif ch in "]}":
                depth -= 1
            out.append(ch)
            self.pos += 1
            if depth == 0:
                try:
                    value = json.loads("".join(out))
                except ValueError as exc:
                    raise self.error(f"not a valid JSON {kind}: {exc}", start) from None
                if not isinstance(value, list | dict):
                    raise self.error(f"not a JSON {kind}", start)
                return value, (), tuple(ruby)
        raise self.error(f"JSON {kind} is never closed", start)
