"""`logship run` around the service: start-up checks, the HTTP endpoints, signals, and reloads.

SIGTERM/SIGINT drain the running service (a second one aborts it); SIGHUP loads the
configuration again and, when it is valid, replaces the running service after a drain, so
positions are committed and nothing is read twice. An invalid one is refused and logged.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from pathlib import Path

from logship.allocator import keep_freed_memory_for
from logship.config_check import check_fields
from logship.errors import ConfigError, LogshipError, PipelineFailed, StoreLocked
from logship.exitcodes import Exit
from logship.observe.health import HealthState
from logship.observe.logs import configure_logging
from logship.observe.server import HttpServer, HttpSettings
from logship.service import Service
from logship.settings import Settings, load_settings
from logship.sources.tail.descriptors import raise_open_file_limit
from logship.sources.tail.positions import PositionStore
from logship.storelock import StoreLock
from logship.transforms.enrich import configured_fields
from logship.wiring import run_sink, tail_source

__all__ = ["run", "supervise"]

log = logging.getLogger("logship")


def run(config: Path | None, settings: Settings) -> int:
    """`logship run`: check what must hold before shipping, then supervise until stopped."""
    check_fields(settings, config)
    configure_logging(settings.log.level)
    keep_freed_memory_for(settings)
    try:
        # Shipping without saving positions would send everything again at the next start.
        PositionStore(settings.tail.positions_dir, settings.state_file_mode).check_writable()
        return asyncio.run(supervise(config, settings))
    except PipelineFailed as exc:
        # A bug: exit non-zero so that systemd or Kubernetes restarts logship. What the failed part
        # held was never committed, so it is read again then.
        log.critical("Stopped after a failure inside the pipeline", exc_info=exc)
        return Exit.FAILED
    except LogshipError as exc:
        log.critical("Cannot run", extra={"error": str(exc)})
        return Exit.FAILED


async def supervise(config: Path | None, settings: Settings) -> int:
    """Run the service until SIGTERM/SIGINT; exit code 0 once it has drained."""
    # Before the HTTP server and before any position is read: a second instance on this store
    # must leave without touching it (StoreLocked, exit 1).
    locks = [StoreLock(settings.tail.positions_dir, "logship run")]
    locks[0].acquire()
    try:
        return await _supervise(config, settings, locks)
    finally:
        for lock in locks:
            lock.release()


async def _supervise(config: Path | None, settings: Settings, locks: list[StoreLock]) -> int:
    """``locks``: the position stores held, the last one the current settings'."""
    pipeline: Service | None = None

    def health_for(http: HttpSettings) -> HealthState:
        return HealthState(
            engine_timeout_seconds=http.engine_timeout_seconds,
            stall_seconds=http.stall_seconds,
            lag_bytes=lambda: pipeline.lag_bytes() if pipeline is not None else 0,
            unopened=lambda: pipeline.unopened_files() if pipeline is not None else [],
            catch_up=lambda: pipeline.catch_up() if pipeline is not None else None,
        )

    raise_open_file_limit()  # before the HTTP server sizes its reserve from it
    health = health_for(settings.http)
    server = HttpServer(settings.http, health)
    await server.start()
    stops = 0
    reload_requested = asyncio.Event()

    def on_stop(signame: str) -> None:
        nonlocal stops
        stops += 1
        log.info("Signal received", extra={"signal": signame})
        if pipeline is not None:
            pipeline.abort() if stops > 1 else pipeline.stop()

    _handle_signals(on_stop, reload_requested.set)
    try:
        while True:
            pipeline = Service(settings, health, tail_source, run_sink)
            running = asyncio.create_task(pipeline.run())
            while True:
                waiter = asyncio.create_task(reload_requested.wait())
                await asyncio.wait([running, waiter], return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                if running.done():
                    running.result()
                    return Exit.OK
                reload_requested.clear()
                fresh = _reload(config, locks)
                if fresh is not None and not stops:
                    break
            pipeline.stop()
            await running
            if stops:  # SIGTERM/SIGINT while the old pipeline drained: it was the last one
                return Exit.OK
            while len(locks) > 1:  # the old store's last positions are written: leave it
                locks.pop(0).release()
            if fresh.http != settings.http:
                await server.stop()
                health = health_for(fresh.http)
                server = HttpServer(fresh.http, health)
                await server.start()
            settings = fresh
            _reloaded(config, settings)
    finally:
        await server.stop()


def _handle_signals(on_stop: Callable[[str], None], on_reload: Callable[[], None]) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_stop, sig.name)
    loop.add_signal_handler(signal.SIGHUP, on_reload)


def _reloaded(config: Path | None, settings: Settings) -> None:
    configure_logging(settings.log.level)
    log.info("Configuration reloaded", extra={"config": str(config) if config else "built-in defaults"})


def _reload(config: Path | None, locks: list[StoreLock]) -> Settings | None:
    try:
        fresh = load_settings(config, refuse_empty=True)
        configured_fields(fresh)
        if fresh.tail.positions_dir != locks[-1].directory:
            # Another store: locked now, the old one left once the old pipeline has written its
            # last positions there.
            lock = StoreLock(fresh.tail.positions_dir, "logship run")
            lock.acquire()
            locks.append(lock)
    except (ConfigError, StoreLocked) as exc:
        problems = exc.problems if isinstance(exc, ConfigError) else [str(exc)]
        log.error(
            "Configuration reload refused; the running configuration stays in force",
            extra={"config": str(config), "problems": problems},
        )
        return None
    return fresh
