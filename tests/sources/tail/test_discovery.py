"""Discovery: which files the globs match, their rotated siblings, and what is never listed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from logship.sources.tail.discovery import Candidate, Discovery


def touch(path: Path, content: bytes = b'{"n":1}\n') -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def listed(discovery: Discovery) -> dict[str, bool]:
    """The base names of the listed files, and whether the globs match them."""
    return {os.path.basename(c.path): c.matched for c in discovery.scan()}


def test_the_glob_lists_matching_files_only(tmp_path: Path) -> None:
    for name in ("app.log", "worker.log", "notes.txt", "app.logx"):
        touch(tmp_path / name)
    assert listed(Discovery([str(tmp_path / "*.log")], [], set())) == {"app.log": True, "worker.log": True}


def test_a_candidate_carries_the_files_identity_and_size(tmp_path: Path) -> None:
    path = touch(tmp_path / "app.log", b"0123456789\n")
    (c,) = Discovery([str(tmp_path / "*.log")], [], set()).scan()
    st = path.stat()
    assert c == Candidate(str(path), st.st_dev, st.st_ino, 11, st.st_mtime, True)


def test_globs_in_the_directory_part_cover_every_matching_directory(tmp_path: Path) -> None:
    touch(tmp_path / "a" / "app.log")
    touch(tmp_path / "b" / "app.log")
    touch(tmp_path / "c" / "other.log")
    discovery = Discovery([str(tmp_path / "*" / "app.log")], [], set())
    paths = [c.path for c in discovery.scan()]
    assert paths == [str(tmp_path / "a" / "app.log"), str(tmp_path / "b" / "app.log")]
    assert discovery.directories() == {str(tmp_path / d) for d in ("a", "b", "c")}


def test_a_missing_directory_lists_nothing(tmp_path: Path) -> None:
    discovery = Discovery([str(tmp_path / "nowhere" / "*.log")], [], set())
    assert discovery.scan() == []
    assert discovery.directories() == set()


def test_exclude_by_base_name(tmp_path: Path) -> None:
    for name in ("app.log", "secret.log", "secret-2.log"):
        touch(tmp_path / name)
    discovery = Discovery([str(tmp_path / "*.log")], ["secret*.log"], set())
    assert listed(discovery) == {"app.log": True}


def test_exclude_by_full_path(tmp_path: Path) -> None:
    touch(tmp_path / "a" / "app.log")
    touch(tmp_path / "b" / "app.log")
    discovery = Discovery([str(tmp_path / "*" / "app.log")], [str(tmp_path / "b" / "*")], set())
    assert [c.path for c in discovery.scan()] == [str(tmp_path / "a" / "app.log")]


def test_ignored_files_are_never_listed(tmp_path: Path) -> None:
    touch(tmp_path / "app.log")
    touch(tmp_path / "dead-letter.log")
    discovery = Discovery([str(tmp_path / "*.log")], [], {str(tmp_path / "dead-letter.log")})
    assert listed(discovery) == {"app.log": True}


def test_the_rotations_of_ignored_files_are_never_listed(tmp_path: Path) -> None:
    """The dead-letter file rotates to <path>.1, <path>.2 while logship runs: never shipped."""
    for name in ("app.log", "dead-letter.log", "dead-letter.log.1", "dead-letter.log.2"):
        touch(tmp_path / name)
    discovery = Discovery([str(tmp_path / "*.log*")], [], {str(tmp_path / "dead-letter.log")})
    assert listed(discovery) == {"app.log": True}


def test_an_excluded_files_rotations_are_excluded_too(tmp_path: Path) -> None:
    touch(tmp_path / "app.log")
    touch(tmp_path / "secret.log")
    touch(tmp_path / "secret.log.1")
    discovery = Discovery([str(tmp_path / "*.log")], ["secret.log*"], set())
    assert listed(discovery) == {"app.log": True}


def test_rotated_siblings_are_listed_as_unmatched(tmp_path: Path) -> None:
    names = ["app.log", "app.log.1", "app.log.12", "app.log-20261126", "app.log.2026-11-26"]
    for name in names:
        touch(tmp_path / name)
    found = listed(Discovery([str(tmp_path / "*.log")], [], set()))
    assert found == {
        "app.log": True,
        "app.log.1": False,
        "app.log.12": False,
        "app.log-20261126": False,
        "app.log.2026-11-26": False,
    }


def test_more_rotation_suffixes_are_recognised(tmp_path: Path) -> None:
    names = ["app.log.1.2", "app.log-2026-11-26", "app.log-20261126-1764115200", "app.log.20261126_3"]
    for name in ("app.log", *names):
        touch(tmp_path / name)
    found = listed(Discovery([str(tmp_path / "app.log")], [], set()))
    assert found == {"app.log": True, **dict.fromkeys(names, False)}


def test_names_that_are_not_rotations_are_not_listed(tmp_path: Path) -> None:
    for name in ("app.log", "app.log.old", "app.log.bak", "app.log~", "app.log.1.tmp", "other.txt.1"):
        touch(tmp_path / name)
    assert listed(Discovery([str(tmp_path / "*.log")], [], set())) == {"app.log": True}


def test_a_rotation_of_a_name_the_globs_do_not_match_is_not_listed(tmp_path: Path) -> None:
    touch(tmp_path / "app.log")
    touch(tmp_path / "worker.log.1")
    assert listed(Discovery([str(tmp_path / "app.log")], [], set())) == {"app.log": True}


def test_compressed_siblings_are_skipped(tmp_path: Path) -> None:
    names = ["app.log.1.gz", "app.log-20261126.bz2", "app.log.2.xz", "app.log.3.zst", "app.log.4.zip"]
    for name in ("app.log", "app.log.1", *names):
        touch(tmp_path / name)
    assert listed(Discovery([str(tmp_path / "*.log")], [], set())) == {"app.log": True, "app.log.1": False}


def test_a_compressed_file_is_skipped_even_when_matched(tmp_path: Path) -> None:
    touch(tmp_path / "app.log")
    touch(tmp_path / "app.log.gz")
    assert listed(Discovery([str(tmp_path / "app.log*")], [], set())) == {"app.log": True}


def test_directories_are_not_listed(tmp_path: Path) -> None:
    touch(tmp_path / "app.log")
    (tmp_path / "archive.log").mkdir()
    (tmp_path / "app.log.1").mkdir()
    assert listed(Discovery([str(tmp_path / "*.log")], [], set())) == {"app.log": True}


def test_fifos_are_not_listed(tmp_path: Path) -> None:
    touch(tmp_path / "app.log")
    os.mkfifo(tmp_path / "pipe.log")
    assert listed(Discovery([str(tmp_path / "*.log")], [], set())) == {"app.log": True}


def test_dangling_symlinks_and_links_to_directories_are_not_listed(tmp_path: Path) -> None:
    touch(tmp_path / "app.log")
    (tmp_path / "gone.log").symlink_to(tmp_path / "missing")
    (tmp_path / "sub").mkdir()
    (tmp_path / "dir.log").symlink_to(tmp_path / "sub")
    assert listed(Discovery([str(tmp_path / "*.log")], [], set())) == {"app.log": True}


def test_a_symlink_is_listed_with_the_files_identity_only_when_its_target_is_allowed(tmp_path: Path) -> None:
    target = touch(tmp_path / "real" / "app.log")
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "app.log").symlink_to(target)
    patterns = [str(tmp_path / "logs" / "*.log")]
    assert Discovery(patterns, [], set()).scan() == []  # not followed by default
    (c,) = Discovery(patterns, [], set(), follow_within=[str(tmp_path / "real")]).scan()
    assert c.path == str(tmp_path / "logs" / "app.log") and c.ino == target.stat().st_ino


def test_relative_patterns_and_ignored_paths_are_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    touch(tmp_path / "app.log")
    touch(tmp_path / "own.log")
    monkeypatch.chdir(tmp_path)
    (c,) = Discovery(["*.log"], [], {"own.log"}).scan()
    assert c.path == str(tmp_path / "app.log")
