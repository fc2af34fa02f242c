"""A vendor that breaks its contract (tests/misbehave.py, a proxy in front of the served sandbox): a list
that leaves a tracked object out, a DELETE answered with a redirect, the old object's DELETE failing
during a replacement, a POST the vendor completes after the client gave up, a 200 whose body is cut.
Each: 0 duplicates, 0 orphans, a clear error where one is due, and the second plan empty once it behaves."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.conftest import Cli, SandboxServer
from tests.misbehave import Rule, misbehaving
from tests.test_hardening import assert_no_duplicates_or_orphans, kill_at_mutation, seed

STACK = "byo-trunk.yaml"


def _through(cli: Cli, proxy_url: str) -> None:
    cli.env["VOXPLAN_VAPI_BASE_URL"] = f"{proxy_url}/vapi"


def _behaves(cli: Cli, sandbox: SandboxServer, stack: Path) -> None:
    cli.env["VOXPLAN_VAPI_BASE_URL"] = f"{sandbox.url}/vapi"
    cli("apply", "--auto-approve", str(stack))
    cli("plan", str(stack), "--detailed-exitcode", code=0)
    assert_no_duplicates_or_orphans(cli, sandbox)


def test_a_list_that_leaves_out_a_tracked_object_once_plans_nothing(cli: Cli, sandbox: SandboxServer) -> None:
    stack = cli.stack(STACK)
    cli("apply", "--auto-approve", str(stack))
    with misbehaving(sandbox.url) as box:
        box.rules.append(Rule("GET", r"^/vapi/assistant$", "drop-list-item"))
        _through(cli, box.url)
        result = cli("plan", str(stack), "--detailed-exitcode", code=0)
        assert box.log == ["drop-list-item GET /vapi/assistant"]
        assert "a GET by id found" in result.stderr and "No changes." in result.stdout
        cli("apply", "--auto-approve", str(stack))  # nothing to create: no second copy
    _behaves(cli, sandbox, stack)


def test_a_delete_answered_with_a_redirect_is_an_error_and_stays_in_state(cli: Cli, sandbox: SandboxServer) -> None:
    stack = cli.stack(STACK)
    cli("apply", "--auto-approve", str(stack))
    cli.edit(stack, "    tools: [to-reception]\n", "")
    cli.edit(stack, "tools:\n  to-reception:", "unused:\n  to-reception:")
    text = stack.read_text()
    stack.write_text(text[:text.index("unused:")] + text[text.index("assistants:"):])
    with misbehaving(sandbox.url) as box:
        box.rules.append(Rule("DELETE", r"^/vapi/tool/", "redirect", times=10))
        _through(cli, box.url)
        result = cli("apply", "--auto-approve", str(stack), code=1)
        assert "vapi.tool/to-reception" in result.stderr and "answered 302 (a redirect)" in result.stderr
        assert len(sandbox.objects("tool")) == 1  # not deleted, and state still says so:
        assert "vapi.tool/to-reception" in cli("state", "list", str(stack)).stdout
    _behaves(cli, sandbox, stack)
    assert sandbox.objects("tool") == []


def test_the_old_objects_delete_failing_during_a_replacement_leaves_it_deposed(cli: Cli,
                                                                              sandbox: SandboxServer) -> None:
    stack = cli.stack(STACK)
    cli("apply", "--auto-approve", str(stack))
    old = sandbox.objects("credential")[0]["id"]
    with misbehaving(sandbox.url) as box:
        box.rules.append(Rule("DELETE", rf"^/vapi/credential/{old}$", "fail-503", times=100))
        _through(cli, box.url)
        result = cli("apply", "--auto-approve", "--replace", "vapi.credential/office-pbx", str(stack), code=1)
        assert "vapi.credential/office-pbx" in result.stderr and "HTTP 503" in result.stderr
        listed = cli("state", "list", str(stack)).stdout
        assert f"vapi.credential/office-pbx (deposed {old})\t{old}" in listed
        plan = cli("plan", str(stack), "--detailed-exitcode", code=2).stdout
        assert f"- vapi.credential/office-pbx (deposed {old})" in plan and "did not finish" in plan
    _behaves(cli, sandbox, stack)
    assert [c["id"] for c in sandbox.objects("credential")] != [old]


def test_a_post_the_vendor_completes_after_the_client_gave_up_leaves_no_duplicate(cli: Cli,
                                                                                 sandbox: SandboxServer) -> None:
    stack = cli.stack(STACK)
    cli.edit(stack, "    api_key: ${env:VAPI_API_KEY}\n", "    api_key: ${env:VAPI_API_KEY}\n    timeout: 1\n")
    with misbehaving(sandbox.url) as box:
        box.rules.append(Rule("POST", r"^/vapi/assistant$", "late-answer", delay=1.3))
        _through(cli, box.url)
        result = cli("apply", "--auto-approve", str(stack), code=None)
        assert box.log == ["late-answer POST /vapi/assistant"]
        assert result.exit_code == 0, result.stdout + result.stderr
        assert len(sandbox.objects("assistant")) == 1, "a late POST left a duplicate"
    _behaves(cli, sandbox, stack)


def test_a_create_the_vendor_finishes_long_after_the_client_gave_up_is_adopted_not_sent_again(
        cli: Cli, sandbox: SandboxServer) -> None:
    """A vendor (or its gateway) that holds a POST past the client's timeout and then processes it: voxplan
    does not send the create again while the vendor may still be working on it; it looks the object up by
    name until then and adopts the late completion. (Here 2 s and 3.5 s; the issue's case is 30 s and 35 s.)"""
    stack = cli.stack(STACK)
    cli.edit(stack, "    api_key: ${env:VAPI_API_KEY}\n", "    api_key: ${env:VAPI_API_KEY}\n    timeout: 2\n")
    with misbehaving(sandbox.url) as box:
        box.rules.append(Rule("POST", r"^/vapi/assistant$", "late-answer", delay=3.5))
        _through(cli, box.url)
        sandbox.clear_stats()
        started = time.monotonic()
        result = cli("apply", "--auto-approve", str(stack), code=None)
        time.sleep(max(0.0, started + 5.0 - time.monotonic()))  # the held POST has been processed by now
        assert box.log == ["late-answer POST /vapi/assistant"]
        assert result.exit_code == 0, result.stdout + result.stderr
        assert sandbox.stats()["requests"]["vapi POST /assistant"] == 1, "the create was sent again"
        assert "finished a create after voxplan stopped waiting for it; adopted" in result.stdout
        assert len(sandbox.objects("assistant")) == 1, "a late create left a duplicate"
    _behaves(cli, sandbox, stack)


def test_a_200_whose_body_is_cut_stops_that_resource_and_the_rerun_adopts_it(cli: Cli,
                                                                             sandbox: SandboxServer) -> None:
    stack = cli.stack(STACK)
    with misbehaving(sandbox.url) as box:
        box.rules.append(Rule("POST", r"^/vapi/tool$", "malformed-200"))
        _through(cli, box.url)
        result = cli("apply", "--auto-approve", str(stack), code=1)
        assert "vapi.tool/to-reception" in result.stderr and "not JSON" in result.stderr
        listed = cli("state", "list", str(stack)).stdout.splitlines()
        assert not any(line.startswith("vapi.tool/to-reception\t") for line in listed)
        # a transfer tool has no name to find it by: apply noted what it sent before the POST
        assert any(line.startswith("vapi.tool/to-reception (creating)") for line in listed)
    _behaves(cli, sandbox, stack)
    assert len(sandbox.objects("tool")) == 1  # found again by what was sent, not made twice


def test_kill_9_at_every_step_of_a_replacement_leaves_no_orphan_and_no_duplicate(cli: Cli,
                                                                               sandbox: SandboxServer) -> None:
    """--replace of the credential both numbers hang on: create the new one, move both numbers to it,
    delete the old one. A kill -9 at each step (the vendor did it, the client never heard), then a plain
    apply: 0 orphans, 0 duplicates, and the second plan empty."""
    stack = cli.stack(STACK)
    cli("apply", "--auto-approve", str(stack))
    before = sandbox.stats()["mutations"]
    cli("apply", "--auto-approve", "--replace", "vapi.credential/office-pbx", str(stack))
    steps = sandbox.stats()["mutations"] - before
    assert steps == 4  # POST credential, PATCH two numbers, DELETE the old credential
    for k in range(1, steps + 1):
        kill_at_mutation(cli, sandbox, k, "apply", "--auto-approve", "--replace", "vapi.credential/office-pbx",
                         str(stack))
        cli("apply", "--auto-approve", str(stack))
        cli("plan", str(stack), "--detailed-exitcode", code=0)
        assert_no_duplicates_or_orphans(cli, sandbox)
        assert len(sandbox.objects("credential")) == 1, f"after a kill at step {k}"


@pytest.mark.parametrize(("stack", "vendor", "path", "key", "address"), [
    ("byo-trunk.yaml", "vapi", r"^/vapi/credential$", "id", "vapi.credential/office-pbx"),
    ("wavix-vapi.yaml", "wavix", r"^/wavix/v1/trunks$", "id", "wavix.trunk/wavix-main"),
    ("didlogic-vapi.yaml", "didlogic", r"^/didlogic/.*sipaccounts", "name", "didlogic.sipaccount/didlogic-nl"),
    ("cloudonix-vapi.yaml", "cloudonix", r"^/cloudonix/.*/trunks$", "id", "cloudonix.trunk/cloudonix-telnyx"),
])
def test_a_create_answered_without_its_id_is_a_located_error_and_the_rerun_adopts_it(
        cli: Cli, sandbox: SandboxServer, stack: str, vendor: str, path: str, key: str, address: str) -> None:
    seed(sandbox)
    file = cli.stack(stack)
    with misbehaving(sandbox.url) as box:
        box.rules.append(Rule("POST", path, "drop-key", key=key))
        cli.env[f"VOXPLAN_{vendor.upper()}_BASE_URL"] = f"{box.url}/{vendor}"
        result = cli("apply", "--auto-approve", str(file), code=1)
        assert box.log, "the rule never matched"
    [error] = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert re.fullmatch(rf"Error: {re.escape(address)}: HTTP 20\d: the answer holds no '{key}', the id voxplan "
                        rf"records a {address.partition('/')[0]} by", error), error
    assert address not in cli("state", "list", str(file)).stdout
    cli.env[f"VOXPLAN_{vendor.upper()}_BASE_URL"] = f"{sandbox.url}/{vendor}"
    cli("apply", "--auto-approve", str(file))  # adopted by its natural key, not made twice
    cli("plan", str(file), "--detailed-exitcode", code=0)
    assert_no_duplicates_or_orphans(cli, sandbox)


def test_a_list_item_without_its_id_stops_the_refresh_with_one_line(cli: Cli, sandbox: SandboxServer) -> None:
    seed(sandbox)
    file = cli.stack("didlogic-vapi.yaml")
    cli("apply", "--auto-approve", str(file))
    with misbehaving(sandbox.url) as box:
        box.rules.append(Rule("GET", r"^/didlogic/.*sipaccounts", "drop-key", key="name"))
        cli.env["VOXPLAN_DIDLOGIC_BASE_URL"] = f"{box.url}/didlogic"
        [line] = cli("plan", str(file), code=1).stderr.strip().splitlines()
        assert box.log, "the rule never matched"
    assert line == ("Error: refresh didlogic.sipaccount: HTTP 200: the answer holds no 'name', the id voxplan "
                    "records a didlogic.sipaccount by")
    cli.env["VOXPLAN_DIDLOGIC_BASE_URL"] = f"{sandbox.url}/didlogic"
    cli("plan", str(file), "--detailed-exitcode", code=0)
