"""Fluentd directives onto logship settings: what maps, what is a note, what is a problem (with file:line)."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomli_w

from logship.migrate.fluentd import convert
from logship.migrate.fluentd_conf import parse_file
from logship.migrate.fluentd_values import iana_zone, strftime_format, strptime_format
from logship.settings import load_settings

DATA = Path(__file__).resolve().parent.parent / "data" / "fluentd"


def test_the_monitoring_guide_block_converts_without_problems(tmp_path: Path) -> None:
    conf = DATA / "monitoring-guide.conf"
    result = convert(parse_file(conf))
    assert result.problems == []
    assert result.settings == {
        "tail": {"paths": ["/var/log/aichat/*.log"], "read_from": "tail"},
        "parse": {"time_key": "timestamp", "time_format": "%Y-%m-%d %H:%M:%S"},
        "enrich": {
            "fields": {
                "hostname": "${HOSTNAME}",
                "environment": "${ENVIRONMENT}",
                "service": "aichat-backend",
            }
        },
        "elasticsearch": {"hosts": ["http://elasticsearch:9200"], "index_prefix": "aichat"},
    }
    notes = [str(n) for n in result.notes]
    assert f"{conf}:25: `index_name` ignored: `logstash_format true` names the indices" in notes
    assert any(n.startswith(f"{conf}:26: `type_name` ignored") for n in notes)
    assert [(str(w), p) for w, p in result.pos_files] == [(f"{conf}:5", "/var/log/fluentd/aichat.log.pos")]
    target = tmp_path / "logship.toml"
    target.write_text(tomli_w.dumps(result.settings))
    settings = load_settings(target)
    assert settings.elasticsearch.index_prefix == "aichat"
    assert settings.elasticsearch.index_date_format == "%Y.%m.%d"
    assert settings.tail.read_from == "tail"


def test_includes_buffer_and_parse_section_map(tmp_path: Path) -> None:
    result = convert(parse_file(DATA / "tricky" / "fluent.conf"))
    assert result.problems == []
    s = result.settings
    assert s["tail"] == {
        "paths": ["/var/log/aichat/app.log", "/var/log/aichat/worker.log"],
        "exclude": ["/var/log/aichat/*.gz", "/var/log/aichat/debug-*.log"],
        "read_from": "head",
        "scan_interval_seconds": 30.0,
    }
    assert s["parse"] == {
        "time_key": "timestamp",
        "time_format": "%Y-%m-%d %H:%M:%S.%f",
        "timezone": "Etc/GMT-2",
    }
    assert s["elasticsearch"]["hosts"] == ["https://es-1.internal:9243", "http://es-2.internal:9200"]
    assert s["elasticsearch"]["index_date_format"] == "%Y.%m"
    assert s["batch"] == {"flush_interval_seconds": 5, "max_bytes": 4 * 1024 * 1024}
    assert s["delivery"] == {"max_concurrent_requests": 4, "max_retries": 0}
    assert s["enrich"]["fields"]["datacenter"] == "${DC:-fra1}"
    target = tmp_path / "logship.toml"
    target.write_text(tomli_w.dumps(s))
    assert load_settings(target).enrich.fields["banner"] == "two\nlines"


def test_secrets_are_left_to_the_environment(tmp_path: Path) -> None:
    conf = DATA / "secrets.conf"
    result = convert(parse_file(conf))
    assert result.problems == []
    es = result.settings["elasticsearch"]
    assert es["hosts"] == ["https://es.internal:9243/proxy"]
    assert "username" not in es and "password" not in es
    assert es["verify_certs"] is False and es["request_timeout_seconds"] == 30
    assert result.settings["batch"] == {"flush_interval_seconds": 2, "max_bytes": 2 * 1024 * 1024}
    assert result.settings["parse"]["timezone"] == "UTC"  # utc true
    assert result.settings["enrich"]["fields"] == {}  # Fluentd added no field
    assert [line.split("  #")[0] for line in result.environment] == [
        "LOGSHIP_ELASTICSEARCH__USERNAME=fluentd",
        "LOGSHIP_ELASTICSEARCH__PASSWORD=$ES_PASSWORD",
    ]
    text = tomli_w.dumps(result.settings)
    assert "ES_PASSWORD" not in text and "fluentd" not in text


def test_password_written_in_the_file_is_never_repeated(tmp_path: Path) -> None:
    conf = tmp_path / "f.conf"
    guide = (DATA / "monitoring-guide.conf").read_text()
    conf.write_text(guide.replace("port 9200", "port 9200\n  password hunter2\n  user u"))
    result = convert(parse_file(conf))
    assert "hunter2" not in tomli_w.dumps(result.settings) + "".join(result.environment) + "".join(
        str(n) for n in result.notes
    )
    assert any(line.startswith("LOGSHIP_ELASTICSEARCH__PASSWORD  #") for line in result.environment)


def test_everything_unmappable_is_listed_with_file_and_line() -> None:
    conf = DATA / "unsupported.conf"
    result = convert(parse_file(conf))
    problems = [str(p) for p in result.problems]
    expected = {
        1: "<source> @type forward",
        14: "`path_key`",
        19: "`enable_ruby true`",
        21: "embedded Ruby #{worker_id}",
        22: 'placeholder ${record["level"].upcase}',
        23: "placeholder ${tag_parts[1]}",
        27: "<match aichat.debug> @type stdout",
        34: "one index 'aichat-logs'",
        35: "`id_key`",
        38: "<label @RETRY> pipelines cannot be expressed",
    }
    for line, fragment in expected.items():
        assert any(p.startswith(f"{conf}:{line}: ") and fragment in p for p in problems), (line, problems)
    assert len(problems) == len(expected), problems
    assert [int(p.split(":")[1]) for p in problems] == sorted(expected)


def test_routing_that_cannot_be_expressed(tmp_path: Path) -> None:
    conf = tmp_path / "f.conf"
    conf.write_text(
        "<source>\n  @type tail\n  path /a/*.log\n  tag a.app\n  format json\n  time_format %s\n</source>\n"
        "<source>\n  @type tail\n  path /b/*.log\n  tag b.app\n  format json\n</source>\n"
        "<filter a.**>\n  @type grep\n</filter>\n"
        "<match a.**>\n  @type elasticsearch\n  logstash_format true\n</match>\n"
        "<match b.**>\n  @type elasticsearch\n  logstash_format true\n  logstash_prefix other\n</match>\n"
    )
    problems = [str(p) for p in convert(parse_file(conf)).problems]
    assert any(p.startswith(f"{conf}:1: ") and "different filters" in p for p in problems)
    assert any(p.startswith(f"{conf}:6: ") and "%s has no strptime equivalent" in p for p in problems)
    assert any(p.startswith(f"{conf}:14: ") and "<filter a.**> @type grep" in p for p in problems)
    assert any(p.startswith(f"{conf}:21: ") and "second Elasticsearch output" in p for p in problems)


@pytest.mark.parametrize(
    ("ruby", "python"),
    [
        ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S"),
        ("%Y-%m-%dT%H:%M:%S.%N%:z", "%Y-%m-%dT%H:%M:%S.%f%z"),
        ("%FT%T.%3N%z", "%Y-%m-%dT%H:%M:%S.%f%z"),
        ("%d/%b/%Y:%H:%M:%S %z", "%d/%b/%Y:%H:%M:%S %z"),
    ],
)
def test_time_formats(ruby: str, python: str) -> None:
    assert strptime_format(ruby) == python


def test_formats_and_zones_without_equivalent() -> None:
    with pytest.raises(ValueError, match="%9N"):
        strptime_format("%H:%M:%S.%9N")
    with pytest.raises(ValueError, match="%Q"):
        strftime_format("%Y.%Q")
    assert strftime_format("%Y.%m.%d") == "%Y.%m.%d"
    assert iana_zone("+09:00") == "Etc/GMT-9" and iana_zone("-0500") == "Etc/GMT+5"
    assert iana_zone("+00:00") == "UTC" and iana_zone("Asia/Tokyo") == "Asia/Tokyo"
    with pytest.raises(ValueError, match="whole-hour"):
        iana_zone("+05:30")
    with pytest.raises(ValueError, match="not a known time zone"):
        iana_zone("Mars/Olympus")
