"""Team state through the CLI against a real PostgreSQL server and `voxplan sandbox serve`: fresh runners,
ownership across stacks, concurrent and killed applies, renames, environments, history, pull/push."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tests.conftest import STACKS, VENDORS, Cli, SandboxServer, loopback, start_server, stop_server
from voxplan.state import Entry, LocalStore, State

KEY = "7e" * 32


@pytest.fixture
def team(cli: Cli, pg_url: str) -> Cli:
    """The cli, with state in this test's PostgreSQL database and a fingerprint key shared by every runner."""
    cli.env.update(VOXPLAN_BACKEND=pg_url, VOXPLAN_FINGERPRINT_KEY=KEY)
    return cli


def changing(sandbox: SandboxServer) -> list[str]:
    return [k for k in sandbox.stats()["requests"] if k.split()[1] != "GET"]


def test_a_fresh_runner_plans_nothing_and_resends_no_password(team: Cli, sandbox: SandboxServer,
                                                              tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stack = team.stack("byo-trunk.yaml")
    team("apply", "--auto-approve", str(stack))
    assert not (tmp_path / ".voxplan").exists() or not list((tmp_path / ".voxplan").glob("*.state.json"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "fresh-config"))  # a new runner: no key file either
    plan = team("plan", str(stack), "--detailed-exitcode", code=0)
    assert "No changes." in plan.stdout
    team.edit(stack, "name: Front Desk", "name: Reception")
    plan = team("plan", str(stack), "--detailed-exitcode", code=2)
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in plan.stdout and "(sensitive)" not in plan.stdout
    team("apply", "--auto-approve", str(stack))
    team("plan", str(stack), "--detailed-exitcode", code=0)


def claimed(pg_url: str, stack: str) -> set[tuple[str, str]]:
    with psycopg.connect(pg_url) as conn:
        return {(k, r) for k, r in conn.execute("SELECT kind, remote_id FROM voxplan_claims WHERE stack = %s",
                                                (stack,))}


def test_claims_follow_what_apply_creates_and_deletes(team: Cli, sandbox: SandboxServer, pg_url: str) -> None:
    stack = team.stack("byo-trunk.yaml")
    team("apply", "--auto-approve", str(stack))
    live = {("vapi.tool", o["id"]) for o in sandbox.objects("tool")} | \
        {("vapi.assistant", o["id"]) for o in sandbox.objects("assistant")} | \
        {("vapi.credential", o["id"]) for o in sandbox.objects("credential")} | \
        {("vapi.phone_number", o["id"]) for o in sandbox.objects("phone-number")}
    assert claimed(pg_url, "byo-trunk") == live and len(live) == 5
    [tool] = sandbox.objects("tool")
    team.edit(stack, "    tools: [to-reception]\n", "")
    text = stack.read_text()
    stack.write_text(text[:text.index("tools:\n")] + text[text.index("assistants:\n"):])
    team("apply", "--auto-approve", str(stack))
    assert sandbox.objects("tool") == []
    assert claimed(pg_url, "byo-trunk") == live - {("vapi.tool", tool["id"])}  # released with the delete
    team("plan", str(stack), "--detailed-exitcode", code=0)


def test_a_stack_declaring_another_stacks_number_stops_naming_the_owner(team: Cli, sandbox: SandboxServer) -> None:
    sandbox.seed(numbers={"wavix": ["+61290597521", "+14067704205"]})
    a = team.stack("wavix-vapi.yaml")
    team("apply", "--auto-approve", str(a))
    b = team.stack("b.yaml", """version: 1
stack: billing
providers:
  wavix: {api_key: "${env:WAVIX_API_KEY}"}
numbers:
  "+14067704205": {carrier: wavix}
routes:
  "+14067704205": {forward: "+61299990000"}
""")
    sandbox.clear_stats()
    for command in ("plan", "apply"):
        result = team(command, *(["--auto-approve"] if command == "apply" else []), str(b), code=1)
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("Error: wavix.number/+14067704205: wavix.number ") and \
            "is owned by stack 'wavix-vapi', and this plan would adopt it; nothing was sent" in line
    assert changing(sandbox) == []
    [number] = [n for n in sandbox.get("wavix", "/v1/numbers", page=1, per_page=100)["items"]
                if n["number"] == "14067704205"]
    taken = team("import", "--take-over", str(b), "wavix.number/+14067704205", str(number["id"]))
    assert "taken over from stack 'wavix-vapi'" in taken.stdout
    team("apply", "--auto-approve", str(b))
    team("plan", str(b), "--detailed-exitcode", code=0)
    result = team("plan", str(a), code=1)  # the old owner now stops instead of re-pointing it back
    assert "is owned by stack 'billing'" in result.stderr
    team("state", "rm", str(a), "wavix.number/+14067704205")
    team.edit(a, '  "+14067704205": {carrier: wavix, trunk: wavix-main}\n', "")
    team.edit(a, '  "+14067704205": {forward: "+61280000000"}', "")
    team.edit(a, "    tools: [to-human]\n", "")  # its transfer went to that number
    text = a.read_text()
    a.write_text(text[:text.index("tools:\n")] + text[text.index("assistants:\n"):])
    team("apply", "--auto-approve", str(a))
    team("plan", str(a), "--detailed-exitcode", code=0)
    team("plan", str(b), "--detailed-exitcode", code=0)


def test_a_local_state_copied_from_another_stack_is_refused_naming_both(cli: Cli, sandbox: SandboxServer) -> None:
    a = cli.stack("byo-trunk.yaml")
    cli("apply", "--auto-approve", str(a))
    b = cli.stack("other.yaml", a.read_text().replace("stack: byo-trunk", "stack: other"))
    shutil.copy(cli.workdir / ".voxplan" / "byo-trunk.state.json", cli.workdir / ".voxplan" / "other.state.json")
    sandbox.clear_stats()
    result = cli("plan", str(b), code=1)
    assert "this state belongs to stack 'byo-trunk', not 'other'" in result.stderr
    assert changing(sandbox) == []
    cli("plan", str(a), "--detailed-exitcode", code=0)


def voxplan_process(env: dict[str, str], cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "voxplan", *args], cwd=cwd, env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_applies_from_two_clones_at_once_make_no_duplicates(team: Cli, sandbox: SandboxServer,
                                                               tmp_path: Path) -> None:
    clones = []
    for name in ("clone-a", "clone-b"):
        (tmp_path / name).mkdir()
        clones.append(tmp_path / name / "byo-trunk.yaml")
        shutil.copy(STACKS / "byo-trunk.yaml", clones[-1])
    procs = [voxplan_process(team.env, c.parent, "apply", "--auto-approve", "--lock-timeout", "120", c.name)
             for c in clones]
    results = [(p.wait(), *p.communicate()) for p in procs]
    for code, out, err in results:
        assert code == 0, out + err
        team.outputs += [out, err]
    assert sorted("Apply complete!" in out for _, out, _ in results) == [False, True]  # the other planned nothing
    assert len(sandbox.objects("assistant")) == 1 and len(sandbox.objects("tool")) == 1
    assert len(sandbox.objects("credential")) == 1 and len(sandbox.objects("phone-number")) == 2
    team("plan", str(clones[0]), "--detailed-exitcode", code=0)


def test_a_held_lock_fails_naming_its_holder(team: Cli, sandbox: SandboxServer, pg_url: str) -> None:
    stack = team.stack("byo-trunk.yaml")
    hold = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\nfrom voxplan.state.postgres import PostgresStore\n"
        "with PostgresStore(sys.argv[1], 'byo-trunk').lock():\n    print('locked', flush=True)\n    time.sleep(600)\n"),
        pg_url], stdout=subprocess.PIPE, text=True, env={**os.environ, "GITHUB_REPOSITORY": "acme/voice",
                                                           "GITHUB_RUN_ID": "77"})
    try:
        assert hold.stdout is not None and hold.stdout.readline().strip() == "locked"
        result = team("apply", "--auto-approve", str(stack), code=1)
        assert "is locked by" in result.stderr and f"(pid {hold.pid}, CI job https://github.com/acme/voice/" \
            "actions/runs/77)" in result.stderr
        assert sandbox.objects("assistant") == []
        team("plan", "--lock=false", str(stack), "--detailed-exitcode", code=2)  # read-only jobs do not wait
    finally:
        hold.kill()
        hold.wait()
        if hold.stdout:
            hold.stdout.close()
    team("apply", "--auto-approve", "--lock-timeout", "60", str(stack))
    team("plan", str(stack), "--detailed-exitcode", code=0)


