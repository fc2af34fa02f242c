"""Seed 003 end to end over real HTTP: `voxplan sandbox serve` (the OpenAI emulator) and `voxplan serve` as
a real process on the local backend. A call is triggered at the emulator, which delivers a signed
realtime.call.incoming to the webhook `voxplan apply` made; what serve did is read back from the emulator's
call record and from serve's JSON log lines. Replicas on PostgreSQL: tests/test_serve_replicas.py."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.conftest import Cli, SandboxServer, loopback
from tests.serving import (
    OPENAI_KEY,
    PROJECT,
    assert_no_signing_secret,
    call,
    done,
    free_port,
    incoming,
    rotate,
    wait_for,
)
from tests.test_openai_stack import spec_schema

SEED_URL = "https://voice.example.com/openai/webhook"


def seed_stack(cli: Cli, sandbox: SandboxServer, port: int) -> Path:
    sandbox.seed(numbers={"wavix": ["+14067704205"]})
    stack = cli.stack("wavix-openai.yaml")
    cli.edit(stack, SEED_URL, f"http://127.0.0.1:{port}/openai/webhook")
    return stack


def test_seed_003_serves_the_published_agents_and_picks_up_a_new_version_without_a_signal(
        openai_cli: Cli, sandbox: SandboxServer, start_serve: Any) -> None:
    port = free_port()
    stack = seed_stack(openai_cli, sandbox, port)
    openai_cli("validate", str(stack))
    first = openai_cli("apply", "--auto-approve", str(stack))
    assert "openai.webhook_endpoint/calls" in first.stdout and "openai.agent/support" in first.stdout
    openai_cli("plan", str(stack), "--detailed-exitcode", code=0)
    secret = rotate(openai_cli, stack)
    serve = start_serve(stack, port, OPENAI_WEBHOOK_SECRET=secret)
    assert serve.ready()["ready"] and serve.ready()["agents"] == {"support": 1}
    [listening] = serve.events("listening")
    assert listening["backend"] == "local" and "one replica only" in listening["note"]

    transfer = incoming(sandbox, "+14067704205",
                        script=[{"name": "transfer_call", "arguments": {"destination": "+17134810111"}}])
    assert [d["status"] for d in transfer["deliveries"]] == [200]
    [accepted] = done(call(sandbox, transfer["call_id"]), "accept")  # decided before the 2xx came back
    assert list(spec_schema("RealtimeSessionCreateRequestGA").iter_errors(accepted)) == []
    delivered = json.loads(transfer["deliveries"][0]["request"]["body"])
    assert list(spec_schema("WebhookRealtimeCallIncoming").iter_errors(delivered)) == []
    assert accepted["instructions"] == "You are Alex, a friendly support agent for Wavix."
    assert accepted["model"] == "gpt-realtime" and accepted["audio"]["output"]["voice"] == "marin"
    assert {t["name"] for t in accepted["tools"]} == {"transfer_call", "end_call"}
    record = wait_for(lambda: (r := call(sandbox, transfer["call_id"]))["state"] == "ended" and r,
                      "the transferred call did not end")
    assert done(record, "refer") == [{"target_uri": "tel:+17134810111"}] and done(record, "hangup") == []

    goodbye = incoming(sandbox, "+14067704205", script=[{"name": "end_call", "arguments": {}}])
    record = wait_for(lambda: (r := call(sandbox, goodbye["call_id"]))["state"] == "ended" and r,
                      "the call did not hang up")
    assert [e["action"] for e in record["log"]] == ["accept", "hangup"]
    stranger = incoming(sandbox, "+19995550123")
    assert done(call(sandbox, stranger["call_id"]), "reject") == [{"status_code": 603}]
    # no carrier header: To decides, by its URI; the quoted display name, a routed-looking lure, never counts
    lure = incoming(sandbox, "", sip_headers=[{"name": "To", "value": '"<sip:+19995550123@x>" <sip:+14067704205@y>'}])
    assert len(done(call(sandbox, lure["call_id"]), "accept")) == 1

    # a replay of the exact delivery (same webhook-id and signature): acknowledged, nothing done
    replay = serve.post(transfer["deliveries"][0]["request"])
    assert replay.status_code == 200 and replay.json() == {"status": "duplicate"}
    stale = incoming(sandbox, "+14067704205", timestamp=int(time.time()) - 400)
    assert [d["status"] for d in stale["deliveries"]] == [400] and call(sandbox, stale["call_id"])["log"] == []

    # the agent changes: plan shows the line, apply publishes it, serve answers with it within 2 s, no signal
    openai_cli.edit(stack, "instructions: You are Alex, a friendly support agent for Wavix.",
                    "instructions: |\n      You are Alex, a friendly support agent for Wavix.\n      Speak Spanish.")
    plan = openai_cli("plan", str(stack), "--detailed-exitcode", code=2)
    assert "~ openai.agent/support" in plan.stdout and "+     Speak Spanish." in plan.stdout
    markdown = openai_cli("plan", str(stack), "--format", "markdown", code=0).stdout
    assert "Speak Spanish." in markdown
    openai_cli("apply", "--auto-approve", str(stack))
    applied = time.monotonic()
    wait_for(lambda: serve.ready()["agents"] == {"support": 2}, "serve did not pick up version 2", deadline=10)
    picked_up = time.monotonic() - applied
    again = incoming(sandbox, "+14067704205")
    [reread] = done(call(sandbox, again["call_id"]), "accept")
    assert reread["instructions"] == "You are Alex, a friendly support agent for Wavix.\nSpeak Spanish.\n"
    assert picked_up < 2.0, f"picked up after {picked_up:.2f} s"
    history = openai_cli("history", str(stack)).stdout
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in history
    openai_cli("plan", str(stack), "--detailed-exitcode", code=0)

    lines = {c["call_id"]: c for c in serve.calls()}
    assert set(lines) == {transfer["call_id"], goodbye["call_id"], stranger["call_id"], lure["call_id"],
                          again["call_id"]}
    assert lines[transfer["call_id"]]["agent"] == "support" and lines[transfer["call_id"]]["version"] == 1
    assert lines[again["call_id"]]["version"] == 2
    assert lines[stranger["call_id"]]["outcome"] == "rejected" and lines[stranger["call_id"]]["reason"] == "unrouted"
    wait_for(lambda: len(serve.events("call_ended")) == 2, "the followed calls were not logged as ended")
    assert {e["action"] for e in serve.events("call_ended")} == {"refer", "hangup"}
    metrics = loopback.get(f"{serve.url}/metrics").text
    assert 'voxplan_serve_deliveries_total{outcome="accepted"} 4.0' in metrics
    assert 'voxplan_serve_deliveries_total{outcome="duplicate"} 1.0' in metrics
    assert "voxplan_serve_decision_seconds_count 5.0" in metrics
    assert serve.stop() == 0
    assert serve.events("drained")
    openai_cli.outputs += serve.lines
    assert_no_signing_secret(openai_cli)
    assert all(OPENAI_KEY not in line for line in serve.lines)


def test_serve_is_not_ready_until_apply_has_published(openai_cli: Cli, sandbox: SandboxServer,
                                                      start_serve: Any) -> None:
    stack = seed_stack(openai_cli, sandbox, free_port())
    serve = start_serve(stack, OPENAI_WEBHOOK_SECRET="whsec_" + "A" * 44)  # nothing applied yet
    answer = loopback.get(f"{serve.url}/readyz")
    assert answer.status_code == 503
    assert answer.json()["problems"] == ["nothing is published for this stack: run voxplan apply"]
    assert loopback.get(f"{serve.url}/healthz").json()["ok"] is True  # alive all the same
    openai_cli("apply", "--auto-approve", str(stack))
    wait_for(lambda: loopback.get(f"{serve.url}/readyz").status_code == 200, "serve never became ready")


def test_the_local_backend_serves_one_replica_and_says_so(openai_cli: Cli, sandbox: SandboxServer,
                                                          start_serve: Any) -> None:
    stack = seed_stack(openai_cli, sandbox, free_port())
    openai_cli("apply", "--auto-approve", str(stack))
    start_serve(stack, OPENAI_WEBHOOK_SECRET=rotate(openai_cli, stack))
    second = subprocess.run([sys.executable, "-m", "voxplan", "serve", str(stack), "--port", "0"],
                            cwd=openai_cli.workdir, env={**os.environ, **openai_cli.env, "OPENAI_WEBHOOK_SECRET": "x"},
                            capture_output=True, text=True, timeout=60)
    assert second.returncode == 1
    assert "the local backend runs one replica; for several, use backend: postgres" in second.stderr


def test_serve_refuses_to_start_on_an_invalid_stack_or_without_a_secret(openai_cli: Cli) -> None:
    stack = openai_cli.stack("wavix-openai.yaml")
    openai_cli.edit(stack, "agent: support}", "agent: sup}")
    run = subprocess.run([sys.executable, "-m", "voxplan", "serve", str(stack), "--port", "0"], cwd=openai_cli.workdir,
                         env={**os.environ, **openai_cli.env}, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert re.search(rf"^{re.escape(str(stack))}:\d+:\d+: unknown agent 'sup' \(known: support\)$", run.stderr, re.M)
    openai_cli.edit(stack, "agent: sup}", "agent: support}")
    run = subprocess.run([sys.executable, "-m", "voxplan", "serve", str(stack), "--port", "0"], cwd=openai_cli.workdir,
                         env={**os.environ, **openai_cli.env}, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert "serve needs the webhook's signing secret: export OPENAI_WEBHOOK_SECRET" in run.stderr
    assert "Traceback" not in run.stderr


def test_errors_at_the_handler_boundary_are_json_answers_and_one_log_line(
        openai_cli: Cli, sandbox: SandboxServer, start_serve: Any) -> None:
    """A client that disconnects mid-body, garbage instead of HTTP, an unknown path, a missing length, a
    body too large: each a JSON answer (where anyone is left to read it) and a JSON log line."""
    stack = seed_stack(openai_cli, sandbox, free_port())
    openai_cli("apply", "--auto-approve", str(stack))
    serve = start_serve(stack, OPENAI_WEBHOOK_SECRET=rotate(openai_cli, stack))
    host, port = serve.url.removeprefix("http://").split(":")
    for raw in (b"POST /openai/webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{\"partial\":",
                b"\x16\x03\x01 not http at all\r\n\r\n"):
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(raw)
            time.sleep(0.2)
    missing = loopback.get(f"{serve.url}/nope")
    assert missing.status_code == 404 and missing.json() == {"error": "Not Found"}
    assert loopback.get(f"{serve.url}/openai/webhook").status_code == 405
    big = loopback.post(f"{serve.url}/openai/webhook", content=b"x" * (2 << 20))
    assert big.status_code == 413 and "error" in big.json()
    wait_for(lambda: serve.events("client_disconnected"), "the disconnect was not logged")
    wait_for(lambda: any("Invalid HTTP request" in e.get("message", "") for e in serve.events()),
             "the garbage request was not logged")
    assert serve.stop() == 0


def test_the_dialled_number_is_the_uri_of_to_never_its_display_name() -> None:
    from voxplan.providers.openai.calls import dialled_number

    quoted = '"<sip:+14155550141@x>" <sip:+14155550142@y>;tag=9'
    assert dialled_number([("To", quoted)], []) == "+14155550142"
    assert dialled_number([("To", r'"a \" <sip:+14155550141@x>" <sip:+14155550142@y>')], []) == "+14155550142"
    assert dialled_number([("To", "Sales <tel:+14155550142;phone-context=x>")], []) == "+14155550142"
    assert dialled_number([("To", "sip:+14155550142@y;tag=1")], []) == "+14155550142"
    assert dialled_number([("To", '"unterminated <sip:+14155550141@x>')], []) is None
    assert dialled_number([("To", f"sip:{PROJECT}@sip.api.openai.com")], []) is None  # the project, no number
    assert dialled_number([("x-number", "14155550143"), ("To", quoted)], ["x-number"]) == "+14155550143"


def test_a_bug_at_the_handler_boundary_is_one_json_500_and_one_log_line(caplog: Any) -> None:
    """Starlette's own `Exception` handler answers and then raises again (a second, uvicorn, log line with a
    traceback): serve's boundary is inside each route instead."""
    from contextlib import asynccontextmanager
    from types import SimpleNamespace

    from starlette.testclient import TestClient

    from voxplan.serve.app import make_app

    def broken(body: bytes, headers: dict[str, str]) -> Any:
        raise RuntimeError("a bug, quoting a request: Authorization: Bearer sk-live-1")

    service = SimpleNamespace(receiver=SimpleNamespace(deliver=broken))

    @asynccontextmanager
    async def nothing(_app: Any) -> Any:
        yield

    with TestClient(make_app(service, nothing), raise_server_exceptions=True) as client:  # type: ignore[arg-type]
        answer = client.post("/openai/webhook", content=b"{}", headers={"content-type": "application/json"})
    assert answer.status_code == 500 and answer.json() == {"error": "internal error"}
    [record] = [r for r in caplog.records if r.name == "voxplan.serve"]
    assert record.fields == {"event": "handler_error", "status": 500, "path": "/openai/webhook",  # type: ignore[attr-defined]
                             "error": "RuntimeError"}
