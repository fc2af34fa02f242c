"""`voxplan drift STACK --adopt`: a dashboard edit written back into the stack file, only at its fields, every
comment kept, against `voxplan sandbox serve` over HTTP."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import STACKS, Cli, SandboxServer

NEW_PROMPT = "You are a friendly support agent. Billing questions go to a person too."


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def applied(cli: Cli, sandbox: SandboxServer) -> Path:
    """stacks/wavix-vapi.yaml applied, in a git repository whose last commit is that stack."""
    sandbox.seed(numbers={"wavix": ["+61290597521", "+14067704205"]})
    stack = cli.stack("wavix-vapi.yaml")
    cli("apply", "--auto-approve", str(stack))
    git(cli.workdir, "init", "-q")
    git(cli.workdir, "add", stack.name)
    git(cli.workdir, "commit", "-qm", "wavix-vapi")
    return stack


def edit_in_dashboards(sandbox: SandboxServer) -> None:
    """The assistant's prompt fixed in Vapi's dashboard, the forward number re-routed in Wavix's portal."""
    [assistant] = sandbox.objects("assistant")
    model = {**assistant["model"], "messages": [{"role": "system", "content": NEW_PROMPT}]}
    with sandbox.vapi() as vapi:
        vapi.patch(f"/assistant/{assistant['id']}", json={"model": model}).raise_for_status()
    numbers = {n["number"]: n for n in sandbox.get("wavix", "/v1/numbers", per_page=100)["items"]}
    with sandbox.vendor("wavix") as wavix:
        wavix.patch(f"/v1/numbers/{numbers['14067704205']['id']}", json={"destinations": [
            {"destination": "61280000099", "transport": 4, "priority": 1}]}).raise_for_status()


def test_adopting_two_dashboard_edits_changes_only_their_fields(cli: Cli, sandbox: SandboxServer,
                                                                applied: Path) -> None:
    before = applied.read_text()
    edit_in_dashboards(sandbox)
    cli("drift", str(applied), code=2)

    result = cli("drift", str(applied), "--adopt", "vapi.assistant/support", "wavix.number/+14067704205")
    assert result.stdout.splitlines() == [
        f"Adopted into {applied}: assistants.support.model.system, routes.+14067704205.forward",
        "State records the adopted values as applied: vapi.assistant/support, wavix.number/+14067704205."]
    diff = git(cli.workdir, "diff", "--unified=0", applied.name)
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert changed == [
        "-      system: You are a friendly support agent. Transfer to a person when asked.",
        f"+      system: {NEW_PROMPT}",
        '-  "+14067704205": {forward: "+61280000000"}   # the transfer target: its own routing goes to a person',
        '+  "+14067704205": {forward: "+61280000099"}   # the transfer target: its own routing goes to a person',
    ]
    after = applied.read_text()
    assert [line.split("#", 1)[1] for line in after.splitlines() if "#" in line] == \
        [line.split("#", 1)[1] for line in before.splitlines() if "#" in line]  # every comment, in place
    cli("plan", str(applied), "--detailed-exitcode", code=0)
    cli("drift", str(applied), code=0)


def test_one_field_of_an_address_and_nothing_else(cli: Cli, sandbox: SandboxServer, applied: Path) -> None:
    edit_in_dashboards(sandbox)
    cli("drift", str(applied), "--adopt", "wavix.number/+14067704205.destinations")
    diff = git(cli.workdir, "diff", "--unified=0", applied.name)
    assert "+61280000099" in diff and NEW_PROMPT not in diff
    plan = cli("plan", str(applied), "--detailed-exitcode", code=2)
    assert "vapi.assistant/support will be updated in-place" in plan.stdout  # the prompt, not adopted
    assert "wavix.number/+14067704205 will be" not in plan.stdout
    drift = cli("drift", str(applied), code=2)
    assert "vapi.assistant/support" in drift.stdout and "wavix.number" not in drift.stdout


def test_what_is_not_drift_is_not_adopted(cli: Cli, sandbox: SandboxServer, applied: Path) -> None:
    """A field the stack changed since the last apply is pending, not drift: adopting it would undo that
    change. An address with no drifted field, and no terminal to ask on, are errors; nothing is written."""
    edit_in_dashboards(sandbox)
    cli.edit(applied, "first_message: Hello, you've reached support.", "first_message: Hi, support here.")
    pending = applied.read_text()
    refused = cli("drift", str(applied), "--adopt", "vapi.assistant/support.firstMessage", code=1)
    assert "has no drifted field 'firstMessage'" in refused.stderr
    nothing = cli("drift", str(applied), "--adopt", "vapi.tool/to-human", code=1)
    assert "not a drifted address or field of this stack" in nothing.stderr
    asked = cli("drift", str(applied), "--adopt", code=1)
    assert "stdin is not a terminal" in asked.stderr
    assert applied.read_text() == pending
    cli("drift", str(applied), "--adopt", "vapi.assistant/support")
    assert NEW_PROMPT in applied.read_text() and "first_message: Hi, support here." in applied.read_text()


