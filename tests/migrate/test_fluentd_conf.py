"""Fluentd's configuration syntax: includes, quoting, JSON values, comments, embedded Ruby, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from logship.errors import ConfigError
from logship.migrate.fluentd_conf import Directive, Param, parse_file, translate_ruby
from logship.migrate.fluentd_values import tag_matches

DATA = Path(__file__).resolve().parent.parent / "data" / "fluentd"
TRICKY = DATA / "tricky"


def param(d: Directive, name: str) -> Param:
    p = d.get(name)
    assert p is not None, f"{name} missing from {d}"
    return p


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_includes_follow_globs_relative_to_the_including_file() -> None:
    tree = parse_file(TRICKY / "fluent.conf")
    assert [str(d) for d in tree.root.children] == [
        "<source>",
        "<system>",
        "<filter aichat.**>",
        "<match aichat.**>",
    ]
    # conf.d/*.conf in sorted order, notes.txt left out; shared/record.conf included inside <record>.
    assert [p.relative_to(TRICKY) for p in tree.files] == [
        Path("fluent.conf"),
        Path("conf.d/10-source.conf"),
        Path("conf.d/20-system.conf"),
        Path("shared/record.conf"),
    ]
    source, _, filt, _ = tree.root.children
    assert source.where.file == TRICKY / "conf.d" / "10-source.conf" and source.where.line == 1
    assert source.type == "tail"  # the old `type` spelling
    record = filt.sections("record")[0]
    assert [p.name for p in record.params][:3] == ["hostname", "environment", "datacenter"]
    assert str(param(record, "hostname").where) == f"{TRICKY / 'shared' / 'record.conf'}:1"
    assert param(record, "service").where.line == 8


def test_quoted_strings() -> None:
    record = parse_file(TRICKY / "fluent.conf").root.children[2].sections("record")[0]
    # Single quotes: only \' and \\ are escapes, #{...} is text.
    assert param(record, "service").value == "aichat 'backend' \\ #{not ruby}"
    # Double quotes: escapes; '#' inside the quotes is text, after them a comment.
    assert param(record, "note").value == 'tab\there "quoted" #not-a-comment'
    # A backslash before the newline joins the lines; a plain newline is kept.
    assert param(record, "region").value == "eu-west"
    assert param(record, "banner").value == "two\nlines"
    assert param(record, "banner").where.line == 12


def test_multi_line_json_arrays_with_comments_and_unquoted_values() -> None:
    source = parse_file(TRICKY / "fluent.conf").root.children[0]
    exclude = param(source, "exclude_path")
    assert exclude.value == ["/var/log/aichat/*.gz", "/var/log/aichat/debug-*.log"]
    assert exclude.where.line == 4 and param(source, "pos_file").where.line == 6
    assert param(source, "path").value == "/var/log/aichat/app.log, /var/log/aichat/worker.log"
    buffer = parse_file(TRICKY / "fluent.conf").root.children[3].sections("buffer")[0]
    assert buffer.arg == "tag, time" and param(buffer, "flush_interval").value == "5s"


def test_comments_and_hash_signs(tmp_path: Path) -> None:
    conf = write(
        tmp_path / "f.conf",
        "# a comment\n<source>  # trailing comment\n  @type tail\n  path /a#b.log # comment\n"
        '  tag "x.y" # comment\n  flag\n  # indented comment\n</source>  # end\n',
    )
    source = parse_file(conf).root.children[0]
    assert param(source, "path").value == "/a#b.log"  # '#' inside a word is text
    assert param(source, "tag").value == "x.y"
    assert param(source, "flag").value == ""  # a key without a value
    assert [p.name for p in source.params] == ["@type", "path", "tag", "flag"]


def test_embedded_ruby_is_translated_never_evaluated(tmp_path: Path) -> None:
    record = parse_file(TRICKY / "fluent.conf").root.children[2].sections("record")[0]
    assert param(record, "hostname").value == "${HOSTNAME}"
    assert param(record, "environment").value == "${DEPLOY_ENV}"  # ENV["X"] inside double quotes
    assert param(record, "datacenter").value == "${DC:-fra1}"
    canary = tmp_path / "evaluated"
    conf = write(
        tmp_path / "f.conf",
        "<source>\n"
        f"  a \"#{{File.write('{canary}', 'x')}}\"\n"
        "  b \"#{ENV['USER']}-#{worker_id}\"\n"
        "  c '#{ENV[\"USER\"]}'\n"
        "  d [\"#{ENV['HOME']}\", 1]\n"
        "</source>\n",
    )
    source = parse_file(conf).root.children[0]
    assert not canary.exists()
    assert param(source, "a").ruby == (f"File.write('{canary}', 'x')",)
    assert param(source, "b").value == "${USER}-#{worker_id}" and param(source, "b").ruby == ("worker_id",)
    assert param(source, "c").value == '#{ENV["USER"]}' and param(source, "c").ruby == ()
    assert param(source, "d").value == ["${HOME}", 1]
    assert translate_ruby("Socket.gethostname") == "${HOSTNAME}"
    assert translate_ruby(" ENV['X'] ") == "${X}"
    assert translate_ruby("`rm -rf /`") is None


def test_placeholders_are_kept_apart_from_translated_ruby(tmp_path: Path) -> None:
    conf = write(
        tmp_path / "f.conf",
        "<record>\n  a \"${tag}-#{ENV['X']}\"\n  b ${record[\"level\"]}\n  c '${hostname}'\n</record>\n",
    )
    record = parse_file(conf).root.children[0]
    assert param(record, "a").value == "${tag}-${X}" and param(record, "a").placeholders == ("${tag}",)
    assert param(record, "b").placeholders == ('${record["level"]}',)
    assert param(record, "c").placeholders == ("${hostname}",)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("<source>\n  @type tail\n", 1, "<source> opened here is never closed"),
        ("<source>\n</match>\n", 2, "</match> does not close <source>"),
        ("</source>\n", 1, "closes nothing"),
        ('<source>\n  tag "abc\n</source>\n', 2, "double-quoted string is never closed"),
        ("<source>\n  tag 'abc\n</source>\n", 2, "single-quoted string is not closed"),
        ('<source>\n  tag "a\\qb"\n</source>\n', 2, 'unknown escape "\\q"'),
        ('<source>\n  tag "a" b\n</source>\n', 2, "unexpected ' b' after the value of `tag`"),
        ("<source>\n  list [1,\n  2\n</source>\n", 2, "JSON array"),
        ("<source>\n  @include missing.conf\n</source>\n", 2, "no such file"),
        ("@include http://example.com/f.conf\n", 1, "remote includes are not supported"),
    ],
)
def test_syntax_errors_name_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    conf = write(tmp_path / "bad.conf", text)
    with pytest.raises(ConfigError) as caught:
        parse_file(conf)
    (problem,) = caught.value.problems
    assert problem.startswith(f"{conf}:{line}: ") and message in problem


def test_include_cycle_and_unmatched_glob(tmp_path: Path) -> None:
    write(tmp_path / "a.conf", "@include b.conf\n")
    write(tmp_path / "b.conf", "@include a.conf\n")
    with pytest.raises(ConfigError, match="cycle"):
        parse_file(tmp_path / "a.conf")
    conf = write(tmp_path / "c.conf", "\n@include nothing/*.conf\n")
    tree = parse_file(conf)
    warnings = [(str(w), m) for w, m in tree.warnings]
    assert warnings == [(f"{conf}:2", "@include nothing/*.conf matches no file")]


@pytest.mark.parametrize(
    ("pattern", "tag", "matches"),
    [
        ("aichat.app", "aichat.app", True),
        ("aichat.*", "aichat.app", True),
        ("aichat.*", "aichat.app.x", False),
        ("aichat.**", "aichat", True),
        ("aichat.**", "aichat.app.x", True),
        ("**", "anything.at.all", True),
        ("{aichat,other}.app", "other.app", True),
        ("fluent.** aichat.app", "aichat.app", True),
        ("aichat.debug", "aichat.app", False),
    ],
)
def test_tag_patterns(pattern: str, tag: str, matches: bool) -> None:
    assert tag_matches(pattern, tag) is matches
