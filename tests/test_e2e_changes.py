"""What users do after the first apply: edit the stack, remove things, and fight drift."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Cli, SandboxServer


def _applied(cli: Cli, name: str = "byo-trunk.yaml") -> str:
    stack = cli.stack(name)
    cli("apply", "--auto-approve", str(stack))
    return str(stack)


def test_one_field_changed_is_one_in_place_update_with_its_field_diff(cli: Cli, sandbox: SandboxServer) -> None:
    stack = _applied(cli)
    cli.edit(stack, "Thanks for calling, how can I help?", "Hello, front desk speaking.")
    sandbox.clear_stats()
    plan = cli("plan", stack, "--detailed-exitcode", code=2)
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in plan.stdout
    assert "# vapi.assistant/front-desk will be updated in-place" in plan.stdout
    assert ('~ firstMessage = "Thanks for calling, how can I help?" -> "Hello, front desk speaking."'
            in plan.stdout)
    assert sum(1 for line in plan.stdout.splitlines() if line.strip().startswith("~ ")) == 2  # resource + field
    stats = sandbox.stats()["requests"]
    assert all(k.split()[1] == "GET" and not k.endswith("{id}") for k in stats), stats  # lists only
    cli("apply", "--auto-approve", stack)
    [assistant] = sandbox.objects("assistant")
    assert assistant["firstMessage"] == "Hello, front desk speaking."
    assert assistant["model"]["toolIds"]  # PATCH of firstMessage did not touch model
    cli("plan", stack, "--detailed-exitcode", code=0)


def test_nested_change_sends_the_whole_top_level_object(cli: Cli, sandbox: SandboxServer) -> None:
    stack = _applied(cli)
    cli.edit(stack, "Transfer to reception when asked.", "Be brief.")
    plan = cli("plan", stack, "--detailed-exitcode", code=2)
    assert "~ model.messages[0].content" in plan.stdout
    cli("apply", "--auto-approve", stack)
    [assistant] = sandbox.objects("assistant")
    [tool] = sandbox.objects("tool")
    assert assistant["model"]["messages"][0]["content"].endswith("Be brief.")
    assert assistant["model"]["toolIds"] == [tool["id"]]  # a partial model would have lost these
    assert assistant["model"]["provider"] == "openai"
    cli("plan", stack, "--detailed-exitcode", code=0)


def test_number_removed_from_the_stack_is_destroyed_remotely_and_in_state(cli: Cli, sandbox: SandboxServer) -> None:
    stack = _applied(cli)
    cli.edit(stack, '  "+14067704205": {carrier: byo, trunk: office-pbx, name: Montana line}\n', "")
    cli.edit(stack, '  "+14067704205": {assistant: front-desk}\n', "")
    plan = cli("plan", stack, "--detailed-exitcode", code=2)
    assert "Plan: 0 to add, 0 to change, 1 to destroy." in plan.stdout
    assert "# vapi.phone_number/+14067704205 will be destroyed" in plan.stdout
    cli("apply", "--auto-approve", stack)
    assert [n["number"] for n in sandbox.objects("phone-number")] == ["+61290597521"]
    state = json.loads((cli.workdir / ".voxplan" / "byo-trunk.state.json").read_text())
    assert "vapi.phone_number/+14067704205" not in state["resources"]
    cli("plan", stack, "--detailed-exitcode", code=0)


def test_tool_removed_updates_the_assistant_before_deleting_the_tool(cli: Cli, sandbox: SandboxServer) -> None:
    stack = _applied(cli)
    cli.edit(stack, "    tools: [to-reception]\n", "")
    text = Path(stack).read_text()
    cli.edit(stack, text[text.index("tools:\n"): text.index("assistants:\n")], "")
    plan = cli("plan", stack, "--detailed-exitcode", code=2)
    assert "Plan: 0 to add, 1 to change, 1 to destroy." in plan.stdout
    result = cli("apply", "--auto-approve", stack)
    lines = result.stdout.splitlines()
    updated = next(i for i, line in enumerate(lines) if line.startswith("vapi.assistant/front-desk: Modifications "
                                                                          "complete"))
    destroyed = next(i for i, line in enumerate(lines) if line.startswith("vapi.tool/to-reception: Destruction "
                                                                            "complete"))
    assert updated < destroyed  # never a dangling toolId
    assert sandbox.objects("tool") == []
    cli("plan", stack, "--detailed-exitcode", code=0)


def test_out_of_band_edit_is_planned_back_and_server_defaults_are_not_drift(cli: Cli, sandbox: SandboxServer) -> None:
    stack = _applied(cli)
    [cred] = sandbox.objects("credential")
    # the server filled defaults the stack never declared: they must not show as drift
    assert cred["gateways"][0]["port"] == 5060 and cred["gateways"][0]["netmask"] == 32
    [tool] = sandbox.objects("tool")
    assert tool["messages"] == [{"type": "request-start", "blocking": False}]
    cli("plan", stack, "--detailed-exitcode", code=0)

    gateways = cred["gateways"]
    gateways[0]["port"] = 5080
    with sandbox.vapi() as vapi:
        vapi.patch(f"/credential/{cred['id']}", json={"gateways": gateways}).raise_for_status()
        vapi.patch(f"/tool/{tool['id']}", json={"messages": []}).raise_for_status()  # undeclared: not drift
    plan = cli("plan", stack, "--detailed-exitcode", code=2)
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in plan.stdout
    assert "~ gateways[0].port = 5080 -> 5060" in plan.stdout
    cli("apply", "--auto-approve", stack)
    [cred] = sandbox.objects("credential")
    assert cred["gateways"][0]["port"] == 5060
    cli("plan", stack, "--detailed-exitcode", code=0)


def test_object_deleted_out_of_band_is_recreated_and_dependents_rewired(cli: Cli, sandbox: SandboxServer) -> None:
    stack = _applied(cli)
    [assistant] = sandbox.objects("assistant")
    with sandbox.vapi() as vapi:
        vapi.delete(f"/assistant/{assistant['id']}").raise_for_status()
    plan = cli("plan", stack, "--detailed-exitcode", code=2)
    assert "Plan: 1 to add, 2 to change, 0 to destroy." in plan.stdout
    assert "it was deleted outside voxplan" in plan.stdout
    assert "assistantId = " in plan.stdout and "(known after apply)" in plan.stdout
    cli("apply", "--auto-approve", stack)
    [new] = sandbox.objects("assistant")
    assert all(n["assistantId"] == new["id"] for n in sandbox.objects("phone-number"))
    cli("plan", stack, "--detailed-exitcode", code=0)


def test_lost_state_adopts_instead_of_duplicating(cli: Cli, sandbox: SandboxServer) -> None:
    stack = _applied(cli)
    [tool] = sandbox.objects("tool")
    (cli.workdir / ".voxplan" / "byo-trunk.state.json").unlink()
    plan = cli("plan", stack, "--detailed-exitcode", code=2)
    # a transferCall tool has no name: nothing tells it from another environment's twin, so it is never
    # adopted by what it holds (README, "How each kind is told apart"); what has a name is
    assert "Plan: 4 to import, 1 to add, 2 to change, 0 to destroy." in plan.stdout  # the password is unknowable
    assert "will be imported" in plan.stdout
    cli("import", stack, "vapi.tool/to-reception", tool["id"])  # so the user says which one is theirs
    plan = cli("plan", stack, "--detailed-exitcode", code=2)
    assert "Plan: 4 to import, 0 to add, 1 to change, 0 to destroy." in plan.stdout
    cli("apply", "--auto-approve", stack)
    assert len(sandbox.objects("assistant")) == 1 and len(sandbox.objects("phone-number")) == 2
    assert len(sandbox.objects("credential")) == 1 and len(sandbox.objects("tool")) == 1
    cli("plan", stack, "--detailed-exitcode", code=0)


def test_ambiguous_adoption_is_refused(cli: Cli, sandbox: SandboxServer) -> None:
    stack = cli.stack("vapi-sip.yaml")
    with sandbox.vapi() as vapi:
        for _ in range(2):
            vapi.post("/assistant", json={"name": "My SIP Assistant"}).raise_for_status()
    result = cli("plan", str(stack), code=1)
    assert "vapi.assistant/sip-assistant: 2 remote objects match 'My SIP Assistant'" in result.stderr


def test_json_and_markdown_plans(cli: Cli, sandbox: SandboxServer) -> None:
    stack = cli.stack("byo-trunk.yaml")
    out = cli.workdir / "plan.json"
    result = cli("plan", str(stack), "--format", "json", "--out", str(out))
    data = json.loads(result.stdout)
    assert data["format_version"] == "1.1"
    assert json.loads(out.read_text())["plan"] == data  # the saved plan carries the JSON plan
    cred = next(c for c in data["resource_changes"] if c["address"] == "vapi.credential/office-pbx")
    assert cred["change"]["actions"] == ["create"]
    assert cred["change"]["after"]["outboundAuthenticationPlan"]["authPassword"] == "(sensitive)"
    number = next(c for c in data["resource_changes"] if c["type"] == "vapi.phone_number")
    assert number["change"]["after"]["credentialId"] == "(known after apply)"
    md = cli("plan", str(stack), "--format", "markdown").stdout
    assert "**Plan: 5 to add, 0 to change, 0 to destroy.**" in md
    assert "<details>" in md
