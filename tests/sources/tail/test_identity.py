"""File identity: two different files never share one, while renames, copies and restarts keep it.

TailSource runs in-process on real files; each record is unique (a global sequence number), so
an id (identity, offset) given to two different records is seen directly.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logship.block import Block, Finished
from logship.observe.metrics import REGISTRY
from logship.sources.tail.fingerprint import fingerprint_path
from logship.sources.tail.identity import base_of
from logship.sources.tail.positions import FilePosition
from logship.sources.tail.source import TailSource

from support.tailsource import running, tail_source
from support.tailsource import settings as tail_settings

PROPERTY_GUARD = 10.0  # a missing record fails the example sooner, so shrinking ends in time
BANNER = b'{"timestamp": "2026-12-02 10:00:00", "message": "Starting worker"}\n'


class Ids:
    """An ``emit`` keeping, per id (identity, offset), the records sent under it."""

    def __init__(self) -> None:
        self.by_id: dict[tuple[str, int], set[str]] = defaultdict(set)
        self.by_path: dict[str, list[str]] = defaultdict(list)
        self.seen: set[str] = set()

    async def emit(self, block: Block | Finished) -> None:
        assert isinstance(block, Block) and block.ack is not None
        for offset, lines in block.runs:
            for line in lines:
                self._add(block, offset, line)
                offset += len(line) + 1
        for offset, first, _rest, _tag in block.records:
            self._add(block, offset, first)
        block.ack.done()

    def _add(self, block: Block, offset: int, line: bytes) -> None:
        message = str(orjson.loads(line)["message"])
        self.by_id[(block.origin.key, offset)].add(message)
        self.by_path[block.origin.path].append(message)
        self.seen.add(message)

    def shared(self) -> dict[tuple[str, int], set[str]]:
        """Ids given to more than one record (the banner repeats by design: it is left out)."""
        return {i: m for i, m in self.by_id.items() if len(m - {"Starting worker"}) > 1}


def make_source(tmp_path: Path, restored: list[FilePosition] | None = None) -> TailSource:
    return tail_source(tail_settings(tmp_path), restored=restored)


@asynccontextmanager
async def following(source: TailSource, ids: Ids) -> AsyncIterator[None]:
    """The source running, from the end of its first scan."""
    async with running(source, ids.emit):
        await source.scanned.wait()
        yield


async def until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.01)


def line(message: str) -> bytes:
    return orjson.dumps({"timestamp": "2026-12-02 10:00:01", "message": message}) + b"\n"


def collisions(resolution: str) -> float:
    labels = {"resolution": resolution}
    return REGISTRY.get_sample_value("logship_identity_collisions_total", labels) or 0.0


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    (tmp_path / "logs").mkdir()
    return tmp_path / "logs"


def keys(source: TailSource) -> dict[str, str]:
    return {p.path: p.key for p in source.positions()}


def test_files_present_at_start_with_the_same_first_line_get_identities_of_their_own(
    tmp_path: Path, logs: Path
) -> None:
    async def main() -> None:
        names = [f"w{n}.log" for n in range(10)]
        want = set()
        for name in names:
            body = [f"{name} {i}" for i in range(20)]
            want |= set(body)
            (logs / name).write_bytes(BANNER + b"".join(line(m) for m in body))
        before = collisions("new_identity")
        ids, source = Ids(), make_source(tmp_path)
        async with following(source, ids):
            await until(lambda: want <= ids.seen)
            found = keys(source)
        assert not ids.shared()
        assert len(set(found.values())) == 10
        base = fingerprint_path(str(logs / "w0.log"), 1024)
        assert {base_of(k) for k in found.values()} == {base}
        assert sum(k == base for k in found.values()) == 1  # one keeps its first-line identity
        assert collisions("new_identity") - before == 9

    asyncio.run(main())


def test_a_file_created_later_with_the_banner_of_a_followed_file_is_a_different_file(
    tmp_path: Path, logs: Path
) -> None:
    async def main() -> None:
        api, worker = logs / "api.log", logs / "worker.log"
        api.write_bytes(BANNER + line("api 0"))
        ids, source = Ids(), make_source(tmp_path)
        async with following(source, ids):
            await until(lambda: "api 0" in ids.seen)
            worker.write_bytes(BANNER)  # its first line alone, then its records
            await asyncio.sleep(0.2)
            with worker.open("ab") as f:
                f.write(line("worker 0") + line("worker 1"))
            with api.open("ab") as f:
                f.write(line("api 1"))
            await until(lambda: {"worker 0", "worker 1", "api 1"} <= ids.seen)
            found = keys(source)
        assert not ids.shared()
        assert found[str(api)] != found[str(worker)]
        assert ids.by_path[str(worker)] == ["Starting worker", "worker 0", "worker 1"]

    asyncio.run(main())


def test_an_identity_of_its_own_survives_a_restart_and_a_rotation(tmp_path: Path, logs: Path) -> None:
    async def main() -> None:
        api, worker = logs / "api.log", logs / "worker.log"
        api.write_bytes(BANNER + line("api 0"))
        worker.write_bytes(BANNER + line("worker 0"))
        ids, source = Ids(), make_source(tmp_path)
        async with following(source, ids):
            await until(lambda: {"api 0", "worker 0"} <= ids.seen)
            stored = source.positions()
        first = keys(source)
        with worker.open("ab") as f:
            f.write(line("worker 1"))
        worker.rename(logs / "worker.log.1")  # rotated while logship is stopped
        worker.write_bytes(line("worker 2"))
        again, source = Ids(), make_source(tmp_path, stored)
        async with following(source, again):
            await until(lambda: {"worker 1", "worker 2"} <= again.seen)
            await asyncio.sleep(0.2)
            found = keys(source)
        assert again.seen == {"worker 1", "worker 2"}  # nothing read twice, nothing skipped
        assert found[str(logs / "worker.log.1")] == first[str(worker)]
        assert found[str(api)] == first[str(api)]

    asyncio.run(main())


def test_a_stored_file_copied_to_a_new_inode_is_recognised_by_its_bytes(tmp_path: Path, logs: Path) -> None:
    async def main() -> None:
        api, worker = logs / "api.log", logs / "worker.log"
        api.write_bytes(BANNER + line("api 0"))
        worker.write_bytes(BANNER + line("worker 0"))
        ids, source = Ids(), make_source(tmp_path)
        async with following(source, ids):
            await until(lambda: {"api 0", "worker 0"} <= ids.seen)
            stored = source.positions()
        first = keys(source)
        # copytruncate while stopped: the copy (a new inode) holds what was shipped and more
        with worker.open("ab") as f:
            f.write(line("worker 1"))
        shutil.copyfile(worker, logs / "worker.log.1")
        worker.write_bytes(BANNER + line("worker 2"))
        again, source = Ids(), make_source(tmp_path, stored)
        async with following(source, again):
            await until(lambda: {"worker 1", "worker 2"} <= again.seen)
            await asyncio.sleep(0.2)
            found = keys(source)
        assert sorted(again.by_path[str(logs / "worker.log.1")]) == ["worker 1"]
        assert found[str(logs / "worker.log.1")] == first[str(worker)]
        assert again.by_path[str(worker)] == ["Starting worker", "worker 2"]
        assert found[str(worker)] not in first.values()
        assert not (ids.by_id.keys() & again.by_id.keys())  # no id used again, for any record

    asyncio.run(main())


def test_a_rewritten_file_that_starts_with_the_same_banner_is_not_read_at_old_offsets(
    tmp_path: Path, logs: Path
) -> None:
    async def main() -> None:
        path = logs / "app.log"
        path.write_bytes(BANNER + line("old 0") + line("old 1"))
        ids, source = Ids(), make_source(tmp_path)
        async with following(source, ids):
            await until(lambda: {"old 0", "old 1"} <= ids.seen)
            shutil.copyfile(path, logs / "app.log.1")  # copytruncate, then the same banner again
            with path.open("r+b") as f:
                f.truncate(0)
                f.write(BANNER + line("new 0") + line("new 1"))
            await until(lambda: {"new 0", "new 1"} <= ids.seen)
        assert not ids.shared()

    asyncio.run(main())


def test_an_old_store_that_cannot_tell_two_files_apart_reads_them_again(
    tmp_path: Path, logs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        a, b = logs / "a.log", logs / "b.log"
        a.write_bytes(BANNER + line("a 0"))
        b.write_bytes(BANNER + line("b 0"))
        base = fingerprint_path(str(a), 1024)
        assert base is not None
        # A store written before positions carried a check, for a file since gone from its inode.
        stored = [FilePosition(base, str(logs / "old.log"), 0, 1, len(BANNER), 4096)]
        before = collisions("read_from_start")
        ids, source = Ids(), make_source(tmp_path, stored)
        with caplog.at_level(logging.WARNING):
            async with following(source, ids):
                await until(lambda: {"a 0", "b 0"} <= ids.seen)
        assert ids.by_path[str(a)] == ["Starting worker", "a 0"]  # from the start, not the stored offset
        assert ids.by_path[str(b)] == ["Starting worker", "b 0"]
        assert not ids.shared() and base not in {k for k, _ in ids.by_id}
        assert collisions("read_from_start") - before == 2
        warned = [r for r in caplog.records if "Cannot tell" in r.getMessage()]
        assert {getattr(r, "file", None) for r in warned} == {str(a), str(b)}

    asyncio.run(main())


# -- the property ------------------------------------------------------------------------------

OPS = st.lists(
    st.tuples(
        st.sampled_from(["create", "append", "rotate", "truncate", "copytruncate", "restart"]),
        st.integers(0, 3),  # which file
        st.integers(0, 4),  # records
        st.booleans(),  # equal record lengths, or lengths varying with the file
    ),
    min_size=1,
    max_size=10,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS, shared_prefix=st.sampled_from([BANNER, BANNER * 3, b""]))
def test_no_two_distinct_files_ever_share_an_id_for_different_records(
    tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[str, int, int, bool]], shared_prefix: bytes
) -> None:
    tmp_path = tmp_path_factory.mktemp("prop")
    logs = tmp_path / "logs"
    logs.mkdir()
    seq = iter(range(10**6))

    def records(n: int, k: int, equal: bool) -> bytes:
        pad = "" if equal else "x" * k
        return b"".join(line(f"r{next(seq):05d}{pad}") for _ in range(n))

    async def main() -> None:
        ids = Ids()
        written: set[str] = set()
        stored: list[FilePosition] = []
        source = make_source(tmp_path)
        task = asyncio.create_task(source.run(ids.emit))
        await source.scanned.wait()
        try:
            for op, k, n, equal in ops:
                path = logs / f"f{k}.log"
                body = records(n, k, equal)
                if op == "create" and not path.exists():
                    path.write_bytes(shared_prefix + body)
                elif op == "append" and path.exists():
                    with path.open("ab") as f:
                        f.write(body)
                elif op == "rotate" and path.exists():
                    os.replace(path, logs / f"f{k}.log.1")
                    path.write_bytes(shared_prefix + body)
                elif op in ("truncate", "copytruncate") and path.exists():
                    if op == "copytruncate":
                        shutil.copyfile(path, logs / f"f{k}.log.1")
                    with path.open("r+b") as f:
                        f.truncate(0)
                        f.write(shared_prefix + body)
                elif op == "restart":
                    source.stop()
                    await task
                    stored = source.positions()  # as the service saves them: before the files close
                    source.close()
                    source = make_source(tmp_path, stored)
                    task = asyncio.create_task(source.run(ids.emit))
                    await source.scanned.wait()
                    continue
                else:
                    continue
                written.update(str(orjson.loads(x)["message"]) for x in body.splitlines())
                async with asyncio.timeout(PROPERTY_GUARD):
                    await until(partial(written.issubset, ids.seen))
        finally:
            source.stop()
            await task
            source.close()
        assert not ids.shared()

    asyncio.run(main())