def test_an_apply_killed_with_sigkill_frees_the_lock_and_the_rerun_converges(
        team: Cli, tmp_path: Path, pg_url: str) -> None:
    slow = start_server("--latency-ms", "150")  # slow enough to be killed half way
    try:
        env = {**team.env, **{f"VOXPLAN_{v.upper()}_BASE_URL": f"{slow.url}/{v}" for v in VENDORS}}
        stack = team.stack("byo-trunk.yaml")
        proc = voxplan_process(env, tmp_path, "apply", "--auto-approve", "--parallelism", "1", stack.name)
        with psycopg.connect(pg_url, autocommit=True) as conn:
            for _ in range(600):  # until the first remote change is in the journal
                try:
                    if conn.execute("SELECT count(*) FROM voxplan_journal").fetchone() != (0,):
                        break
                except psycopg.errors.UndefinedTable:
                    pass
                time.sleep(0.05)
            else:
                raise AssertionError("the apply never journalled a change")
        proc.kill()
        proc.wait()
        out, err = proc.communicate()
        assert "Apply complete!" not in out
        rerun = subprocess.run([sys.executable, "-m", "voxplan", "apply", "--auto-approve", "--lock-timeout", "60",
                                stack.name], cwd=tmp_path, env={**os.environ, **env}, capture_output=True, text=True)
        team.outputs += [rerun.stdout, rerun.stderr]
        assert rerun.returncode == 0, rerun.stderr
        for collection, count in (("assistant", 1), ("tool", 1), ("credential", 1), ("phone-number", 2)):
            assert len(slow.objects(collection)) == count, collection  # 0 duplicates, 0 orphans
        listed = subprocess.run([sys.executable, "-m", "voxplan", "state", "list", stack.name], cwd=tmp_path,
                                env={**os.environ, **env}, capture_output=True, text=True, check=True).stdout
        live = {o["id"] for c in ("assistant", "tool", "credential", "phone-number") for o in slow.objects(c)}
        assert {line.split("\t")[1] for line in listed.splitlines()} == live
        again = subprocess.run([sys.executable, "-m", "voxplan", "plan", "--detailed-exitcode", stack.name],
                               cwd=tmp_path, env={**os.environ, **env}, capture_output=True, text=True)
        assert again.returncode == 0, again.stdout + again.stderr
    finally:
        stop_server(slow)


