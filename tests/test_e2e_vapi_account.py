"""The whole Vapi account as config (issue 19's acceptance), over HTTP against `voxplan sandbox serve`: a tool of
each of the 23 types, a squad routed from a number, a structured output bound to an assistant, a webhook
credential used by a tool's server, and a Twilio, a Vonage and a Telnyx number. Every request the emulator
sees is held to Vapi's document by the contract observer (conftest), so "every request body is valid against
the spec" is checked on every exchange below."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Cli, SandboxServer
from voxplan.providers.vapi.surface import TOOL_TYPES

NAMELESS = ["google.calendar.event.create", "google.sheets.row.append", "google.calendar.availability.check",
            "slack.message.send", "sms", "gohighlevel.calendar.availability.check",
            "gohighlevel.calendar.event.create", "gohighlevel.contact.create", "gohighlevel.contact.get"]


def _nameless_tools() -> str:
    return "".join(f"  {t.replace('.', '-')}: {{type: {t}, messages: [{{type: request-start, content: One moment "
                   f"({t}).}}]}}\n" for t in NAMELESS)


STACK = """version: 1
stack: whole-account
providers:
  vapi: {api_key: "${env:VAPI_API_KEY}"}

credentials:
  hooks:
    provider: webhook
    name: Order hooks
    authenticationPlan: {type: bearer, token: "${env:CANARY}"}
  twilio-main:
    {provider: twilio, name: Twilio main, accountSid: AC0123456789abcdef0123456789abcdef,
     authToken: "${env:TWILIO_AUTH_TOKEN}"}
  vonage-main: {provider: vonage, apiKey: vonage-key-1, apiSecret: "${env:VONAGE_API_SECRET}"}
  telnyx-main: {provider: telnyx, name: Telnyx main, apiKey: "${env:TELNYX_API_KEY}"}

tools:
  api-request:
    {type: apiRequest, name: check_stock, method: GET, url: "https://shop.example.com/stock", description: Stock check.}
  code: {type: code, code: "return { ok: true };", function: {name: add_note, description: Adds a note.}}
  dtmf: {type: dtmf, sipInfoDtmfEnabled: false}
  end-call: {type: endCall, messages: [{type: request-start, content: Goodbye.}]}
  lookup-order:
    type: function
    function:
      name: lookup_order
      description: Find an order by number.
      parameters: {type: object, properties: {order: {type: string}}, required: [order]}
    server: {url: "https://hooks.example.com/orders", credential: hooks}
  transfer:
    {type: transferCall, destinations: [{type: sip, sipUri: "sip:desk@203.0.113.10", description: The front desk.}]}
  to-sales: {type: handoff, destinations: [{type: assistant, assistant: sales, description: Sales questions.}]}
  bash: {type: bash, subType: bash_20241022, name: bash, server: {url: "https://tools.example.com/bash"}}
  computer: {type: computer, subType: computer_20241022, name: computer, displayWidthPx: 1024, displayHeightPx: 768}
  text-editor: {type: textEditor, subType: text_editor_20241022, name: str_replace_editor, server: {url: "https://tools.example.com/edit"}}
  query:
    type: query
    knowledgeBases:
      - {name: faq, provider: google, description: Store FAQ., fileIds: ["5d2c7c5e-5a3b-4bd4-9a53-3f0c59c8ad10"]}
  mcp: {type: mcp, server: {url: "https://mcp.example.com/mcp"}}
  sip-request: {type: sipRequest, verb: INFO}
  voicemail: {type: voicemail, beepDetectionEnabled: true}
""" + _nameless_tools() + """
assistants:
  front:
    name: Front Desk
    model: {provider: openai, model: gpt-4o, system: You are a receptionist.}
    tools: [lookup-order, to-sales, end-call]
  sales:
    name: Sales
    model: {provider: openai, model: gpt-4o, system: You help callers choose a plan.}

squads:
  desk:
    name: Desk
    members:
      - {assistant: front, handoff: [sales]}
      - {assistant: sales}

structured_outputs:
  outcome:
    schema: {type: object, properties: {resolved: {type: boolean}}}
    description: Whether the caller's problem was solved.
    assistants: [front]

