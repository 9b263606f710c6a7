"""Chaos, part B: rejected bulk items, mapping conflicts, configuration reloads, bad input.

Everything is real (the workload, a `logship run` process, the search engine) except one thing:
the item-level 429s and the whole-request 429/503 bursts of scenario 6 come from
``support.faultproxy``, a proxy in front of the real engine, because a test node cannot be made
to reject items on demand. Each scenario prints one line

    [scenario] written=… found=… duplicates=… missing=… malformed=… seconds=…

and asserts against the documents read back from the engine. Each scenario runs on its own rig
(``support.rig``, the ``make_rig`` fixture) with its own index prefix (``chaos-<name>-<random>``).
Scenarios 6 and 7 are marked ``opensearch``: they also run, unchanged, against OpenSearch
(``LOGSHIP_TEST_ENGINE=opensearch``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from engine_fixture import delete_indices, http_json
from support.faultproxy import FaultProxy
from support.harness import SEQ, check_documents, wait_until, write_logs
from support.rig import MakeRig, Rig

pytestmark = pytest.mark.chaos

MiB = 1024 * 1024


# -- helpers ----------------------------------------------------------------------------------


def _src(doc: dict[str, Any]) -> dict[str, Any]:
    """The document's fields (search_all flattens `_source` into the hit)."""
    source: dict[str, Any] = doc.get("_source", doc)
    return source


def _seq_of(doc: dict[str, Any]) -> int | None:
    match = SEQ.search(str(_src(doc).get("message", "")))
    return int(match.group(1)) if match else None


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())


def _json_line(seq: int, text: str = "hand-written", **fields: Any) -> bytes:
    record = {
        "timestamp": _now(),
        "level": "INFO",
        "logger": "aichat",
        "message": f"seq={seq} {text}",
        "module": "chaos",
        "function": "test",
        "line": "1",
        **fields,
    }
    return json.dumps(record).encode() + b"\n"


def _append(path: Path, data: bytes) -> None:
    with path.open("ab") as f:
        f.write(data)


# -- 6. item-level rejections ---------------------------------------------------------------------


@pytest.mark.opensearch
def test_item_level_rejections_and_bursts(make_rig: MakeRig, search_engine: Any) -> None:
    """~20 % of the bulk items answered 429, plus whole-request 429 and 503 bursts: every record
    still arrives exactly once, retried item by item."""
    started = time.monotonic()
    url = search_engine.url
    with FaultProxy(url, item_reject_ratio=0.2) as proxy:
        rig = make_rig("rejected", es_url=proxy.url, overrides={"batch": {"max_documents": 1000}})
        try:
            write_logs(rig.logs, 6000)
            proxy.burst(429, 3)
            proxy.burst(503, 3)
            rig.ship.start()
            writer = write_logs(rig.logs, 6000, start_seq=6000, rate=3000, background=True)
            assert writer is not None
            wait_until(lambda: proxy.bursts_pending() == 0, 30, what="the first bursts to be answered")
            proxy.burst(503, 2)  # a second burst while the writer is going
            proxy.burst(429, 2)
            writer.communicate(timeout=120)
            assert writer.returncode == 0
            wait_until(lambda: rig.count() >= 12000, 90, what="12000 documents")
            metrics = rig.ship.metrics()
            code = rig.ship.stop()
        finally:
            rig.kill_if_running()
        stats = proxy.stats()
    delivery = check_documents(rig.documents(), range(12000))
    print("\n" + delivery.report("item-429", time.monotonic() - started), stats)
    assert code == 0, rig.ship.log_tail()
    delivery.assert_exactly_once()
    assert stats["items_rejected"] > 0.1 * 12000, stats  # the faults really happened ...
    assert stats.get("burst_429") == 5 and stats.get("burst_503") == 5, stats
    assert metrics['logship_retries_total{reason="item_429"}'] > 0  # ... and were seen as such
    assert metrics['logship_retries_total{reason="http_429"}'] >= 5
    assert metrics['logship_retries_total{reason="http_5xx"}'] >= 5
    assert metrics.get('logship_records_total{outcome="dead_lettered"}', 0) == 0
    assert not rig.dead_letter.exists(), rig.dead_letter.read_text()[:2000]


