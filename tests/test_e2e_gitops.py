"""The pipeline workflow through the CLI against the sandbox: saved plans, targets, import, protect,
drift across stacks, PR-comment markdown and the JSON plan schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import STACKS, Cli, SandboxServer
from voxplan.state import State

PLAN_SCHEMA = json.loads((Path(__file__).parent.parent / "schemas" / "plan.schema.json").read_text())


def test_saved_plan_applies_exactly_and_then_is_spent(cli: Cli, sandbox: SandboxServer) -> None:
    stack = cli.stack("byo-trunk.yaml")
    out = cli.workdir / "plan.json"
    cli("plan", str(stack), "--out", str(out))
    assert "canary" not in out.read_text()  # fingerprints only
    result = cli("apply", str(out))  # no prompt for a reviewed plan
    assert "Apply complete! 5 to add" in result.stdout
    cli("plan", str(stack), "--detailed-exitcode", code=0)
    again = cli("apply", str(out), code=1)  # state moved on: the same plan cannot run twice
    assert "saved plan is stale: state changed since the plan was made" in again.stderr


def test_saved_plan_refused_after_an_out_of_band_change(cli: Cli, sandbox: SandboxServer) -> None:
    stack = cli.stack("byo-trunk.yaml")
    cli("apply", "--auto-approve", str(stack))
    cli.edit(stack, "Thanks for calling, how can I help?", "Hello!")
    out = cli.workdir / "plan.json"
    cli("plan", str(stack), "--out", str(out))
    [assistant] = sandbox.objects("assistant")
    with sandbox.vapi() as vapi:  # someone edits the live object after review
        vapi.patch(f"/assistant/{assistant['id']}", json={"firstMessage": "Edited in the dashboard"})
    result = cli("apply", str(out), code=1)
    assert "saved plan is stale: live state moved since the plan was made for vapi.assistant/front-desk" \
        in result.stderr
    assert sandbox.objects("assistant")[0]["firstMessage"] == "Edited in the dashboard"  # nothing applied
    cli("apply", "--auto-approve", str(stack))  # a fresh plan and apply take the stack's word again
    assert sandbox.objects("assistant")[0]["firstMessage"] == "Hello!"
    cli("plan", str(stack), "--detailed-exitcode", code=0)


def test_saved_plan_refused_after_the_stack_or_a_secret_changed(cli: Cli, sandbox: SandboxServer) -> None:
    stack = cli.stack("byo-trunk.yaml")
    out = cli.workdir / "plan.json"
    cli("plan", str(stack), "--out", str(out))
    cli.edit(stack, "name: Front Desk", "name: Front Office")
    result = cli("apply", str(out), code=1)
    assert f"saved plan is stale: {stack} changed since the plan was made" in result.stderr
    cli.edit(stack, "name: Front Office", "name: Front Desk")
    cli("plan", str(stack), "--out", str(out))
    cli.env["PBX_TRUNK_PASSWORD"] = "canary-pbx-changed-after-review"
    result = cli("apply", str(out), code=1)
    assert "vapi.credential/office-pbx" in result.stderr and "a secret changed" in result.stderr
    assert sandbox.objects("credential") == []
    cli("apply", "--auto-approve", str(stack))  # reviewed again, with the new secret: it converges
    cli("plan", str(stack), "--detailed-exitcode", code=0)


def test_target_applies_only_the_target_and_its_dependencies(cli: Cli, sandbox: SandboxServer) -> None:
    stack = cli.stack("byo-trunk.yaml")
    result = cli("apply", "--auto-approve", "--target", "vapi.assistant/front-desk", str(stack))
    assert "--target in effect: 3 other change(s) are not part of this plan" in result.stderr
    assert len(sandbox.objects("assistant")) == 1 and len(sandbox.objects("tool")) == 1  # the dependency
    assert sandbox.objects("credential") == [] and sandbox.objects("phone-number") == []
    plan = cli("plan", str(stack), "--detailed-exitcode", code=2)
    assert "Plan: 3 to add, 0 to change, 0 to destroy." in plan.stdout  # the rest stays planned
    cli("apply", "--auto-approve", str(stack))
    cli("plan", str(stack), "--detailed-exitcode", code=0)


def test_import_of_an_existing_object_then_plan_is_clean(cli: Cli, sandbox: SandboxServer) -> None:
    stack = cli.stack("vapi-sip.yaml")
    with sandbox.vapi() as vapi:
        made = vapi.post("/assistant", json={"name": "My SIP Assistant",
                                             "firstMessage": "Hello {{first_name | default: 'there'}}, "
                                                             "you've reached me over SIP."})
    remote_id = made.json()["id"]
    result = cli("import", str(stack), "vapi.assistant/sip-assistant", remote_id)
    assert f"Imported vapi.assistant/sip-assistant (id {remote_id})" in result.stdout
    cli("state", "list", str(stack))
    plan = cli("plan", str(stack), "--detailed-exitcode", code=2)
    marker = plan.stdout[plan.stdout.index("# vapi.assistant/sip-assistant"):].split("\n\n")[0]
    assert "+ metadata" in marker and '"voxplan": "vapi-sip"' in marker  # imported: only the owner marker is added
    assert "firstMessage" not in marker
    assert "Plan: 2 to add, 1 to change, 0 to destroy." in plan.stdout
    again = cli("import", str(stack), "vapi.assistant/sip-assistant", remote_id, code=1)
    assert "already in state" in again.stderr
    missing = cli("import", str(stack), "vapi.phone_number/sip:voxplan-demo@sip.vapi.ai", "nope", code=1)
    assert "'nope' was not found on the account" in missing.stderr


def test_protect_blocks_a_destroy_and_names_the_address(cli: Cli, sandbox: SandboxServer) -> None:
    stack = cli.stack("byo-trunk.yaml")
    cli.edit(stack, '"+14067704205": {carrier: byo, trunk: office-pbx, name: Montana line}',
             '"+14067704205": {carrier: byo, trunk: office-pbx, name: Montana line, lifecycle: {protect: true}}')
    cli("apply", "--auto-approve", str(stack))
    cli("plan", str(stack), "--detailed-exitcode", code=0)
    cli.edit(stack, '  "+14067704205": {carrier: byo, trunk: office-pbx, name: Montana line, lifecycle: '
             '{protect: true}}\n', "")
    cli.edit(stack, '  "+14067704205": {assistant: front-desk}\n', "")
    for command in ("plan", "apply"):
        result = cli(command, *(["--auto-approve"] if command == "apply" else []), str(stack), code=1)
        assert "vapi.phone_number/+14067704205 is protected (lifecycle.protect) and this plan would destroy" \
            in result.stderr
    assert len(sandbox.objects("phone-number")) == 2


def test_ignore_changes_leaves_a_live_field_alone(cli: Cli, sandbox: SandboxServer) -> None:
    stack = cli.stack("byo-trunk.yaml")
    cli.edit(stack, "    tools: [to-reception]\n", "    tools: [to-reception]\n    lifecycle: {ignore_changes: "
             "[firstMessage, model.temperature]}\n")
    cli("apply", "--auto-approve", str(stack))
    [assistant] = sandbox.objects("assistant")
    model = {**assistant["model"], "temperature": 0.9}
    with sandbox.vapi() as vapi:
        vapi.patch(f"/assistant/{assistant['id']}", json={"firstMessage": "Set by the ops team", "model": model})
    cli("plan", str(stack), "--detailed-exitcode", code=0)
    cli.edit(stack, "Transfer to reception when asked.", "Be brief.")  # now model must be sent...
    cli("apply", "--auto-approve", str(stack))
    [assistant] = sandbox.objects("assistant")
    assert assistant["model"]["temperature"] == 0.9  # ...keeping the ignored nested field's live value
    assert assistant["firstMessage"] == "Set by the ops team"
    cli("plan", str(stack), "--detailed-exitcode", code=0)


def test_refresh_only_records_drift_and_the_next_plan_reverts_it(cli: Cli, sandbox: SandboxServer) -> None:
    stack = cli.stack("byo-trunk.yaml")
    cli("apply", "--auto-approve", str(stack))
    [assistant] = sandbox.objects("assistant")
    with sandbox.vapi() as vapi:
        vapi.patch(f"/assistant/{assistant['id']}", json={"firstMessage": "Changed by hand"})
    plan = cli("plan", str(stack), "--refresh-only", "--detailed-exitcode", code=2)
    assert "vapi.assistant/front-desk" in plan.stdout and "Changed by hand" in plan.stdout
    sandbox.clear_stats()
    cli("apply", "--auto-approve", "--refresh-only", str(stack))
    assert all(k.split()[1] == "GET" for k in sandbox.stats()["requests"])  # nothing remote changed
    entry = State.load(cli.workdir / ".voxplan" / "byo-trunk.state.json", "byo-trunk").get("vapi.assistant/front-desk")
    assert entry is not None and entry.seen["firstMessage"] == entry.sent["firstMessage"] == "Changed by hand"
    cli("plan", str(stack), "--refresh-only", "--detailed-exitcode", code=0)
    plan = cli("plan", str(stack), "--detailed-exitcode", code=2)  # the stack still says otherwise
    assert '~ firstMessage = "Changed by hand" -> "Thanks for calling, how can I help?"' in plan.stdout


def test_drift_over_three_stacks_names_only_the_drifted_one(cli: Cli, sandbox: SandboxServer) -> None:
    dirs = [cli.workdir / d for d in ("a", "b", "c")]
    stacks = []
    for d, name in zip(dirs, ("vapi-sip.yaml", "byo-trunk.yaml", "vapi-sip.yaml"), strict=True):
        d.mkdir()
        text = (STACKS / name).read_text()
        if d.name == "c":
            text = text.replace("stack: vapi-sip", "stack: vapi-sip-c").replace("voxplan-demo", "voxplan-c") \
                .replace("voxplan-router", "router-c").replace("My SIP Assistant", "Assistant C")
        (d / name).write_text(text)
        stacks.append(d / name)
        cli("apply", "--auto-approve", str(d / name))
    cli("drift", *map(str, stacks), code=0)
    [cred] = sandbox.objects("credential")
    with sandbox.vapi() as vapi:
        vapi.patch(f"/credential/{cred['id']}", json={"outboundLeadingPlusEnabled": False})
    result = cli("drift", *map(str, stacks), code=2)
    lines = [line for line in result.stdout.splitlines() if line.startswith(str(cli.workdir))]
    assert [line for line in lines if "drifted" in line] == [f"{stacks[1]} [byo-trunk]: drifted (1 object(s) "
                                                              "changed outside voxplan)"]
    assert sum("no drift" in line for line in lines) == 2
    data = json.loads(cli("drift", *map(str, stacks), "--format", "json", code=2).stdout)
    assert [s["drifted"] for s in data["stacks"]] == [False, True, False]


def test_graph_is_dot_with_the_wiring(cli: Cli, sandbox: SandboxServer) -> None:
    dot = cli("graph", str(cli.stack("byo-trunk.yaml"))).stdout
    assert dot.startswith("digraph voxplan {")
    assert '"vapi.credential/office-pbx" -> "vapi.phone_number/+61290597521";' in dot
    assert '"vapi.tool/to-reception" -> "vapi.assistant/front-desk";' in dot


@pytest.mark.parametrize("name", sorted(p.name for p in STACKS.glob("*.yaml")))
def test_json_plan_of_every_example_validates_against_its_schema(name: str, cli: Cli, sandbox: SandboxServer) -> None:
    sandbox.seed(numbers={"wavix": ["+61290597521", "+14067704205"], "didlogic": ["+31201234567"]},
                 domains=["cxguide.cloudonix.net"])
    stack = cli.stack(name)
    for _ in range(2):  # the plan before and after apply
        data = json.loads(cli("plan", str(stack), "--format", "json").stdout)
        jsonschema.validate(data, PLAN_SCHEMA)
        assert "canary" not in json.dumps(data)
        cli("apply", "--auto-approve", str(stack))
    cli("plan", str(stack), "--detailed-exitcode", code=0)
