"""A TOML writer for logship's own configuration: tables of scalars, string lists and one level of sub-tables.

The standard library reads TOML but does not write it; logship's settings need only this much.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["dumps"]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def dumps(
    tables: Mapping[str, Mapping[str, Any]], header: Sequence[str] = (), footer: Sequence[str] = ()
) -> str:
    """TOML text of ``tables`` (section -> key -> value), with ``#`` comment lines before and after."""
    lines = [_comment(line) for line in header]
    for section, values in tables.items():
        scalars = {k: v for k, v in values.items() if not isinstance(v, Mapping)}
        subtables = {k: v for k, v in values.items() if isinstance(v, Mapping)}
        if scalars or not subtables:
            lines += ["", f"[{_key(section)}]"]
            lines += [f"{_key(k)} = {_value(v)}" for k, v in scalars.items()]
        for name, sub in subtables.items():
            lines += ["", f"[{_key(section)}.{_key(name)}]"]
            lines += [f"{_key(k)} = {_value(v)}" for k, v in sub.items()]
    if footer:
        lines.append("")
        lines += [_comment(line) for line in footer]
    return "\n".join(lines).lstrip("\n") + "\n"


def _comment(line: str) -> str:
    # A comment ends at the line's end: a newline in the text must not leak out of it.
    return ("# " + line.replace("\r", " ").replace("\n", " ")).rstrip()


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _string(key)


def _string(text: str) -> str:
    # JSON's string escapes are a subset of TOML's basic string escapes; DEL must be escaped too.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise ValueError(f"{value!r} has no place in logship's configuration")
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")
