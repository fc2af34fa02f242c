"""A flaky API, a killed job or a vendor 400 must never leave duplicates, orphans, lost state or a leak.

Faults and kills run against a real `voxplan sandbox serve`. The full sweeps (every example, more seeds)
are marked `slow`; CI runs a sample: `pytest -m slow` runs them all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli, SandboxServer, loopback

ALL_STACKS = ["byo-trunk.yaml", "vapi-sip.yaml", "wavix-vapi.yaml", "wavix-openai.yaml", "didlogic-vapi.yaml",
              "cloudonix-vapi.yaml", "multi-carrier.yaml"]
REFUSED = "silenceTimeoutSeconds must not be less than 10 while the org's plan is on trial"  # a business rule


def refuse_next_assistant(sandbox: SandboxServer) -> None:
    """Vapi refuses what breaks a rule no schema states (validate cannot see it): the next POST /assistant."""
    loopback.post(f"{sandbox.url}/_sandbox/vapi/refuse", json={"method": "POST", "path": "/assistant",
                                                             "message": REFUSED}).raise_for_status()
SEED = {"numbers": {"wavix": ["+61290597521", "+14067704205"], "didlogic": ["+31201234567"]},
        "domains": ["cxguide.cloudonix.net"]}


def seed(sandbox: SandboxServer) -> None:
    sandbox.seed(numbers=SEED["numbers"], domains=SEED["domains"])


def remote_inventory(sandbox: SandboxServer) -> dict[str, list[tuple[str, str]]]:
    """(id, natural key) of every object voxplan could have made, per kind, read from the vendors' APIs."""
    out: dict[str, list[tuple[str, str]]] = {
        "vapi.credential": [(o["id"], o.get("name", "")) for o in sandbox.objects("credential")],
        "vapi.assistant": [(o["id"], o.get("name", "")) for o in sandbox.objects("assistant")],
        "vapi.tool": [(o["id"], (o.get("function") or {}).get("name") or json.dumps(o.get("destinations")))
                      for o in sandbox.objects("tool")],
        "vapi.phone_number": [(o["id"], o.get("number") or o.get("sipUri", ""))
                              for o in sandbox.objects("phone-number")],
        "wavix.trunk": [(str(t["id"]), t["label"]) for t in sandbox.get("wavix", "/v1/trunks")["sip_trunks"]],
        "didlogic.sipaccount": [(a["name"], a["label"]) for a in
                                sandbox.get("didlogic", "/api/v1/sipaccounts")["sipaccounts"]],
        "openai.webhook_endpoint": [(e["id"], e["url"]) for e in
                                    sandbox.get("openai", "/v1/webhook_endpoints", limit=100)["data"]],
    }
    with sandbox.vendor("cloudonix") as cx:
        for kind, coll, key in (("cloudonix.trunk", "trunks", "name"), ("cloudonix.dnid", "dnids", "dnid"),
                                ("cloudonix.application", "applications", "name")):
            for _ in range(20):
                r = cx.get(f"/customers/self/domains/cxguide.cloudonix.net/{coll}")
                if r.status_code != 429:
                    break
                time.sleep(0.5)
            items = r.json() if r.status_code == 200 else []
            out[kind] = [(f"cxguide.cloudonix.net/{o['id']}", str(o[key])) for o in items
                         if o.get("type") != "Cloudonix:built-in"]
    return out


def assert_no_duplicates_or_orphans(cli: Cli, sandbox: SandboxServer) -> None:
    inventory = remote_inventory(sandbox)
    managed: set[tuple[str, str]] = set()
    for state_file in cli.workdir.glob(".voxplan/*.state.json"):
        for entry in json.loads(state_file.read_text())["resources"].values():
            managed.add((entry["kind"], entry["id"]))
    for kind, objects in inventory.items():
        keys = Counter(key for _, key in objects)
        assert not [k for k, n in keys.items() if n > 1], f"duplicates of {kind}: {keys}"
        orphans = [oid for oid, _ in objects if (kind, oid) not in managed]
        assert not orphans, f"orphans of {kind} (on the vendor, in no state): {orphans}"


def set_faults(sandbox: SandboxServer, rate: float, seed_value: int | None = None) -> None:
    loopback.post(f"{sandbox.url}/_sandbox/faults",
               json={"rate": rate, "kinds": ["429", "503", "reset"], "seed": seed_value}).raise_for_status()


def _fault_run(cli: Cli, sandbox: SandboxServer, name: str, seed_value: int) -> dict[str, Any]:
    seed(sandbox)
    stack = cli.stack(name)
    sandbox.clear_stats()
    set_faults(sandbox, 0.2, seed_value)
    cli("apply", "--auto-approve", str(stack))
    cli("plan", str(stack), "--detailed-exitcode", code=0)  # still under faults: refresh survives them
    stats = sandbox.stats()
    set_faults(sandbox, 0.0)
    cli("plan", str(stack), "--detailed-exitcode", code=0)
    assert_no_duplicates_or_orphans(cli, sandbox)
    return stats


@pytest.mark.parametrize("name", ["byo-trunk.yaml", "wavix-vapi.yaml", "cloudonix-vapi.yaml"])
def test_20_percent_faults_converge_without_duplicates(name: str, cli: Cli, sandbox: SandboxServer) -> None:
    stats = _fault_run(cli, sandbox, name, seed_value=7)
    assert sum(stats["faults"].values()) > 0, "no fault was injected: the test proves nothing"


@pytest.mark.slow
@pytest.mark.parametrize("seed_value", range(5))
@pytest.mark.parametrize("name", ALL_STACKS)
def test_faults_sweep(name: str, seed_value: int, cli: Cli, sandbox: SandboxServer) -> None:
    _fault_run(cli, sandbox, name, seed_value)


