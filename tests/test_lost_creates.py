"""A create whose answer is lost (a connection reset after the vendor made the object) is found again by what
it sent, and only among objects this run could have made: never one that was on the account before it
(another environment's twin, a hand-made object), never one another change of the same run made or took.
Found by a review: with resets on half the requests, apply deleted a hand-made tool as "a duplicate" and
recorded two resources with one id."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Cli, SandboxServer, loopback

STACK = """\
version: 1
stack: lost
tools:
  e1: {type: endCall}
  e2: {type: endCall}
  e3: {type: endCall}
assistants:
  a: {name: Lost A, model: {provider: openai, model: gpt-4o}, tools: [e1, e2, e3]}
"""


def _faults(sandbox: SandboxServer, rate: float, seed: int = 0) -> None:
    loopback.post(f"{sandbox.url}/_sandbox/faults", json={"rate": rate, "kinds": ["reset"], "seed": seed}
               ).raise_for_status()


def _end_calls(sandbox: SandboxServer) -> set[str]:
    return {str(t["id"]) for t in sandbox.objects("tool") if t.get("type") == "endCall"}


@pytest.mark.parametrize("seed", [2, 3, 5, 7, 11])
def test_resets_never_cost_another_object_nor_give_two_resources_one_id(cli: Cli, sandbox: SandboxServer,
                                                                        tmp_path: Path, seed: int) -> None:
    with sandbox.vapi() as client:
        hand_made = {str(client.post("/tool", json={"type": "endCall"}).json()["id"]) for _ in range(2)}
    stack = tmp_path / "lost.yaml"
    stack.write_text(STACK)
    _faults(sandbox, 0.5, seed)
    try:
        cli("apply", "--auto-approve", str(stack), code=None)
    finally:
        _faults(sandbox, 0.0)
    cli("apply", "--auto-approve", str(stack))  # whatever the faults stopped, converged now
    assert hand_made <= _end_calls(sandbox)  # never taken for a lost create's object, never deleted
    state = json.loads((tmp_path / ".voxplan" / "lost.state.json").read_text())
    ids = [e["id"] for a, e in state["resources"].items() if a.startswith("vapi.tool/")]
    assert len(ids) == 3 and len(set(ids)) == 3  # one object each
    assert _end_calls(sandbox) == hand_made | set(ids)  # and no stray left behind
    cli("plan", str(stack), "--detailed-exitcode", code=0)