numbers:
  "+14155550101": {carrier: twilio, credential: twilio-main, fallback: {number: "+14155550199"}}
  "+14155550102":
    {carrier: vonage, credential: vonage-main, hooks: [{on: call.ringing, do: [{type: say, exact: Hello.}]}]}
  "+14155550103": {carrier: telnyx, credential: telnyx-main, name: Telnyx line}

routes:
  "+14155550101": {squad: desk}
  "+14155550102": {assistant: front}
  "+14155550103": {assistant: sales}
"""

# one edit of one field per resource: (old text, new text, address, the one field path the plan must show)
EDITS = [
    ("Stock check.", "Stock check (edited).", "vapi.tool/api-request", "description"),
    ("return { ok: true };", "return { ok: false };", "vapi.tool/code", "code"),
    ("sipInfoDtmfEnabled: false", "sipInfoDtmfEnabled: true", "vapi.tool/dtmf", "sipInfoDtmfEnabled"),
    ("content: Goodbye.", "content: Bye now.", "vapi.tool/end-call", "messages[0].content"),
    ("Find an order by number.", "Find an order by its number.", "vapi.tool/lookup-order", "function.description"),
    ("The front desk.", "The front desk (edited).", "vapi.tool/transfer", "destinations[0].description"),
    ("Sales questions.", "Sales questions (edited).", "vapi.tool/to-sales", "destinations[0].description"),
    ("tools.example.com/bash", "tools.example.com/bash-v2", "vapi.tool/bash", "server.url"),
    ("displayWidthPx: 1024", "displayWidthPx: 1280", "vapi.tool/computer", "displayWidthPx"),
    ("tools.example.com/edit", "tools.example.com/edit-v2", "vapi.tool/text-editor", "server.url"),
    ("Store FAQ.", "Store FAQ (edited).", "vapi.tool/query", "knowledgeBases[0].description"),
    ("mcp.example.com/mcp", "mcp.example.com/mcp-v2", "vapi.tool/mcp", "server.url"),
    ("verb: INFO", "verb: NOTIFY", "vapi.tool/sip-request", "verb"),
    ("beepDetectionEnabled: true", "beepDetectionEnabled: false", "vapi.tool/voicemail", "beepDetectionEnabled"),
    *[(f"One moment ({t}).", f"One moment please ({t}).", f"vapi.tool/{t.replace('.', '-')}", "messages[0].content")
      for t in NAMELESS],
    ("name: Order hooks", "name: Order webhooks", "vapi.credential/hooks", "name"),
    ("name: Twilio main", "name: Twilio primary", "vapi.credential/twilio-main", "name"),
    ("apiKey: vonage-key-1", "apiKey: vonage-key-2", "vapi.credential/vonage-main", "apiKey"),
    ("name: Telnyx main", "name: Telnyx primary", "vapi.credential/telnyx-main", "name"),
    ("You are a receptionist.", "You are a friendly receptionist.", "vapi.assistant/front",
     "model.messages[0].content"),
    ("name: Sales\n", "name: Sales Team\n", "vapi.assistant/sales", "name"),
    ("name: Desk\n", "name: Front Desk Squad\n", "vapi.squad/desk", "name"),
    ("Whether the caller's problem was solved.", "Whether it was solved.", "vapi.structured_output/outcome",
     "description"),
    ('{number: "+14155550199"}', '{number: "+14155550198"}', "vapi.phone_number/+14155550101",
     "fallbackDestination.number"),
    ("exact: Hello.", "exact: Hello there.", "vapi.phone_number/+14155550102", "hooks[0].do[0].exact"),
    ("name: Telnyx line", "name: Telnyx support line", "vapi.phone_number/+14155550103", "name"),
]
SECRETS = {"TWILIO_AUTH_TOKEN": "twilio-auth-token-0001", "VONAGE_API_SECRET": "vonage-api-secret-0001",
           "TELNYX_API_KEY": "telnyx-api-key-0001"}


def plan_json(cli: Cli, stack: Path) -> dict[str, dict[str, Any]]:
    """The saved-plan JSON's changes that do something, by address."""
    out = json.loads(cli("plan", str(stack), "--format", "json").stdout)
    return {c["address"]: c for c in out["resource_changes"] if c["change"]["actions"] != ["no-op"]}


