"""Fluentd parameter values as logship wants them: booleans, durations, sizes, lists, Ruby time
formats, time zones, Ruby regexes, and the tag patterns of ``<match>`` and ``<filter>``.

Each conversion raises ValueError with a message for the user when the value cannot be expressed.
"""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from logship.migrate.fluentd_tree import Param

__all__ = [
    "boolean",
    "iana_zone",
    "number",
    "python_regex",
    "seconds",
    "size",
    "split_list",
    "strftime_format",
    "strptime_format",
    "tag_matches",
]

# Ruby strptime/strftime directives and Python's equivalents (None: no equivalent).
_TIME_DIRECTIVES: dict[str, str | None] = {
    **{c: "%" + c for c in "YmdHMSyIpbBaAjzZUWw%"},
    "e": "%d",
    "h": "%b",
    "T": "%H:%M:%S",
    "F": "%Y-%m-%d",
    "R": "%H:%M",
    "D": "%m/%d/%y",
    "L": "%f",
    "N": "%f",
    "3N": "%f",
    "6N": "%f",
    ":z": "%z",
    "s": None,
    "9N": None,
}
_DATE_DIRECTIVES = {c: "%" + c for c in "YmdHyjUWbBaAGVu%"}


# -- tag patterns ----------------------------------------------------------------------------


def tag_matches(pattern: str, tag: str) -> bool:
    """Whether a ``<match>``/``<filter>`` pattern (``*``, ``**``, ``{a,b}``, several) matches ``tag``."""
    return any(re.fullmatch(_pattern_regex(p), tag) for p in pattern.split())


def _pattern_regex(pattern: str) -> str:
    if len(pattern) > 1 and pattern.startswith("/") and pattern.endswith("/"):
        return pattern[1:-1]
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith(".**", i) and i + 3 == len(pattern):
            out.append(r"(?:\..*)?")  # `a.**` matches `a` too
            i += 3
        elif pattern.startswith("**.", i):
            out.append(r"(?:.*\.)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append(r"[^.]*")
            i += 1
        elif pattern[i] == "{":
            end = pattern.find("}", i)
            if end < 0:
                out.append(re.escape(pattern[i:]))
                break
            out.append("(?:" + "|".join(_pattern_regex(a) for a in pattern[i + 1 : end].split(",")) + ")")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


# -- plain values ----------------------------------------------------------------------------


def boolean(p: Param) -> bool:
    """``true``/``yes`` (or no value at all) and ``false``/``no``."""
    text = p.text.strip().lower()
    if text in ("", "true", "yes"):
        return True
    if text in ("false", "no"):
        return False
    raise ValueError(f"`{p.name} {p.text}` is not true or false")


def seconds(p: Param) -> float:
    """A duration such as ``5``, ``5s``, ``1m``, ``1h``, ``1d``, in seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", p.text)
    if m is None:
        raise ValueError(f"`{p.name} {p.text}` is not a duration (such as 5, 5s, 1m, 1h)")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def size(p: Param) -> int:
    """A size such as ``8388608``, ``8m``, ``1g`` (powers of 1024), in bytes."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)b?\s*", p.text, re.IGNORECASE)
    if m is None:
        raise ValueError(f"`{p.name} {p.text}` is not a size (such as 8388608, 8m, 1g)")
    return int(float(m.group(1)) * 1024 ** "_kmgt".index(m.group(2).lower() or "_"))


def split_list(p: Param, delimiter: str = ",") -> list[str]:
    """A JSON array, or text split at ``delimiter``, without empty entries."""
    if isinstance(p.value, list):
        return [str(v) for v in p.value]
    return [s.strip() for s in p.text.split(delimiter) if s.strip()]


def number(value: float) -> int | float:
    """``value`` as an int when it is whole (``5`` rather than ``5.0`` in the TOML)."""
    return int(value) if value == int(value) else value


# -- times, zones, regexes -------------------------------------------------------------------


def strptime_format(ruby: str) -> str:
    """Python's strptime format for a Ruby one; ValueError naming the directive it cannot express."""
    out = []
    i = 0
    while i < len(ruby):
        if ruby[i] != "%":
            out.append(ruby[i])
            i += 1
            continue
        m = re.match(r"%(-?)(:z|\dN|.)", ruby[i:])
        directive = m.group(2) if m else ""
        python = _TIME_DIRECTIVES.get(directive)
        if python is None:
            raise ValueError(f"%{directive} has no strptime equivalent")
        out.append(python)
        i += len(m.group(0)) if m else 1
    return "".join(out)


def strftime_format(ruby: str) -> str:
    """Python's strftime format for a Ruby date format; ValueError naming the directive it cannot express."""
    for directive in re.findall(r"%(.)", ruby.replace("%%", "")):
        if directive not in _DATE_DIRECTIVES:
            raise ValueError(f"%{directive} has no strftime equivalent")
    return ruby


def iana_zone(zone: str) -> str:
    """An IANA name for a Fluentd time zone (``Asia/Tokyo``, ``UTC``, ``+09:00``, ``-0500``)."""
    m = re.fullmatch(r"([+-])(\d\d):?(\d\d)", zone.strip())
    if m is not None:
        sign, hours, minutes = m.groups()
        if minutes != "00":
            raise ValueError(f"{zone} is not a whole-hour offset; write an IANA zone name instead")
        if int(hours) == 0:
            return "UTC"
        return f"Etc/GMT{'-' if sign == '+' else '+'}{int(hours)}"  # POSIX signs are inverted
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{zone} is not a known time zone") from None
    return zone


def python_regex(ruby: str) -> str:
    """A Ruby ``/regex/`` as a Python pattern (named groups ``(?<n>`` become ``(?P<n>``)."""
    text = ruby.strip()
    if len(text) > 1 and text.startswith("/") and text.rstrip("imx").endswith("/"):
        text = text[1 : text.rstrip("imx").rfind("/")]
    return re.sub(r"\(\?<([A-Za-z_]\w*)>", r"(?P<\1>", text)
