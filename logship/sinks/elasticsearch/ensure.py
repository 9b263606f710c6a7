"""`logship run` makes sure the engine it writes to is set up (`index.setup`).

At start, and again each time the engine answers after being unreachable, it compares the index
template (and, for retention by the engine, the lifecycle policy) with logship's current one, as
`logship setup --dry-run` does. With "install" it creates what is missing; an object that is
outdated (the configuration or logship changed) or not logship's is never replaced here, only
reported: `logship setup` updates logship's own, `logship setup --overwrite` replaces another's.
With "check" it only reports. It runs beside the pipeline: only the first bulk request waits for
the first check, at most FIRST_CHECK_WAIT_SECONDS, so that the first index is created with the
template's mappings; an engine that is down at start only means a later try.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from logship.errors import ConfigError, EngineRejected, EngineUnreachable
from logship.settings import Settings
from logship.sinks.elasticsearch.admin import AdminClient
from logship.sinks.elasticsearch.managed import Step
from logship.sinks.elasticsearch.nodes import NodePool
from logship.sinks.elasticsearch.setup import plan

__all__ = ["FIRST_CHECK_WAIT_SECONDS", "EngineSetup"]

log = logging.getLogger(__name__)

FIRST_CHECK_WAIT_SECONDS = 5.0
RETRY_SECONDS = 60.0  # an engine that did not answer is asked again then, or as soon as it answers


class EngineSetup:
    """The check of `index.setup`; ``engine_answered``/``engine_failed`` come from the engine probe."""

    def __init__(self, settings: Settings, pool: NodePool | None) -> None:
        self._settings = settings
        self._pool = pool
        self._down = False
        self._back = asyncio.Event()
        self.first_check = asyncio.Event()  # set when the first check ended, however it did

    def engine_answered(self) -> None:
        if self._down:
            self._down = False
            self._back.set()

    def engine_failed(self) -> None:
        self._down = True

    async def run(self) -> None:
        """Check now, then again whenever the engine answers after being unreachable; never raises
        for the engine's sake (a failure is logged)."""
        if self._settings.index.setup == "off":
            self.first_check.set()
            return
        while True:
            self._back.clear()
            answered = await self.check_once()
            self.first_check.set()
            if answered:
                await self._back.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(RETRY_SECONDS):
                        await self._back.wait()

    async def check_once(self) -> bool:
        """One comparison (and, with "install", creation); False when the engine did not answer."""
        client = AdminClient(self._settings.elasticsearch, self._pool)
        try:
            found = await plan(client, self._settings, overwrite=False)
            for step in found.steps:
                await self._handle(step)
        except EngineUnreachable as exc:
            self._down = True
            log.info("Engine setup not checked yet: the engine does not answer", extra={"error": str(exc)})
            return False
        except (EngineRejected, ConfigError) as exc:
            log.warning(
                "Cannot check the engine's setup (`index.setup`); see `logship setup --dry-run`",
                extra={"error": str(exc)},
            )
        finally:
            await client.close()
        return True

    async def _handle(self, step: Step) -> None:
        install = self._settings.index.setup == "install"
        if step.outcome == "create" and install and step.send is not None:
            await step.send()
            log.info("Installed on the engine", extra={"object": step.what})
        elif step.outcome == "create":
            log.warning(
                "Missing on the engine: new indices get dynamic mappings; run `logship setup` "
                '(or set `index.setup = "install"`)',
                extra={"object": step.what},
            )
        elif step.outcome == "update":
            log.warning(
                "Outdated on the engine (the configuration or logship changed); `logship setup` updates it",
                extra={"object": step.what},
            )
        elif step.outcome == "foreign":
            log.warning(
                "On the engine but not installed by logship; left alone: `logship setup --overwrite` "
                "replaces it",
                extra={"object": step.what},
            )
