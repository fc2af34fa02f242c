"""The postgres backend against a real PostgreSQL server: journal rows, compaction, schema migration,
advisory locks (waiting, the holder named, released when the holder is killed -9), history and claims."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from voxplan.core.errors import LockHeld, Owned, StateError
from voxplan.state import Claim, Entry, State
from voxplan.state.backends import open_store, parse
from voxplan.state.postgres import SCHEMA_VERSION, PostgresStore

KEY = bytes(range(32))
Stores = Callable[..., PostgresStore]


@pytest.fixture
def store(pg_url: str) -> Iterator[Stores]:
    """Stores on this test's database, closed at the end."""
    made: list[PostgresStore] = []

    def make(stack: str, env: str = "default", url: str = pg_url) -> PostgresStore:
        made.append(PostgresStore(url, stack, env))
        return made[-1]

    yield make
    for s in made:
        s.close()


def rows(url: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()  # type: ignore[arg-type]


def test_urls_and_settings_pick_the_postgres_backend(pg_url: str, tmp_path: Path) -> None:
    assert parse(pg_url) == ("postgres", {"url": pg_url})
    assert parse("postgres://u@h/db")[0] == "postgres"
    assert parse({"postgres": {"url": pg_url}}) == ("postgres", {"url": pg_url})
    opened = open_store({"postgres": {"url": pg_url}}, stack_file=tmp_path / "s.yaml", stack="s", env="staging")
    assert isinstance(opened, PostgresStore) and (opened.stack, opened.env) == ("s", "staging")
    assert "s/staging" in opened.describe() and "@" not in opened.describe()
    opened.close()


def test_each_journal_record_is_a_committed_row_before_append_returns(pg_url: str, store: Stores) -> None:
    support = store("support")
    state = State.open(support, key=KEY)
    state.put("vapi.tool/to-human", Entry(kind="vapi.tool", id="t-1"))
    state.put("vapi.assistant/support", Entry(kind="vapi.assistant", id="a-1", deps=("vapi.tool/to-human",)))
    # another session sees both rows at once: they were committed, not merely sent
    journal = rows(pg_url, "SELECT record->>'put' FROM voxplan_journal ORDER BY id")
    assert journal == [("vapi.tool/to-human",), ("vapi.assistant/support",)]
    again = State.open(store("support"), key=KEY)  # a fresh runner replays the journal
    assert {a: e.id for a, e in again.resources.items()} == {"vapi.tool/to-human": "t-1",
                                                             "vapi.assistant/support": "a-1"}
    assert again.lineage == state.lineage and again.serial == state.serial
    state.compact()
    assert rows(pg_url, "SELECT count(*) FROM voxplan_journal") == [(0,)]
    [(entries,)] = rows(pg_url, "SELECT entries->'resources' FROM voxplan_state")
    assert sorted(entries) == ["vapi.assistant/support", "vapi.tool/to-human"]  # type: ignore[call-overload]
    state.remove("vapi.tool/to-human")
    assert list(State.open(store("support"), key=KEY).resources) == ["vapi.assistant/support"]


def test_compaction_is_one_transaction(pg_url: str, store: Stores) -> None:
    support = store("support")
    state = State.open(support, key=KEY)
    state.put("vapi.tool/a", Entry(kind="vapi.tool", id="t-1"))
    with psycopg.connect(pg_url) as blocker:  # holds the journal: the commit cannot finish half way
        blocker.execute("LOCK TABLE voxplan_journal IN ACCESS EXCLUSIVE MODE")
        done = threading.Event()
        worker = threading.Thread(target=lambda: (state.compact(), done.set()))
        worker.start()
        with psycopg.connect(pg_url, autocommit=True) as reader:
            for _ in range(600):  # until the compaction waits on the journal, its snapshot written
                if reader.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone() != (0,):
                    break
                time.sleep(0.05)
            else:
                raise AssertionError("the compaction never reached the journal")
            snapshot = reader.execute("SELECT entries->'resources' FROM voxplan_state").fetchone()
        assert snapshot is not None and snapshot[0] == {}  # the new snapshot is not visible before the journal goes
        assert not done.is_set()
        blocker.rollback()
    worker.join()
    assert rows(pg_url, "SELECT count(*) FROM voxplan_journal") == [(0,)]
    assert list(rows(pg_url, "SELECT entries->'resources' FROM voxplan_state")[0][0]) == ["vapi.tool/a"]  # type: ignore[call-overload]


def test_schema_is_made_once_and_a_newer_one_is_refused(pg_url: str, store: Stores) -> None:
    store("a").load()
    store("b").load()
    assert rows(pg_url, "SELECT version FROM voxplan_schema ORDER BY version") == [
        (v,) for v in range(1, SCHEMA_VERSION + 1)]  # each migration once
    with psycopg.connect(pg_url) as conn:
        conn.execute("INSERT INTO voxplan_schema (version) VALUES (%s)", (SCHEMA_VERSION + 1,))
    with pytest.raises(StateError, match=f"schema version {SCHEMA_VERSION + 1}, newer than this voxplan"):
        store("c").load()


def test_unreachable_database_is_one_line_without_the_password() -> None:
    with pytest.raises(StateError) as caught:
        PostgresStore("postgresql://voxplan:hunter2-secret@127.0.0.1:1/nowhere", "s").load()
    assert "cannot reach the state database" in str(caught.value)
    assert "hunter2" not in str(caught.value) and "\n" not in str(caught.value)


def test_lock_names_its_holder_and_a_waiter_gets_it_when_released(pg_url: str, store: Stores) -> None:
    first, second = store("support"), store("support")
    other_env = store("support", "staging")
    released = threading.Event()
    got = threading.Event()
    with first.lock():
        with pytest.raises(LockHeld) as caught:
            with second.lock(timeout=0):
                pass
        assert f"(pid {os.getpid()}" in str(caught.value) and "support/default is locked by" in str(caught.value)
        with other_env.lock(timeout=0):  # environments lock separately
            pass

        def wait() -> None:
            with second.lock(timeout=60):  # waits: the holder lets go long before
                assert released.is_set()
                got.set()

        waiter = threading.Thread(target=wait)
        waiter.start()
        released.set()
    waiter.join()
    assert got.is_set()
    assert rows(pg_url, "SELECT count(*) FROM voxplan_lock") == [(0,)]  # holders clean up their row


HOLD = """
import sys, time
from voxplan.state.postgres import PostgresStore
with PostgresStore(sys.argv[1], "support").lock():
    print("locked", flush=True)
    time.sleep(600)
"""


def test_a_holder_killed_with_sigkill_releases_the_lock(pg_url: str, store: Stores) -> None:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, pg_url], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    with pytest.raises(LockHeld, match=f"pid {proc.pid}"):
        with store("support").lock(timeout=0):
            pass
    proc.kill()
    proc.wait()
    proc.stdout.close()
    with store("support").lock(timeout=60):  # the server ends the dead session's lock
        [(holder,)] = rows(pg_url, "SELECT holder FROM voxplan_lock")
        assert holder["pid"] == os.getpid()  # type: ignore[index]