# -- 7. mapping conflicts and the dead-letter replay ----------------------------------------------


def _replay(rig: Rig, dead_letter: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "logship",
            "replay",
            "--dead-letter",
            str(dead_letter or rig.dead_letter),
            "--config",
            str(rig.config),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )


@pytest.mark.opensearch
def test_mapping_conflicts_dead_letter_and_replay(make_rig: MakeRig, search_engine: Any) -> None:
    """Records whose `line` does not fit the template's integer mapping are dead-lettered with the
    engine's reason while the rest is indexed. A replay before the fix rejects each once more
    (already in the file: not written again) and ends; once the mapping is fixed, `logship replay
    --dead-letter` delivers them exactly once and removes the file, and a second replay (of a copy)
    adds nothing."""
    started = time.monotonic()
    url = search_engine.url
    rig = make_rig("mapping")
    template = f"{rig.prefix}-test"
    status, answer = http_json(
        "PUT",
        f"{url}/_index_template/{template}",
        {
            "index_patterns": [rig.pattern],
            "priority": 300,
            "template": {
                "settings": {"number_of_replicas": 0},
                "mappings": {"properties": {"line": {"type": "integer"}}},
            },
        },
    )
    assert status == 200, answer
    # Back-filled records of an old day whose `line` is not a number: they clash with the mapping.
    # They are large enough (3 MB in all) to outgrow a replay's in-flight bound (1 MiB below).
    clashing = list(range(900_000, 902_000))
    backfill = "2020-01-02 03:04:05"
    old_index = f"{rig.prefix}-2020.01.02"
    try:
        write_logs(rig.logs, 1500)
        _append(
            rig.logs / "app.log",
            b"".join(
                _json_line(seq, "backfill", timestamp=backfill, line=f"L{seq}", detail="z" * 1500)
                for seq in clashing
            ),
        )
        write_logs(rig.logs, 1500, start_seq=1500)
        rig.ship.start()
        wait_until(
            lambda: (
                rig.count() >= 3000
                and rig.dead_letter.exists()
                and len(rig.dead_letter.read_bytes().splitlines()) >= len(clashing)
            ),
            60,
            what=f"3000 documents and {len(clashing)} dead letters",
        )
        rig.ship.wait_settled()  # nothing more may come
        metrics = rig.ship.metrics()
        assert rig.ship.stop() == 0, rig.ship.log_tail()
    finally:
        rig.kill_if_running()

    delivery = check_documents(rig.documents(), range(3000))
    print("\n" + delivery.report("mapping-before-replay", time.monotonic() - started))
    delivery.assert_exactly_once()
    assert metrics['logship_records_total{outcome="dead_lettered"}'] == len(clashing)
    letters = [json.loads(line) for line in rig.dead_letter.read_bytes().splitlines()]
    assert len(letters) == len(clashing)
    ids = {e["id"] for e in letters}
    assert len(ids) == len(clashing)
    for entry in letters:
        assert entry["index"] == old_index, entry["index"]
        assert entry["id"] and entry["status"] == 400, entry
        assert "line" in entry["reason"] and "exception" in entry["reason"], entry["reason"]
        assert entry["document"]["line"].startswith("L"), entry["document"]["line"]
        assert entry["document"]["@timestamp"] == "2020-01-02T03:04:05.000Z"
    assert sorted(int(SEQ.search(e["document"]["message"]).group(1)) for e in letters) == clashing  # type: ignore[union-attr]
    warned = [r for r in rig.ship.log_records() if "dead-letter" in str(r.get("message", ""))]
    assert warned and "line" in str(warned[0].get("reason")), "the rejection is not logged with its reason"

    # Replaying before the fix: each document is rejected once more, but its id is in the file
    # already, so nothing is appended; the replay ends with exit 1 and the file stays.
    before = rig.dead_letter.read_bytes()
    early = _replay(rig, LOGSHIP_DELIVERY__MAX_INFLIGHT_BYTES=str(1024 * 1024))
    assert early.returncode == 1, early.stdout + early.stderr[-2000:]
    assert f"indexed: 0, already present: 0, dead-lettered: {len(clashing)}," in early.stdout, early.stdout
    assert rig.dead_letter.read_bytes() == before

    # The fix: drop the clashing template and the (empty) old-day index, then replay. Every
    # document is delivered, so the dead-letter file is removed; a copy kept elsewhere by the
    # operator is left alone, and replaying it adds nothing.
    assert http_json("DELETE", f"{url}/_index_template/{template}")[0] == 200
    delete_indices(url, old_index)
    copy = rig.dead_letter.with_name("kept-by-the-operator.ndjson")
    copy.write_bytes(before)
    first = _replay(rig)
    assert first.returncode == 0, first.stdout + first.stderr[-2000:]
    assert f"indexed: {len(clashing)}, already present: 0, dead-lettered: 0," in first.stdout, first.stdout
    assert not rig.dead_letter.exists()
    second = _replay(rig, dead_letter=copy)
    assert second.returncode == 0, second.stdout + second.stderr[-2000:]
    assert f"indexed: 0, already present: {len(clashing)}, dead-lettered: 0," in second.stdout, second.stdout
    assert copy.read_bytes() == before and not rig.dead_letter.exists()  # nothing was rejected again

    docs = rig.documents()
    delivery = check_documents(docs, [*range(3000), *clashing])
    print(delivery.report("mapping-after-replay", time.monotonic() - started))
    delivery.assert_exactly_once()
    assert {d["_id"] for d in docs if d["_index"] == old_index} == ids  # original index and id kept


