"""`voxplan generate` of the whole Vapi account (issue 22 over issue 19's kinds), end to end against `voxplan
sandbox serve`: the every-kind stack applied, its state forgotten, generated back into a new directory and
planned; and an account made by hand through the sandbox's Vapi API (a squad, a function tool whose server
authenticates with a credential, a structured output, a Twilio number, a free Vapi number) generated and applied
without changing a setting."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import CANARIES, Cli, SandboxServer
from tests.test_e2e_vapi_account import SECRETS, STACK
from tests.test_generate import declared, forget_state

COLLECTIONS = ("credential", "phone-number", "assistant", "tool", "squad", "structured-output", "v2/knowledge-base")
# each placeholder the generated stack names, and the live value the user vouches for
VOUCHED = {"CREDENTIAL_ORDER_HOOKS_TOKEN": CANARIES["CANARY"], "CREDENTIAL_TWILIO_MAIN_AUTHTOKEN":
           SECRETS["TWILIO_AUTH_TOKEN"], "CREDENTIAL_VONAGE_MAIN_APIKEY": "vonage-key-1",
           "CREDENTIAL_VONAGE_MAIN_APISECRET": SECRETS["VONAGE_API_SECRET"],
           "CREDENTIAL_TELNYX_MAIN_APIKEY": SECRETS["TELNYX_API_KEY"]}


def live_ids(sandbox: SandboxServer) -> list[str]:
    return [o["id"] for coll in COLLECTIONS for o in _all(sandbox, coll)]


def _all(sandbox: SandboxServer, collection: str) -> list[dict[str, Any]]:
    with sandbox.vapi() as client:
        answer = client.get(f"/{collection}", params={"limit": 1000}).json()
    return list(answer["results"] if isinstance(answer, dict) else answer)


def account(sandbox: SandboxServer) -> dict[str, Any]:
    """Every setting on the Vapi account, by object (timestamps of the last write left out)."""
    return {f"{coll} {o['id']}": {k: v for k, v in o.items() if k != "updatedAt"}
            for coll in COLLECTIONS for o in _all(sandbox, coll)}


def changes(cli: Cli, stack: Path) -> list[dict[str, Any]]:
    result = cli("plan", str(stack), "--format", "json", "--detailed-exitcode", code=None)
    assert result.exit_code in (0, 2), result.output
    return list(json.loads(result.stdout)["resource_changes"])


def not_imports(plan: list[dict[str, Any]]) -> list[str]:
    """Every change that is not an import, a labelled re-sent write-only secret or an owner mark."""
    wrong = []
    for rc in plan:
        fields, actions = rc["change"]["fields"], rc["change"]["actions"]
        if actions == ["no-op"] and (rc["importing"] or not fields):
            continue
        resent = all(f["sensitive"] for f in fields) and "which voxplan cannot read back" in (rc["reason"] or "")
        marked = [f["path"] for f in fields] in (["metadata.voxplan"], ["metadata"])
        if rc["importing"] and actions == ["update"] and (resent or marked):
            continue
        wrong.append(f"{rc['address']}: {actions}")
    return wrong


def check_file(text: str, sandbox: SandboxServer, secrets: list[str]) -> dict[str, str]:
    """No live object's id in the file outside `imports:` (every reference is a key; adopting by id is what
    imports: are for), no secret value. Returns the imports."""
    imports = dict(yaml.safe_load(text).get("imports") or {})
    outside = re.sub(r"\nimports:\n(  .*\n)*", "\n", text)
    for rid in live_ids(sandbox):
        assert rid not in outside, rid
    for secret in secrets:
        assert secret not in text and json.dumps(secret)[1:-1] not in text
    return imports


def test_the_every_kind_account_generates_back_to_a_stack_that_plans_only_imports(cli: Cli,
                                                                                  sandbox: SandboxServer) -> None:
    cli.env.update(SECRETS)
    stack = cli.stack("account.yaml", STACK)
    cli("apply", "--auto-approve", str(stack))
    forget_state(cli.workdir)
    before = account(sandbox)

    out = cli.workdir / "fresh" / "whole-account.yaml"
    out.parent.mkdir()
    made = cli("generate", "--stack", "whole-account", "--out", str(out))
    text = out.read_text()
    imports = check_file(text, sandbox, [*SECRETS.values(), CANARIES["CANARY"], "vonage-key-1"])
    assert "Left out" not in text, text
    data = yaml.safe_load(text)
    assert data["squads"]["desk"]["members"] == [{"assistant": "front-desk", "handoff": ["sales"]},
                                                 {"assistant": "sales"}]
    assert data["structured_outputs"]["outcome"]["assistants"] == ["front-desk"]
    assert data["tools"]["lookup-order"]["server"] == {"url": "https://hooks.example.com/orders",
                                                       "credential": "order-hooks"}
    assert data["credentials"]["order-hooks"]["authenticationPlan"] == {
        "type": "bearer", "token": "${env:CREDENTIAL_ORDER_HOOKS_TOKEN}"}
    assert data["numbers"]["+14155550101"] == {"carrier": "twilio", "credential": "twilio-main",
                                               "fallback": {"number": "+14155550199"}}
    # Vapi never says whether a Twilio credential holds an auth token or an API key: the footer says both ways
    assert "replace authToken with apiKey and apiSecret" in text.split("# Set these in the environment")[1]
    assert data["routes"]["+14155550101"] == {"squad": "desk"}
    assert data["numbers"]["+14155550102"]["credential"] == "vonage-main"
    assert len(data["tools"]) == 23 and sorted(set(VOUCHED)) == sorted(
        n for n in re.findall(r"\$\{env:([A-Z0-9_]+)\}", declared(text)) if n != "VAPI_API_KEY")
    assert "TWILIO_AUTH_TOKEN" not in made.stderr  # the number takes the credential's token, not one of its own

    # tools are adopted by id (issue 19: never by content; their names are what the model calls, so no
    # -<env> tells environments apart); the other kinds by key
    assert sorted(imports) == sorted(f"vapi.tool/{key}" for key in data["tools"])
    assert len(imports) == 23

    # without --state: imports and re-sent write-only secrets (labelled), nothing else
    cli.env.update(VOUCHED)
    plan = changes(cli, out)
    assert not_imports(plan) == []
    assert {rc["address"] for rc in plan if rc["importing"]} == {rc["address"] for rc in plan}
    assert len(plan) == 34  # as validate counts the stack it came from: 23 tools, 4 credentials, 2 assistants,
    # a squad, a structured output, 3 numbers
    resent = {rc["address"] for rc in plan if rc["change"]["actions"] == ["update"]}
    assert resent == {"vapi.credential/order-hooks", "vapi.credential/twilio-main", "vapi.credential/vonage-main",
                      "vapi.credential/telnyx-main", "vapi.phone_number/+14155550101"}

    # with --state: the plan is empty and apply sends nothing
    recorded = cli.workdir / "recorded" / "whole-account.yaml"
    recorded.parent.mkdir()
    cli("generate", "--stack", "whole-account", "--out", str(recorded), "--state")
    assert recorded.read_text() == text
    mutations = sandbox.stats()["mutations"]
    cli("plan", str(recorded), "--detailed-exitcode", code=0)
    cli("apply", "--auto-approve", str(recorded))
    assert sandbox.stats()["mutations"] == mutations
    assert account(sandbox) == before


WEBHOOK_TOKEN = 'hand-made-hook-token-"\\\'%\u00e4'
TWILIO_TOKEN = "hand-made-twilio-token-\u00df"
OTHER_TWILIO_TOKEN = "hand-made-other-twilio-token-'"


def make_by_hand(sandbox: SandboxServer) -> dict[str, Any]:
    """A Vapi account set up in the dashboard, with no stack."""
    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        with sandbox.vapi() as client:
            answer = client.post(path, json=body)
            assert answer.status_code < 300, answer.text
            return dict(answer.json())

    hooks = post("/credential", {"provider": "webhook", "name": "Order API",
                                 "authenticationPlan": {"type": "bearer", "token": WEBHOOK_TOKEN,
                                                        "headerName": "X-Api-Key"}})
    twilio = post("/credential", {"provider": "twilio", "name": "Twilio", "accountSid": "AC" + "1" * 32,
                                  "authToken": TWILIO_TOKEN})
    lookup = post("/tool", {"type": "function", "function": {
        "name": "lookup_order", "description": "Find an order.",
        "parameters": {"type": "object", "properties": {"order": {"type": "string"}}}},
        "server": {"url": "https://api.example.com/orders", "credentialId": hooks["id"], "timeoutSeconds": 10}})
    transfer = post("/tool", {"type": "transferCall", "destinations": [
        {"type": "number", "number": "+14155550100", "description": "Sales.",
         "transferPlan": {"mode": "warm-transfer-say-message", "message": "A caller for sales."}}]})
    hang_up = post("/tool", {"type": "endCall"})  # nobody uses it
    front = post("/assistant", {"name": "Front", "firstMessage": "Hello.", "model": {
        "provider": "openai", "model": "gpt-4o", "toolIds": [lookup["id"], transfer["id"]],
        "messages": [{"role": "system", "content": "You answer the phone."}]}, "silenceTimeoutSeconds": 40})
    billing = post("/assistant", {"name": "Billing", "model": {"provider": "openai", "model": "gpt-4o"}})
    squad = post("/squad", {"name": "Desk", "members": [
        {"assistantId": front["id"], "assistantDestinations": [
            {"type": "assistant", "assistantId": billing["id"], "description": "Billing questions."}]},
        {"assistantId": billing["id"], "assistantOverrides": {"firstMessage": "Billing here."}}]})
    post("/v2/knowledge-base", {"name": "Store FAQ", "description": "Opening hours and returns."})
    post("/structured-output", {"name": "Resolved", "schema": {"type": "boolean"}, "assistantIds": [front["id"]]})
    post("/phone-number", {"provider": "twilio", "number": "+14155550123", "twilioAccountSid": "AC" + "1" * 32,
                           "twilioAuthToken": TWILIO_TOKEN, "squadId": squad["id"], "smsEnabled": False})
    other = post("/phone-number", {"provider": "twilio", "number": "+14155550124", "twilioAccountSid": "AC" + "2" * 32,
                                   "twilioAuthToken": OTHER_TWILIO_TOKEN, "assistantId": billing["id"]})
    post("/phone-number", {"provider": "vapi", "numberDesiredAreaCode": "628", "name": "Front line",
                           "assistantId": front["id"],
                           "fallbackDestination": {"type": "number", "number": "+14155550199"}})
    return {"hooks": hooks, "twilio": twilio, "front": front, "billing": billing, "hang_up": hang_up,
            "other": other}


def test_a_hand_made_vapi_account_generates_a_stack_whose_apply_changes_no_setting(cli: Cli,
                                                                                  sandbox: SandboxServer) -> None:
    made = make_by_hand(sandbox)
    before = account(sandbox)
    out = cli.workdir / "fresh" / "desk.yaml"
    out.parent.mkdir()
    cli("generate", "--stack", "desk", "--out", str(out))
    text = out.read_text()
    imports = check_file(text, sandbox, [WEBHOOK_TOKEN, TWILIO_TOKEN, OTHER_TWILIO_TOKEN])
    assert sorted(imports) == sorted(f"vapi.tool/{key}" for key in yaml.safe_load(text)["tools"])
    assert "Left out" not in text, text
    data = yaml.safe_load(text)
    assert data["tools"]["lookup-order"]["server"] == {"url": "https://api.example.com/orders",
                                                       "credential": "order-api", "timeoutSeconds": 10}
    assert data["squads"]["desk"]["members"] == [
        {"assistant": "front", "handoff": [{"assistant": "billing", "description": "Billing questions."}]},
        {"assistant": "billing", "overrides": {"firstMessage": "Billing here."}}]
    assert data["numbers"]["front-line"] == {"carrier": "vapi", "area_code": "628", "name": "Front line",
                                             "vapi": {"fallbackDestination": {"type": "number",
                                                                              "number": "+14155550199"}}}
    assert data["knowledge_bases"] == {"store-faq": {"name": "Store FAQ",
                                                     "description": "Opening hours and returns."}}
    assert "purchase" not in text  # a free number on the account is adopted by its name, never got again
    assert data["numbers"]["+14155550123"] == {"carrier": "twilio", "credential": "twilio", "sms": False}
    # a Twilio account no credential of the stack holds: its SID, and its token as a placeholder
    assert data["numbers"]["+14155550124"] == {"carrier": "twilio", "account_sid": "AC" + "2" * 32,
                                               "auth_token": "${env:NUMBER_14155550124_AUTH_TOKEN}"}
    assert data["routes"] == {"+14155550123": {"squad": "desk"}, "+14155550124": {"assistant": "billing"},
                              "front-line": {"assistant": "front"}}
    secrets = {"CREDENTIAL_ORDER_API_TOKEN": WEBHOOK_TOKEN, "CREDENTIAL_TWILIO_AUTHTOKEN": TWILIO_TOKEN,
               "NUMBER_14155550124_AUTH_TOKEN": OTHER_TWILIO_TOKEN}
    assert sorted(secrets) == sorted(n for n in re.findall(r"\$\{env:([A-Z0-9_]+)\}", declared(text))
                                     if n != "VAPI_API_KEY")
    cli.env.update(secrets)

    recorded = cli.workdir / "recorded" / "desk.yaml"
    recorded.parent.mkdir()
    cli("generate", "--stack", "desk", "--out", str(recorded), "--state")
    mutations = sandbox.stats()["mutations"]
    cli("plan", str(recorded), "--detailed-exitcode", code=0)
    cli("apply", "--auto-approve", str(recorded))
    assert sandbox.stats()["mutations"] == mutations  # with --state it sends nothing
    assert account(sandbox) == before

    # without state: everything imported; apply re-sends the vouched secrets and marks the assistants, and
    # changes nothing else
    plan = changes(cli, out)
    assert not_imports(plan) == []
    cli("apply", "--auto-approve", str(out))
    after = account(sandbox)
    for assistant in (made["front"], made["billing"]):
        marked = f"assistant {assistant['id']}"
        assert after[marked]["metadata"] == {"voxplan": "desk"}  # the one thing an adoption adds
        after[marked].pop("metadata")
    assert after == before
    assert sandbox.secret_matches(made["hooks"]["id"], "authenticationPlan.token", WEBHOOK_TOKEN)
    assert sandbox.secret_matches(made["twilio"]["id"], "authToken", TWILIO_TOKEN)
    assert sandbox.secret_matches(made["other"]["id"], "twilioAuthToken", OTHER_TWILIO_TOKEN)
    cli("plan", str(out), "--detailed-exitcode", code=0)


FREE = """version: 1
stack: free
providers:
  vapi: {api_key: "${env:VAPI_API_KEY}"}
