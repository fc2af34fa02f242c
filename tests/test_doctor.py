"""`voxplan doctor`: read-only probes of every unconfirmed vendor assumption, against the served sandbox."""

from __future__ import annotations

import httpx

from tests.conftest import Cli, SandboxServer


def test_doctor_reports_each_assumption_and_changes_nothing(cli: Cli, sandbox: SandboxServer) -> None:
    sandbox.seed(numbers={"wavix": ["+61290597521", "+14067704205"]})
    stack = cli.stack("wavix-vapi.yaml")
    cli("apply", "--auto-approve", str(stack))
    httpx.post(f"{sandbox.url}/_sandbox/quirks", json={"vapi": {"total_pages": False}}).raise_for_status()
    before = sandbox.stats()["mutations"]
    out = cli("doctor", str(stack)).stdout
    assert sandbox.stats()["mutations"] == before  # read-only
    assert "[vapi] v1 lists come newest first, or oldest first" in out
    assert "metadata has totalItems present, totalPages absent, hasNextPage absent" in out
    assert "authPassword returned on 0 of 1 credentials" in out
    assert "list items carry none of ip_restrict" in out
    assert "voxplan/providers/wavix/network.py: DID_PLACEHOLDER" in out and "not probed" in out
    assert out.count("  voxplan: ") == out.count("  found:   ") == 6
    cli("plan", str(stack), "--detailed-exitcode", code=0)


def test_doctor_sees_an_echoed_password_without_printing_it(cli: Cli, sandbox: SandboxServer) -> None:
    httpx.post(f"{sandbox.url}/_sandbox/quirks", json={"vapi": {"echo_write_only": True}}).raise_for_status()
    stack = cli.stack("byo-trunk.yaml")
    cli("apply", "--auto-approve", str(stack))
    out = cli("doctor", str(stack)).stdout
    assert "outboundAuthenticationPlan.authPassword returned on 1 of 1 credentials" in out
    assert cli.env["PBX_TRUNK_PASSWORD"] not in out  # and conftest looks for every canary everywhere
    cli("plan", str(stack), "--detailed-exitcode", code=0)
