"""The parser's first look at a line: is it certainly a fast record, and what is its time?

orjson builds every value of every line only for the parser to throw the dict away. msgspec,
decoding into a struct of the keys seen so far (the shape), builds nothing but the struct, and
answers with the time value or refuses. It refuses more than orjson ever would (an unknown key, a
reserved key, a nested value, a time that is not a string, anything odd), never less: every value
it accepts is decoded and checked as orjson checks it (UTF-8, escapes, numbers beyond a double).
A refused line takes the exact orjson path, and when that path finds a fast record, its keys join
the shape, so an application's few distinct shapes are soon learned.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Protocol, cast

import msgspec

__all__ = ["Shape"]

# What a learned key may hold. Nothing nested: msgspec would have to decode it as `Any`, where it
# keeps an integer too large for a double that orjson rejects. `float` takes any JSON number and
# refuses it, like orjson, when it is beyond a double.
_Scalar = str | float | bool | None
_SCALARS = (str, int, float, bool, type(None))

# msgspec cannot name a field so; such a key is written escaped anyway, which the exact path handles.
_UNNAMEABLE = re.compile(r'[\\"\x00-\x1f]')
# Enough for a handful of shapes; past it, lines with other keys simply take the exact path.
MAX_KEYS = 64


class Timed(Protocol):
    """What a decoded line offers: its time value."""

    time: str


class Shape:
    """``decode(line).time``: the time value of a line that is certainly a JSON object with no
    reserved key and a string time; anything else raises (an exception of any type).
    ``learn(doc)``: adds the keys of a fast record."""

    def __init__(self, time_key: str, reserved: frozenset[str]) -> None:
        self._time_key = time_key
        self.keys: list[str] = []
        # A time key that is reserved makes no record fast: then the shape is never used.
        self.usable = time_key not in reserved
        self.decode = self._build()

    def _build(self) -> Callable[[bytes], Timed]:
        # The time is required and a string; the other keys are optional; any key not listed (every
        # reserved one among them) is refused.
        fields: list[tuple[str, Any, Any]] = [("time", str, msgspec.field(name=self._time_key))]
        fields += [(f"k{i}", _Scalar, msgspec.field(default=None, name=k)) for i, k in enumerate(self.keys)]
        struct = msgspec.defstruct("Shape", fields, forbid_unknown_fields=True, gc=False)
        return cast("Callable[[bytes], Timed]", msgspec.json.Decoder(struct).decode)

    def learn(self, doc: dict[str, Any]) -> bool:
        """Add the keys of a fast record (a dict without reserved keys); True when the shape changed."""
        new = [k for k in doc if k != self._time_key and k not in self.keys]
        if not new or len(self.keys) + len(new) > MAX_KEYS:
            return False
        if not all(type(v) in _SCALARS for v in doc.values()) or any(_UNNAMEABLE.search(k) for k in new):
            return False
        self.keys += new
        self.decode = self._build()
        return True
