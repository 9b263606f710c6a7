"""The literal values of Fluentd's configuration syntax, read by :class:`Scanner`.

Unquoted text (ends at a blank followed by ``#`` or at the line end), single-quoted strings
(``\\'`` and ``\\\\`` only, one line), double-quoted strings (escapes, ``\\`` before a newline
joins the lines) and JSON arrays and hashes that may span lines and hold ``#`` comments.

Embedded Ruby (``"#{...}"``) is never evaluated. The forms that only read the environment or the
host name become logship's ``${VAR}`` syntax (:func:`translate_ruby`); anything else is kept in
the text and returned among the value's Ruby fragments so the caller can report it.
"""

from __future__ import annotations

import bisect
import json
import re
from pathlib import Path
from typing import Any

from logship.errors import ConfigError
from logship.migrate.fluentd_tree import Where

__all__ = ["LINE_END", "MAX_DEPTH", "Scanner", "translate_ruby"]

LINE_END = re.compile(r"[ \t]*(?:#[^\n]*)?(?:\r?\n|\r|\Z)")
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
# Real configurations nest sections and JSON values a few levels; beyond this, a file is a mistake.
MAX_DEPTH = 64


def translate_ruby(code: str) -> str | None:
    """logship's ``${VAR}`` form of an embedded Ruby expression, or None when it has none."""
    stripped = code.strip()
    for pattern, template in _RUBY_FORMS:
        m = pattern.fullmatch(stripped)
        if m is not None:
            return m.expand(template)
    return None


class Scanner:
    """A position in one file's text, with the readers of its literal values."""

    def __init__(self, text: str, path: Path) -> None:
        self.text = text
        self.path = path
        self.pos = 0
        self._newlines = [i for i, c in enumerate(text) if c == "\n"]

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

    # -- values ----------------------------------------------------------------------------

    def literal(self) -> tuple[str | list[Any] | dict[str, Any], tuple[str, ...], tuple[str, ...]]:
        """A parameter's value: (the value, its ``${...}`` placeholders, the Ruby left in it)."""
        c = self.text[self.pos]
        if c in "[{":
            return self.json_value()
        return self.string(LINE_END)

    def string(self, boundary: re.Pattern[str]) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
        """A quoted string, or unquoted text up to ``boundary``; the same triple as :meth:`literal`."""
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
