"""A field that held a secret and now holds a plain value is no longer fingerprinted: the review found
`first_message: "${env:GREETING}"` changed to plain text left its old fingerprint in state, and every plan and
drift after it reported a change forever."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import CANARIES, Cli, SandboxServer

STACK = """\
version: 1
stack: greet
assistants:
  front: {{name: Front, first_message: {first}}}
"""


def test_a_secret_first_message_made_plain_plans_empty_after_its_apply(cli: Cli, sandbox: SandboxServer,
                                                                        tmp_path: Path) -> None:
    stack = tmp_path / "greet.yaml"
    cli.env["GREETING"] = CANARIES["CANARY"]
    stack.write_text(STACK.format(first='"${env:GREETING}"'))
    cli("apply", "--auto-approve", str(stack))
    cli("plan", str(stack), "--detailed-exitcode", code=0)
    stack.write_text(STACK.format(first="Hello plain"))
    plan = cli("plan", str(stack), "--detailed-exitcode", code=2)
    assert CANARIES["CANARY"] not in plan.stdout + plan.stderr  # the live side still holds the old secret
    cli("apply", "--auto-approve", str(stack))
    cli("plan", str(stack), "--detailed-exitcode", code=0)
    cli("drift", str(stack), code=0)
