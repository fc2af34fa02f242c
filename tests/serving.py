"""Running `voxplan serve` as real processes in tests: start one, read its JSON log lines, play OpenAI (and
a load balancer) by sending the emulator's signed deliveries where a test wants them."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import CANARIES, Cli, SandboxServer, loopback

PROJECT = "proj_XnGzQBp38qGPqjV5GaYVXVGY"
OPENAI_KEY = CANARIES["OPENAI_API_KEY"]


def wait_for(what: Callable[[], Any], message: str, deadline: float = 30.0) -> Any:
    """Poll until `what()` is truthy. The deadline is a safety net for a broken build, never an expectation."""
    end = time.monotonic() + deadline
    while True:
        value = what()
        if value:
            return value
        assert time.monotonic() < end, message
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Serve:
    url: str
    process: subprocess.Popen[bytes]
    lines: list[str] = field(default_factory=list)
    reader: threading.Thread = field(default_factory=threading.Thread)

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        out = [json.loads(line) for line in list(self.lines)]
        return [e for e in out if name is None or e.get("event") == name]

    def calls(self) -> list[dict[str, Any]]:
        return self.events("call")

    def ready(self) -> dict[str, Any]:
        return dict(loopback.get(f"{self.url}/readyz", timeout=10).json())

    def post(self, request: dict[str, Any], timeout: float = 30) -> httpx.Response:
        return loopback.post(f"{self.url}/openai/webhook", content=request["body"].encode(), headers=request["headers"],
                          timeout=timeout)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout=60)
        self.reader.join(timeout=10)
        return code


@pytest.fixture
def openai_cli(cli: Cli) -> Cli:
    assert cli.env["OPENAI_API_KEY"] == OPENAI_KEY and cli.env["VOXPLAN_OPENAI_BASE_URL"].endswith("/openai")
    return cli


@pytest.fixture
def start_serve(openai_cli: Cli) -> Iterator[Callable[..., Serve]]:
    started: list[Serve] = []

    def start(stack: Path, port: int = 0, **env: str) -> Serve:
        proc = subprocess.Popen([sys.executable, "-m", "voxplan", "serve", str(stack), "--port", str(port)],
                                cwd=openai_cli.workdir, env={**os.environ, **openai_cli.env, **env},
                                stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
        assert proc.stderr is not None
        serve = Serve("", proc)
        head = []
        while True:  # every line is JSON: the one that says where it listens comes once it is up
            raw = proc.stderr.readline().decode()
            if not raw:
                raise AssertionError(f"serve did not start: {''.join(head)}")
            head.append(raw)
            match = re.search(r'"event": "listening".*"url": "(http://[\d.]+:\d+)"', raw)
            if match:
                serve.url = match.group(1)
                break
        serve.lines.extend(line.rstrip("\n") for line in head)
        serve.reader = threading.Thread(target=lambda: serve.lines.extend(
            line.decode().rstrip("\n") for line in proc.stderr or ()), daemon=True)
        serve.reader.start()
        started.append(serve)
        return serve

    yield start
    for serve in started:
        serve.stop(signal.SIGKILL if serve.process.poll() is None else signal.SIGTERM)
        if serve.process.stderr:
            serve.process.stderr.close()
        openai_cli.outputs += serve.lines
        assert_json_lines(serve.lines)


def assert_json_lines(lines: list[str]) -> None:
    """Every stderr line of serve is one JSON object with a timestamp; no traceback, anywhere."""
    for line in lines:
        assert "Traceback" not in line, line
        event = json.loads(line)
        assert isinstance(event, dict) and re.match(r"^\d{4}-\d\d-\d\dT[\d:]{8}\.\d{3}\+00:00$", event["ts"]), line


def rotate(cli: Cli, stack: Path) -> str:
    """`voxplan webhooks rotate`: the new secret, printed once on stdout."""
    result = cli("webhooks", "rotate", str(stack))
    secret = result.stdout.strip()
    assert secret.startswith("whsec_") and "\n" not in secret
    cli.outputs.remove(result.stdout)  # printed on purpose, once: the one output that may hold it
    return secret


def incoming(sandbox: SandboxServer, number: str, *, deliver: bool = True, **extra: Any) -> dict[str, Any]:
    """A call to `number` as Wavix sends it: x-number holds the dialled number, digits only."""
    headers = [{"name": "From", "value": '"+14155550199" <sip:+14155550199@209.58.144.243>;tag=as1'},
               {"name": "To", "value": f"sip:{PROJECT}@sip.api.openai.com;transport=tls"},
               {"name": "x-number", "value": number.lstrip("+")}]
    answer = loopback.post(f"{sandbox.url}/_sandbox/openai/incoming",
                        json={"project": PROJECT, "headers": extra.pop("sip_headers", headers), "deliver": deliver,
                              **extra}, timeout=60)
    answer.raise_for_status()
    return dict(answer.json())


def call(sandbox: SandboxServer, call_id: str) -> dict[str, Any]:
    return dict(loopback.get(f"{sandbox.url}/_sandbox/openai/calls/{call_id}", timeout=30).json())


def done(record: dict[str, Any], action: str) -> list[Any]:
    """The bodies of the call-control requests of `action` that succeeded."""
    return [e["body"] for e in record["log"] if e["action"] == action and e.get("status") == 200]


def assert_no_signing_secret(cli: Cli, *allowed: str) -> None:
    """No signing secret in any output or file voxplan wrote (the rotate output was taken out)."""
    for text in cli.outputs:
        assert "whsec_" not in text.replace("whsec_…", ""), "a signing secret reached an output"
    for path in cli.workdir.rglob("*"):
        if path.is_file() and "sandbox" not in path.parts:
            assert "whsec_" not in path.read_text(errors="replace").replace("whsec_…", ""), f"secret in {path}"