def test_moved_renames_an_assistant_and_a_trunk_without_touching_them(team: Cli, sandbox: SandboxServer) -> None:
    sandbox.seed(numbers={"wavix": ["+61290597521", "+14067704205"]})
    stack = team.stack("wavix-vapi.yaml")
    team("apply", "--auto-approve", str(stack))
    before = {o["id"] for c in ("assistant", "credential", "tool", "phone-number") for o in sandbox.objects(c)}
    [trunk] = sandbox.get("wavix", "/v1/trunks", page=1, per_page=100)["sip_trunks"]
    text = stack.read_text().replace("  support:\n    name: Support", "  helpdesk:\n    name: Support") \
        .replace("{assistant: support}", "{assistant: helpdesk}").replace("wavix-main", "wavix-primary")
    stack.write_text(text + "\nmoved:\n  - {from: assistants.support, to: assistants.helpdesk}\n"
                            "  - {from: trunks.wavix-main, to: trunks.wavix-primary}\n")
    sandbox.clear_stats()
    plan = team("plan", str(stack), "--detailed-exitcode", code=2)
    assert "Plan: 3 to move, 0 to add, 0 to change, 0 to destroy." in plan.stdout
    assert "# vapi.assistant/helpdesk has moved from vapi.assistant/support" in plan.stdout
    assert "# wavix.trunk/wavix-primary has moved from wavix.trunk/wavix-main" in plan.stdout
    assert "# vapi.credential/wavix-primary has moved from vapi.credential/wavix-main" in plan.stdout
    applied = team("apply", "--auto-approve", str(stack))
    assert "Apply complete! 3 to move, 0 to add, 0 to change, 0 to destroy." in applied.stdout
    assert changing(sandbox) == []  # a move is a change to state only
    after = {o["id"] for c in ("assistant", "credential", "tool", "phone-number") for o in sandbox.objects(c)}
    assert after == before
    assert sandbox.get("wavix", "/v1/trunks", page=1, per_page=100)["sip_trunks"][0]["id"] == trunk["id"]
    listed = team("state", "list", str(stack)).stdout
    assert "vapi.assistant/helpdesk" in listed and "wavix.trunk/wavix-primary" in listed
    assert "vapi.assistant/support" not in listed
    team("plan", str(stack), "--detailed-exitcode", code=0)
    moved = team("state", "mv", str(stack), "assistants.helpdesk", "assistants.frontline")
    assert moved.stdout == "Moved vapi.assistant/helpdesk to vapi.assistant/frontline\n"
    stack.write_text(stack.read_text().replace("  helpdesk:\n", "  frontline:\n")
                     .replace("{assistant: helpdesk}", "{assistant: frontline}"))
    team("plan", str(stack), "--detailed-exitcode", code=0)


