from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import Cli, SandboxServer
from voxplan.core.errors import LockHeld, StateError
from voxplan.state import Entry, LocalStore, State


def test_corrupt_state_is_an_error_never_empty(tmp_path: Path) -> None:
    path = tmp_path / "s.state.json"
    path.write_text('{"resources": {"a": ')
    with pytest.raises(StateError, match="refusing to treat it as empty"):
        State.load(path, "s")


def test_state_round_trip_journal_and_backup(tmp_path: Path) -> None:
    path = tmp_path / ".voxplan" / "s.state.json"
    state = State.load(path, "s")
    state.put("vapi.tool/t", Entry("vapi.tool", "t1", sent={"a": 1}))
    journal = path.with_name("s.state.json.journal")
    assert journal.exists() and "t1" in journal.read_text()  # one O(1) append per change
    again = State.load(path, "s")  # what a killed run leaves: file + journal, replayed
    assert again.get("vapi.tool/t") == Entry("vapi.tool", "t1", sent={"a": 1})
    assert again.key == state.key and again.serial == state.serial
    again.remove("vapi.tool/t")
    again.compact()
    assert not journal.exists()
    assert json.loads((path.parent / "s.state.json.backup").read_text())["resources"] == {}  # before the run
    assert State.load(path, "s").resources == {}


def test_state_file_one_resource_per_line_and_seen_only_when_it_differs(tmp_path: Path) -> None:
    path = tmp_path / "s.state.json"
    state = State.load(path, "s")
    echoed = Entry("vapi.assistant", "a1", sent={"name": "A", "on": True}, seen={"name": "A", "on": True})
    typed = Entry("vapi.assistant", "a2", sent={"name": "B", "on": 1}, seen={"name": "B", "on": True})
    added = Entry("wavix.number", "n1", sent={"destinations": []}, seen={"destinations": [], "x": None})
    state.put_many({"vapi.assistant/a": echoed, "vapi.assistant/b": typed, "wavix.number/n": added})
    state.compact()
    text = path.read_text()
    lines = [line for line in text.splitlines() if line.startswith('    "')]
    assert len(lines) == 3 and all(line.rstrip(",").endswith("}") for line in lines)  # one per line
    raw = json.loads(text)["resources"]
    assert "seen" not in raw["vapi.assistant/a"] and "seen" in raw["vapi.assistant/b"]  # True is not 1
    again = State.load(path, "s")
    assert again.get("vapi.assistant/a") == echoed and again.get("vapi.assistant/b") == typed
    assert again.get("wavix.number/n") == added


def test_a_torn_last_journal_line_is_dropped_but_a_corrupt_middle_stops(tmp_path: Path) -> None:
    path = tmp_path / "s.state.json"
    state = State.load(path, "s")
    state.put("vapi.tool/a", Entry("vapi.tool", "a1"))
    state.put("vapi.tool/b", Entry("vapi.tool", "b1"))
    journal = path.with_name("s.state.json.journal")
    lines = journal.read_text().splitlines()
    journal.write_text(lines[0] + "\n" + lines[1][:25])  # killed mid-write of the second change
    assert set(State.load(path, "s").resources) == {"vapi.tool/a"}
    journal.write_text(lines[0][:25] + "\n" + lines[1] + "\n")
    with pytest.raises(StateError, match="line 1 is corrupt"):
        State.load(path, "s")


def test_lock_names_its_holder_and_is_freed_when_the_holder_dies(tmp_path: Path) -> None:
    state_file = tmp_path / "s.state.json"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from voxplan.state import LocalStore\n"
        f"with LocalStore(Path({str(state_file)!r}), 's').lock():\n  print('held', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE)
    assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
    try:
        with pytest.raises(LockHeld, match=rf"\(pid {holder.pid}\)"):
            with LocalStore(state_file, 's').lock(timeout=0.3):
                pass
    finally:
        holder.kill()  # like kill -9: the kernel drops the flock
        holder.wait()
        holder.stdout.close()
    started = time.monotonic()
    with LocalStore(state_file, 's').lock(timeout=5):
        assert time.monotonic() - started < 5


