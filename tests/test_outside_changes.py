"""Plans a reviewer reads at a glance (issue 23, item 3): what changed outside voxplan since the last apply is
listed apart from the stack's own changes (text, markdown, JSON); `drift` reports only that, and a change
declared but not applied yet is pending, not drift."""

from __future__ import annotations

import json

from tests.conftest import Cli, SandboxServer


def edit_assistant(sandbox: SandboxServer, **fields: object) -> None:
    [assistant] = sandbox.objects("assistant")
    with sandbox.vapi() as vapi:
        vapi.patch(f"/assistant/{assistant['id']}", json=fields).raise_for_status()


def test_a_plan_lists_outside_changes_apart_from_the_stacks_own(cli: Cli, sandbox: SandboxServer) -> None:
    stack = cli.stack("byo-trunk.yaml")
    cli("apply", "--auto-approve", str(stack))
    edit_assistant(sandbox, name="Renamed in the dashboard")
    cli.edit(stack, "  to-reception:\n", "  to-reception:\n    # a comment\n")  # no change
    [tool] = sandbox.objects("tool")
    text = cli("plan", str(stack)).stdout
    outside, _, planned = text.partition("voxplan will perform the following actions:")
    assert outside.startswith("Note: Changed outside voxplan since the last apply:")
    assert "# vapi.assistant/front-desk has changed" in outside
    assert '~ name = "Front Desk" -> "Renamed in the dashboard"' in outside
    assert tool["id"] not in outside  # only what moved
    assert '~ name = "Renamed in the dashboard" -> "Front Desk"' in planned

    markdown = cli("plan", str(stack), "--format", "markdown").stdout
    head, _, rest = markdown.partition("### Plan")
    assert "### Changed outside voxplan since the last apply" in head
    assert "| `vapi.assistant/front-desk` | `name` |" in head
    assert "**Plan: 0 to add, 1 to change, 0 to destroy.**" in rest

    data = json.loads(cli("plan", str(stack), "--format", "json").stdout)
    [drift] = data["resource_drift"]
    assert drift["address"] == "vapi.assistant/front-desk"
    assert drift["change"]["before"]["name"] == "Front Desk"
    assert drift["change"]["after"]["name"] == "Renamed in the dashboard"
    assert [f["path"] for f in drift["change"]["fields"]] == ["name"]

    # a saved plan shows the same sections again
    cli("plan", str(stack), "--out", "plan.json")
    assert cli("show", "plan.json").stdout == text


def test_drift_reports_only_outside_changes_and_names_pending_ones_apart(cli: Cli, sandbox: SandboxServer) -> None:
    stack = cli.stack("byo-trunk.yaml")
    cli("apply", "--auto-approve", str(stack))
    cli("drift", str(stack), code=0)
    # merged, not applied: pending, not drift
    cli.edit(stack, "name: Front Desk", "name: Front Desk Two")
    result = cli("drift", str(stack), code=0)
    assert result.stdout.strip() == f"{stack} [byo-trunk]: no drift; 1 change(s) pending: declared, not applied yet"
    markdown = cli("drift", str(stack), "--format", "markdown", code=0).stdout
    assert markdown.startswith("## voxplan drift: `byo-trunk`\n\n**No drift.**")
    assert "Pending, not drift: 1 change(s)" in markdown and "`vapi.assistant/front-desk`" in markdown
    # an edit in the dashboard is drift, whatever is pending
    [tool] = sandbox.objects("tool")
    with sandbox.vapi() as vapi:
        vapi.patch(f"/tool/{tool['id']}", json={"destinations": []}).raise_for_status()
    result = cli("drift", str(stack), code=2)
    assert "drifted (1 object(s) changed outside voxplan; 1 change(s) pending" in result.stdout
    assert "# vapi.tool/to-reception has changed" in result.stdout
    assert "vapi.assistant/front-desk" not in result.stdout  # pending is counted, not shown as drift
    markdown = cli("drift", str(stack), "--format", "markdown", code=2).stdout
    assert markdown.startswith("## voxplan drift: `byo-trunk`\n\n**Drift: 1 object(s) changed outside voxplan")
    assert "voxplan plan" not in markdown
    data = json.loads(cli("drift", str(stack), "--format", "json", code=2).stdout)
    [report] = data["stacks"]
    assert report["drifted"] and report["pending"] == ["vapi.assistant/front-desk"]
    lines = [json.loads(line) for line in cli("drift", str(stack), "--json", code=2).stdout.splitlines()]
    assert lines[0]["outside"] == ["vapi.tool/to-reception"] and lines[0]["pending"] == ["vapi.assistant/front-desk"]
    # an object deleted outside voxplan is drift too
    cli("apply", "--auto-approve", str(stack))
    cli("drift", str(stack), code=0)
    with sandbox.vapi() as vapi:
        vapi.delete(f"/tool/{tool['id']}").raise_for_status()
    result = cli("drift", str(stack), code=2)
    assert "# vapi.tool/to-reception has been deleted" in result.stdout


def test_outside_changes_keep_secrets_masked(cli: Cli, sandbox: SandboxServer) -> None:
    stack = cli.stack("byo-trunk.yaml")
    cli.edit(stack, "first_message: Thanks for calling, how can I help?", 'first_message: "${env:CANARY}"')
    cli("apply", "--auto-approve", str(stack))
    edit_assistant(sandbox, firstMessage="Edited: " + cli.env["CANARY"])  # the secret, edited elsewhere
    text = cli("plan", str(stack)).stdout
    assert "# vapi.assistant/front-desk has changed" in text and "(sensitive)" in text
    cli("plan", str(stack), "--format", "json")
    cli("plan", str(stack), "--format", "markdown")
    cli("drift", str(stack), "--format", "markdown", code=2)  # the cli fixture scans every output for the canary


def test_the_markdown_title_names_the_environment(cli: Cli, sandbox: SandboxServer) -> None:
    stack = cli.stack("env.yaml", "version: 1\nstack: support\nenvironments:\n  staging: {}\n"
                                  "assistants:\n  front: {name: Front Desk}\n")
    assert cli("plan", str(stack), "--format", "markdown").stdout.startswith("## voxplan plan: `support`\n")
    assert cli("plan", str(stack), "--env", "staging", "--format", "markdown").stdout.startswith(
        "## voxplan plan: `support` · environment `staging`\n")