ENVIRONMENTS = """version: 1
stack: support
providers:
  vapi: {api_key: "${env:VAPI_API_KEY}"}
environments:
  staging: {line: voxplan-staging, greeting: STAGING build 42 greeting}
  prod: {line: voxplan-prod, greeting: Hello from Acme!}
assistants:
  front:
    name: Front Desk
    first_message: ${var:greeting}
numbers:
  "sip:${var:line}@sip.vapi.ai": {carrier: vapi, name: Main line}
routes:
  "sip:${var:line}@sip.vapi.ai": {assistant: front}
"""


def test_two_environments_of_one_stack_share_an_account_and_never_touch_each_other(
        team: Cli, sandbox: SandboxServer) -> None:
    stack = team.stack("support.yaml", ENVIRONMENTS)
    for env in ("prod", "staging"):
        team("apply", "--auto-approve", "--env", env, str(stack))
    assistants = {a["name"]: a for a in sandbox.objects("assistant")}
    assert sorted(assistants) == ["Front Desk-prod", "Front Desk-staging"]
    assert assistants["Front Desk-prod"]["firstMessage"] == "Hello from Acme!"
    assert assistants["Front Desk-staging"]["firstMessage"] == "STAGING build 42 greeting"
    assert sorted(n["sipUri"] for n in sandbox.objects("phone-number")) == [
        "sip:voxplan-prod@sip.vapi.ai", "sip:voxplan-staging@sip.vapi.ai"]
    team.env["VOXPLAN_ENV"] = "staging"
    team.edit(stack, "STAGING build 42 greeting", "STAGING build 43 greeting")
    plan = team("plan", str(stack), "--detailed-exitcode", code=2)
    assert "vapi.assistant/front" in plan.stdout and "Hello from Acme!" not in plan.stdout
    team("apply", "--auto-approve", str(stack))
    assert {a["name"]: a["firstMessage"] for a in sandbox.objects("assistant")}["Front Desk-prod"] == \
        "Hello from Acme!"
    unknown = team("plan", "--env", "qa", str(stack), code=1)
    assert "environment 'qa' is not declared under environments:" in unknown.stderr
    for env in ("prod", "staging"):
        team("plan", "--env", env, str(stack), "--detailed-exitcode", code=0)