def _mutations_of_clean_apply(cli: Cli, sandbox: SandboxServer, name: str) -> int:
    seed(sandbox)
    before = sandbox.stats()["mutations"]
    cli("apply", "--auto-approve", str(cli.stack(name)))
    return int(sandbox.stats()["mutations"] - before)


def _kill_after(cli: Cli, sandbox: SandboxServer, name: str, k: int) -> None:
    """Start an apply as a real process, let the k-th mutation happen on the vendor, kill -9 the process
    before it hears back, then rerun: it must adopt what was made and finish the rest."""
    sandbox.reset()
    for state in cli.workdir.glob(".voxplan/*"):
        state.unlink()
    seed(sandbox)
    stack = cli.stack(name)
    kill_at_mutation(cli, sandbox, k, "apply", "--auto-approve", str(stack))
    cli("apply", "--auto-approve", str(stack))
    cli("plan", str(stack), "--detailed-exitcode", code=0)
    assert_no_duplicates_or_orphans(cli, sandbox)


def kill_at_mutation(cli: Cli, sandbox: SandboxServer, k: int, *args: str) -> None:
    """Run `voxplan ARGS` as a real process; once the vendor has done its k-th mutation (its answer held),
    kill -9 the process before it hears back, and let the vendor go on."""
    loopback.post(f"{sandbox.url}/_sandbox/hold", json={"at": k}).raise_for_status()
    proc = subprocess.Popen([sys.executable, "-m", "voxplan", *args], cwd=cli.workdir, env={**os.environ, **cli.env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not sandbox.stats()["holding"] and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sandbox.stats()["holding"], f"mutation {k} never happened"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    loopback.post(f"{sandbox.url}/_sandbox/release").raise_for_status()


@pytest.mark.parametrize("name", ["byo-trunk.yaml", "wavix-vapi.yaml"])
def test_kill_9_after_every_mutation_then_rerun_converges(name: str, cli: Cli, sandbox: SandboxServer) -> None:
    total = _mutations_of_clean_apply(cli, sandbox, name)
    assert total >= 5
    for k in range(1, total + 1):
        _kill_after(cli, sandbox, name, k)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["vapi-sip.yaml", "didlogic-vapi.yaml", "cloudonix-vapi.yaml", "multi-carrier.yaml"])
def test_kill_9_sweep_all_examples(name: str, cli: Cli, sandbox: SandboxServer) -> None:
    total = _mutations_of_clean_apply(cli, sandbox, name)
    for k in range(1, total + 1):
        _kill_after(cli, sandbox, name, k)


def test_vendor_400_names_the_resource_and_independent_changes_still_apply(cli: Cli, sandbox: SandboxServer) -> None:
    stack = cli.stack("vapi-sip.yaml")
    refuse_next_assistant(sandbox)
    result = cli("apply", "--auto-approve", str(stack), code=1)
    assert f"Error: vapi.assistant/sip-assistant: HTTP 400: POST /assistant: {REFUSED}" in result.stderr
    assert "vapi.phone_number/sip:voxplan-demo@sip.vapi.ai: skipped" in result.stderr  # it needed the assistant
    assert [n["sipUri"] for n in sandbox.objects("phone-number")] == ["sip:voxplan-router@sip.vapi.ai"]
    state = json.loads((cli.workdir / ".voxplan" / "vapi-sip.state.json").read_text())
    assert list(state["resources"]) == ["vapi.phone_number/sip:voxplan-router@sip.vapi.ai"]
    cli("apply", "--auto-approve", str(stack))
    cli("plan", str(stack), "--detailed-exitcode", code=0)


def test_fail_fast_starts_nothing_after_the_first_failure(cli: Cli, sandbox: SandboxServer) -> None:
    stack = cli.stack("vapi-sip.yaml")
    refuse_next_assistant(sandbox)
    cli("apply", "--auto-approve", "--fail-fast", "--parallelism", "1", str(stack), code=1)
    assert sandbox.objects("phone-number") == []  # the assistant failed first; nothing else was started
    cli("apply", "--auto-approve", str(stack))
    cli("plan", str(stack), "--detailed-exitcode", code=0)


def test_debug_log_redacts_every_secret(cli: Cli, sandbox: SandboxServer, tmp_path: Path) -> None:
    seed(sandbox)
    log = tmp_path / "debug.log"
    stack = cli.stack("wavix-vapi.yaml")
    cli("--debug-log", str(log), "apply", "--auto-approve", str(stack))
    cli("plan", str(stack), "--detailed-exitcode", code=0)
    text = log.read_text()
    assert "POST /v1/trunks" in text and "POST /credential" in text
    assert '"password": "(sensitive)"' in text and '"authPassword": "(sensitive)"' in text
    cli.outputs.append(text)  # the canary fixture scans it too


def test_wait_for_the_lock_then_proceed(cli: Cli, sandbox: SandboxServer) -> None:
    from voxplan.state import LocalStore

    stack = cli.stack("vapi-sip.yaml")
    state_file = cli.workdir / ".voxplan" / "vapi-sip.state.json"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import time; from pathlib import Path; from voxplan.state import LocalStore\n"
        f"with LocalStore(Path({str(state_file)!r}), 's').lock():\n  print('held', flush=True); time.sleep(1.5)")],
        stdout=subprocess.PIPE)
    assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
    started = time.monotonic()
    cli("apply", "--auto-approve", "--lock-timeout", "30", str(stack))  # waits, then runs
    assert time.monotonic() - started >= 0.5
    cli("plan", str(stack), "--detailed-exitcode", code=0)
    holder.wait()
    holder.stdout.close()
    with LocalStore(state_file, 's').lock(timeout=1):
        pass
    result = cli("state", "unlock", str(stack))
    assert "Removed the lock" in result.stdout
