"""One running `serve`: its configuration, the published answers it keeps current, the coordinator,
the receiver, and the background threads (publication watcher, orphaned-sideband reaper). The CLI only
parses arguments and calls `Service(...).run()`."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread

from voxplan.core.context import RunContext
from voxplan.core.errors import StateError
from voxplan.providers.openai.calls import CallControl
from voxplan.serve import coordination, server
from voxplan.serve.answers import Answers
from voxplan.serve.app import make_app
from voxplan.serve.config import Config, load_config
from voxplan.serve.logs import event
from voxplan.serve.metrics import Metrics
from voxplan.serve.receiver import Receiver

log = logging.getLogger("voxplan.serve")
WATCH_TIMEOUT = 1.0  # seconds one wait for a publication lasts (a stop waits for it) before it is asked again
BACKEND_SILENCE = 10.0  # seconds without an answer from the state backend after which serve is not ready
WORKERS = 128  # threads for deliveries in flight (each waits on the database and OpenAI)
PRUNE = 3600.0  # seconds between prunes of old deliveries and call records


class Service:
    def __init__(self, stack: Path, host: str = "127.0.0.1", port: int = 0, ctx: RunContext | None = None):
        """Reads the stack's settings (StackErrors, located; PlanError) and reaches the backend (StateError)."""
        self.host, self.port = host, port
        self.config: Config
        self.config, self.store = load_config(stack, ctx)
        self.metrics = Metrics()
        self.coordinator = coordination.for_store(self.store)
        self.coordinator.start()
        self._answers = Answers.of(self.store.published())
        self._backend_ok = time.monotonic()
        self.metrics.serial.set(self._answers.serial)
        self.control = CallControl(self.config.api_key, self.config.base_url,
                                   webhook_secrets=self.config.webhook_secrets)
        self.receiver = Receiver(self.control, self.coordinator, self.answers, caller_secret=self.config.caller_secret,
                                 metrics=self.metrics)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def answers(self) -> Answers:
        return self._answers  # one reference read: a call keeps the snapshot it started with

    def problems(self) -> list[str]:
        """Why this replica should not get calls now (empty: ready)."""
        out = []
        if time.monotonic() - self._backend_ok > BACKEND_SILENCE:
            out.append(f"the state backend has not answered for over {BACKEND_SILENCE:g} s")
        if not self.coordinator.healthy():
            out.append("the call record (coordination) is unreachable")
        if not self._answers.loaded:
            out.append("nothing is published for this stack: run voxplan apply")
        routing = self._answers.routing or {}
        if routing.get("caller_header") and not self.config.caller_secret:
            out.append(f"calls must carry {routing['caller_header']}, but providers.openai.caller_secret is not set")
        return out

    # -- background -------------------------------------------------------------------------------------
    def _watch(self) -> None:
        """Swap in each new publication as it lands (LISTEN/NOTIFY on PostgreSQL, the file on local)."""
        serial = self._answers.serial
        while not self._stop.is_set():
            try:
                now = self.store.wait_published(serial, WATCH_TIMEOUT)
                self._backend_ok = time.monotonic()
                if now != serial:
                    fresh = Answers.of(self.store.published())
                    self._answers = fresh
                    serial = fresh.serial
                    self.metrics.serial.set(serial)
                    event(log, "published", serial=serial, agents=fresh.versions(), loaded=fresh.loaded)
            except StateError as exc:
                event(log, "backend_unreachable", logging.ERROR, error=str(exc)[:200])
                self._stop.wait(1.0)

    def _reap(self) -> None:
        """Every REAP: re-attach the sidebands of dead replicas' calls; every PRUNE: forget old records."""
        pruned = time.monotonic()
        while not self._stop.wait(coordination.REAP):
            try:
                self.receiver.reattach_orphans()
                if time.monotonic() - pruned > PRUNE:
                    pruned = time.monotonic()
                    self.coordinator.prune()
            except StateError as exc:
                event(log, "reattach_failed", logging.ERROR, error=str(exc)[:200])

    def _background(self) -> None:
        for target, name in ((self._watch, "voxplan-serve-watch"), (self._reap, "voxplan-serve-reap")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    # -- running ----------------------------------------------------------------------------------------
    @asynccontextmanager
    async def lifespan(self, _app: Any) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = WORKERS
        self._background()
        yield
        summary = self.receiver.drain()
        self._stop.set()
        event(log, "drained", replica=self.coordinator.replica, **summary)

    def run(self) -> None:
        def started(port: int) -> None:
            event(log, "listening", url=f"http://{self.host}:{port}", replica=self.coordinator.replica,
                  backend=self.store.name, shared=self.coordinator.shared, serial=self._answers.serial,
                  agents=self._answers.versions(),
                  note=None if self.coordinator.shared else "local backend: one replica only; use backend: "
                  "postgres to run several")

        try:
            server.run(make_app(self, self.lifespan), self.host, self.port, started)
        finally:
            self.close()
            event(log, "stopped", replica=self.coordinator.replica)

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=WATCH_TIMEOUT + 1)
        self.coordinator.stop()
        self.control.close()
        self.store.close()


__all__ = ["Service"]