def test_history_lists_applies_and_state_pull_push_round_trip_refusing_a_foreign_lineage(
        team: Cli, sandbox: SandboxServer, tmp_path: Path, pg_url: str) -> None:
    stack = team.stack("byo-trunk.yaml")
    team("apply", "--auto-approve", str(stack))
    team.edit(stack, "name: Front Desk", "name: Reception")
    team("apply", "--auto-approve", str(stack))
    listed = team("history", str(stack)).stdout.splitlines()
    assert len(listed) == 2 and listed[0].lstrip().startswith("1 ") and "Plan: 5 to add" in listed[0]
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in listed[1]
    runs = json.loads(team("history", str(stack), "--format", "json").stdout)
    assert [r["ok"] for r in runs] == [True, True] and runs[0]["user"] and runs[0]["started"]
    shown = json.loads(team("history", "show", str(stack), "2", "--format", "json").stdout)
    assert shown["changes"] == [{"address": "vapi.assistant/front-desk", "action": "update", "importing": False,
                                 "moved_from": None, "remote_id": sandbox.objects("assistant")[0]["id"],
                                 "outcome": "done"}]
    text = team("history", "show", str(stack), "1").stdout
    assert "done          create     vapi.tool/to-reception" in text

    printed = json.loads(team("state", "pull", str(stack)).stdout)  # the backend's state, on stdout
    assert len(printed["resources"]) == 5 and printed["stack"] == "byo-trunk"
    local = tmp_path / ".voxplan" / "byo-trunk.state.json"
    assert not local.exists()
    pulled = team("state", "pull", "--out", str(local), str(stack))
    assert "Pulled 5 resource(s)" in pulled.stdout
    assert json.loads(local.read_text())["resources"] == printed["resources"]
    team("plan", "--backend", "local", str(stack), "--detailed-exitcode", code=0)  # the pulled copy is whole
    team("state", "push", str(stack))  # same lineage and serial: accepted
    made = tmp_path / "elsewhere" / "byo-trunk.state.json"  # another state under the same stack name
    made.parent.mkdir()
    other = State.open(LocalStore(made, "byo-trunk"), key=bytes.fromhex(KEY))
    other.put("vapi.tool/to-reception", Entry(kind="vapi.tool", id="not-ours"))
    other.compact()
    refused = team("state", "push", str(stack), str(made), code=1)
    assert f"is lineage {other.lineage}" in refused.stderr and "two different states of stack 'byo-trunk'" \
        in refused.stderr
    refused = team("state", "pull", "--out", str(made), str(stack), code=1)
    assert "two different states of stack 'byo-trunk'" in refused.stderr and other.lineage in refused.stderr
    staging = team("state", "push", "--env", "staging", str(stack), code=1)  # no such local state
    assert "holds no state to copy" in staging.stderr
    team("plan", str(stack), "--detailed-exitcode", code=0)  # postgres still holds its own
    assert pg_url in team.env["VOXPLAN_BACKEND"]


def test_the_local_backend_never_adopts_an_assistant_another_stack_marked(cli: Cli, sandbox: SandboxServer) -> None:
    prod = cli.stack("vapi-sip.yaml")
    cli("apply", "--auto-approve", str(prod))
    [assistant] = sandbox.objects("assistant")
    assert assistant["metadata"] == {"voxplan": "vapi-sip"}
    (cli.workdir / "copy").mkdir()
    copy = cli.stack("copy/staging.yaml", prod.read_text().replace("stack: vapi-sip", "stack: staging-copy")
                     .replace("you've reached me over SIP.", "STAGING build 42 greeting")
                     .replace("sip:voxplan-", "sip:staging-voxplan-"))  # numbers are unique: its own ones
    plan = cli("plan", str(copy), "--detailed-exitcode", code=2)
    # the same name, but marked as another stack's: never a candidate, so the copy makes its own
    assert "vapi.assistant/sip-assistant will be created" in plan.stdout and "imported" not in plan.stdout
    cli("apply", "--auto-approve", str(copy))
    assert len(sandbox.objects("assistant")) == 2
    assert next(a for a in sandbox.objects("assistant") if a["id"] == assistant["id"]) == assistant
    cli("plan", str(copy), "--detailed-exitcode", code=0)
    cli("plan", str(prod), "--detailed-exitcode", code=0)


