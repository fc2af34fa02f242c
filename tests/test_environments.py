"""Environments offline: `${var:…}` from the `environments:` map and the var file, per-environment names
and owner markers in the expanded resources, and the errors a wrong environment gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from voxplan.core.context import RunContext
from voxplan.core.errors import StackErrors
from voxplan.workflow import load

STACK = """version: 1
stack: support
providers:
  vapi: {api_key: "${env:VAPI_API_KEY}"}
environments:
  staging: {greeting: Staging hello, line: support-staging}
  prod: {greeting: Hello, line: support}
tools:
  to-human:
    transfer: [{sip: "sip:desk@203.0.113.10"}]
assistants:
  front: {name: Front Desk, first_message: "${var:greeting}", tools: [to-human],
          model: {provider: openai, model: gpt-4o}}
numbers:
  "sip:${var:line}@sip.vapi.ai": {carrier: vapi}
routes:
  "sip:${var:line}@sip.vapi.ai": {assistant: front}
"""


def bodies(path: Path, environment: str) -> dict[str, dict[str, object]]:
    loaded = load(path, RunContext(env={"VAPI_API_KEY": "k"}, environment=environment))
    return {r.address: r.body for r in loaded.desired}


def test_each_environment_gets_its_values_names_and_marker(tmp_path: Path) -> None:
    path = tmp_path / "support.yaml"
    path.write_text(STACK)
    staging = bodies(path, "staging")
    assert staging["vapi.assistant/front"]["firstMessage"] == "Staging hello"
    assert staging["vapi.assistant/front"]["name"] == "Front Desk-staging"
    assert staging["vapi.assistant/front"]["metadata"] == {"voxplan": "support/staging"}
    # Vapi's current transferCall DTO has no name (and no `function`): a transfer tool cannot carry the
    # environment, and is matched by its destinations (with postgres, claims keep environments apart)
    assert "function" not in staging["vapi.tool/to-human"]
    assert "vapi.phone_number/sip:support-staging@sip.vapi.ai" in staging
    prod = bodies(path, "prod")
    assert prod["vapi.assistant/front"]["name"] == "Front Desk-prod"
    assert "vapi.phone_number/sip:support@sip.vapi.ai" in prod


def test_a_var_file_beside_the_stack_overrides_the_map(tmp_path: Path) -> None:
    path = tmp_path / "support.yaml"
    path.write_text(STACK)
    (tmp_path / "support.vars").mkdir()
    (tmp_path / "support.vars" / "staging.yaml").write_text("greeting: From the var file\n")
    assert bodies(path, "staging")["vapi.assistant/front"]["firstMessage"] == "From the var file"


def test_the_default_environment_changes_no_name(tmp_path: Path) -> None:
    path = tmp_path / "plain.yaml"
    path.write_text("version: 1\nstack: plain\nassistants:\n  front: {name: Front Desk}\n")
    assert bodies(path, "")["vapi.assistant/front"] == {"name": "Front Desk", "metadata": {"voxplan": "plain"}}


@pytest.mark.parametrize(("environment", "message"), [
    ("qa", "environment 'qa' is not declared under environments: (declared: prod, staging)"),
    ("", "variable greeting is not set for environment 'default'"),
])
def test_an_unknown_environment_or_unset_variable_is_an_error(tmp_path: Path, environment: str,
                                                              message: str) -> None:
    path = tmp_path / "support.yaml"
    path.write_text(STACK)
    with pytest.raises(StackErrors) as caught:
        bodies(path, environment)
    assert any(message in d.message for d in caught.value.diagnostics), caught.value


def test_a_state_copied_from_another_environment_is_refused_naming_both(tmp_path: Path) -> None:
    from voxplan.core.errors import StateError
    from voxplan.state import Entry, LocalStore, State

    staging = tmp_path / "support.staging.state.json"
    State.open(LocalStore(staging, "support", "staging"), key=bytes(32)).put("vapi.tool/t", Entry("vapi.tool", "t1"))
    copied = tmp_path / "support.prod.state.json"
    copied.write_text(staging.read_text())
    (tmp_path / "support.prod.state.json.journal").write_text(
        (tmp_path / "support.staging.state.json.journal").read_text())
    with pytest.raises(StateError, match="belongs to environment 'staging' of stack 'support', not 'prod'"):
        State.open(LocalStore(copied, "support", "prod"), key=bytes(32))


def test_a_tool_keeps_its_name_in_every_environment(tmp_path: Path) -> None:
    """A tool's name is what the model calls and the customer's server dispatches on: `lookup-staging` would
    break the server's code in staging (found by review). Tools are told apart by state, never by name."""
    path = tmp_path / "tools.yaml"
    path.write_text(STACK.replace("tools:\n", "tools:\n  check: {type: apiRequest, name: check_stock, method: GET, "
                                             "url: \"https://shop.example.com/stock\"}\n"
                                             "  shell: {type: bash, subType: bash_20241022, name: bash}\n"
                                             "  lookup: {type: function, function: {name: lookup}}\n"))
    staging = bodies(path, "staging")
    assert staging["vapi.tool/check"]["name"] == "check_stock"
    assert staging["vapi.tool/lookup"]["function"] == {"name": "lookup"}
    assert staging["vapi.tool/shell"]["name"] == "bash"