# -- 10. SIGHUP ---------------------------------------------------------------------------------


def test_sighup_reload_and_refused_reload(make_rig: MakeRig) -> None:
    """A reload that adds `*.txt` while app.log is being written loses and duplicates nothing and
    ships the new file; an invalid configuration is refused with its reason and the running one
    keeps shipping."""
    started = time.monotonic()
    rig = make_rig("reload")
    # Positions are written often, so that reloads meet a write in progress.
    rig.ship.env = {"LOGSHIP_PIPELINE__POSITIONS_FLUSH_SECONDS": "0.01"}
    try:
        write_logs(rig.logs, 2000)
        write_logs(rig.logs, 300, start_seq=100_000, file="extra.txt")  # not followed yet
        rig.ship.start()
        writer = write_logs(rig.logs, 4000, start_seq=2000, rate=1000, background=True)
        assert writer is not None
        wait_until(lambda: rig.count() > 0, 30, interval=0.1, what="the first documents")  # shipping
        rig.write_config(patterns=("*.log", "*.txt"))
        rig.ship.signal(signal.SIGHUP)
        wait_until(
            lambda: any(r.get("message") == "Configuration reloaded" for r in rig.ship.log_records()),
            30,
            what="the reload",
        )
        write_logs(rig.logs, 700, start_seq=100_300, file="extra.txt")
        for _ in range(30):  # more reloads (same configuration) while app.log grows
            time.sleep(0.1)
            rig.ship.signal(signal.SIGHUP)
        writer.communicate(timeout=60)
        assert writer.returncode == 0
        wait_until(
            lambda: sum(r.get("message") == "Configuration reloaded" for r in rig.ship.log_records()) >= 5,
            30,
            what="the further reloads",
        )

        rig.write_config(overrides={"tail": {"read_from": "middle"}})
        rig.ship.signal(signal.SIGHUP)

        def refused() -> list[dict[str, Any]]:
            return [r for r in rig.ship.log_records() if "reload refused" in str(r.get("message"))]

        wait_until(lambda: bool(refused()), 30, what="the refusal of the invalid configuration")
        assert "read_from" in json.dumps(refused()[0].get("problems")), refused()[0]
        write_logs(rig.logs, 1000, start_seq=6000)
        write_logs(rig.logs, 500, start_seq=101_000, file="extra.txt")
        expected = [*range(7000), *range(100_000, 101_500)]
        wait_until(lambda: rig.count() >= len(expected), 60, what=f"{len(expected)} documents")
        assert rig.ship.proc is not None and rig.ship.proc.poll() is None, (
            "logship exited after the refused reload"
        )
        rig.ship.wait_settled()
        code = rig.ship.stop()
    finally:
        rig.kill_if_running()
    delivery = check_documents(rig.documents(), expected)
    print("\n" + delivery.report("sighup", time.monotonic() - started))
    assert code == 0, rig.ship.log_tail()
    delivery.assert_exactly_once()
    errors = [
        r
        for r in rig.ship.log_records()
        if r.get("level") in ("ERROR", "CRITICAL") and "reload refused" not in str(r.get("message"))
    ]
    assert not errors, errors[:3]  # e.g. two position writers racing across a reload


