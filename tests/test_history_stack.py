"""`voxplan history show STACK N --stack-file`: the stack as apply N applied it, whose plan is the way back to
apply N across every vendor at once; history keeps no secret."""

from __future__ import annotations

import base64
import json
import zlib
from pathlib import Path
from typing import Any

from tests.conftest import CANARIES, STACKS, Cli, SandboxServer


def account(sandbox: SandboxServer) -> dict[str, Any]:
    """What a caller meets: each Vapi object's settings and each Wavix number's routing (timestamps and the
    ids of rewritten destination rows left out)."""
    out: dict[str, Any] = {}
    for coll in ("credential", "phone-number", "assistant", "tool"):
        for obj in sandbox.objects(coll):
            out[f"{coll} {obj['id']}"] = {k: v for k, v in obj.items() if k != "updatedAt"}
    for number in sandbox.get("wavix", "/v1/numbers", per_page=100)["items"]:
        out[f"wavix {number['number']}"] = [{k: v for k, v in row.items() if k != "id"}
                                            for row in number["destination"]]
    return out


def test_the_stack_of_apply_one_leads_back_to_it_after_three_applies(cli: Cli, sandbox: SandboxServer) -> None:
    sandbox.seed(numbers={"wavix": ["+61290597521", "+14067704205"]})
    stack = cli.stack("wavix-vapi.yaml")
    cli("apply", "--auto-approve", str(stack))
    first = account(sandbox)
    cli.edit(stack, "first_message: Hello, you've reached support. How can I help?",
             "first_message: Support, good morning.")
    cli.edit(stack, '{forward: "+61280000000"}', '{forward: "+61280000011"}')
    cli("apply", "--auto-approve", str(stack))
    cli.edit(stack, "system: You are a friendly support agent.", "system: You are terse.")
    cli.edit(stack, '"+61290597521": {carrier: wavix, trunk: wavix-main, name: Wavix Number}',
             '"+61290597521": {carrier: wavix, trunk: wavix-main, name: Sydney}')
    cli("apply", "--auto-approve", str(stack))
    assert account(sandbox) != first
    listing = cli("history", str(stack))
    assert len(listing.stdout.splitlines()) == 3

    shown = cli("history", "show", str(stack), "1", "--stack-file")
    assert shown.stdout == (STACKS / "wavix-vapi.yaml").read_text()  # comments and all
    back = stack.with_name("wavix-vapi.rollback.yaml")  # beside the stack: the same stack, the same state
    back.write_text(shown.stdout)
    plan = cli("plan", str(back), "--detailed-exitcode", code=2)
    for address in ("vapi.assistant/support", "wavix.number/+14067704205", "vapi.phone_number/+61290597521"):
        assert f"{address} will be updated in-place" in plan.stdout
    assert "Plan: 0 to add, 3 to change, 0 to destroy." in plan.stdout  # Vapi and Wavix, at once
    cli("apply", "--auto-approve", str(back))
    assert account(sandbox) == first
    cli("plan", str(back), "--detailed-exitcode", code=0)


def test_history_keeps_resolved_public_values_and_no_secret(cli: Cli, sandbox: SandboxServer,
                                                           tmp_path_factory: Any) -> None:
    """A value from ${var:} is written in (a var file edited later cannot change what apply N meant); a
    secret interpolation stays its form; a secret written literally becomes an ${env:} form to set."""
    literal = CANARIES["PBX_TRUNK_PASSWORD"]
    where = Path(tmp_path_factory.mktemp("outside"))  # the stack holds a secret: keep it out of the scanned dir
    stack = where / "desk.yaml"
    stack.write_text(
        "version: 1\nstack: desk\n"
        "environments:\n  prod: {greeting: Hello from prod}\n"
        "providers:\n  vapi: {api_key: \"${env:VAPI_API_KEY}\"}\n"
        "trunks:\n  pbx:\n    carrier: byo\n    gateways: [{ip: 203.0.113.10}]\n"
        f"    auth: {{username: pbx-user, password: {json.dumps(literal)}}}\n"
        "assistants:\n  front:\n    first_message: \"${var:greeting}\"   # per environment\n"
        "    end_call_message: \"${env:CANARY}\"\n")
    (where / "desk.vars").mkdir()
    (where / "desk.vars" / "prod.yaml").write_text("greeting: Hello from the var file\n")
    cli("apply", "--auto-approve", "--env", "prod", str(stack))
    history = (where / ".voxplan" / "desk.prod.history.jsonl").read_text()
    kept = zlib.decompress(base64.b64decode(json.loads(history.splitlines()[0])["stack"]["text"])).decode()
    assert literal not in kept and literal not in history and CANARIES["CANARY"] not in kept
    assert 'first_message: "Hello from the var file"  # per environment' in kept
    assert 'end_call_message: "${env:CANARY}"' in kept
    assert 'password: "${env:VOXPLAN_TRUNKS_PBX_AUTH_PASSWORD}"}' in kept
    shown = cli("history", "show", "--env", "prod", str(stack), "1", "--stack-file")
    assert shown.stdout == kept
    assert "Set before planning it: VOXPLAN_TRUNKS_PBX_AUTH_PASSWORD" in shown.stderr
    listing = json.loads(cli("history", "--env", "prod", "--format", "json", str(stack)).stdout)
    assert listing[0]["stack"] is True  # kept, not printed


def test_an_apply_recorded_without_its_stack_says_so(cli: Cli, sandbox: SandboxServer) -> None:
    stack = cli.stack("vapi-sip.yaml")
    cli("apply", "--auto-approve", str(stack))
    path = cli.workdir / ".voxplan" / "vapi-sip.history.jsonl"
    run = json.loads(path.read_text())
    del run["stack"]
    path.write_text(json.dumps(run) + "\n")
    refused = cli("history", "show", str(stack), "1", "--stack-file", code=1)
    assert refused.stderr == "Error: apply 1 kept no stack (it was recorded by an older voxplan)\n"
    assert cli("history", str(stack), "--stack-file", code=1).stderr.startswith("Error: --stack-file goes with show")