def test_history_rows_are_numbered_per_stack_and_environment(pg_url: str, store: Stores) -> None:
    a, b = store("a"), store("a", "staging")
    a.record_history({"summary": "one"})
    a.record_history({"summary": "two"})
    b.record_history({"summary": "staging one"})
    assert [(r["n"], r["summary"]) for r in a.history()] == [(1, "one"), (2, "two")]
    assert [(r["n"], r["summary"]) for r in b.history()] == [(1, "staging one")]


def test_claims_name_the_owner_refuse_a_second_claimant_and_take_over_explicitly(pg_url: str, store: Stores) -> None:
    number = Claim("wavix", "https://api.wavix.com", "wavix.number", "7001")
    tool = Claim("vapi", "https://api.vapi.ai", "vapi.tool", "t-1")
    a, b = store("a"), store("b")
    prod, staging = store("a", "prod"), store("a", "staging")
    a.claim([number, tool])
    a.claim([number])  # one's own claim again is no conflict
    assert a.owners([number, tool]) == {}
    assert b.owners([number, tool]) == {number: "stack 'a'", tool: "stack 'a'"}
    with pytest.raises(Owned, match="wavix.number 7001 is owned by stack 'a'"):
        b.claim([Claim("vapi", "https://api.vapi.ai", "vapi.tool", "t-2"), number])
    assert b.claims() == []  # all or nothing
    b.claim([number], take_over=True)
    assert a.owners([number]) == {number: "stack 'b'"} and a.claims() == [tool]
    prod.claim([Claim("vapi", "https://api.vapi.ai", "vapi.assistant", "x")])
    assert staging.owners([Claim("vapi", "https://api.vapi.ai", "vapi.assistant", "x")]) == {
        Claim("vapi", "https://api.vapi.ai", "vapi.assistant", "x"): "stack 'a' (environment 'prod')"}
    b.release([number, tool])  # only one's own claims go
    assert b.claims() == [] and a.claims() == [tool]