def test_sigterm_while_a_reload_drains(make_rig: MakeRig, search_engine: Any) -> None:
    """SIGTERM arriving while a reload waits for the old configuration's batches (the engine
    answers 503) stops logship, exit 0, instead of starting the new configuration; what was not
    delivered is read again at the next start, exactly once."""
    started = time.monotonic()
    url = search_engine.url
    with FaultProxy(url) as proxy:
        proxy.burst(503, 1_000_000)  # the engine is unavailable until further notice
        rig = make_rig("reload-term", es_url=proxy.url)
        rig.ship.env = {"LOGSHIP_PIPELINE__DRAIN_TIMEOUT_SECONDS": "3"}
        try:
            write_logs(rig.logs, 1000)
            rig.ship.start()
            wait_until(lambda: proxy.stats().get("burst_503", 0) >= 1, 30, what="a first bulk request")
            rig.ship.signal(signal.SIGHUP)
            wait_until(
                lambda: any(str(r.get("message")).startswith("Stopping") for r in rig.ship.log_records()),
                10,
                what="the reload's drain",
            )
            rig.ship.signal(signal.SIGTERM)
            try:
                code = rig.ship.wait_exit(20)
            except subprocess.TimeoutExpired:
                raise AssertionError(
                    "SIGTERM during a reload was ignored:\n" + rig.ship.log_tail(8)
                ) from None
            assert code == 0, rig.ship.log_tail()
            assert not any(r.get("message") == "Configuration reloaded" for r in rig.ship.log_records())
        finally:
            rig.kill_if_running()
    rig.write_config(es_url=url)  # the engine directly, from now on
    try:
        rig.ship.start()
        wait_until(lambda: rig.count() >= 1000, 60, what="1000 documents")
        rig.ship.wait_settled()
        assert rig.ship.stop() == 0, rig.ship.log_tail()
    finally:
        rig.kill_if_running()
    delivery = check_documents(rig.documents(), range(1000))
    print("\n" + delivery.report("sigterm-during-reload", time.monotonic() - started))
    delivery.assert_exactly_once()


# -- 11. bad input --------------------------------------------------------------------------------


