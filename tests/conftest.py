"""Shared fixtures: a real `voxplan sandbox serve` process, and a CLI runner that checks every output and
every file it leaves for canary secrets."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

import httpx
import psycopg
import pytest
from click.testing import CliRunner, Result

from tests import contract, embedded_pg
from voxplan.cli import main
from voxplan.sandbox.core import OBSERVER_ENV

ROOT = Path(__file__).resolve().parent.parent
STACKS = ROOT / "stacks"

# Canary secrets: if any of these shows up in an output or a file voxplan wrote, in any encoding (see
# `canary_forms`), a secret leaked. Passwords carry the characters that escaping changes (" \ ' % +) and
# non-ASCII; API keys travel in an Authorization header (ASCII), so they carry % + ' only.
CANARIES = {
    "PBX_TRUNK_PASSWORD": 'canary-pbx-7Hq"2x\\9Lm\'Z4%+\u00fc',
    "VAPI_API_KEY": "canary-vapikey-3Rt8%uW1+pQ6'",
    "SIP_AUTH_PASSWORD": 'canary-sipauth-01"23\\45\'67%8+\u00e9',
    "WAVIX_API_KEY": "canary-wavixkey-8Yb%3n+C5'",
    "WAVIX_TRUNK_PASSWORD": 'canary-wavixpw-2L"k9\\sD\'4%+\u00df',
    "DIDLOGIC_API_KEY": "canary-didlogickey-6G%h+1'",
    "DIDLOGIC_SIP_PASSWORD": 'canary-didlogicpw-4F"j\\7\'%+\u00e5',
    "CLOUDONIX_API_KEY": "canary-cloudonixkey-9Q%w+2'",
    "TELNYX_SIP_PASSWORD": 'canary-telnyxpw-1Z"x\\5\'%+\u00f1',
    "OPENAI_API_KEY": "canary-openaikey-5T%g+8'",
    "CANARY": 'canary-greeting-"\\\'%+\u00fc\u4e2d-5Tq',  # for stacks that put ${env:CANARY} anywhere
}


def canary_forms(value: str) -> dict[str, str]:
    """Every encoding in which a secret could reach an output, computed here and not by voxplan's own
    redaction (which it checks): raw, JSON-escaped (ASCII and not), repr, URL-encoded (quote with and
    without "/" safe, quote_plus), base64 (standard and URL-safe, with and without padding)."""
    raw = value.encode()
    b64 = base64.b64encode(raw).decode()
    url64 = base64.urlsafe_b64encode(raw).decode()
    return {"raw": value, "json": json.dumps(value)[1:-1], "json-utf8": json.dumps(value, ensure_ascii=False)[1:-1],
            "repr": repr(value)[1:-1], "quote": quote(value), "quote-all": quote(value, safe=""),
            "quote_plus": quote_plus(value), "base64": b64.rstrip("="), "base64url": url64.rstrip("=")}


VENDORS = ("vapi", "wavix", "didlogic", "cloudonix", "openai")

# Every emulator, in this process and in each `voxplan sandbox serve` started below, holds its traffic to
# the vendors' OpenAPI documents (tests/contract.py); a violation fails the test that caused it.
os.environ[OBSERVER_ENV] = "tests.contract:observe"
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))  # any cwd
os.environ.setdefault(contract.LOG_ENV, os.path.join(tempfile.mkdtemp(prefix="voxplan-contract-"), "violations"))
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if _WORKER and not os.environ[contract.LOG_ENV].endswith(_WORKER):
    # a log per worker (the controller set one for all): a test takes only what its own served sandbox saw
    os.environ[contract.LOG_ENV] += "." + _WORKER


@pytest.fixture(autouse=True)
def spec_contract() -> Iterator[None]:
    """Fails the test if any emulator saw a request, or gave an answer, that its vendor's spec forbids.
    A test that sends a forbidden request on purpose takes the violations itself (`contract.take()`)."""
    contract.take()
    yield
    found = contract.take()
    if found:
        listed = "\n".join(f"  {v}" for v in found[:20])
        pytest.fail(f"{len(found)} OpenAPI contract violation(s):\n{listed}", pytrace=False)


# The tests' own requests to the servers they start (plain http on loopback: sandbox, serve, stand-ins) go
# through this one client. httpx.get/post make a client per call, and every client loads the CA bundle
# (~40 ms of CPU) that no http:// URL uses; the suite made thousands. No keep-alive: each request still opens
# its own connection, as httpx.get's do, so a server restarted or killed under a test is met the same way.
loopback = httpx.Client(limits=httpx.Limits(max_keepalive_connections=0))
_TLS = httpx.create_ssl_context()  # for the clients made below: the same default context, loaded once


@dataclass
class SandboxServer:
    url: str
    process: subprocess.Popen[bytes]

    def vapi(self) -> httpx.Client:
        return httpx.Client(base_url=f"{self.url}/vapi", headers={"Authorization": "Bearer inspector"}, timeout=30,
                            verify=_TLS)

    def objects(self, collection: str) -> list[dict[str, Any]]:
        with self.vapi() as client:
            response = client.get(f"/{collection}", params={"limit": 1000})
            response.raise_for_status()
            return list(response.json())

    def stats(self) -> dict[str, Any]:
        return dict(loopback.get(f"{self.url}/_sandbox/stats").json())

    def clear_stats(self) -> None:
        loopback.delete(f"{self.url}/_sandbox/stats")

    def secret_matches(self, obj_id: str, path: str, value: str, vendor: str = "vapi") -> bool:
        """Whether the emulator holds `value` as the write-only secret at `path` (only a hash is sent)."""
        digest = hashlib.sha256(value.encode()).hexdigest()
        answer = loopback.post(f"{self.url}/_sandbox/secret",
                            json={"vendor": vendor, "id": obj_id, "path": path, "sha256": digest}).json()
        return bool(answer["matches"])

    def vendor(self, name: str) -> httpx.Client:
        return httpx.Client(base_url=f"{self.url}/{name}", headers={"Authorization": "Bearer inspector"}, timeout=30,
                            verify=_TLS)

    def get(self, vendor: str, path: str, **params: Any) -> Any:
        """A read on a vendor's own API, waiting out its rate limit (Cloudonix: 10 per 3 s)."""
        with self.vendor(vendor) as client:
            for _ in range(20):
                response = client.get(path, params=params)
                if response.status_code != 429:
                    break
                time.sleep(0.5)
            response.raise_for_status()
            return response.json()

    def seed(self, numbers: dict[str, list[str]] | None = None, domains: list[str] | None = None) -> None:
        """What the account owner did by hand: buy numbers, make a Cloudonix domain."""
        loopback.post(f"{self.url}/_sandbox/seed", json={"numbers": numbers or {}, "domains": domains or []}
                   ).raise_for_status()

    def reset(self) -> None:
        loopback.post(f"{self.url}/_sandbox/reset").raise_for_status()