def test_a_state_of_another_stack_is_refused_naming_both(pg_url: str, store: Stores) -> None:
    State.open(store("a"), key=KEY).put("vapi.tool/x", Entry(kind="vapi.tool", id="t"))
    with psycopg.connect(pg_url) as conn:  # copied under another stack's key by hand
        conn.execute("UPDATE voxplan_state SET stack = 'b'")
        conn.execute("UPDATE voxplan_journal SET stack = 'b'")
    with pytest.raises(StateError, match="this state belongs to stack 'a', not 'b'"):
        State.open(store("b"), key=KEY)


def test_a_remote_change_is_one_statement_with_its_claims_and_the_lock_is_on_that_session(
        pg_url: str, store: Stores, tmp_path: Path) -> None:
    """What a change costs the database, read off the wire (libpq's protocol trace): one statement, which
    writes the journal row and takes or releases the claims in the same implicit transaction; and the
    advisory lock is held by that very session, so the lock cannot outlive the journal's connection."""
    support = store("support")
    with support.lock():
        state = State.open(support, key=KEY)
        state.put("vapi.tool/warm-up", Entry(kind="vapi.tool", id="t-0"))  # the first write stores the head
        state.claims = lambda pairs: ([Claim("vapi", "acct", a.kind, a.id) for b, a in pairs if a is not None],
                                      [Claim("vapi", "acct", b.kind, b.id) for b, a in pairs if b is not None])
        trace = tmp_path / "trace"
        with trace.open("w") as fh:
            support.conn.pgconn.trace(fh.fileno())
            for i in range(1, 21):
                state.put(f"vapi.tool/t{i}", Entry(kind="vapi.tool", id=f"t-{i}"))
            state.remove("vapi.tool/t20")
            support.conn.pgconn.untrace()
        done = [line.split("\t")[-1] for line in trace.read_text().splitlines()
                if line.split("\t")[1:2] == ["B"] and "\tCommandComplete\t" in line]
        assert len(done) == 21 and not any("BEGIN" in d or "COMMIT" in d for d in done), done
        [(holder,)] = rows(pg_url, "SELECT backend_pid FROM voxplan_lock")
        assert holder == support.conn.info.backend_pid
    assert rows(pg_url, "SELECT count(*) FROM voxplan_journal") == [(22,)]
    assert {r[0] for r in rows(pg_url, "SELECT remote_id FROM voxplan_claims")} == {f"t-{i}" for i in range(1, 20)}


def test_changes_finishing_together_share_one_commit_and_each_waits_for_it(pg_url: str, store: Stores,
                                                                           tmp_path: Path) -> None:
    """The group commit: 40 workers recording at once write in fewer transactions than changes (one
    statement each), yet every put returns only once its row is committed (another session sees it then),
    the rows keep the order of their serials, and a remote id released and then taken again ends claimed."""
    support = store("support")
    with support.lock():
        state = State.open(support, key=KEY)
        state.put("vapi.tool/warm-up", Entry(kind="vapi.tool", id="t-0"))
        state.claims = lambda pairs: ([Claim("vapi", "acct", a.kind, a.id) for b, a in pairs if a is not None],
                                      [Claim("vapi", "acct", b.kind, b.id) for b, a in pairs if b is not None])
        seen_after: dict[int, int] = {}
        start = threading.Barrier(40)

        def worker(i: int) -> None:
            start.wait()
            state.put(f"vapi.tool/t{i}", Entry(kind="vapi.tool", id=f"t-{i}"))
            with psycopg.connect(pg_url) as other:  # returned: so it is committed for everyone
                found = other.execute("SELECT count(*) FROM voxplan_journal WHERE record->>'put' = %s",
                                      (f"vapi.tool/t{i}",)).fetchone()
                seen_after[i] = found[0] if found else 0

        trace = tmp_path / "trace"
        with trace.open("w") as fh:
            support.conn.pgconn.trace(fh.fileno())
            threads = [threading.Thread(target=worker, args=(i,)) for i in range(40)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            support.conn.pgconn.untrace()
        statements = [line for line in trace.read_text().splitlines()
                      if line.split("\t")[1:2] == ["B"] and "\tCommandComplete\t" in line]
        assert seen_after == dict.fromkeys(range(40), 1)
        assert 1 <= len(statements) < 40, len(statements)
        serials = [r[0] for r in rows(pg_url, "SELECT (record->>'serial')::int FROM voxplan_journal ORDER BY id")]
        assert serials == sorted(serials) and len(set(serials)) == 41
        # the same remote id released (t-3 leaves t3) and taken again (by t3-again)
        state.remove("vapi.tool/t3")
        state.put("vapi.tool/t3-again", Entry(kind="vapi.tool", id="t-3"))
    claimed = {r[0] for r in rows(pg_url, "SELECT remote_id FROM voxplan_claims")}
    assert claimed == {f"t-{i}" for i in range(40)}
