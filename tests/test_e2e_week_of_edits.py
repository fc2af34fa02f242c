"""A week of a team's edits to one stack, against `voxplan sandbox serve`: one apply per step, each step's
plan checked before it is applied, and each apply followed by an empty second plan."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.conftest import Cli, SandboxServer

RULES = [f"Rule {i}: " + ("Never promise refunds." if i == 7 else f"Handle topic number {i} politely, briefly and "
                          "without guessing at anything you do not know.") for i in range(1, 41)]
PROMPT = "You are the support agent of Example Pty Ltd.\n" + "\n".join(RULES)
ASSISTANT_ROUTE = '"+61290597521": {assistant: support}'
SERVER_ROUTE = '"+61290597521": {server_url: "https://hooks.example.com/assistant-request"}'


def _stack() -> str:
    system = "\n".join(f"        {line}" for line in PROMPT.splitlines())
    return f"""version: 1
stack: week
providers:
  vapi: {{api_key: "${{env:VAPI_API_KEY}}"}}
  wavix: {{api_key: "${{env:WAVIX_API_KEY}}"}}

trunks:
  wavix-main:
    carrier: wavix
    name: Wavix
    password: ${{env:WAVIX_TRUNK_PASSWORD}}
    caller_id: "+61290597521"

assistants:
  support:
    name: Support
    first_message: Hello, you've reached support.
    metadata: {{team: support, tier: gold}}
    model:
      provider: openai
      model: gpt-4o
      system: |
{system}

numbers:
  "+61290597521": {{carrier: wavix, trunk: wavix-main}}
  "+14067704205": {{carrier: wavix, trunk: wavix-main}}

routes:
  {ASSISTANT_ROUTE}
  "+14067704205": {{assistant: support}}
