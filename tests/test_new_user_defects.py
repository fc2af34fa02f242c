"""The defects a new user and an attacker hit (issue 23), each as it was reproduced: one located line (or the
right exit code), no traceback, no request, no secret. The bad-stack corpus holds the stack-only ones
(tests/bad_stacks/42-46: gateway addresses, a number with spaces)."""

from __future__ import annotations

import pytest

from tests.conftest import Cli, SandboxServer
from voxplan.stack import telephony


@pytest.mark.parametrize(("address", "problem"), [
    ("203.0.113.10", None),
    ("10.20.0.5", None),  # a PBX over a VPN or a private interconnect: voxplan cannot see the route
    ("192.168.1.20", None),
    ("100.64.0.7", None),
    ("2001:db8::10", None),
    ("[2001:db8::10]", None),
    ("sip.example.com", None),
    ("255.255.255.255", "is the broadcast address"),
    ("0.0.0.0", "is the unspecified address"),
    ("::", "is the unspecified address"),
    ("224.0.0.1", "is a multicast address"),
    ("ff02::1", "is a multicast address"),
    ("127.0.0.1", "is a loopback address"),
    ("127.8.9.10", "is a loopback address"),
    ("[::1]", "is a loopback address"),
    ("169.254.10.1", "is a link-local address"),
    ("fe80::1", "is a link-local address"),
    ("240.0.0.1", "is a reserved address"),
])
def test_gateway_addresses_no_sip_peer_can_have_are_refused(address: str, problem: str | None) -> None:
    found = telephony.gateway_problem(address)
    assert (found.message.partition(",")[0] if found else None) == problem


def test_a_number_written_with_spaces_is_refused_everywhere_a_number_goes(cli: Cli, sandbox: SandboxServer) -> None:
    stack = cli.stack("s.yaml", """version: 1
providers:
  vapi: {api_key: "${env:VAPI_API_KEY}"}
trunks:
  pbx: {carrier: byo, gateways: [{ip: 203.0.113.10}], auth: {username: vapi-trunk, password: long-enough-1}}
assistants:
  a: {name: A}
numbers:
  "+14155550199": {carrier: byo, trunk: pbx}
routes:
  "+1 415 555 0199": {assistant: a}
""")
    for command in ("validate", "plan"):
        sandbox.clear_stats()
        result = cli(command, str(stack), code=1)
        assert result.stderr.strip().splitlines()[0] == (
            f"{stack}:11:3: routes.+1 415 555 0199: '+1 415 555 0199' is not in E.164 form (it means +14155550199) "
            "(hint: write +14155550199)")
        assert sandbox.stats()["total"] == 0


def test_an_empty_password_from_the_environment_is_measured_like_any_other(cli: Cli, sandbox: SandboxServer) -> None:
    stack = cli.stack("byo-trunk.yaml")
    where = f"{stack}:21:17: trunks.office-pbx.auth.password: the password is shorter than 8 characters"
    for value in ("", "abc"):
        cli.env["PBX_TRUNK_PASSWORD"] = value
        for command in (["validate", "--sandbox"], ["validate"], ["plan"], ["apply", "--auto-approve"]):
            sandbox.clear_stats()
            result = cli(*command, str(stack), code=1)
            assert [line for line in result.stderr.splitlines() if "warning:" not in line
                    and not line.endswith("nothing was sent.")] == [
                f"{where} (hint: use a long random password)"], (value, command, result.stderr)
            assert sandbox.stats()["total"] == 0
    del cli.env["PBX_TRUNK_PASSWORD"]  # unset is not empty: offline a warning, online one error (not two)
    assert "PBX_TRUNK_PASSWORD is not set" in cli("validate", str(stack), code=0).stderr
    errors = [line for line in cli("plan", str(stack), code=1).stderr.splitlines() if "warning:" not in line
              and not line.endswith("nothing was sent.")]
    assert errors == [f"{stack}:21:17: environment variable PBX_TRUNK_PASSWORD is not set "
                      "(hint: export PBX_TRUNK_PASSWORD=... or run with --sandbox)"]
