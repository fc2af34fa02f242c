"""The test session's own PostgreSQL (tests/embedded_pg.py), run as a user runs it: a nested `python -m pytest`
with no VOXPLAN_TEST_PG_URL. Its workers share one server; it is gone when the session ends, even when the
session is stopped with SIGTERM; a session that cannot get a server fails its postgres tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests import embedded_pg

ROOT = Path(__file__).resolve().parent.parent

# Each test records the server it was given: its data directory and start time, and the worker it ran in.
PROBE = '''
import os, time
import psycopg

def _record(pg_server, out):
    with psycopg.connect(pg_server) as conn:
        where, started = conn.execute(
            "SELECT current_setting('data_directory'), pg_postmaster_start_time()::text").fetchone()
    (out / f"{os.getpid()}-{time.monotonic_ns()}").write_text(f"{where}|{started}")

def test_one(pg_server):
    _record(pg_server, OUT)

def test_two(pg_server):
    time.sleep(0.5)  # both workers are up, each with a test
    _record(pg_server, OUT)

def test_waits(pg_server):
    _record(pg_server, OUT)
    time.sleep(600)  # until the SIGTERM
'''


def nested(tmp_path: Path, *select: str, workers: int = 2, **env: str) -> subprocess.Popen[str]:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    (tmp_path / "test_probe.py").write_text(f"from pathlib import Path\nOUT = Path({str(out)!r})\n{PROBE}")
    clean = {k: v for k, v in os.environ.items() if k not in ("VOXPLAN_TEST_PG_URL", embedded_pg.ERROR_ENV)}
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), "-p",
         "tests.conftest", "-n", str(workers), *[f"{tmp_path / 'test_probe.py'}::{name}" for name in select]],
        cwd=tmp_path, env={**clean, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def seen(tmp_path: Path) -> list[tuple[str, str, str]]:
    return [(p.name.partition("-")[0], *p.read_text().split("|")) for p in sorted((tmp_path / "out").iterdir())]


def postgres_running(data_directory: str) -> list[int]:
    """The pids of processes whose command line names this data directory (the postmaster: `postgres -D …`)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if data_directory.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_workers_share_one_server_and_nothing_is_left_running(tmp_path: Path) -> None:
    proc = nested(tmp_path, "test_one", "test_two")
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, output
    [(pid_a, dir_a, start_a), (pid_b, dir_b, start_b)] = seen(tmp_path)
    assert pid_a != pid_b  # two workers...
    assert (dir_a, start_a) == (dir_b, start_b)  # ...one server, started once
    assert "voxplan-test-pg-" in dir_a
    assert not Path(dir_a).exists() and not Path(dir_a).parent.exists()
    assert postgres_running(dir_a) == []


def test_a_session_stopped_with_sigterm_stops_its_server(tmp_path: Path) -> None:
    proc = nested(tmp_path, "test_waits", workers=1)
    deadline = time.monotonic() + 300  # a nested session on a loaded machine: minutes to reach its test
    while not list((tmp_path / "out").iterdir()):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0]
        time.sleep(0.1)
    [(_, directory, _)] = seen(tmp_path)
    assert postgres_running(directory)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode != 0
    assert postgres_running(directory) == [], output
    assert not Path(directory).parent.exists()


def test_a_postgres_test_fails_never_skips_without_a_server(tmp_path: Path) -> None:
    proc = nested(tmp_path, "test_one", workers=0, **{embedded_pg.ERROR_ENV: "FileNotFoundError: useradd"})
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 1, output
    assert "1 error" in output and "skipped" not in output  # an error in its fixture: a failed run, exit 1
    assert "none could be started (FileNotFoundError: useradd)" in output