def test_a_drifted_secret_is_reported_never_written(cli: Cli, sandbox: SandboxServer) -> None:
    sandbox.seed(numbers={"wavix": ["+61290597521", "+14067704205"]})
    stack = cli.stack("wavix-vapi.yaml", (STACKS / "wavix-vapi.yaml").read_text().replace(
        "first_message: Hello, you've reached support. How can I help?", 'first_message: "${env:CANARY}"'))
    cli("apply", "--auto-approve", str(stack))
    [assistant] = sandbox.objects("assistant")
    with sandbox.vapi() as vapi:
        vapi.patch(f"/assistant/{assistant['id']}", json={"firstMessage": "Changed in the dashboard"}
                   ).raise_for_status()
    text = stack.read_text()
    result = cli("drift", str(stack), "--adopt", "vapi.assistant/support")
    assert "Not adopted: vapi.assistant/support.firstMessage: a secret" in result.stderr
    assert stack.read_text() == text
    assert "Changed in the dashboard" not in result.output


def test_on_a_terminal_it_asks_about_each_field(cli: Cli, sandbox: SandboxServer, applied: Path) -> None:
    """Without addresses, each drifted field is offered with its live value; only a yes adopts it."""
    edit_in_dashboards(sandbox)
    main, child = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "voxplan", "drift", str(applied), "--adopt"], cwd=cli.workdir,
                            env={**os.environ, **cli.env}, stdin=child, stdout=child, stderr=child, close_fds=True)
    os.close(child)
    seen = b""
    answers = iter([b"n\n", b"y\n"])
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.5)
        if not ready:
            continue
        try:
            chunk = os.read(main, 4096)
        except OSError:
            break
        seen += chunk
        if chunk.rstrip().endswith(b"[y/N]:"):
            os.write(main, next(answers))
    proc.wait(timeout=30)
    os.close(main)
    text = seen.decode()
    cli.outputs.append(text)
    assert proc.returncode == 0, text
    assert "Adopt vapi.assistant/support.model.messages[0].content = " in text
    assert "Adopt wavix.number/+14067704205.destinations[0].destination = \"61280000099\"" in text
    assert '"+14067704205": {forward: "+61280000099"}' in applied.read_text()  # the yes
    assert NEW_PROMPT not in applied.read_text()  # the no


def test_re_routing_away_from_vapi_says_what_follows(cli: Cli, sandbox: SandboxServer, applied: Path) -> None:
    """A number re-pointed in Wavix's portal from Vapi to a PBX: the route becomes a SIP route, and the Vapi
    phone number it no longer needs is named as what the next apply deletes."""
    numbers = {n["number"]: n for n in sandbox.get("wavix", "/v1/numbers", per_page=100)["items"]}
    with sandbox.vendor("wavix") as wavix:
        wavix.patch(f"/v1/numbers/{numbers['61290597521']['id']}", json={"destinations": [
            {"destination": "desk@pbx.example.com", "transport": 1, "priority": 1}]}).raise_for_status()
    result = cli("drift", str(applied), "--adopt", "wavix.number/+61290597521")
    assert '"+61290597521": {sip: "sip:desk@pbx.example.com"}' in applied.read_text()
    assert "Note: with the stack as adopted, vapi.phone_number/+61290597521 will be destroyed" in result.stderr
    cli("apply", "--auto-approve", str(applied))
    cli("plan", str(applied), "--detailed-exitcode", code=0)


def test_a_name_adopted_in_a_named_environment_is_written_without_the_environment(
        cli: Cli, sandbox: SandboxServer, tmp_path: Path) -> None:
    """In `--env prod` every name carries `-prod`; adopting a renamed assistant wrote `Reception-prod` into the
    file all environments share, and staging then planned `Reception-prod-staging` (found by review)."""
    stack = tmp_path / "e2.yaml"
    stack.write_text("version: 1\nstack: e2\nenvironments: {staging: {}, prod: {}}\n"
                     "assistants:\n  front: {name: Front E2}  # the desk\n")
    cli("apply", "--auto-approve", "--env", "prod", str(stack))
    cli("apply", "--auto-approve", "--env", "staging", str(stack))
    [prod] = [a for a in sandbox.objects("assistant") if a["name"] == "Front E2-prod"]
    with sandbox.vapi() as vapi:
        vapi.patch(f"/assistant/{prod['id']}", json={"name": "Reception E2-prod"}).raise_for_status()
    report = cli("drift", "--env", "prod", str(stack), code=None).stdout
    assert f"{stack} [e2, environment prod]: drifted (1 object(s)" in report  # which environment drifted
    cli("drift", "--env", "prod", str(stack), "--adopt", "vapi.assistant/front")
    assert "front: {name: Reception E2}  # the desk\n" in stack.read_text()
    cli("plan", "--env", "prod", str(stack), "--detailed-exitcode", code=0)
    staging = cli("plan", "--env", "staging", str(stack), "--detailed-exitcode", code=2).stdout
    assert '"Front E2-staging" -> "Reception E2-staging"' in staging  # the rename, as staging's own name