@pytest.fixture
def account(cli: Cli, sandbox: SandboxServer) -> Path:
    cli.env.update(SECRETS)
    stack = cli.stack("account.yaml", STACK)
    assert cli("validate", str(stack)).stdout.strip() == f"{stack}: valid (34 resources)"
    cli("apply", "--auto-approve", str(stack))
    cli("plan", str(stack), "--detailed-exitcode", code=0)
    return stack


def test_every_tool_type_a_squad_a_structured_output_credentials_and_numbers_apply_and_plan_nothing(
        account: Path, sandbox: SandboxServer) -> None:
    tools = sandbox.objects("tool")
    assert sorted(t["type"] for t in tools) == sorted(TOOL_TYPES)
    by_type = {t["type"]: t for t in tools}
    [hooks] = [c for c in sandbox.objects("credential") if c["provider"] == "webhook"]
    assert by_type["function"]["server"]["credentialId"] == hooks["id"]
    assert "token" not in hooks["authenticationPlan"]  # write-only: never answered
    assistants = {a["name"]: a for a in sandbox.objects("assistant")}
    assert by_type["handoff"]["destinations"][0]["assistantId"] == assistants["Sales"]["id"]
    [squad] = sandbox.objects("squad")
    assert [m["assistantId"] for m in squad["members"]] == [assistants["Front Desk"]["id"], assistants["Sales"]["id"]]
    assert squad["members"][0]["assistantDestinations"] == [{"type": "assistant",
                                                             "assistantId": assistants["Sales"]["id"]}]
    with sandbox.vapi() as vapi:
        [outcome] = vapi.get("/structured-output").json()["results"]
    assert outcome["assistantIds"] == [assistants["Front Desk"]["id"]]
    numbers = {n["number"]: n for n in sandbox.objects("phone-number")}
    credentials = {c["provider"]: c for c in sandbox.objects("credential")}
    assert numbers["+14155550101"]["provider"] == "twilio" and numbers["+14155550101"]["squadId"] == squad["id"]
    assert numbers["+14155550101"]["twilioAccountSid"] == credentials["twilio"]["accountSid"]
    assert "twilioAuthToken" not in numbers["+14155550101"]
    assert numbers["+14155550102"]["credentialId"] == credentials["vonage"]["id"]
    assert numbers["+14155550103"]["credentialId"] == credentials["telnyx"]["id"]
    assert numbers["+14155550101"]["fallbackDestination"] == {"type": "number", "number": "+14155550199",
                                                             "numberE164CheckEnabled": True,
                                                             "transferPlan": {"mode": "blind-transfer"}}


def test_editing_one_field_of_each_plans_exactly_that_field(account: Path, cli: Cli) -> None:
    for old, new, _, _ in EDITS:
        cli.edit(account, old, new)
    changes = plan_json(cli, account)
    assert sorted(changes) == sorted(address for *_, address, _ in EDITS)
    for _, _, address, path in EDITS:
        change = changes[address]["change"]
        assert change["actions"] == ["update"], (address, change["actions"])
        assert [f["path"] for f in change["fields"]] == [path], (address, change["fields"])
    cli("apply", "--auto-approve", str(account))
    cli("plan", str(account), "--detailed-exitcode", code=0)


def test_removing_each_deletes_exactly_it(account: Path, cli: Cli, sandbox: SandboxServer) -> None:
    data = yaml.safe_load(account.read_text())
    kept_tools = {"lookup-order", "to-sales", "end-call"}  # the assistants use these
    removed = {f"vapi.tool/{key}" for key in data["tools"] if key not in kept_tools}
    data["tools"] = {k: v for k, v in data["tools"].items() if k in kept_tools}
    del data["structured_outputs"]
    del data["numbers"]["+14155550102"], data["routes"]["+14155550102"], data["credentials"]["vonage-main"]
    account.write_text(yaml.safe_dump(data, sort_keys=False))
    removed |= {"vapi.structured_output/outcome", "vapi.phone_number/+14155550102", "vapi.credential/vonage-main"}
    assert len(removed) == 23
    changes = plan_json(cli, account)
    assert sorted(changes) == sorted(removed)
    assert all(c["change"]["actions"] == ["delete"] for c in changes.values())
    cli("apply", "--auto-approve", str(account))
    cli("plan", str(account), "--detailed-exitcode", code=0)
    assert len(sandbox.objects("tool")) == 3 and len(sandbox.objects("phone-number")) == 2
    with sandbox.vapi() as vapi:
        assert vapi.get("/structured-output").json()["results"] == []


