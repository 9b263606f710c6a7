from __future__ import annotations

import io
import json
import logging
import warnings
from collections.abc import Iterator
from datetime import datetime

import pytest

from logship.observe.logs import SECRET_FIELD_NAMES, configure_logging, redact, redact_mapping


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    out = io.StringIO()
    configure_logging("DEBUG", stream=out)
    yield out
    for handler in list(root.handlers):
        if handler not in saved_handlers:
            root.removeHandler(handler)
    root.setLevel(saved_level)
    logging.captureWarnings(False)


def records(out: io.StringIO) -> list[dict[str, object]]:
    lines = out.getvalue().splitlines()
    return [json.loads(line) for line in lines]  # every line on its own is valid JSON


def test_guide_fields(stream: io.StringIO) -> None:
    logging.getLogger("logship.test").info("Started %s", "tailing")
    (record,) = records(stream)
    assert list(record)[:7] == ["timestamp", "level", "logger", "message", "module", "function", "line"]
    assert record["level"] == "INFO"
    assert record["logger"] == "logship.test"
    assert record["message"] == "Started tailing"
    assert record["module"] == "test_logs"
    assert record["function"] == "test_guide_fields"
    assert isinstance(record["line"], str) and record["line"].isdigit()
    stamp = record["timestamp"]
    assert isinstance(stamp, str) and stamp.endswith("Z")
    assert len(stamp.split(".")[1]) == len("123Z")  # milliseconds
    assert datetime.fromisoformat(stamp.replace("Z", "+00:00")).utcoffset() is not None


def test_awkward_text_stays_one_valid_json_line(stream: io.StringIO) -> None:
    message = 'say "hi" \\ C:\\path\nsecond line\ttab \x00 é 日本 🚀'
    logging.getLogger("t").warning(message)
    assert stream.getvalue().count("\n") == 1
    (record,) = records(stream)
    assert record["message"] == message


def test_extra_fields_become_fields(stream: io.StringIO) -> None:
    class Opaque:
        def __str__(self) -> str:
            return "opaque!"

    logging.getLogger("t").info(
        "Batch sent",
        extra={
            "documents": 500,
            "path": "/var/log/aichat/app.log",
            "nested": {"a": [1, 2]},
            "obj": Opaque(),
            "timestamp": "not ours",
            "huge": 2**70,
        },
    )
    (record,) = records(stream)
    assert record["documents"] == 500
    assert record["path"] == "/var/log/aichat/app.log"
    assert record["nested"] == {"a": [1, 2]}
    assert record["obj"] == "opaque!"
    assert record["huge"] == 2**70
    assert record["extra.timestamp"] == "not ours"
    assert record["timestamp"] != "not ours"


def test_lone_surrogates_do_not_lose_the_record(stream: io.StringIO) -> None:
    name = b"app-\xff.log".decode("utf-8", "surrogateescape")
    logging.getLogger("t").info("Opened %s", name, extra={"path": name})
    (record,) = records(stream)
    assert record["message"] == f"Opened {name}"


def test_exception_gives_stack_trace(stream: io.StringIO) -> None:
    try:
        raise ValueError('bad "value"')
    except ValueError:
        logging.getLogger("t").exception("Failed")
    (record,) = records(stream)
    assert record["level"] == "ERROR"
    assert record["error.type"] == "ValueError"
    assert record["error.message"] == 'bad "value"'
    trace = record["error.stack_trace"]
    assert isinstance(trace, str)
    assert trace.startswith("Traceback (most recent call last):")
    assert 'ValueError: bad "value"' in trace


def test_level_filters_and_reconfigure_replaces_handler(stream: io.StringIO) -> None:
    configure_logging("warning", stream=stream)
    logging.getLogger("t").info("hidden")
    logging.getLogger("t").warning("shown")
    assert [r["message"] for r in records(stream)] == ["shown"]  # one handler, not two


def test_warnings_are_logged_as_json(stream: io.StringIO) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("careful", UserWarning, stacklevel=1)
    (record,) = records(stream)
    assert record["logger"] == "py.warnings" and "careful" in str(record["message"])


def test_unknown_level_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown log level 'LOUD'"):
        configure_logging("LOUD")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("http://user:pass@host:9200", "http://user:***@host:9200"),
        ("https://elastic:p@ss:w0rd@es.example.com/x", "https://elastic:***@es.example.com/x"),
        ("connect to http://a:b@h1 and https://c:d@h2/", "connect to http://a:***@h1 and https://c:***@h2/"),
        ("http://token@host", "http://***@host"),
        ("http://host:9200/path@x", "http://host:9200/path@x"),
        ("http://localhost:9200", "http://localhost:9200"),
        ("no url here user:pass@host", "no url here user:pass@host"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_redact_mapping() -> None:
    assert {"password", "api_key"} <= SECRET_FIELD_NAMES
    data = {
        "elasticsearch": {
            "hosts": ["http://u:p@es:9200"],
            "username": "logship",
            "password": "s3cret",
            "api_key": None,
        },
        "tail": {"paths": ["/var/log/aichat/*.log"]},
    }
    assert redact_mapping(data) == {
        "elasticsearch": {
            "hosts": ["http://u:***@es:9200"],
            "username": "logship",
            "password": "***",
            "api_key": None,
        },
        "tail": {"paths": ["/var/log/aichat/*.log"]},
    }