assistants:
  front: {name: Front}
numbers:
  front-line: {carrier: vapi, area_code: "628"}
routes:
  front-line: {assistant: front}
"""


def test_a_free_vapi_number_on_the_account_is_adopted_by_its_name_never_got_again(cli: Cli,
                                                                                  sandbox: SandboxServer) -> None:
    """What makes a generated free number's entry (no purchase:) plan an import: its name is its key. In a named
    environment the name carries -<env>, so staging never adopts the default environment's number."""
    with sandbox.vapi() as client:
        got = client.post("/phone-number", json={"provider": "vapi", "numberDesiredAreaCode": "628",
                                                 "name": "front-line"})
        assert got.status_code == 201, got.text
    stack = cli.stack("free.yaml", FREE)
    plan = cli("plan", str(stack), "--detailed-exitcode", code=2).stdout
    assert "vapi.phone_number/front-line will be imported" in plan and "purchased" not in plan
    cli("apply", "--auto-approve", str(stack))  # no --allow-purchase: nothing is bought
    [number] = sandbox.objects("phone-number")
    assert number["id"] == got.json()["id"] and number["assistantId"]
    cli("plan", str(stack), "--detailed-exitcode", code=0)
    staging = cli("plan", str(stack), "--env", "staging", code=1)  # its own number would have to be got
    assert "vapi.phone_number/front-line: not found on the account, and getting it costs money" in staging.stderr
    assert "'vapi-number:front-line-staging'" in staging.stderr