@pytest.mark.parametrize(("old", "new", "at", "message", "fix"), [
    ("    name: Sales\n", "    name: Sales\n    vapi: {silenceTimeoutSecond: 30}\n", "silenceTimeoutSecond:",
     "assistants.sales.vapi.silenceTimeoutSecond: Vapi's CreateAssistantDTO has no key 'silenceTimeoutSecond'",
     "did you mean 'silenceTimeoutSeconds'?"),
    ("    name: Sales\n", "    name: Sales\n    voice: {provider: elevenlabs, voiceId: burt}\n", "elevenlabs",
     "assistants.sales.voice.provider: 'elevenlabs' is not a value", "did you mean '11labs'?"),
    ("{type: endCall,", "{type: endcall,", "endcall", "tools.end-call.type: 'endcall' is not one of",
     "did you mean 'endCall'?"),
    ("      description: Find an order by number.\n", "      description: Find an order by number.\n"
     "      paramaters: {}\n", "paramaters:", "tools.lookup-order.function.paramaters: Vapi's OpenAIFunction has no "
     "key 'paramaters'", "did you mean 'parameters'?"),
    ("  dtmf: {type: dtmf,", "  dtmf: {type: dtmf, descripton: Keypad,", "descripton:",
     "tools.dtmf.descripton: Vapi's CreateDtmfToolDTO has no key 'descripton'", "expected one of: messages"),
])
def test_a_mistake_in_a_vapi_body_is_one_located_validate_error_with_its_fix_and_no_request(
        old: str, new: str, at: str, message: str, fix: str, cli: Cli, sandbox: SandboxServer) -> None:
    cli.env.update(SECRETS)
    text = STACK.replace(old, new, 1)
    assert text != STACK
    before = text[:text.index(at)]
    where = f"{before.count(chr(10)) + 1}:{len(before) - before.rfind(chr(10))}"  # the line and column of `at`
    stack = cli.stack("account.yaml", text)
    sandbox.clear_stats()
    for command in (("validate",), ("plan",)):
        result = cli(*command, str(stack), code=1)
        [line] = [x for x in result.stderr.splitlines() if ": warning: " not in x and "nothing was sent" not in x]
        assert line.startswith(f"{stack}:{where}: {message}"), line
        assert line.endswith(")") and f"(hint: {fix}" in line, line
    assert sandbox.stats()["total"] == 0


FREE = """version: 1
stack: free
providers:
  vapi: {api_key: "${env:VAPI_API_KEY}"}
assistants:
  front: {name: Front}
numbers:
  front-line: {carrier: vapi, area_code: "415", fallback: {sip: "sip:desk@203.0.113.10"}}
routes:
  front-line: {assistant: front}
"""


