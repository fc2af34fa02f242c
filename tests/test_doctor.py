"""`voxplan doctor`: read-only probes of every unconfirmed vendor assumption, against the served sandbox."""

from __future__ import annotations

from tests.conftest import Cli, SandboxServer, loopback


def test_doctor_reports_each_assumption_and_changes_nothing(cli: Cli, sandbox: SandboxServer) -> None:
    sandbox.seed(numbers={"wavix": ["+61290597521", "+14067704205"]})
    stack = cli.stack("wavix-vapi.yaml")
    cli("apply", "--auto-approve", str(stack))
    loopback.post(f"{sandbox.url}/_sandbox/quirks", json={"vapi": {"total_pages": False}}).raise_for_status()
    before = sandbox.stats()["mutations"]
    out = cli("doctor", str(stack)).stdout
    assert sandbox.stats()["mutations"] == before  # read-only
    assert "[vapi] v1 lists come newest first, or oldest first" in out
    assert "metadata has totalItems present, totalPages absent, hasNextPage absent" in out
    assert "authPassword returned on 0 of 1 credentials" in out
    assert "list items carry none of ip_restrict" in out
    assert "voxplan/providers/wavix/network.py: DID_PLACEHOLDER" in out and "not probed" in out
    assert "max call rate 99.0 cents a minute, 2 concurrent outbound calls" in out
    assert "[wavix] the regional gateway nearest the platform's media is the one to transfer through" in out
    assert "nearest us.wavix.net" in out
    assert "no telnyx credential on the account" in out
    assert out.count("  voxplan: ") == out.count("  found:   ") == 9
    cli("plan", str(stack), "--detailed-exitcode", code=0)


def test_the_gateway_to_transfer_through_is_the_one_nearest_the_platforms_media() -> None:
    """Not timed from this machine (a CI runner is not where a transfer leaves from): chosen by the region
    the platform's media run in."""
    from voxplan.providers.wavix import reach

    eu = reach.gateways("eu")
    assert "nl.wavix.net 95.211.82.14" in eu.found and "nearest nl.wavix.net" in eu.found
    assert "sip:<number>@nl.wavix.net" in eu.does
    assert "sip:<number>@us.wavix.net" in reach.gateways("us").does
    assert "not known here" in reach.gateways(None).found


def test_doctor_sees_an_echoed_password_without_printing_it(cli: Cli, sandbox: SandboxServer) -> None:
    loopback.post(f"{sandbox.url}/_sandbox/quirks", json={"vapi": {"echo_write_only": True}}).raise_for_status()
    stack = cli.stack("byo-trunk.yaml")
    cli("apply", "--auto-approve", str(stack))
    out = cli("doctor", str(stack)).stdout
    assert "outboundAuthenticationPlan.authPassword returned on 1 of 1 credentials" in out
    assert cli.env["PBX_TRUNK_PASSWORD"] not in out  # and conftest looks for every canary everywhere
    cli("plan", str(stack), "--detailed-exitcode", code=0)


def test_doctor_reads_what_vapi_stores_for_a_telnyx_credential_no_document_has(cli: Cli,
                                                                                sandbox: SandboxServer) -> None:
    stack = cli.stack("telnyx.yaml", "version: 1\nstack: telnyx\nproviders:\n"
                      "  vapi: {api_key: \"${env:VAPI_API_KEY}\"}\ncredentials:\n"
                      "  telnyx-main: {provider: telnyx, apiKey: \"${env:CANARY}\"}\n")
    cli("apply", "--auto-approve", str(stack))
    out = cli("doctor", str(stack)).stdout
    assert "[vapi] a Telnyx credential is {provider: telnyx, apiKey (write-only), name}" in out
    assert "1 telnyx credential(s) with keys name; what POST /credential takes is not probed" in out