def start_server(*args: str) -> SandboxServer:
    proc = subprocess.Popen([sys.executable, "-m", "voxplan", "sandbox", "serve", "--port", "0", *args],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    assert proc.stderr is not None
    line = proc.stderr.readline().decode()
    match = re.search(r"(http://[\d.]+:\d+)", line)
    if not match:
        proc.kill()
        raise RuntimeError(f"sandbox did not start: {line!r}")
    return SandboxServer(match.group(1), proc)


def stop_server(server: SandboxServer) -> None:
    server.process.terminate()
    server.process.wait(timeout=10)
    if server.process.stderr:
        server.process.stderr.close()


def _checkout_state() -> dict[str, tuple[int, int]]:
    own = STACKS / ".voxplan"
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in own.rglob("*")} if own.exists() else {}


@pytest.fixture(scope="session", autouse=True)
def checkout_state_untouched() -> Iterator[None]:
    """No test writes the checkout's stacks/.voxplan/ (the README's quick start leaves one there)."""
    before = _checkout_state()
    yield
    assert _checkout_state() == before, "a test wrote the checkout's stacks/.voxplan/"


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    server = start_server()
    yield server
    stop_server(server)


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> SandboxServer:
    sandbox_server.reset()
    return sandbox_server


@dataclass
class Cli:
    workdir: Path
    env: dict[str, str]
    outputs: list[str] = field(default_factory=list)

    def __call__(self, *args: str, code: int | None = 0, input: str | None = None) -> Result:
        runner = CliRunner()
        result = runner.invoke(main, list(args), env=self.env, input=input, catch_exceptions=False)
        self.outputs += [result.stdout, result.stderr]
        if code is not None:
            assert result.exit_code == code, (
                f"voxplan {' '.join(args)} exited {result.exit_code}, expected {code}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
        return result

    def edit(self, path: Path | str, old: str, new: str) -> None:
        """Replace `old` (which must be there) by `new` in a stack file."""
        path = Path(path)
        text = path.read_text()
        assert old in text, f"{old!r} not in {path}"
        path.write_text(text.replace(old, new))

    def stack(self, name: str, text: str | None = None) -> Path:
        """Copy stacks/<name> (or write `text`) into the work dir; returns its path."""
        path = self.workdir / name
        if text is None:
            shutil.copy(STACKS / name, path)
        else:
            path.write_text(text)
        return path


@pytest.fixture
def cli(tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    monkeypatch.chdir(tmp_path)
    env = {**{f"VOXPLAN_{v.upper()}_BASE_URL": f"{sandbox.url}/{v}" for v in VENDORS}, "NO_COLOR": "1", **CANARIES}
    runner = Cli(tmp_path, env)
    yield runner
    assert_no_canary(runner.outputs, tmp_path)


def assert_no_canary(outputs: list[str], root: Path) -> None:
    """No canary secret, in any of its `canary_forms`, in any output, nor in any file under `root` except
    the sandbox's own data (read as bytes: a file that is not UTF-8 is scanned too)."""
    texts = [("output", o) for o in outputs]
    for path in root.rglob("*"):
        if path.is_file() and "sandbox" not in path.parts:
            texts.append((str(path), path.read_bytes().decode("utf-8", errors="replace")))
    for name, value in CANARIES.items():
        for form, encoded in canary_forms(value).items():
            for where, text in texts:
                assert encoded not in text, f"secret {name} leaked into {where} ({form})"


@pytest.fixture(autouse=True)
def _own_fingerprint_key(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test has its own config dir (and so its own fingerprint key file), never the developer's."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
    monkeypatch.delenv("VOXPLAN_FINGERPRINT_KEY", raising=False)
    for name in ("VOXPLAN_BACKEND", "VOXPLAN_ENV"):  # a developer's own settings never steer a test
        monkeypatch.delenv(name, raising=False)


PG_ENV = "VOXPLAN_TEST_PG_URL"


def pytest_configure(config: pytest.Config) -> None:
    """No server given: the controller (the only process without xdist) starts one for the whole session,
    before any worker exists, and hands every worker its URL through the environment (tests/embedded_pg.py)."""
    if hasattr(config, "workerinput") or os.environ.get(PG_ENV) or os.environ.get(embedded_pg.ERROR_ENV):
        return
    try:
        server = embedded_pg.start()
    except Exception as exc:  # noqa: BLE001 - kept for the tests that need a server, which fail with it
        os.environ[embedded_pg.ERROR_ENV] = f"{type(exc).__name__}: {exc}".strip()
        return
    config.stash[_EMBEDDED] = server
    os.environ[PG_ENV] = server.url
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:  # stopped with SIGTERM, pytest still unconfigures
        signal.signal(signal.SIGTERM, _interrupted)


def _interrupted(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_unconfigure(config: pytest.Config) -> None:
    server = config.stash.get(_EMBEDDED, None)
    if server is not None:
        del config.stash[_EMBEDDED]
        os.environ.pop(PG_ENV, None)
        server.stop()


_EMBEDDED = pytest.StashKey[embedded_pg.EmbeddedServer]()


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The PostgreSQL server the backend tests use for real: VOXPLAN_TEST_PG_URL's, or the one this session
    started (see pytest_configure). Without one, the tests that need it fail: a green run must have exercised
    the postgres backend."""
    url = os.environ.get(PG_ENV)
    if not url:
        why = os.environ.get(embedded_pg.ERROR_ENV, "no server was started")
        pytest.fail(f"the postgres backend tests need a real server and none could be started ({why}). "
                    f"Set {PG_ENV}=postgresql://… to use one of your own.", pytrace=False)
    return url


def database_url(server: str, name: str) -> str:
    """`server`'s URL for database `name` (`…/postgres` or `…/postgres?host=/socket/dir` → `…/name…`)."""
    return urlunsplit(urlsplit(server)._replace(path=f"/{name}"))


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A database of this test's own (isolation: tables, claims and advisory locks are per database)."""
    name = f"voxplan_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield database_url(pg_server, name)
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


pytest_plugins = ("tests.serving",)  # fixtures for running `voxplan serve` as real processes