def test_a_free_vapi_number_is_bought_only_with_its_opt_in_and_never_released(cli: Cli, sandbox: SandboxServer) -> None:
    stack = cli.stack("free.yaml", FREE)
    assert cli("validate", str(stack)).stdout.strip() == f"{stack}: valid (2 resources)"
    refused = cli("plan", str(stack), code=1)  # a free number is got as a number is bought: on request
    assert "vapi.phone_number/front-line: not found on the account, and getting it costs money: voxplan buys it " \
           "only when its stack entry says purchase: true" in refused.stderr
    assert sandbox.objects("phone-number") == []
    cli.edit(stack, 'area_code: "415",', 'area_code: "415", purchase: true,')
    plan = cli("plan", str(stack), "--detailed-exitcode", code=2).stdout
    assert "vapi.phone_number/front-line will be purchased" in plan and "free (a Vapi number" in plan
    assert "--allow-purchase" in cli("apply", "--auto-approve", str(stack), code=1).stderr
    assert sandbox.objects("phone-number") == []
    cli("apply", "--auto-approve", "--allow-purchase", str(stack))
    [number] = sandbox.objects("phone-number")
    [front] = sandbox.objects("assistant")
    assert number["number"].startswith("+1415") and number["assistantId"] == front["id"]
    assert number["name"] == "front-line" and number["fallbackDestination"]["sipUri"] == "sip:desk@203.0.113.10"
    cli("plan", str(stack), "--detailed-exitcode", code=0)
    traced = cli("trace", str(stack), "front-line").stdout  # keyed by its name, traced as the number it got
    assert "front-line" in traced and "BROKEN" not in traced and "Front" in traced, traced
    stack.write_text(FREE.split("numbers:")[0])  # the number leaves the stack: unrouted, never released
    plan = cli("plan", str(stack), "--detailed-exitcode", code=2)
    assert "vapi.phone_number/front-line will be unrouted" in plan.stdout and "1 to unroute" in plan.stdout
    cli("apply", "--auto-approve", str(stack))
    [kept] = sandbox.objects("phone-number")
    assert kept["id"] == number["id"] and "assistantId" not in kept and "fallbackDestination" not in kept
    assert "vapi.phone_number/front-line" not in cli("state", "list", str(stack)).stdout
    cli("plan", str(stack), "--detailed-exitcode", code=0)


def test_a_number_keyed_by_a_name_is_only_one_its_carrier_assigns(cli: Cli) -> None:
    stack = cli.stack("named.yaml", "version: 1\nnumbers:\n  front-line: {carrier: byo, trunk: pbx}\n"
                                    "trunks:\n  pbx: {carrier: byo, gateways: [{ip: 203.0.113.10}]}\n")
    result = cli("validate", str(stack), code=1)
    assert "numbers.front-line: a number is keyed by its E.164 form (or SIP URI); only a number its carrier " \
           "assigns (vapi) takes a name" in result.stderr
    assert f"{stack}:3:3:" in result.stderr


def test_knowledge_bases_the_kind_added_to_test_the_seam(cli: Cli, sandbox: SandboxServer) -> None:
    """A kind added touching only voxplan/providers/vapi/ and voxplan/sandbox/vapi.py (README, Development)."""
    text = ('version: 1\nstack: kb\nproviders:\n  vapi: {api_key: "${env:VAPI_API_KEY}"}\n'
            "knowledge_bases:\n  faq: {name: Store FAQ, description: Opening hours and returns.}\n")
    stack = cli.stack("kb.yaml", text)
    cli("apply", "--auto-approve", str(stack))
    cli("plan", str(stack), "--detailed-exitcode", code=0)
    with sandbox.vapi() as vapi:
        [kb] = vapi.get("/v2/knowledge-base").json()
        assert vapi.get(f"/v2/knowledge-base/{kb['id']}").json()["files"] == []
    cli.edit(stack, "Opening hours and returns.", "Opening hours.")
    assert "~ description" in cli("plan", str(stack), "--detailed-exitcode", code=2).stdout
    cli("apply", "--auto-approve", str(stack))
    cli.edit(stack, "  faq: {name: Store FAQ, description: Opening hours.}\n", "")
    cli("apply", "--auto-approve", str(stack))
    with sandbox.vapi() as vapi:
        assert vapi.get("/v2/knowledge-base").json() == []
    bad = cli.stack("kb-bad.yaml", text.replace("Opening hours and returns.", "x" * 1001))
    assert "knowledge_bases.faq.description" in cli("validate", str(bad), code=1).stderr


def test_tools_on_an_assistant_without_a_model_are_one_located_error(cli: Cli, tmp_path: Path) -> None:
    """Vapi keeps an assistant's tools in its model (model.toolIds): without one they were dropped in silence,
    the README's own example among them (found by review)."""
    stack = tmp_path / "t.yaml"
    stack.write_text("version: 1\nstack: t\ntools:\n  hang-up: {type: endCall}\n"
                     "assistants:\n  front: {name: Front, tools: [hang-up]}\n")
    [line] = cli("validate", str(stack), code=1).stderr.strip().splitlines()
    assert line == f"{stack}:6:10: assistants.front: `tools` needs `model` beside it"


