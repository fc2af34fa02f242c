"""Seed 003 end to end over real HTTP: `voxplan sandbox serve` (the OpenAI emulator) and `voxplan serve`
as real processes. A call is triggered at the emulator, which delivers a signed realtime.call.incoming to
the webhook `voxplan apply` made; what serve then did is read back from the emulator's call record."""

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

from tests.conftest import CANARIES, Cli, SandboxServer
from tests.test_openai_stack import spec_schema

PROJECT = "proj_XnGzQBp38qGPqjV5GaYVXVGY"
SEED_URL = "https://voice.example.com/openai/webhook"
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

    def health(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.url}/healthz").json())

    def idle_after(self, calls: int) -> None:
        wait_for(lambda: (h := self.health())["calls"] >= calls and h["in_flight"] == 0,
                 f"serve did not finish {calls} call(s): {self.lines}")

    def call_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in list(self.lines) if line.startswith('{"event": "call"')]

    def post(self, request: dict[str, Any]) -> httpx.Response:
        return httpx.post(f"{self.url}/openai/webhook", content=request["body"].encode(), headers=request["headers"])


@pytest.fixture
def openai_cli(cli: Cli) -> Cli:
    assert cli.env["OPENAI_API_KEY"] == OPENAI_KEY and cli.env["VOXPLAN_OPENAI_BASE_URL"].endswith("/openai")
    return cli


