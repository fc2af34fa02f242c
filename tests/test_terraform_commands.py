"""The commands a Terraform user reaches for (issue 23, item 2), used on the served sandbox as their --help
shows: destroy, output, --var / --var-file, `voxplan:` version constraints, force-unlock, state pull."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tests.conftest import Cli, SandboxServer
from voxplan import __version__
from voxplan.state import LocalStore

KEY = "7a" * 32


def changing(sandbox: SandboxServer) -> list[str]:
    return [k for k in sandbox.stats()["requests"] if k.split()[1] != "GET"]


# -- --var and --var-file -----------------------------------------------------------------------------

VARS_STACK = """\
version: 1
stack: vars
environments:
  prod: {greeting: "from environments", name: Front}
assistants:
  front: {name: "${var:name}", first_message: "${var:greeting}"}
"""


def first_message(cli: Cli, *args: str) -> str:
    out = cli("plan", *args, "--format", "json").stdout
    [change] = json.loads(out)["resource_changes"]
    return str(change["change"]["after"]["firstMessage"])


def test_vars_command_line_over_files_over_environments_later_over_earlier(cli: Cli) -> None:
    stack = cli.stack("vars.yaml", VARS_STACK)
    (cli.workdir / "a.yaml").write_text("greeting: from a\n")
    (cli.workdir / "b.yaml").write_text("greeting: from b\n# b sets no name\n")
    assert first_message(cli, "--env", "prod", str(stack)) == "from environments"
    assert first_message(cli, "--env", "prod", "--var-file", "a.yaml", str(stack)) == "from a"
    assert first_message(cli, "--env", "prod", "--var-file", "a.yaml", "--var-file", "b.yaml", str(stack)) == "from b"
    assert first_message(cli, "--env", "prod", "--var-file", "b.yaml", "--var-file", "a.yaml", str(stack)) == "from a"
    assert first_message(cli, "--env", "prod", "--var", "greeting=one", "--var-file", "a.yaml",
                         "--var", "greeting=two=2", str(stack)) == "two=2"
    # a var the environment does not set can come from the command line alone
    assert first_message(cli, "--var", "greeting=hi", "--var", "name=Desk", str(stack)) == "hi"


def test_an_unset_var_is_still_an_error_and_bad_var_input_is_one_located_line(cli: Cli, sandbox: SandboxServer
                                                                              ) -> None:
    stack = cli.stack("vars.yaml", VARS_STACK)
    result = cli("plan", "--var", "greeting=hi", str(stack), code=1)
    assert "vars.yaml:6:17: variable name is not set for environment 'default'" in result.stderr
    (cli.workdir / "bad.yaml").write_text("greeting: [not, a, scalar]\n")
    result = cli("plan", "--env", "prod", "--var-file", "bad.yaml", str(stack), code=1)
    assert "bad.yaml:1:11: variable greeting must be a scalar" in result.stderr
    result = cli("plan", "--env", "prod", "--var-file", "missing.yaml", str(stack), code=1)
    assert "missing.yaml: cannot read the var file" in result.stderr
    result = cli("plan", "--env", "prod", "--var", "greeting", str(stack), code=None)  # a usage error (the entry
    # point makes it exit 1)
    assert "'greeting' is not NAME=VALUE" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert sandbox.stats()["requests"] == {}  # nothing was sent for any of them


def test_every_command_that_loads_a_stack_takes_the_var_options(cli: Cli) -> None:
    for command in (["plan"], ["apply"], ["destroy"], ["output"], ["drift"], ["validate"], ["import"], ["graph"],
                    ["doctor"], ["state", "list"], ["state", "pull"], ["force-unlock"], ["history"]):
        text = cli(*command, "--help").stdout
        assert "--var NAME=VALUE" in text and "--var-file FILE" in text, command


# -- voxplan: ">=X.Y" ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("constraint", "error"), [
    (f'">={__version__}"', ""),
    (f'">={__version__},<99"', ""),
    ('">=99.0"', f"this stack needs voxplan >=99.0, and this is voxplan {__version__}"),
    ('"<0.0.1"', f"this stack needs voxplan <0.0.1, and this is voxplan {__version__}"),
    ('"at least 0.2"', "voxplan: 'at least 0.2' is not a version constraint"),
])
def test_a_required_voxplan_version_is_checked_before_anything_else(cli: Cli, constraint: str, error: str) -> None:
    # a newer stack may use a section this version cannot read: the constraint is the one error shown
    stack = cli.stack("v.yaml", f"version: 1\nvoxplan: {constraint}\nstack: v\n"
                                + ("future_section: {}\n" if error else "") + "assistants:\n  a: {name: A}\n")
    result = cli("validate", str(stack), code=1 if error else 0)
    if error:
        assert result.stderr.startswith(f"{stack}:2:10: {error}") and "future_section" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


# -- destroy -----------------------------------------------------------------------------------------------

def test_destroy_deletes_in_reverse_order_unroutes_numbers_and_the_next_plan_recreates(
        cli: Cli, sandbox: SandboxServer) -> None:
    sandbox.seed(numbers={"wavix": ["+61290597521", "+14067704205"]})
    stack = cli.stack("wavix-vapi.yaml")
    cli("apply", "--auto-approve", str(stack))
    preview = cli("plan", "--destroy", str(stack), "--detailed-exitcode", code=2).stdout
    assert "Plan: 0 to add, 0 to change, 5 to destroy, 2 to unroute." in preview
    assert "(voxplan destroy: a number is unrouted, never released)" in preview
    result = cli("destroy", "--auto-approve", str(stack))
    assert "Destroy complete! 5 destroyed, 2 unrouted (numbers are kept on their accounts)." in result.stdout
    lines = result.stdout.splitlines()
    first = {a: next(i for i, line in enumerate(lines) if line.startswith(a + ": ")) for a in
             ("vapi.phone_number/+61290597521", "vapi.credential/wavix-main", "wavix.trunk/wavix-main",
              "vapi.assistant/support", "vapi.tool/to-human")}
    assert first["vapi.phone_number/+61290597521"] < first["vapi.credential/wavix-main"] < first[
        "wavix.trunk/wavix-main"]
    assert first["vapi.assistant/support"] < first["vapi.tool/to-human"]
    for collection in ("assistant", "tool", "credential", "phone-number"):
        assert sandbox.objects(collection) == [], collection
    numbers = sandbox.get("wavix", "/v1/numbers", page=1, per_page=100)["items"]
    assert sorted(n["number"] for n in numbers) == ["14067704205", "61290597521"]  # kept, not released
    assert all(not n.get("destination") for n in numbers)
    assert cli("output", str(stack)).stdout == ""  # state is empty
    cli("destroy", "--auto-approve", str(stack))  # nothing left: still fine
    assert "2 to import, 5 to add" in cli("plan", str(stack)).stdout
    cli("apply", "--auto-approve", str(stack))
    cli("plan", str(stack), "--detailed-exitcode", code=0)


def test_destroy_honours_protect_in_the_stack_and_in_state_before_any_request(
        cli: Cli, sandbox: SandboxServer) -> None:
    stack = cli.stack("byo-trunk.yaml")
    cli("apply", "--auto-approve", str(stack))
    text = stack.read_text()
    assert "assistants:\n  front-desk:\n" in text
    cli.edit(stack, "assistants:\n  front-desk:\n", "assistants:\n  front-desk:\n    lifecycle: {protect: true}\n")
    sandbox.clear_stats()
    result = cli("destroy", "--auto-approve", str(stack), code=1)
    assert result.stderr.strip().endswith("Error: vapi.assistant/front-desk is protected (lifecycle.protect) and "
                                          "destroy would destroy or unroute it; remove protect: true from the stack "
                                          "and apply it first if that is really meant")
    assert changing(sandbox) == []
    cli("apply", "--auto-approve", str(stack))  # protect recorded in state
    stack.write_text(text)  # the stack drops protect, state still has it
    result = cli("destroy", "--auto-approve", str(stack), code=1)
    assert "vapi.assistant/front-desk is protected" in result.stderr and changing(sandbox) == []
    cli("apply", "--auto-approve", str(stack))  # state records protect: false
    cli("destroy", "--auto-approve", str(stack))
    assert sandbox.objects("assistant") == []


def test_destroy_asks_and_only_yes_destroys(cli: Cli, sandbox: SandboxServer, tmp_path: Path) -> None:
    stack = cli.stack("byo-trunk.yaml")
    cli("apply", "--auto-approve", str(stack))
    result = cli("destroy", str(stack), code=1)  # no terminal to ask on: the plan, then the way out
    assert "will be destroyed" in result.stdout
    assert "destroy needs confirmation and stdin is not a terminal: pass --auto-approve" in result.stderr
    for answer, code in (("y\n", 1), ("yes\n", 0)):
        leader, follower = pty.openpty()
        proc = subprocess.Popen([sys.executable, "-m", "voxplan", "destroy", stack.name], cwd=cli.workdir,
                                env={**os.environ, **cli.env}, stdin=follower, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        os.close(follower)
        os.write(leader, answer.encode())
        out, err = proc.communicate(timeout=120)
        os.close(leader)
        cli.outputs += [out, err]
        assert proc.returncode == code, out + err
        assert "Do you really want to destroy all resources?" in out
        if code:
            assert "Destroy cancelled." in out and len(sandbox.objects("assistant")) == 1
    assert sandbox.objects("assistant") == [] and sandbox.objects("credential") == []


# -- output --------------------------------------------------------------------------------------------

def test_output_prints_ids_and_attributes_from_state_without_a_request(cli: Cli, sandbox: SandboxServer) -> None:
    stack = cli.stack("byo-trunk.yaml")
    cli("apply", "--auto-approve", str(stack))
    [assistant] = sandbox.objects("assistant")
    [credential] = sandbox.objects("credential")
    sandbox.clear_stats()
    lines = cli("output", str(stack)).stdout.splitlines()
    assert f"vapi.assistant/front-desk = {assistant['id']}" in lines
    assert cli("output", str(stack), "vapi.credential/office-pbx").stdout == credential["id"] + "\n"
    every = json.loads(cli("output", "--json", str(stack)).stdout)
    assert every["vapi.assistant/front-desk"]["kind"] == "vapi.assistant"
    assert every["vapi.assistant/front-desk"]["attributes"]["name"] == assistant["name"]
    one = json.loads(cli("output", "--json", str(stack), "vapi.credential/office-pbx").stdout)
    assert one["id"] == credential["id"] and one == every["vapi.credential/office-pbx"]
    assert "authPassword" not in json.dumps(one)  # the trunk password: state has its fingerprint only
    result = cli("output", str(stack), "vapi.assistant/nope", code=1)
    assert "vapi.assistant/nope is not in the state" in result.stderr and "vapi.assistant/front-desk" in result.stderr
    assert sandbox.stats()["requests"] == {}


# -- state pull ----------------------------------------------------------------------------------------

def test_state_pull_prints_the_state_for_the_local_and_the_postgres_backend(
        cli: Cli, sandbox: SandboxServer, pg_url: str) -> None:
    stack = cli.stack("byo-trunk.yaml")
    cli("apply", "--auto-approve", str(stack))
    local = json.loads(cli("state", "pull", str(stack)).stdout)
    assert local["stack"] == "byo-trunk" and "vapi.assistant/front-desk" in local["resources"]
    assert local == json.loads((cli.workdir / ".voxplan" / "byo-trunk.state.json").read_text())
    cli("state", "push", "--backend", pg_url, str(stack))
    remote = json.loads(cli("state", "pull", "--backend", pg_url, str(stack)).stdout)
    assert remote["lineage"] == local["lineage"] and remote["resources"] == local["resources"]
    # --out keeps the copy into a local file
    copy = cli.workdir / "copy.state.json"
    assert "Pulled" in cli("state", "pull", "--backend", pg_url, "--out", str(copy), str(stack)).stdout
    assert json.loads(copy.read_text())["resources"] == local["resources"]
    result = cli("state", "pull", "--env", "staging", str(stack), code=1)
    assert "holds no state yet" in result.stderr


# -- force-unlock --------------------------------------------------------------------------------------

def hold_lock(code: str, *args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


HOLD_LOCAL = ("import sys, time\nfrom pathlib import Path\nfrom voxplan.state import LocalStore\n"
              "with LocalStore(Path(sys.argv[1]), 'byo-trunk').lock():\n    print('locked', flush=True)\n"
              "    time.sleep(600)\n")
HOLD_PG = ("import sys, time\nfrom voxplan.state.postgres import PostgresStore\n"
           "with PostgresStore(sys.argv[1], 'byo-trunk').lock():\n    print('locked', flush=True)\n"
           "    time.sleep(600)\n")


def lock_id(stderr: str) -> str:
    assert "lock id " in stderr, stderr
    return stderr.split("lock id ", 1)[1].split(";", 1)[0].strip()


def test_force_unlock_breaks_exactly_the_named_local_lock(cli: Cli, sandbox: SandboxServer) -> None:
    stack = cli.stack("byo-trunk.yaml")
    holder = hold_lock(HOLD_LOCAL, str(cli.workdir / ".voxplan" / "byo-trunk.state.json"))
    try:
        held = cli("apply", "--auto-approve", str(stack), code=1)
        assert "voxplan force-unlock STACK LOCK_ID" in held.stderr
        the_id = lock_id(held.stderr)
        other = "00000000-0000-4000-8000-000000000000"
        refused = cli("force-unlock", "--force", str(stack), other, code=1)
        assert f"not {other}; refusing to break another lock" in refused.stderr
        asked = cli("force-unlock", str(stack), the_id, code=1)
        assert "needs confirmation" in asked.stderr
        done = cli("force-unlock", "--force", str(stack), the_id)
        assert f"Broke the lock {the_id}" in done.stdout and f"pid {holder.pid}" in done.stdout
        cli("apply", "--auto-approve", str(stack))  # the next run takes a new lock
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout:
            holder.stdout.close()
    again = cli("force-unlock", "--force", str(stack), the_id, code=1)  # the apply's own record is there now
    assert "refusing to break another lock" in again.stderr


def test_force_unlock_ends_the_postgres_session_holding_exactly_that_lock(
        cli: Cli, sandbox: SandboxServer, pg_url: str) -> None:
    cli.env.update(VOXPLAN_BACKEND=pg_url, VOXPLAN_FINGERPRINT_KEY=KEY)
    stack = cli.stack("byo-trunk.yaml")
    cli("plan", str(stack))  # the tables exist
    holder = hold_lock(HOLD_PG, pg_url)
    try:
        held = cli("apply", "--auto-approve", str(stack), code=1)
        the_id = lock_id(held.stderr)
        with psycopg.connect(pg_url, autocommit=True) as conn:
            [(recorded,)] = conn.execute("SELECT holder->>'lock_id' FROM voxplan_lock").fetchall()
        assert recorded == the_id
        refused = cli("force-unlock", "--force", str(stack), "not-" + the_id, code=1)
        assert "refusing to break another lock" in refused.stderr
        cli("apply", "--auto-approve", str(stack), code=1)  # still held
        done = cli("force-unlock", "--force", str(stack), the_id)
        assert f"Broke the lock {the_id}" in done.stdout and "by ending its database session" in done.stdout
        with psycopg.connect(pg_url, autocommit=True) as conn:  # the holder's lock session is gone, and its lock
            assert conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
                                "(SELECT oid FROM pg_database WHERE datname = current_database())").fetchone() == (0,)
            assert conn.execute("SELECT count(*) FROM voxplan_lock").fetchone() == (0,)
        assert holder.poll() is None  # the holder process itself is not touched
        started = time.monotonic()
        cli("apply", "--auto-approve", str(stack))  # the lock is free at once
        assert time.monotonic() - started < 60
        cli("plan", str(stack), "--detailed-exitcode", code=0)
        gone = cli("force-unlock", "--force", str(stack), the_id, code=1)
        assert "is not locked" in gone.stderr and "refusing" in gone.stderr
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout:
            holder.stdout.close()


def test_a_lock_record_whose_holder_ended_is_cleared_not_broken(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "s.state.json", "s")
    with store.lock():
        pass
    record = json.loads((tmp_path / "s.state.json.lock").read_text())
    message = store.force_unlock(record["lock_id"])
    assert "was not locked any more" in message and not (tmp_path / "s.state.json.lock").exists()
