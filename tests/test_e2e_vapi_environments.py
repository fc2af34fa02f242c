"""Environments and stacks never share objects by accident (issue 19, item 6), on both backends: two environments
of one stack on one Vapi account, with a transfer tool (a kind Vapi gives no name), get disjoint objects; each
environment's second plan is empty; a change in one leaves the other's objects as they were."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Cli, SandboxServer

STACK = """version: 1
stack: support
providers:
  vapi: {api_key: "${env:VAPI_API_KEY}"}
environments:
  staging: {line: support-staging, desk: "sip:desk@203.0.113.10"}
  prod: {line: support-prod, desk: "sip:desk@203.0.113.10"}
credentials:
  hooks: {provider: webhook, authenticationPlan: {type: bearer, token: "${env:CANARY}"}}
tools:
  to-desk:
    transfer: [{sip: "${var:desk}", message: One moment.}]
  keypad: {type: dtmf}
  lookup:
    type: function
    function: {name: lookup}
    server: {url: "https://hooks.example.com/lookup", credential: hooks}
assistants:
  front: {name: Front Desk, tools: [to-desk, keypad, lookup], model: {provider: openai, model: gpt-4o}}
squads:
  desk: {members: [{assistant: front}]}
structured_outputs:
  outcome: {schema: {type: object, properties: {ok: {type: boolean}}}, assistants: [front]}
numbers:
  "sip:${var:line}@sip.vapi.ai": {carrier: vapi}
routes:
  "sip:${var:line}@sip.vapi.ai": {squad: desk}
"""
KINDS = ("credential", "tool", "assistant", "squad", "phone-number")


@pytest.fixture(params=["local", "postgres"])
def runner(request: pytest.FixtureRequest, cli: Cli) -> Cli:
    if request.param == "postgres":
        cli.env.update(VOXPLAN_BACKEND=request.getfixturevalue("pg_url"), VOXPLAN_FINGERPRINT_KEY="7e" * 32)
    return cli


def ids(cli: Cli, stack: str, env: str) -> dict[str, str]:
    """address -> remote id, as the environment's state holds them."""
    listed = cli("state", "list", "--env", env, stack).stdout.splitlines()
    return {address: remote for address, _, remote in (line.partition("\t") for line in listed)}


def everything(sandbox: SandboxServer) -> dict[str, list[dict[str, object]]]:
    found: dict[str, list[dict[str, object]]] = {kind: sandbox.objects(kind) for kind in KINDS}
    with sandbox.vapi() as vapi:
        found["structured-output"] = vapi.get("/structured-output").json()["results"]
    return found


def test_two_environments_with_a_nameless_transfer_tool_get_disjoint_objects(runner: Cli,
                                                                             sandbox: SandboxServer) -> None:
    stack = str(runner.stack("support.yaml", STACK))
    runner("apply", "--auto-approve", "--env", "staging", stack)
    made = runner("apply", "--auto-approve", "--env", "prod", stack)  # the same transfer tool: never staging's
    assert "already holds" not in made.stdout + made.stderr  # staging's twins are staging's, not look-alikes
    staging, prod = ids(runner, stack, "staging"), ids(runner, stack, "prod")
    assert len(staging) == len(prod) == 8  # the same addresses but for the numbers, which differ per environment
    assert not set(staging.values()) & set(prod.values())  # disjoint: no object in both
    live = everything(sandbox)
    assert len(live["tool"]) == 6 and len(live["assistant"]) == 2 and len(live["squad"]) == 2
    assert sorted(c["name"] for c in live["credential"]) == ["hooks-prod", "hooks-staging"]
    for env in ("staging", "prod"):
        runner("plan", "--env", env, stack, "--detailed-exitcode", code=0)

    # a change in one environment only (its var file): the other's objects stay as they were
    (runner.workdir / "support.vars").mkdir()
    (runner.workdir / "support.vars" / "prod.yaml").write_text('desk: "sip:desk@203.0.113.20"\n')
    before = json.dumps(everything(sandbox), sort_keys=True)
    runner("plan", "--env", "staging", stack, "--detailed-exitcode", code=0)
    plan = runner("plan", "--env", "prod", stack, "--detailed-exitcode", code=2)
    assert "vapi.tool/to-desk" in plan.stdout and "Plan: 0 to add, 1 to change, 0 to destroy." in plan.stdout
    runner("apply", "--auto-approve", "--env", "prod", stack)
    after = everything(sandbox)
    changed = [o for kind in after.values() for o in kind if json.dumps(o, sort_keys=True) not in before]
    assert [o["id"] for o in changed] == [prod["vapi.tool/to-desk"]]
    for env in ("staging", "prod"):
        runner("plan", "--env", env, stack, "--detailed-exitcode", code=0)
    # the inventory from one environment names the other's number as that environment's, not as a stray
    # routed by no stack (found by review: the local backend keeps no claims to tell)
    rows = json.loads(runner("numbers", "--env", "prod", stack, "--format", "json").stdout)["numbers"]
    by_number = {r["number"]: r for r in rows if r["kind"] == "vapi.phone_number"}
    for env in ("staging", "prod"):
        row = by_number[f"sip:support-{env}@sip.vapi.ai"]
        assert len(row["managed_by"]) == 1 and env in row["managed_by"][0] and row["flags"] == [], row


def test_two_stacks_on_a_shared_backend_never_adopt_each_others_named_objects(cli: Cli, pg_url: str,
                                                                               sandbox: SandboxServer) -> None:
    """Names tell environments apart, not stacks: a webhook credential, a squad and a structured output named
    alike in two stacks. On a shared backend the first stack's claims keep them out of the second's reach
    (on the local backend, which keeps no claims, only the assistant's owner marker does: README)."""
    cli.env.update(VOXPLAN_BACKEND=pg_url, VOXPLAN_FINGERPRINT_KEY="7e" * 32)
    text = STACK.replace("environments:\n  staging: {line: support-staging, desk: \"sip:desk@203.0.113.10\"}\n"
                         "  prod: {line: support-prod, desk: \"sip:desk@203.0.113.10\"}\n", "")
    first = cli.stack("first.yaml", text.replace("stack: support", "stack: first").replace(
        "${var:line}", "first-line").replace("${var:desk}", "sip:desk@203.0.113.10"))
    second = cli.stack("second.yaml", text.replace("stack: support", "stack: second").replace(
        "${var:line}", "second-line").replace("${var:desk}", "sip:desk@203.0.113.10"))
    cli("apply", "--auto-approve", str(first))
    plan = cli("plan", str(second), "--detailed-exitcode", code=2)
    assert "imported" not in plan.stdout and "Plan: 8 to add, 0 to change, 0 to destroy." in plan.stdout
    cli("apply", "--auto-approve", str(second))
    one, two = ids(cli, str(first), "default"), ids(cli, str(second), "default")
    assert len(one) == len(two) == 8 and not set(one.values()) & set(two.values())
    for stack in (first, second):
        cli("plan", str(stack), "--detailed-exitcode", code=0)