@pytest.fixture
def start_serve(openai_cli: Cli) -> Iterator[Callable[[Path, int], Serve]]:
    started: list[Serve] = []

    def start(stack: Path, port: int) -> Serve:
        env = {**os.environ, **openai_cli.env}
        proc = subprocess.Popen([sys.executable, "-m", "voxplan", "serve", str(stack), "--port", str(port)],
                                cwd=openai_cli.workdir, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
        assert proc.stderr is not None
        first = proc.stderr.readline().decode()
        match = re.search(r"(http://[\d.]+:\d+)", first)
        assert match, f"serve did not start: {first}{proc.stderr.read().decode()}"
        serve = Serve(match.group(1), proc)
        serve.reader = threading.Thread(target=lambda: serve.lines.extend(
            line.decode().rstrip("\n") for line in proc.stderr or ()), daemon=True)
        serve.reader.start()
        started.append(serve)
        return serve

    yield start
    for serve in started:
        serve.process.terminate()
        serve.process.wait(timeout=10)
        serve.reader.join(timeout=10)
        if serve.process.stderr:
            serve.process.stderr.close()
        openai_cli.outputs += serve.lines


def incoming(sandbox: SandboxServer, number: str, **extra: Any) -> dict[str, Any]:
    """A call to `number` as Wavix sends it: x-number holds the dialled number, digits only."""
    headers = [{"name": "From", "value": '"+14155550199" <sip:+14155550199@209.58.144.243>;tag=as1'},
               {"name": "To", "value": f"sip:{PROJECT}@sip.api.openai.com;transport=tls"},
               {"name": "x-number", "value": number.lstrip("+")}]
    answer = httpx.post(f"{sandbox.url}/_sandbox/openai/incoming",
                        json={"project": PROJECT, "headers": headers, **extra}, timeout=30)
    answer.raise_for_status()
    return dict(answer.json())


def call(sandbox: SandboxServer, call_id: str) -> dict[str, Any]:
    return dict(httpx.get(f"{sandbox.url}/_sandbox/openai/calls/{call_id}").json())


def actions(record: dict[str, Any], action: str) -> list[Any]:
    return [entry["body"] for entry in record["log"] if entry["action"] == action]


def endpoints(sandbox: SandboxServer) -> list[dict[str, Any]]:
    page = httpx.get(f"{sandbox.url}/openai/v1/webhook_endpoints", headers={"Authorization": "Bearer inspector"})
    return list(page.json()["data"])


def assert_no_signing_secret(cli: Cli) -> None:
    """Every signing secret starts with whsec_: none may reach an output or a file voxplan wrote."""
    for text in cli.outputs:
        assert "whsec_" not in text.replace("whsec_…", ""), "a signing secret reached an output"
    for path in cli.workdir.rglob("*"):
        if path.is_file() and "sandbox" not in path.parts:
            assert "whsec_" not in path.read_text(errors="replace").replace("whsec_…", ""), f"secret in {path}"


def seed_stack(cli: Cli, sandbox: SandboxServer, port: int) -> Path:
    sandbox.seed(numbers={"wavix": ["+14067704205"]})
    stack = cli.stack("wavix-openai.yaml")
    cli.edit(stack, SEED_URL, f"http://127.0.0.1:{port}/openai/webhook")
    return stack


def test_seed_003_converges_and_serves_calls(openai_cli: Cli, sandbox: SandboxServer, start_serve: Any) -> None:
    port = free_port()
    stack = seed_stack(openai_cli, sandbox, port)
    openai_cli("validate", str(stack))
    first = openai_cli("apply", "--auto-approve", str(stack))
    assert "openai.webhook_endpoint/calls" in first.stdout
    openai_cli("plan", str(stack), "--detailed-exitcode", code=0)
    openai_cli("apply", "--auto-approve", str(stack))
    [endpoint] = endpoints(sandbox)  # created once
    assert endpoint["url"].endswith(f":{port}/openai/webhook")
    assert endpoint["event_types"] == ["realtime.call.incoming"]
    number = sandbox.get("wavix", "/v1/numbers", per_page=100)["items"][0]
    assert number["destination"][0]["destination"] == f"{PROJECT}@sip.api.openai.com;transport=tls"

    serve = start_serve(stack, port)
    transfer = incoming(sandbox, "+14067704205",
                        script=[{"name": "transfer_call", "arguments": {"destination": "+17134810111"}}])
    assert [d["status"] for d in transfer["deliveries"]] == [200]
    record = wait_for(lambda: (r := call(sandbox, transfer["call_id"]))["state"] == "ended" and r,
                      "the transferred call did not end")
    [accepted] = actions(record, "accept")
    assert list(spec_schema("RealtimeSessionCreateRequestGA").iter_errors(accepted)) == []
    delivered = json.loads(transfer["deliveries"][0]["request"]["body"])
    assert list(spec_schema("WebhookRealtimeCallIncoming").iter_errors(delivered)) == []
    assert accepted["model"] == "gpt-realtime"
    assert accepted["audio"]["output"]["voice"] == "marin"
    assert accepted["instructions"] == "You are Alex, a friendly support agent for Wavix."
    assert {t["name"] for t in accepted["tools"]} == {"transfer_call", "end_call"}
    assert actions(record, "refer") == [{"target_uri": "tel:+17134810111"}]
    assert actions(record, "hangup") == []

    goodbye = incoming(sandbox, "+14067704205", script=[{"name": "end_call", "arguments": {}}])
    record = wait_for(lambda: (r := call(sandbox, goodbye["call_id"]))["state"] == "ended" and r,
                      "the call did not hang up")
    assert [e["action"] for e in record["log"]] == ["accept", "hangup"]

    stranger = incoming(sandbox, "+19995550123")
    record = wait_for(lambda: (r := call(sandbox, stranger["call_id"]))["state"] == "rejected" and r,
                      "the unrouted call was not rejected")
    assert actions(record, "reject") == [{"status_code": 603}] and actions(record, "accept") == []

    serve.idle_after(3)
    openai_cli("plan", str(stack), "--detailed-exitcode", code=0)  # serve's secret rotation is no drift
    lines = {line["call_id"]: line for line in serve.call_lines()}
    assert len(serve.call_lines()) == 3  # one line per call
    assert lines[transfer["call_id"]]["outcome"] == "accepted" and lines[transfer["call_id"]]["action"] == "refer"
    assert lines[transfer["call_id"]]["number"] == "+14067704205"
    assert lines[transfer["call_id"]]["agent"] == "support" and "latency_ms" in lines[transfer["call_id"]]
    assert lines[goodbye["call_id"]]["action"] == "hangup"
    assert lines[stranger["call_id"]] | {"latency_ms": 0} == {
        "event": "call", "call_id": stranger["call_id"], "number": "+19995550123", "agent": None,
        "outcome": "rejected", "status": 603, "latency_ms": 0}
    openai_cli.outputs += serve.lines
    assert_no_signing_secret(openai_cli)
    assert all(OPENAI_KEY not in line for line in serve.lines)


TWO_AGENTS = """\
version: 1
stack: two-agents
providers:
  wavix: {api_key: "${env:WAVIX_API_KEY}"}
  openai: {api_key: "${env:OPENAI_API_KEY}", reject_status: 486}
numbers:
  "+14067704205": {carrier: wavix}
  "+14155550100": {carrier: wavix}
  "+14155550101": {carrier: wavix}
agents:
  support: {model: gpt-realtime, voice: marin, instructions: "You are Alex, support."}
  sales:
    model: gpt-realtime-mini
    instructions: You are Sam, sales.
    session: {audio: {output: {speed: 1.2}}, max_output_tokens: 512}
routes:
  "+14067704205": {openai: proj_XnGzQBp38qGPqjV5GaYVXVGY, agent: support}
  "+14155550100": {openai: proj_XnGzQBp38qGPqjV5GaYVXVGY, agent: sales}
webhooks:
  calls: {url: "http://127.0.0.1:PORT/openai/webhook"}
"""


def test_each_number_gets_its_agent_and_forged_stale_or_replayed_deliveries_accept_nothing(
        openai_cli: Cli, sandbox: SandboxServer, start_serve: Any) -> None:
    port = free_port()
    sandbox.seed(numbers={"wavix": ["+14067704205", "+14155550100", "+14155550101"]})
    stack = openai_cli.stack("two.yaml", TWO_AGENTS.replace("PORT", str(port)))
    openai_cli("apply", "--auto-approve", str(stack))
    serve = start_serve(stack, port)

    support = incoming(sandbox, "+14067704205")
    sales = incoming(sandbox, "+14155550100")
    unrouted = incoming(sandbox, "+14155550101")  # declared, but routed nowhere: the declared status
    serve.idle_after(3)
    [support_body] = actions(call(sandbox, support["call_id"]), "accept")
    [sales_body] = actions(call(sandbox, sales["call_id"]), "accept")
    assert support_body["instructions"] == "You are Alex, support." and support_body["model"] == "gpt-realtime"
    assert sales_body == {"type": "realtime", "model": "gpt-realtime-mini", "instructions": "You are Sam, sales.",
                          "audio": {"output": {"speed": 1.2}}, "max_output_tokens": 512}
    assert actions(call(sandbox, unrouted["call_id"]), "reject") == [{"status_code": 486}]

    # a replay of the exact delivery (same webhook-id and signature): acknowledged, nothing done
    replay = serve.post(support["deliveries"][0]["request"])
    assert replay.status_code == 200 and replay.json() == {"status": "duplicate"}
    # a stale delivery (signed 400 s ago, correctly): refused
    stale = incoming(sandbox, "+14067704205", timestamp=int(time.time()) - 400)
    assert [d["status"] for d in stale["deliveries"]] == [400]
    # a forged one: the stale call's event under a signature made for another body
    forged = dict(stale["deliveries"][0]["request"])
    forged["headers"] = {**forged["headers"], "webhook-timestamp": support["deliveries"][0]["request"]["headers"][
        "webhook-timestamp"], "webhook-signature": support["deliveries"][0]["request"]["headers"]["webhook-signature"]}
    assert serve.post(forged).status_code == 400
    unsigned = {"body": forged["body"], "headers": {"content-type": "application/json"}}
    assert serve.post(unsigned).status_code == 400

    after = incoming(sandbox, "+14155550100")  # a last good call: once it is done, so is anything queued before
    serve.idle_after(4)
    assert actions(call(sandbox, after["call_id"]), "accept")
    assert call(sandbox, stale["call_id"])["log"] == []  # never accepted, never rejected
    assert len(actions(call(sandbox, support["call_id"]), "accept")) == 1
    health = serve.health()
    assert health["duplicates"] == 1 and health["rejected_deliveries"] == 3 and health["calls"] == 4

    # SIGHUP: the stack is read again; the next call gets the new instructions
    openai_cli.edit(stack, "You are Sam, sales.", "You are Sam, sales, now in Spanish.")
    serve.process.send_signal(signal.SIGHUP)
    wait_for(lambda: serve.health()["generation"] == 2, "serve did not reload")
    again = incoming(sandbox, "+14155550100")
    serve.idle_after(5)
    [reread] = actions(call(sandbox, again["call_id"]), "accept")
    assert reread["instructions"] == "You are Sam, sales, now in Spanish."
    # a stack that no longer validates is logged and ignored: serve keeps answering as before
    openai_cli.edit(stack, "agent: sales}", "agent: nobody}")
    serve.process.send_signal(signal.SIGHUP)
    wait_for(lambda: any('"reload_failed"' in line and "unknown agent 'nobody'" in line for line in serve.lines),
             "the failed reload was not logged")
    assert serve.health()["generation"] == 2
    openai_cli.outputs += serve.lines
    assert_no_signing_secret(openai_cli)


def test_serve_refuses_to_start_on_an_invalid_stack(openai_cli: Cli) -> None:
    stack = openai_cli.stack("bad.yaml", TWO_AGENTS.replace("PORT", "8080").replace("agent: sales}", "agent: sale}"))
    run = subprocess.run([sys.executable, "-m", "voxplan", "serve", str(stack), "--port", "0"], cwd=openai_cli.workdir,
                         env={**os.environ, **openai_cli.env}, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert re.search(rf"^{re.escape(str(stack))}:\d+:\d+: unknown agent 'sale' \(known: sales, support\)$", run.stderr,
                     re.M), run.stderr
    assert "listening" not in run.stderr