def test_concurrent_apply_fails_cleanly_naming_the_lock(cli: Cli, sandbox: SandboxServer) -> None:
    stack = cli.stack("byo-trunk.yaml")
    state_file = cli.workdir / ".voxplan" / "byo-trunk.state.json"
    with LocalStore(state_file, 's').lock():
        result = cli("apply", "--auto-approve", str(stack), code=1)
    assert "is locked by" in result.stderr and "(pid " in result.stderr
    assert sandbox.objects("assistant") == []  # nothing was done
    cli("apply", "--auto-approve", str(stack))
    cli("plan", str(stack), "--detailed-exitcode", code=0)


def test_a_state_of_another_stack_is_refused_naming_both(tmp_path: Path) -> None:
    path = tmp_path / ".voxplan" / "prod.state.json"
    state = State.load(path, "prod")
    state.put("vapi.tool/t", Entry("vapi.tool", "t1"))
    state.compact()
    copied = tmp_path / ".voxplan" / "staging.state.json"
    copied.write_text(path.read_text())
    with pytest.raises(StateError, match="belongs to stack 'prod', not 'staging'"):
        State.load(copied, "staging")


def test_the_fingerprint_key_is_not_in_state_and_another_key_is_refused(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.state.json"
    monkeypatch.setenv("VOXPLAN_FINGERPRINT_KEY", "ab" * 32)
    state = State.load(path, "s")
    state.put("vapi.credential/c", Entry("vapi.credential", "c1", fingerprints={"password": "hmac-sha256:x"}))
    state.compact()
    text = path.read_text()
    assert "ab" * 16 not in text and "fingerprint_key" not in text and '"key_id": "k1:' in text
    assert (path.stat().st_mode & 0o777) == 0o600
    monkeypatch.setenv("VOXPLAN_FINGERPRINT_KEY", "cd" * 32)
    with pytest.raises(StateError, match="made with fingerprint key k1:"):
        State.load(path, "s")
    for bad in ("", "not a key", "ab" * 8):
        monkeypatch.setenv("VOXPLAN_FINGERPRINT_KEY", bad)
        with pytest.raises(StateError, match="VOXPLAN_FINGERPRINT_KEY"):
            State.load(path, "s")
    monkeypatch.delenv("VOXPLAN_FINGERPRINT_KEY")
    with pytest.raises(StateError, match="made with fingerprint key"):  # the key file holds a third key
        State.load(path, "s")


def test_backend_setting_and_override(tmp_path: Path) -> None:
    from voxplan.state.backends import open_store

    stack = tmp_path / "s.yaml"
    assert open_store(None, stack_file=stack, stack="s", env="default").describe() == str(
        tmp_path / ".voxplan" / "s.state.json")
    store = open_store({"local": {"dir": "state"}}, stack_file=stack, stack="s", env="staging")
    assert store.describe() == str(tmp_path / "state" / "s.staging.state.json")
    with pytest.raises(StateError, match="backend 'ftp' is not known"):
        open_store("ftp", stack_file=stack, stack="s", env="default")


def test_a_move_is_one_journal_record_replayed_after_a_kill(tmp_path: Path) -> None:
    path = tmp_path / "s.state.json"
    state = State.load(path, "s")
    state.put("vapi.credential/c", Entry("vapi.credential", "old"))
    state.move("vapi.credential/c", "vapi.credential/c (deposed old)")
    journal = path.with_name("s.state.json.journal")
    assert len(journal.read_text().splitlines()) == 2  # one put, one move: never a put without its rm
    again = State.load(path, "s")
    assert set(again.resources) == {"vapi.credential/c (deposed old)"} and again.get(
        "vapi.credential/c (deposed old)") == Entry("vapi.credential", "old")


@pytest.mark.parametrize("backend", ["local", "postgres"])
def test_a_key_that_reads_like_a_shared_value_is_read_back_as_itself(
        tmp_path: Path, request: pytest.FixtureRequest, backend: str) -> None:
    """A snapshot (format 3) names a shared value as {"&": n}; an entry's own mapping with a key "&" is still
    itself after a reload, whether a journal record replayed over such a snapshot holds it or the snapshot
    does; and entries of a snapshot with equal values read back holding one object."""
    from voxplan.state.postgres import PostgresStore

    opened: list[LocalStore | PostgresStore] = []

    def reopen() -> State:
        url = request.getfixturevalue("pg_url") if backend == "postgres" else ""
        opened.append(PostgresStore(url, "s") if url else LocalStore(tmp_path / "s.state.json", "s"))
        return State.open(opened[-1], key=bytes(range(32)))

    try:
        plain = {"destinations": ["sip:a@example.com"], "region": "us"}
        state = reopen()
        state.put_many({f"wavix.number/{n}": Entry("wavix.number", n, sent=dict(plain), deps=("wavix.trunk/t",))
                        for n in ("a", "b")})
        state.compact()  # a snapshot whose shared values {"&": 0} would name
        odd = Entry("vapi.tool", "t1", sent={"&": 0}, seen={"&": 0, "region": "eu"})
        state.put("vapi.tool/odd", odd)  # a journal record, replayed over that snapshot when loaded
        again = reopen()
        assert again.get("vapi.tool/odd") == odd
        assert again.get("wavix.number/a") == Entry("wavix.number", "a", sent=plain, deps=("wavix.trunk/t",))
        again.compact()  # now the snapshot holds it
        last = reopen()
        assert last.resources == again.resources and last.get("vapi.tool/odd") == odd
        a, b = last.resources["wavix.number/a"], last.resources["wavix.number/b"]
        assert a.sent is b.sent and a.deps is b.deps  # one object each, as the file writes them once
    finally:
        for store in opened:
            store.close()


def test_a_state_directory_that_cannot_be_made_is_one_clear_error(cli: Cli, sandbox: SandboxServer) -> None:
    stack = cli.stack("byo-trunk.yaml")
    (cli.workdir / ".voxplan").write_text("not a directory")
    result = cli("apply", "--auto-approve", str(stack), code=1)
    assert "cannot make the state directory" in result.stderr and "Traceback" not in result.stderr
    assert sandbox.objects("assistant") == []  # stopped before anything was sent


def test_a_full_disk_during_apply_is_one_clear_error_and_state_stays_readable(
        cli: Cli, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno
    import os

    import voxplan.state.local as local

    stack = cli.stack("byo-trunk.yaml")
    cli.edit(stack, "    first_message: Thanks for calling, how can I help?\n", "")
    cli("apply", "--auto-approve", str(stack))
    cli.edit(stack, "    name: Front Desk\n", "    name: Front Desk\n    first_message: Hello again.\n")
    real_write = os.write

    def full(fd: int, data: bytes) -> int:  # the journal's disk is full: the syscall's own error
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".journal"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(local.os, "write", full)
    result = cli("apply", "--auto-approve", str(stack), code=1)
    assert "No space left on device" in result.stderr and "Traceback" not in result.stdout + result.stderr
    monkeypatch.setattr(local.os, "write", real_write)
    State.load(cli.workdir / ".voxplan" / "byo-trunk.state.json", "byo-trunk")  # intact: it loads
    cli("apply", "--auto-approve", str(stack))  # what the disk could not record is found again, not doubled
    cli("plan", str(stack), "--detailed-exitcode", code=0)
    assert len(sandbox.objects("assistant")) == 1


def test_a_journal_that_is_not_a_regular_file_is_refused_not_read(tmp_path: Path) -> None:
    path = tmp_path / "s.state.json"
    State.load(path, "s").compact()
    path.with_name("s.state.json.journal").symlink_to("/dev/zero")  # read forever, if it were read
    with pytest.raises(StateError, match="not a regular file"):
        State.load(path, "s")
