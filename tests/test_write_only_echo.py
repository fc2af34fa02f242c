"""Write-only values a vendor echoes never reach state, a plan or any output (Vapi's SDK models a SIP
number's `authentication.password` as returned; whether Vapi does is unconfirmed, fact sheet §12)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Cli, SandboxServer, loopback

# quotes, a backslash and non-ASCII: each escaped its own way in JSON, so each encoding is looked for
CANARY = 'cAnary"q\\uote-é-ü-密码-7Xk2Lm9'
PBX = "cAnary-pbx-\\\"échoed\"-4Wd8"
STACK = """version: 1
stack: echoes
providers:
  vapi: {api_key: "${env:VAPI_API_KEY}"}
trunks:
  office:
    carrier: byo
    gateways: [{ip: 203.0.113.10}]
    auth: {username: vapi-trunk, password: "${env:ECHO_PBX_PASSWORD}"}
assistants:
  desk: {name: Desk, first_message: Hello.}
numbers:
  "sip:echo-line@sip.vapi.ai":
    carrier: vapi
    auth: {username: echo-line-user-0123456, password: "${env:ECHO_SIP_PASSWORD}"}
  "+61290597521": {carrier: byo, trunk: office}
routes:
  "sip:echo-line@sip.vapi.ai": {assistant: desk}
  "+61290597521": {assistant: desk}
"""


def _encodings(secret: str) -> set[str]:
    return {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
            secret.encode("unicode_escape").decode()}


def _leaks(texts: list[str], root: Path) -> list[str]:
    files = [(str(p), p.read_text(errors="replace")) for p in root.rglob("*")
             if p.is_file() and "sandbox" not in p.parts]
    return [where for where, text in [("output", t) for t in texts] + files
            for secret in (CANARY, PBX) for form in _encodings(secret) if form in text]


def test_an_emulator_that_echoes_sip_passwords_leaves_no_canary_in_state_or_output(
        cli: Cli, sandbox: SandboxServer) -> None:
    loopback.post(f"{sandbox.url}/_sandbox/quirks", json={"vapi": {"echo_write_only": True}}).raise_for_status()
    cli.env.update(ECHO_SIP_PASSWORD=CANARY, ECHO_PBX_PASSWORD=PBX)
    stack = cli.stack("echoes.yaml", STACK)
    cli("apply", "--auto-approve", str(stack))
    echoed = {n["sipUri"]: n for n in sandbox.objects("phone-number") if n.get("sipUri")}
    assert echoed["sip:echo-line@sip.vapi.ai"]["authentication"]["password"] == CANARY  # the variant echoes
    [cred] = sandbox.objects("credential")
    assert cred["outboundAuthenticationPlan"]["authPassword"] == PBX
    cli("plan", str(stack), "--detailed-exitcode", code=0)
    for fmt in ("text", "json", "markdown"):
        cli("plan", str(stack), "--format", fmt)
    cli("state", "show", str(stack), "vapi.phone_number/sip:echo-line@sip.vapi.ai")
    cli("drift", str(stack), "--format", "json")
    assert _leaks(cli.outputs, cli.workdir) == []