FORTY = "version: 1\nstack: forty\nproviders:\n  vapi: {api_key: \"${env:VAPI_API_KEY}\"}\nassistants:\n" + "".join(
    f"  a{i}: {{name: Agent {i}, first_message: Hello from {i}}}\n" for i in range(40))


def test_a_lost_lock_session_stops_the_apply_and_the_next_runner_never_overlaps_it(
        team: Cli, tmp_path: Path, pg_url: str) -> None:
    """The issue's acceptance: 40 objects at 300 ms vendor latency; the lock holder's PostgreSQL session is
    terminated mid-apply (a failover, a NAT dropping the connection) and a second apply starts 0.5 s later.
    The first stops before its next change, naming the lost lock; the sandbox's request log shows the two
    never sent requests in the same second; after both, 0 duplicates, 0 orphans and an empty plan."""
    slow = start_server("--latency-ms", "300")
    try:
        env = {**team.env, "VOXPLAN_VAPI_BASE_URL": f"{slow.url}/vapi"}
        stack = team.stack("forty.yaml", FORTY)
        first = voxplan_process({**env, "VAPI_API_KEY": "first-runner-key"}, tmp_path, "apply", "--auto-approve",
                                "--parallelism", "4", stack.name)
        with psycopg.connect(pg_url, autocommit=True) as conn:
            for _ in range(600):  # until a few creates are recorded, then cut the lock holder's session
                try:
                    if (conn.execute("SELECT count(*) FROM voxplan_journal").fetchone() or (0,))[0] >= 4:
                        break
                except psycopg.errors.UndefinedTable:
                    pass
                time.sleep(0.05)
            else:
                raise AssertionError("the apply never journalled a change")
            [(holder,)] = conn.execute("SELECT pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                                       "WHERE l.locktype = 'advisory' AND l.granted AND d.datname = "
                                       "current_database()").fetchall()
            conn.execute("SELECT pg_terminate_backend(%s)", (holder,))
            cut = time.time()
        time.sleep(0.5)
        second = voxplan_process({**env, "VAPI_API_KEY": "second-runner-key"}, tmp_path, "apply", "--auto-approve",
                                 "--lock-timeout", "60", stack.name)
        out1, err1 = first.communicate(timeout=120)
        out2, err2 = second.communicate(timeout=120)
        team.outputs += [out1, err1, out2, err2]
        assert first.returncode == 1, out1 + err1
        assert "the state lock was lost: its database session ended" in err1 and "Traceback" not in err1, err1
        assert second.returncode == 0, out2 + err2
        log = loopback.get(f"{slow.url}/_sandbox/log").json()
        clients = {e["client"] for e in log}
        assert len(clients) == 2, clients
        by_first = [e["at"] for e in log if e["method"] == "POST" and e["at"] < cut + 0.5]
        mine = {e["client"] for e in log if e["at"] < cut}
        assert len(mine) == 1 and by_first, "the first runner sent nothing before the cut"
        [first_client] = mine
        firsts = [e["at"] for e in log if e["client"] == first_client]
        seconds = [e["at"] for e in log if e["client"] != first_client]
        assert max(firsts) < cut + 0.1, "the first runner sent a request after its lock was gone"
        assert int(max(firsts)) < int(min(seconds)), "the two runners sent requests in the same second"
        names = [a["name"] for a in slow.objects("assistant")]
        assert sorted(names) == sorted(f"Agent {i}" for i in range(40)), "duplicates or missing assistants"
        listed = subprocess.run([sys.executable, "-m", "voxplan", "state", "list", stack.name], cwd=tmp_path,
                                env={**os.environ, **env}, capture_output=True, text=True, check=True).stdout
        assert {line.split("\t")[1] for line in listed.splitlines()} == {a["id"] for a in slow.objects("assistant")}
        again = subprocess.run([sys.executable, "-m", "voxplan", "plan", "--detailed-exitcode", stack.name],
                               cwd=tmp_path, env={**os.environ, **env}, capture_output=True, text=True)
        assert again.returncode == 0, again.stdout + again.stderr
    finally:
        stop_server(slow)
