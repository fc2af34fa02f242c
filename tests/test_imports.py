"""`imports:` (Terraform's import blocks): a stack adopts an object by its id where nothing else would find it
again, a Vapi tool of a type without a name above all (two environments must never adopt each other's)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Cli, SandboxServer

STACK = """\
version: 1
stack: support
tools:
  transfer-reception:
    transfer: [{sip: "sip:reception@pbx.example.com", when: The caller asks for a person.}]
"""


def _tools(sandbox: SandboxServer) -> list[dict[str, object]]:
    return [t for t in sandbox.objects("tool") if t.get("type") == "transferCall"]


def test_a_nameless_tool_is_adopted_by_its_id_and_never_made_twice(cli: Cli, sandbox: SandboxServer) -> None:
    first = cli.workdir / "first" / "support.yaml"
    first.parent.mkdir()
    first.write_text(STACK)
    cli("apply", "--auto-approve", str(first))
    [tool] = _tools(sandbox)

    # a new stack file and no state: without imports, a plan would make a second tool (nothing names it)
    second = cli.workdir / "second" / "support.yaml"
    second.parent.mkdir()
    second.write_text(STACK)
    made = cli("plan", str(second), code=0)
    assert "will be created" in made.stdout
    # ... and says so: the account holds one with the same fields that no state holds (lost state, found by
    # review: a plan from a lost state made a second one without a word)
    assert (f"vapi.tool/transfer-reception will be created, and the account already holds vapi.tool {tool['id']} "
            "with the same fields") in made.stdout + made.stderr
    assert f"imports: {{vapi.tool/transfer-reception: {tool['id']}}}" in made.stdout + made.stderr
    second.write_text(STACK + f"imports:\n  vapi.tool/transfer-reception: {tool['id']}\n")
    plan = cli("plan", str(second), "--detailed-exitcode", code=2).stdout
    assert "vapi.tool/transfer-reception will be imported" in plan and "will be created" not in plan
    cli("apply", "--auto-approve", str(second))
    assert _tools(sandbox) == [tool]  # adopted, not made again, and nothing about it changed
    cli("plan", str(second), "--detailed-exitcode", code=0)
    cli("plan", str(second), "--detailed-exitcode", code=0)  # inert once in state


def test_an_import_of_an_id_the_account_lacks_or_an_address_the_stack_lacks_stops_before_any_write(
        cli: Cli, sandbox: SandboxServer, tmp_path: Path) -> None:
    stack = tmp_path / "support.yaml"
    stack.write_text(STACK + "imports:\n  vapi.tool/transfer-reception: 00000000-0000-4000-8000-000000000000\n")
    before = sandbox.stats()["mutations"]
    error = cli("apply", "--auto-approve", str(stack), code=1).stderr
    assert "imports: names 00000000-0000-4000-8000-000000000000" in error and "no vapi.tool with that id" in error
    assert error.startswith(f"Error: {stack}:7:3: vapi.tool/transfer-reception: imports:"), error  # its line
    stack.write_text(STACK + "imports:\n  vapi.tool/transfer: 00000000-0000-4000-8000-000000000000\n")
    error = cli("validate", str(stack), code=1).stderr
    assert "support.yaml:7:" in error and "imports.vapi.tool/transfer: the stack declares no such resource" in error
    assert sandbox.stats()["mutations"] == before


ENVS = """\
version: 1
stack: support
environments:
  staging: {target: "sip:ie-staging@pbx.example.com"}
  prod: {target: "sip:ie-prod@pbx.example.com"}
tools:
  t:
    transfer: [{sip: "${var:target}", when: The caller asks for a person.}]
"""


def test_an_import_names_its_environment_and_never_adopts_another_environments_object(
        cli: Cli, sandbox: SandboxServer, tmp_path: Path) -> None:
    """Found by review: one id under imports: re-pointed staging's live tool from a prod plan."""
    stack = tmp_path / "support.yaml"
    stack.write_text(ENVS)
    cli("apply", "--auto-approve", "--env", "staging", str(stack))
    [staging] = _tools(sandbox)
    stack.write_text(ENVS + f"imports:\n  vapi.tool/t: {staging['id']}\n")
    error = cli("plan", "--env", "prod", str(stack), code=1).stderr
    assert "imports.vapi.tool/t: one id adopts in the default environment only; in environment 'prod'" in error
    stack.write_text(ENVS + f"imports:\n  vapi.tool/t: {{staging: {staging['id']}}}\n")
    plan = cli("plan", "--env", "prod", str(stack), "--detailed-exitcode", code=2).stdout
    assert "will be created" in plan and "imported" not in plan  # prod gets its own
    cli("apply", "--auto-approve", "--env", "prod", str(stack))
    assert len(_tools(sandbox)) == 2
    assert [t for t in _tools(sandbox) if t["id"] == staging["id"]] == [staging]  # untouched
    cli("plan", "--env", "staging", str(stack), "--detailed-exitcode", code=0)
    cli("plan", "--env", "prod", str(stack), "--detailed-exitcode", code=0)
