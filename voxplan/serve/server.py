"""uvicorn around the app: timeouts, a connection cap, graceful drain.

- A request's head must arrive within HEADER_TIMEOUT seconds of the connection opening (or of the
  previous answer on a kept-alive one), else the connection is closed: idle or slow clients cannot pile
  up. uvicorn's own `timeout_keep_alive` closes idle kept-alive connections; the body has BODY_TIMEOUT
  (app.py).
- At most MAX_CONNECTIONS connections (uvicorn's `limit_concurrency`: past it, 503); the open-files
  limit is raised to fit them.
- SIGTERM or SIGINT: uvicorn stops accepting, lets every request in flight (each one a call's decision)
  finish and answer, then the app's lifespan ends (receiver drained, sidebands handed to the other
  replicas, one line logged) and the process exits 0.
"""

from __future__ import annotations

import asyncio
import resource
import signal
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT = 10.0
KEEP_ALIVE = 5
MAX_CONNECTIONS = 4096
BACKLOG = 2048
GRACE = 30  # seconds the drain waits for decisions in flight


class HeaderTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request head (uvicorn has none of its own)."""

    header_timeout = HEADER_TIMEOUT
    _awaiting: asyncio.TimerHandle | None = None
    _last_cycle: Any = None

    def _arm(self) -> None:
        self._disarm()
        self._awaiting = self.loop.call_later(self.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._awaiting is not None:
            self._awaiting.cancel()
            self._awaiting = None

    def _too_slow(self) -> None:
        self._awaiting = None
        if not self.transport.is_closing() and (self.cycle is None or self.cycle is self._last_cycle):
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.cycle is not None and self.cycle is not self._last_cycle:  # a new request's head is in
            self._last_cycle = self.cycle
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def raise_open_files(wanted: int = MAX_CONNECTIONS + 256) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


class Server(uvicorn.Server):
    on_started: Any = None

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if self.started and self.on_started is not None:
            port = self.servers[0].sockets[0].getsockname()[1] if self.servers else self.config.port
            self.on_started(port)


def run(app: Any, host: str, port: int, on_started: Any) -> None:
    """Serve until SIGTERM/SIGINT, then drain; returns normally (exit 0)."""
    raise_open_files()
    config = uvicorn.Config(app, host=host, port=port, http=HeaderTimeoutProtocol, lifespan="on",
                            limit_concurrency=MAX_CONNECTIONS, backlog=BACKLOG, timeout_keep_alive=KEEP_ALIVE,
                            timeout_graceful_shutdown=GRACE, log_config=None, access_log=False,
                            server_header=False, proxy_headers=False)
    server = Server(config)
    server.on_started = on_started
    # uvicorn raises the signal it caught again once it has shut down, through the handler that was
    # there before it: make that a no-op, so a drained serve exits 0 instead of dying by the signal
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    server.run()