def test_bad_input(make_rig: MakeRig) -> None:
    """Invalid UTF-8, NUL bytes, a 20 MB line, a line that never ends, an empty file, JSON that is
    an array or a number: nothing crashes or blocks, each record is shipped and tagged, and the
    records after them still arrive."""
    started = time.monotonic()
    rig = make_rig("badinput")
    max_line = 1 * MiB  # the default `tail.max_line_bytes`
    logs = rig.logs
    mixed, endless = logs / "mixed.log", logs / "endless.log"
    # mixed.log: good records, the bad ones, good records again.
    write_logs(logs, 500, file="mixed.log")
    utf8 = _json_line(10_001, "bad utf-8 \udcff").replace(b"\\udcff", b"\xff\xfe\xc3(")
    # Raw NULs make the JSON invalid; the field order keeps the backend's pattern from recovering it.
    nul = b'{"message": "seq=10002 N\x00U\x00L", "timestamp": "' + _now().encode() + b'"}\n'
    huge = _json_line(10_003, "x" * (20 * MiB))
    _append(mixed, utf8 + nul + huge)
    write_logs(logs, 500, start_seq=500, file="mixed.log")
    # JSON that is not an object starts a record only as a file's first line (`multiline.start_pattern`).
    (logs / "array.log").write_bytes(b'["seq=10004", 1, 2]\n' + _json_line(10_005))
    number = 31_415_926_535
    (logs / "number.log").write_bytes(b"%d\n" % number + _json_line(10_006))
    (logs / "empty.log").write_bytes(b"")
    # endless.log: good records, then a 3 MB line that is still being written (no newline).
    write_logs(logs, 200, start_seq=20_000, file="endless.log")
    _append(
        endless,
        b'{"timestamp": "' + _now().encode() + b'", "message": "seq=10007 endless ' + b"y" * (3 * MiB),
    )
    expected_before = [*range(1000), *range(10_001, 10_007), *range(20_000, 20_200)]
    try:
        rig.ship.start()
        wait_until(lambda: rig.count() >= len(expected_before) + 1, 60, what="the first documents")
        # Other files keep flowing while the endless line grows; the empty file fills.
        _append(endless, b"y" * MiB)
        write_logs(logs, 300, start_seq=1000, file="mixed.log")
        write_logs(logs, 20, start_seq=40_000, file="empty.log")
        wait_until(
            lambda: rig.count() >= len(expected_before) + 1 + 320, 60, what="records written afterwards"
        )
        assert rig.ship.proc is not None and rig.ship.proc.poll() is None
        endless_seen = [d for d in rig.documents() if _seq_of(d) == 10_007]
        assert not endless_seen, "a line without its newline was shipped"
        # The endless line ends at last: shipped cut to max_line_bytes, and what follows it arrives.
        _append(endless, b'"}\n')
        write_logs(logs, 10, start_seq=20_200, file="endless.log")
        total = len(expected_before) + 1 + 320 + 1 + 10
        wait_until(lambda: rig.count() >= total, 60, what=f"{total} documents")
        rig.ship.wait_settled()
        code = rig.ship.stop()
    finally:
        rig.kill_if_running()
    docs = rig.documents()
    expected = [*expected_before, *range(1000, 1300), *range(40_000, 40_020), 10_007, *range(20_200, 20_210)]
    with_seq = [d for d in docs if _seq_of(d) is not None]
    others = [d for d in docs if _seq_of(d) is None]
    delivery = check_documents(with_seq, expected)
    overall = replace(
        delivery, written=delivery.written + 1, found=len(docs)
    )  # + the number, which has no seq
    print("\n" + overall.report("bad-input", time.monotonic() - started))
    assert code == 0, rig.ship.log_tail()
    assert len(others) == 1, [str(_src(d))[:200] for d in others]  # the number
    delivery.assert_exactly_once()

    by_seq = {_seq_of(d): _src(d) for d in with_seq}
    assert "invalid_utf8" in by_seq[10_001]["tags"]
    assert "\ufffd" in by_seq[10_001]["message"]
    assert "invalid_json" in by_seq[10_002]["tags"]
    assert "N\x00U\x00L" in by_seq[10_002]["message"]
    for seq in (10_003, 10_007):
        assert {"line_truncated", "invalid_json"} <= set(by_seq[seq]["tags"]), (seq, by_seq[seq]["tags"])
        assert max_line - 100 <= len(by_seq[seq]["message"].encode()) <= max_line, len(by_seq[seq]["message"])
    assert "not_an_object" in by_seq[10_004]["tags"]
    assert by_seq[10_004]["message"] == '["seq=10004", 1, 2]'
    assert _src(others[0])["message"] == str(number)
    assert "not_an_object" in _src(others[0])["tags"]
    bad_tags = {"invalid_utf8", "invalid_json", "not_an_object", "line_truncated"}
    for seq in (0, 499, 500, 999, 1299, 10_005, 10_006, 20_199, 20_200, 20_209, 40_000, 40_019):
        assert not bad_tags & set(by_seq[seq].get("tags", [])), (seq, by_seq[seq].get("tags"))
    assert not rig.dead_letter.exists(), rig.dead_letter.read_text()[:2000]