def test_a_vapi_key_that_a_stack_field_also_sets_is_one_located_error_each(cli: Cli, tmp_path: Path) -> None:
    """`vapi: {model: ...}` beside `model:` replaced the stack's model whole: its tools and prompt were dropped
    in silence (found by review). A field only defaulted from the entry (the name from its key) is not set
    twice, and `vapi:` may still give it."""
    stack = tmp_path / "t.yaml"
    stack.write_text("version: 1\nstack: t\ntools:\n  hang: {type: endCall}\nassistants:\n  front:\n"
                     "    first_message: Hello A\n    model: {provider: openai, model: gpt-4o, system: S}\n"
                     "    tools: [hang]\n"
                     "    vapi: {firstMessage: Hello B, model: {provider: openai, model: gpt-4o-mini}, name: Other}\n")
    lines = cli("validate", str(stack), code=1).stderr.strip().splitlines()
    assert lines == [
        f"{stack}:10:12: assistants.front.vapi.firstMessage: assistants.front.first_message ({stack}:7:5) sets "
        "this field too, and one would silently replace the other (hint: say it in one place)",
        f"{stack}:10:35: assistants.front.vapi.model: assistants.front.model ({stack}:8:5) sets this field too, "
        "and one would silently replace the other (hint: say it in one place)"]
    stack.write_text(stack.read_text().replace("first_message: Hello A\n", "").replace(
        "    model: {provider: openai, model: gpt-4o, system: S}\n    tools: [hang]\n", ""))
    cli("validate", str(stack))


def test_a_transfer_to_a_number_needs_no_trunk_where_a_vapi_number_can_call_out(cli: Cli, tmp_path: Path) -> None:
    """Vapi dials a transfer out from a Twilio, Vonage or Telnyx number too; a stack with one of those and no
    trunk was refused with 'no trunk in this stack can reach a phone number' (found by review)."""
    stack = tmp_path / "t.yaml"
    stack.write_text("""\
version: 1
stack: t
credentials:
  twilio-main: {provider: twilio, accountSid: AC0123456789abcdef0123456789abcdef, authToken: "${env:TWILIO_TOKEN}"}
tools:
  to-desk: {transfer: [{number: "+14155550199"}]}
assistants:
  front: {name: Front, model: {provider: openai, model: gpt-4o}, tools: [to-desk]}
numbers:
  "+14155550101": {carrier: twilio, credential: twilio-main}
routes:
  "+14155550101": {assistant: front}
""")
    cli.env["TWILIO_TOKEN"] = "twilio-token-for-validate"
    cli("validate", str(stack))


def test_a_misspelt_wired_key_is_hinted_in_the_stacks_words(cli: Cli, tmp_path: Path) -> None:
    """`server.credentail` was hinted as Vapi's `credentialId`, which the stack does not take (found by review)."""
    stack = tmp_path / "h.yaml"
    stack.write_text("version: 1\nstack: h\ncredentials:\n  hooks: {provider: webhook, authenticationPlan: "
                     "{type: bearer, token: \"${env:T}\"}}\ntools:\n  lookup:\n    type: function\n"
                     "    function: {name: lookup}\n    server: {url: https://x.example.com, credentail: hooks}\n")
    cli.env["T"] = "a-token-for-validate"
    [line] = cli("validate", str(stack), code=1).stderr.strip().splitlines()
    assert line.endswith("has no key 'credentail' (hint: did you mean 'credential'?)"), line


def test_a_credential_a_tools_server_uses_names_the_numbers_it_reaches(account: Path, cli: Cli) -> None:
    """The blast radius follows what a resource on a call path uses: the webhook credential of the tool the
    routed assistants call (found by review: its change named no number)."""
    cli.edit(account, "    name: Order hooks\n", "    name: Order hooks v2\n")
    plan = cli("plan", str(account), "--format", "json", "--detailed-exitcode", code=2).stdout
    [change] = [c for c in json.loads(plan)["resource_changes"] if c["address"] == "vapi.credential/hooks"]
    assert change["affects"], change
    assert set(change["affects"]) <= {"+14155550101", "+14155550102", "+14155550103"}
