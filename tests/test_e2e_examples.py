"""Each example stack, through the CLI, against `voxplan sandbox serve` over HTTP."""

from __future__ import annotations

import json

from tests.conftest import CANARIES, Cli, SandboxServer


def test_vapi_sip_stack_converges_to_seed_002(cli: Cli, sandbox: SandboxServer) -> None:
    stack = cli.stack("vapi-sip.yaml")
    cli("validate", str(stack))
    plan = cli("plan", str(stack), "--detailed-exitcode", code=2)
    assert "Plan: 3 to add, 0 to change, 0 to destroy." in plan.stdout
    cli("apply", "--auto-approve", str(stack))
    cli("plan", str(stack), "--detailed-exitcode", code=0)

    [assistant] = sandbox.objects("assistant")
    assert assistant["name"] == "My SIP Assistant"
    assert assistant["firstMessage"] == "Hello {{first_name | default: 'there'}}, you've reached me over SIP."
    numbers = {n["sipUri"]: n for n in sandbox.objects("phone-number")}
    assert set(numbers) == {"sip:voxplan-demo@sip.vapi.ai", "sip:voxplan-router@sip.vapi.ai"}
    demo, router = numbers["sip:voxplan-demo@sip.vapi.ai"], numbers["sip:voxplan-router@sip.vapi.ai"]
    assert demo["provider"] == "vapi" and demo["assistantId"] == assistant["id"]
    assert router.get("assistantId") is None  # unset: answered without it (the spec has no null there)
    assert router["server"]["url"] == "https://example.com/vapi/assistant-request"


def test_byo_trunk_stack_wires_credential_assistant_and_tool(cli: Cli, sandbox: SandboxServer) -> None:
    stack = cli.stack("byo-trunk.yaml")
    cli("validate", str(stack))
    plan = cli("plan", str(stack), "--detailed-exitcode", code=2)
    assert "Plan: 5 to add, 0 to change, 0 to destroy." in plan.stdout
    assert "(sensitive)" in plan.stdout
    cli("apply", "--auto-approve", str(stack))
    cli("plan", str(stack), "--detailed-exitcode", code=0)

    [cred] = sandbox.objects("credential")
    [tool] = sandbox.objects("tool")
    [assistant] = sandbox.objects("assistant")
    numbers = sandbox.objects("phone-number")
    assert cred["outboundAuthenticationPlan"] == {"authUsername": "vapi-trunk"}  # password never returned
    assert [g["ip"] for g in cred["gateways"]] == ["203.0.113.10", "203.0.113.11"]
    assert cred["gateways"][1]["outboundEnabled"] is False
    assert cred["outboundLeadingPlusEnabled"] is True
    assert sorted(n["number"] for n in numbers) == ["+14067704205", "+61290597521"]
    for number in numbers:
        assert number["provider"] == "byo-phone-number"
        assert number["credentialId"] == cred["id"]
        assert number["assistantId"] == assistant["id"]
    assert assistant["model"]["toolIds"] == [tool["id"]]
    assert tool["type"] == "transferCall"
    assert "function" not in tool  # not in CreateTransferCallToolDTO (2026-08) nor the SDK's models
    assert tool["destinations"][0]["sipUri"] == "sip:reception@203.0.113.10"
    assert tool["destinations"][0]["transferPlan"]["mode"] == "blind-transfer"
    assert tool["destinations"][0]["description"] == "The caller asks for a person or the front desk."


def test_trunk_password_reaches_vapi_and_rotation_is_one_sensitive_update(cli: Cli, sandbox: SandboxServer) -> None:
    stack = cli.stack("byo-trunk.yaml")
    cli("apply", "--auto-approve", str(stack))
    [cred] = sandbox.objects("credential")
    path = "outboundAuthenticationPlan.authPassword"
    assert sandbox.secret_matches(cred["id"], path, CANARIES["PBX_TRUNK_PASSWORD"])
    state_file = cli.workdir / ".voxplan" / "byo-trunk.state.json"
    before = json.loads(state_file.read_text())["resources"]["vapi.credential/office-pbx"]["fingerprints"]
    assert set(before) == {path}

    rotated = "canary-pbx-rotated-5Kd8"
    cli.env["PBX_TRUNK_PASSWORD"] = rotated
    plan = cli("plan", str(stack), "--detailed-exitcode", code=2)
    assert "~ outboundAuthenticationPlan.authPassword = (sensitive)" in plan.stdout
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in plan.stdout
    assert "vapi.credential/office-pbx will be updated in-place" in plan.stdout
    cli("apply", "--auto-approve", str(stack))
    assert sandbox.secret_matches(cred["id"], path, rotated)
    after = json.loads(state_file.read_text())["resources"]["vapi.credential/office-pbx"]["fingerprints"]
    assert after[path] != before[path]
    cli("plan", str(stack), "--detailed-exitcode", code=0)
    for text in cli.outputs + [state_file.read_text()]:
        assert rotated not in text