def test_what_refers_to_an_object_left_out_is_left_out_and_listed(cli: Cli, sandbox: SandboxServer) -> None:
    """A credential with no name (its entry would name it: a change) is left out; so is the function tool whose
    server uses it, and the assistant that uses the tool; each is listed with why, and nothing names its id."""
    with sandbox.vapi() as client:
        def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            answer = client.post(path, json=body)
            assert answer.status_code == 201, answer.text
            return dict(answer.json())

        hooks = post("/credential", {"provider": "webhook", "authenticationPlan": {"type": "bearer",
                                                                                    "token": WEBHOOK_TOKEN}})
        tool = post("/tool", {"type": "function", "function": {"name": "lookup_order"},
                              "server": {"url": "https://api.example.com/orders", "credentialId": hooks["id"]}})
        post("/assistant", {"name": "Front", "model": {"provider": "openai", "model": "gpt-4o",
                                                       "toolIds": [tool["id"]]}})
        post("/assistant", {"name": "Back"})
    out = cli.workdir / "left.yaml"
    cli("generate", "--stack", "left", "--out", str(out))
    text = out.read_text()
    data = yaml.safe_load(text)
    assert set(data) == {"version", "stack", "providers", "assistants"} and set(data["assistants"]) == {"back"}
    left = text.split("# Left out")[1]
    assert f"vapi.credential {hooks['id']}: has no name, which its entry would give it" in left
    assert f"vapi.tool {tool['id']}: uses vapi.credential {hooks['id']}, which is not in the stack" in left
    assert "(Front): uses a tool that is not in the stack" in left
    assert WEBHOOK_TOKEN not in text


def test_an_assistants_own_provider_keys_are_placeholders_never_values(cli: Cli, sandbox: SandboxServer) -> None:
    """CreateAssistantDTO.credentials holds provider keys inline (found by a review: generate wrote an
    11labs apiKey in clear)."""
    key = CANARIES["CANARY"]
    with sandbox.vapi() as client:
        answer = client.post("/assistant", json={"name": "Voice", "credentials": [{"provider": "11labs",
                                                                                   "apiKey": key}]})
        assert answer.status_code == 201, answer.text
    out = cli.workdir / "keys.yaml"
    cli("generate", "--stack", "keys", "--out", str(out))
    text = out.read_text()
    assert key not in text and "apiKey: ${env:" in text.replace('"', ""), text