"""


def _step(cli: Cli, stack: Path, summary: str) -> str:
    """Plan (changes expected, with this summary line), apply, then an empty second plan. The plan text."""
    plan = cli("plan", str(stack), "--detailed-exitcode", code=2).stdout
    assert summary in plan, plan
    cli("apply", "--auto-approve", str(stack))
    again = cli("plan", str(stack), "--detailed-exitcode", code=0).stdout
    assert "No changes." in again
    return plan


def _vapi_number(sandbox: SandboxServer, number: str) -> dict[str, Any]:
    return next(n for n in sandbox.objects("phone-number") if n["number"] == number)


def _wavix_destinations(sandbox: SandboxServer, number: str) -> list[dict[str, Any]]:
    items = sandbox.get("wavix", "/v1/numbers", per_page=100)["items"]
    return list(next(n for n in items if n["number"] == number)["destination"])


def test_a_week_of_edits(cli: Cli, sandbox: SandboxServer) -> None:
    sandbox.seed(numbers={"wavix": ["+61290597521", "+14067704205"]})
    stack = cli.stack("week.yaml", _stack())
    cli("apply", "--auto-approve", str(stack))
    cli("plan", str(stack), "--detailed-exitcode", code=0)
    [assistant] = sandbox.objects("assistant")
    assert assistant["model"]["messages"][0]["content"] == PROMPT + "\n"

    # Monday: rename the assistant's display name
    cli.edit(stack, "    name: Support\n", "    name: Support Desk\n")
    plan = _step(cli, stack, "Plan: 0 to add, 1 to change, 0 to destroy.")
    assert '~ name = "Support" -> "Support Desk"' in plan
    assert sandbox.objects("assistant")[0]["name"] == "Support Desk"

    # one word in a 3,000-character prompt: visible in text, markdown and a saved plan shown later
    assert len(PROMPT) > 3000
    cli.edit(stack, "Rule 7: Never promise refunds.", "Rule 7: Never promise discounts.")
    text = cli("plan", str(stack), "--out", "plan.bin", "--detailed-exitcode", code=2).stdout
    assert "      -     Rule 7: Never promise refunds." in text
    assert "      +     Rule 7: Never promise discounts." in text
    assert "# (7 unchanged lines hidden)" in text and "# (33 unchanged lines hidden)" in text
    assert "Rule 8" not in text and "…" not in text  # unchanged lines collapse; nothing is cut
    markdown = cli("plan", str(stack), "--format", "markdown", code=0).stdout
    diff = markdown[markdown.index("```diff"):markdown.index("<details>")]
    assert "-     Rule 7: Never promise refunds." in diff and "+     Rule 7: Never promise discounts." in diff
    sandbox.clear_stats()
    shown = cli("show", "plan.bin").stdout
    shown_md = cli("show", "plan.bin", "--format", "markdown").stdout
    shown_json = json.loads(cli("show", "plan.bin", "--format", "json").stdout)
    [content] = [f for c in shown_json["resource_changes"] for f in c["change"]["fields"]]
    assert content["after"].endswith("Rule 7: Never promise discounts.\n" + "\n".join(RULES[7:]) + "\n")
    assert sandbox.stats()["total"] == 0  # show reads the file alone
    assert shown == text and "+     Rule 7: Never promise discounts." in shown_md
    _step(cli, stack, "Plan: 0 to add, 1 to change, 0 to destroy.")
    assert "Rule 7: Never promise discounts." in sandbox.objects("assistant")[0]["model"]["messages"][0]["content"]

    # Tuesday: route server_url -> assistant -> server_url; the old route's value is cleared each time
    cli.edit(stack, ASSISTANT_ROUTE, SERVER_ROUTE)
    plan = _step(cli, stack, "Plan: 0 to add, 1 to change, 0 to destroy.")
    assert re.search(r'- assistantId = "[0-9a-f-]{36}" -> null', plan), plan
    assert '+ server = {\n' in plan and '+   "url": "https://hooks.example.com/assistant-request"' in plan, plan
    live = _vapi_number(sandbox, "+61290597521")
    assert live.get("assistantId") is None and live["server"]["url"] == "https://hooks.example.com/assistant-request"
    cli.edit(stack, SERVER_ROUTE, ASSISTANT_ROUTE)
    plan = _step(cli, stack, "Plan: 0 to add, 1 to change, 0 to destroy.")
    assert re.search(r"- server = \{\n.*\"url\": \"https://hooks.example.com/assistant-request\"", plan), plan
    assert "} -> null" in plan
    live = _vapi_number(sandbox, "+61290597521")
    assert live.get("server") is None and live["assistantId"] == sandbox.objects("assistant")[0]["id"]
    cli.edit(stack, ASSISTANT_ROUTE, SERVER_ROUTE)
    _step(cli, stack, "Plan: 0 to add, 1 to change, 0 to destroy.")
    live = _vapi_number(sandbox, "+61290597521")
    assert live.get("assistantId") is None and live["server"]["url"] == "https://hooks.example.com/assistant-request"

    # Wednesday: first_message and metadata removed from the stack are cleared live (all but voxplan's owner marker)
    cli.edit(stack, "    first_message: Hello, you've reached support.\n", "")
    cli.edit(stack, "    metadata: {team: support, tier: gold}\n", "")
    plan = _step(cli, stack, "Plan: 0 to add, 1 to change, 0 to destroy.")
    assert "- firstMessage = \"Hello, you've reached support.\" -> null" in plan
    assert '- metadata.tier = "gold" -> null' in plan and '- metadata.team = "support" -> null' in plan
    [assistant] = sandbox.objects("assistant")
    assert assistant.get("firstMessage") is None and assistant.get("metadata") == {"voxplan": "week"}
    assert assistant["name"] == "Support Desk" and assistant["model"]["model"] == "gpt-4o"

    # Thursday: rotate the trunk password: Wavix and Vapi in one apply, never shown
    cli.env["WAVIX_TRUNK_PASSWORD"] = "rotated-wavix-pw-5Tg8"
    plan = _step(cli, stack, "Plan: 0 to add, 2 to change, 0 to destroy.")
    assert "~ password = (sensitive)" in plan and "~ outboundAuthenticationPlan.authPassword = (sensitive)" in plan
    assert "rotated-wavix-pw-5Tg8" not in plan
    [cred] = sandbox.objects("credential")
    assert sandbox.secret_matches(cred["id"], "outboundAuthenticationPlan.authPassword", "rotated-wavix-pw-5Tg8")

    # Friday: move a number from Vapi to OpenAI, then remove it: unroute, no destroy banner
    cli.edit(stack, '"+14067704205": {assistant: support}', '"+14067704205": {openai: proj_XnGzQBp38qGPqjV5GaYVXVGY}')
    plan = _step(cli, stack, "Plan: 0 to add, 1 to change, 1 to destroy.")
    assert "# vapi.phone_number/+14067704205 will be destroyed" in plan
    assert [n["number"] for n in sandbox.objects("phone-number")] == ["+61290597521"]
    assert "sip.api.openai.com" in _wavix_destinations(sandbox, "14067704205")[0]["destination"]
    cli.edit(stack, '  "+14067704205": {openai: proj_XnGzQBp38qGPqjV5GaYVXVGY}\n', "")
    cli.edit(stack, '  "+14067704205": {carrier: wavix, trunk: wavix-main}\n', "")
    markdown = cli("plan", str(stack), "--format", "markdown", code=0).stdout
    assert "⚪ unroute" in markdown and "[!WARNING]" not in markdown and "🔴" not in markdown
    assert "**Plan: 0 to add, 0 to change, 0 to destroy, 1 to unroute.**" in markdown
    plan = _step(cli, stack, "Plan: 0 to add, 0 to change, 0 to destroy, 1 to unroute.")
    assert "# wavix.number/+14067704205 will be unrouted" in plan and "will be destroyed" not in plan
    assert _wavix_destinations(sandbox, "14067704205") == []  # still on the account, no longer routed

    # the weekend: protect the assistant, then take protect off again; each is recorded by its own apply
    state_file = cli.workdir / ".voxplan" / "week.state.json"
    cli.edit(stack, "    name: Support Desk\n", "    name: Support Desk\n    lifecycle: {protect: true}\n")
    plan = _step(cli, stack, "1 lifecycle change(s) to record in state.")
    assert "~ lifecycle.protect = false -> true  # recorded in state" in plan
    assert _protected(state_file) == {"vapi.assistant/support"}
    cli.edit(stack, "    lifecycle: {protect: true}\n", "")
    plan = _step(cli, stack, "1 lifecycle change(s) to record in state.")
    assert "~ lifecycle.protect = true -> false  # recorded in state" in plan
    assert _protected(state_file) == set()


def _protected(state_file: Path) -> set[str]:
    state = json.loads(state_file.read_text())
    addresses = {a for a, e in state["resources"].items() if e.get("protect")}
    journal = state_file.with_name(state_file.name + ".journal")
    if journal.exists():  # a later line for an address wins
        for line in journal.read_text().splitlines():
            record = json.loads(line)
            if "put" in record:
                addresses.discard(record["put"])
                if record["entry"].get("protect"):
                    addresses.add(record["put"])
    return addresses
