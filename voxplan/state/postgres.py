"""The `postgres` backend: state in a PostgreSQL database, for teams and CI runners (psycopg 3).

`backend: {postgres: {url: "${env:VOXPLAN_PG_URL}"}}` in the stack, or `VOXPLAN_BACKEND=postgresql://…`.
voxplan creates its tables on first use and migrates them forward (`voxplan_schema` holds the version;
a newer schema than this voxplan knows stops the run):

    voxplan_state    (stack, env) → head, entries           the snapshot; replaced whole by `commit`
    voxplan_journal  id, stack, env, record                 one row per remote change, committed before
                                                            `append` returns; folded in by `commit`
    voxplan_history  (stack, env, n) → at, run              one row per apply
    voxplan_lock     (stack, env) → holder, backend pid     who holds the lock, written with it
    voxplan_claims   (vendor, account, kind, remote_id) → stack, env     which (stack, env) owns an object
    voxplan_publications  id, stack, env, kind, name, version → body    every published version (OpenAI
                                                            agents for `voxplan serve`); body NULL: unpublished.
                                                            Each publication NOTIFYs `voxplan_published`.
    voxplan_serve_*  replicas, deliveries, calls            `voxplan serve`'s coordination (its SQL lives in
                                                            voxplan.serve.coordination)

Locking is a session-level advisory lock taken on the session that writes the journal and the claims,
held for the whole apply. The server releases it when that session ends, so a runner killed with -9 (or
cut off) frees it; its `voxplan_lock` row then names a holder that no longer holds anything and is
overwritten by the next. Because the lock and the journal share one session, a session that ends
mid-apply (a failover, a NAT dropping an idle connection, `pg_terminate_backend`) takes the lock *and*
the journal with it: `check()`, called before each remote change, sees the server's goodbye on the socket
without a round trip and raises LockLost, so the run sends nothing more. `lock(timeout)` polls
`pg_try_advisory_lock` until the deadline, then raises LockHeld naming the holder. TCP keepalives make a
silently dropped connection fail within a minute.

Documents are `json`, not `jsonb`: kept as written (key order included), exactly as the local files keep
them; nothing queries inside them. A snapshot's entries are written as voxplan.state.codec writes them
(format 3; format 2, a plain mapping, is still read). Apply's threads share the one session, one
statement at a time: a remote change is one statement (its journal row, the claims it takes and those it
releases, in one transaction); claims of the objects a plan keeps are taken in bulk before it starts.
"""

from __future__ import annotations

import hashlib
import select
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Json

from voxplan.core.errors import LockHeld, LockLost, Owned, StateError
from voxplan.core.secret import SafeEncoder
from voxplan.state import codec
from voxplan.state.model import replay
from voxplan.state.store import Claim, Holder, Publication, Published, Snapshot, owner_name

_DUMPS = SafeEncoder(separators=(",", ":")).encode  # refuses a raw Secret, as the local files do
CONNECT_TIMEOUT = 10
POLL_SECONDS = 0.2
KEEPALIVE = (20, 5, 4)  # idle seconds, then probes every 5 s, 4 unanswered: a dead peer is found in 40 s
_MIGRATE_KEY = 0x766F78706C616E  # "voxplan": serialises schema migrations across runners

MIGRATIONS: tuple[str, ...] = (
    # 1: state, journal, history, lock holders, claims
    """
    CREATE TABLE voxplan_state (
        stack text NOT NULL, env text NOT NULL, head json NOT NULL, entries json NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (stack, env));
    CREATE TABLE voxplan_journal (
        id bigserial PRIMARY KEY, stack text NOT NULL, env text NOT NULL, record json NOT NULL,
        at timestamptz NOT NULL DEFAULT now());
    CREATE INDEX voxplan_journal_state ON voxplan_journal (stack, env, id);
    CREATE TABLE voxplan_history (
        stack text NOT NULL, env text NOT NULL, n integer NOT NULL, at timestamptz NOT NULL DEFAULT now(),
        run json NOT NULL, PRIMARY KEY (stack, env, n));
    CREATE TABLE voxplan_lock (
        stack text NOT NULL, env text NOT NULL, holder json NOT NULL, backend_pid integer NOT NULL,
        PRIMARY KEY (stack, env));
    CREATE TABLE voxplan_claims (
        vendor text NOT NULL, account text NOT NULL, kind text NOT NULL, remote_id text NOT NULL,
        stack text NOT NULL, env text NOT NULL, claimed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (vendor, account, kind, remote_id));
    CREATE INDEX voxplan_claims_owner ON voxplan_claims (stack, env);
    """,
    # 2: publications (what apply publishes for voxplan serve: OpenAI agents and their routing)
    """
    CREATE TABLE voxplan_publications (
        id bigserial PRIMARY KEY, stack text NOT NULL, env text NOT NULL, kind text NOT NULL, name text NOT NULL,
        version integer NOT NULL, body json, at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (stack, env, kind, name, version));
    """,
    # 3: voxplan serve's replicas: liveness, shared dedupe of deliveries, the record of each call
    """
    CREATE TABLE voxplan_serve_replicas (
        id text PRIMARY KEY, stack text NOT NULL, env text NOT NULL, host text NOT NULL, pid integer NOT NULL,
        started_at timestamptz NOT NULL DEFAULT now(), heartbeat_at timestamptz NOT NULL DEFAULT now());
    CREATE TABLE voxplan_serve_deliveries (
        webhook_id text PRIMARY KEY, call_id text NOT NULL, replica text NOT NULL,
        at timestamptz NOT NULL DEFAULT now());
    CREATE TABLE voxplan_serve_calls (
        call_id text PRIMARY KEY, stack text NOT NULL, env text NOT NULL, state text NOT NULL, owner text NOT NULL,
        decision json, follow json, received_at timestamptz NOT NULL DEFAULT now(), decided_at timestamptz,
        ended_at timestamptz);
    CREATE INDEX voxplan_serve_calls_open ON voxplan_serve_calls (stack, env, state)
        WHERE state IN ('deciding', 'accepted');
    """,
)
PUBLISHED_CHANNEL = "voxplan_published"
SCHEMA_VERSION = len(MIGRATIONS)


def location(conninfo: str) -> str:
    """Where a connection string points, for messages: `host:port/database`, and nothing else of the string.
    A password can sit in a URL's user part, in `?password=`, or in `password=` of key/value pairs (and so
    can other options a message need not show): psycopg's own parser finds the three parts, and a string it
    cannot parse is not shown at all (libpq's complaint quotes the text around the fault)."""
    try:
        parts = conninfo_to_dict(conninfo)
    except psycopg.Error:
        return "(a connection string that cannot be parsed)"
    host = str(parts.get("host") or parts.get("hostaddr") or "localhost")
    return f"{host}:{parts.get('port') or 5432}/{parts.get('dbname') or parts.get('user') or ''}"


class PostgresStore:
    name = "postgres"

    def __init__(self, url: str, stack: str, env: str = "default"):
        if not url:
            raise StateError("the postgres backend needs a URL: backend: {postgres: {url: ...}} or "
                             "VOXPLAN_BACKEND=postgresql://user@host/db")
        self.url = url
        self.stack = stack
        self.env = env
        self._conn: psycopg.Connection[Any] | None = None
        self._guard = threading.Lock()
        self._using = threading.RLock()  # one block (a transaction) at a time on the shared connection
        self._listener: psycopg.Connection[Any] | None = None  # LISTENs for publications (serve)
        self._listen_guard = threading.Lock()
        self._locked: psycopg.Connection[Any] | None = None  # the session holding the lock, while held
        self._lost: LockLost | None = None
        # the group commit: appends queued in order, written by whichever waiter finds no writer at work
        self._queue: list[_Pending] = []
        self._queued = threading.Condition()
        self._writing = False

    @classmethod
    def open(cls, settings: dict[str, Any], *, stack_file: Path, stack: str, env: str) -> PostgresStore:
        url = settings.get("url")
        reveal = getattr(url, "reveal", None)  # `${env:…}` makes it a Secret (it may hold a password)
        return cls(str(reveal() if callable(reveal) else url or ""), stack, env)

    def describe(self) -> str:
        return f"postgres {location(self.url)} state {self.stack}/{self.env}"

    # -- connections and schema ---------------------------------------------------------------------
    def _connect(self) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT,
                                   application_name=f"voxplan {self.stack}/{self.env}", keepalives=1,
                                   keepalives_idle=KEEPALIVE[0], keepalives_interval=KEEPALIVE[1],
                                   keepalives_count=KEEPALIVE[2])
        except psycopg.ProgrammingError:  # the string itself: libpq's message would quote it
            raise StateError(f"the state database connection string {location(self.url)} is not one psycopg can "
                             "parse; check the backend URL") from None
        except psycopg.Error as exc:
            raise StateError(f"cannot reach the state database {location(self.url)}: {_first_line(exc)}") from None

    @property
    def conn(self) -> psycopg.Connection[Any]:
        with self._guard:
            if self._conn is None or self._conn.closed:
                conn = self._connect()
                try:
                    migrate(conn)
                except BaseException:
                    conn.close()
                    raise
                self._conn = conn
            return self._conn

    @contextmanager
    def _sql(self) -> Iterator[psycopg.Connection[Any]]:
        """The shared connection, for one block at a time (apply's threads append concurrently), with
        database errors turned into one-line StateErrors (LockLost when the locked session ended)."""
        if self._lost is not None:
            raise self._lost
        conn = self._locked or self.conn
        with self._using:
            try:
                yield conn
            except psycopg.Error as exc:
                if conn is self._locked and conn.broken:
                    raise self._lose(exc) from None
                raise StateError(f"{self.describe()}: {_first_line(exc)}") from None

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._guard:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # -- snapshot and journal -----------------------------------------------------------------------
    def load(self) -> Snapshot:
        with self._sql() as conn, conn.transaction():  # one consistent read of snapshot and journal
            row = conn.execute("SELECT head, entries FROM voxplan_state WHERE stack = %s AND env = %s",
                               (self.stack, self.env)).fetchone()
            rows = conn.execute("SELECT id, record FROM voxplan_journal WHERE stack = %s AND env = %s ORDER BY id",
                                (self.stack, self.env)).fetchall()
        where = f"{self.describe()} (stack {self.stack})"
        records = [_journal_record(row_id, record, where) for row_id, record in rows]
        if row is None:
            if records:
                raise StateError(f"{where}: journal rows without a snapshot; refusing to guess")
            return Snapshot()
        head, entries = row
        if not isinstance(head, dict) or not isinstance(entries, dict):
            raise StateError(f"{where}: the snapshot row is not a voxplan state (head {_shown(head)}, entries "
                             f"{_shown(entries)}); refusing to guess")
        version = head.get("format_version", 0)
        shared = None
        if type(version) is int and version >= codec.FORMAT:
            shared, entries = codec.check(entries.get("shared"), entries.get("resources"), f"{where} snapshot")
        try:
            serial = replay(records, entries, int(head.get("serial", 0)), shared)
        except (TypeError, ValueError) as exc:
            raise StateError(f"{where}: the snapshot's serial is not a number ({exc}); refusing to guess") from None
        return Snapshot(head={**head, "serial": serial}, entries=entries, exists=True, shared=shared,
                        where=f"{where} snapshot")

    def check(self) -> None:
        """Raise LockLost if the locked session ended. No round trip: a server that ends a session says so
        on its socket (then closes it), so input waiting there while nothing is asked means it may be gone;
        only then is the session asked, once."""
        if self._lost is not None:
            raise self._lost
        conn = self._locked
        if conn is None:
            return
        with self._using:
            try:
                waiting = conn.broken or bool(select.select([conn.pgconn.socket], [], [], 0)[0])
                if waiting:
                    conn.execute("SELECT 1")
            except (psycopg.Error, OSError, ValueError) as exc:
                raise self._lose(exc) from None

    def _lose(self, exc: BaseException) -> LockLost:
        self._lost = LockLost(f"{self.describe()}: the state lock was lost: its database session ended "
                              f"({_first_line(exc)}); another runner may hold it now, so nothing more is sent")
        return self._lost

    def append(self, records: list[dict[str, Any]], *, take: Sequence[Claim] = (),
               release: Sequence[Claim] = ()) -> Callable[[], None]:
        """Queue the journal rows and the claims the change takes and releases; the returned call waits
        until they are committed. A group commit: the first waiter that finds no write under way writes
        everything queued so far (in queue order) in one statement, one transaction, while later appends
        queue behind it; each waiter returns once the transaction holding its rows committed, and raises
        if it failed (none of its rows is then recorded). Apply's workers each wait for their own change,
        so a change still counts as done only once its row is committed, but N workers finishing together
        cost one round trip and one WAL flush instead of N taken one at a time."""
        if self._lost is not None:
            raise self._lost
        item = _Pending(records, tuple(take), tuple(release))
        with self._queued:
            self._queue.append(item)
        return lambda: self._committed(item)

    def _committed(self, item: _Pending) -> None:
        while True:
            with self._queued:
                while not item.done and self._writing:
                    self._queued.wait()
                if item.done:
                    if item.error is not None:
                        raise item.error
                    return
                self._writing = True
                batch = self._batch()
            error: BaseException | None = None
            try:
                self._write(batch)
            except BaseException as exc:
                error = exc
            with self._queued:
                for done in batch:
                    done.done = True
                    done.error = error if error is None or done is item or isinstance(error, Exception) else StateError(
                        f"{self.describe()}: interrupted while recording this change; its journal row may not "
                        "be recorded")
                self._writing = False
                self._queued.notify_all()

    def _batch(self) -> list[_Pending]:
        """The longest prefix of the queue in which no claim is both taken and released (their order inside
        one statement is not defined): those are written one statement apart."""
        batch: list[_Pending] = []
        taken: set[Claim] = set()
        released: set[Claim] = set()
        while self._queue:
            item = self._queue[0]
            if batch and (taken.intersection(item.release) or released.intersection(item.take)):
                break
            taken.update(item.take)
            released.update(item.release)
            batch.append(self._queue.pop(0))
        return batch

    def _write(self, batch: list[_Pending]) -> None:
        records = [r for item in batch for r in item.records]
        take = [c for item in batch for c in item.take]
        release = [c for item in batch for c in item.release]
        # the rows as one JSON array, split by the server: psycopg dumps a json[] element by element (half
        # of this statement's client CPU, measured); json keeps each element's text as sent
        sql = ["WITH j AS (INSERT INTO voxplan_journal (stack, env, record) SELECT %s, %s, r "
               "FROM json_array_elements(%s::json) WITH ORDINALITY AS t(r, n) ORDER BY n)"]
        args: list[Any] = [self.stack, self.env, Json(records, dumps=_DUMPS)]
        if take:
            sql.append("c AS (INSERT INTO voxplan_claims (vendor, account, kind, remote_id, stack, env) "
                       "SELECT w.*, %s, %s FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[]) "
                       "AS w(vendor, account, kind, remote_id) ON CONFLICT DO NOTHING)")
            args += [self.stack, self.env, *_columns(take)]
        if release:
            sql.append("d AS (DELETE FROM voxplan_claims c USING unnest(%s::text[], %s::text[], %s::text[], "
                       "%s::text[]) AS w(vendor, account, kind, remote_id) WHERE (c.vendor, c.account, c.kind, "
                       "c.remote_id) = (w.vendor, w.account, w.kind, w.remote_id) AND c.stack = %s AND c.env = %s)")
            args += [*_columns(release), self.stack, self.env]
        with self._sql() as conn:
            conn.execute(", ".join(sql) + " SELECT 1", args)  # type: ignore[arg-type]  # our own constant SQL

    def sync(self) -> None:
        """Nothing to wait for: each append's wait returns once its rows are committed."""

    def commit(self, head: dict[str, Any], entries: Mapping[str, dict[str, Any]]) -> None:
        """The new snapshot and the end of the journal it folds in, in one transaction."""
        shared, written = codec.encode(entries, _DUMPS)
        head = {**head, "format_version": max(head.get("format_version", 0), codec.FORMAT)}
        with self._sql() as conn, conn.transaction():
            conn.execute(
                "INSERT INTO voxplan_state (stack, env, head, entries) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (stack, env) DO UPDATE SET head = EXCLUDED.head, entries = EXCLUDED.entries, "
                "updated_at = now()",
                (self.stack, self.env, Json(head, dumps=_DUMPS),
                 Json({"shared": shared, "resources": written}, dumps=_DUMPS)))
            conn.execute("DELETE FROM voxplan_journal WHERE stack = %s AND env = %s", (self.stack, self.env))

    # -- history --------------------------------------------------------------------------------------
    def record_history(self, run: dict[str, Any]) -> None:
        with self._sql() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_key("history", self.stack, self.env),))
            conn.execute(
                "INSERT INTO voxplan_history (stack, env, n, run) SELECT %s, %s, coalesce(max(n), 0) + 1, %s "
                "FROM voxplan_history WHERE stack = %s AND env = %s",
                (self.stack, self.env, Json(run, dumps=_DUMPS), self.stack, self.env))

    def history(self) -> list[dict[str, Any]]:
        with self._sql() as conn:
            rows = conn.execute("SELECT n, run FROM voxplan_history WHERE stack = %s AND env = %s ORDER BY n",
                                (self.stack, self.env)).fetchall()
        return [{**run, "n": n} for n, run in rows]

    # -- ownership ------------------------------------------------------------------------------------
    def owners(self, objects: Iterable[Claim]) -> dict[Claim, str]:
        wanted = list(dict.fromkeys(objects))
        if not wanted:
            return {}
        with self._sql() as conn:
            return self._owners(conn, wanted)

    def _owners(self, conn: psycopg.Connection[Any], wanted: list[Claim]) -> dict[Claim, str]:
        rows = conn.execute(
            "SELECT c.vendor, c.account, c.kind, c.remote_id, c.stack, c.env FROM voxplan_claims c "
            "JOIN unnest(%s::text[], %s::text[], %s::text[], %s::text[]) AS w(vendor, account, kind, remote_id) "
            "USING (vendor, account, kind, remote_id) WHERE NOT (c.stack = %s AND c.env = %s)",
            ([c.vendor for c in wanted], [c.account for c in wanted], [c.kind for c in wanted],
             [c.remote_id for c in wanted], self.stack, self.env)).fetchall()
        return {Claim(v, a, k, r): owner_name(s, e) for v, a, k, r, s, e in rows}

    def claim(self, objects: Iterable[Claim], *, take_over: bool = False) -> None:
        """Claim `objects` for this (stack, env) in one transaction; without `take_over`, an object another
        (stack, env) claims stops it (raising Owned) and nothing is claimed."""
        wanted = list(dict.fromkeys(objects))
        if not wanted:
            return
        cols = ([c.vendor for c in wanted], [c.account for c in wanted], [c.kind for c in wanted],
                [c.remote_id for c in wanted])
        with self._sql() as conn, conn.transaction():
            conn.execute(
                "INSERT INTO voxplan_claims (vendor, account, kind, remote_id, stack, env) "
                "SELECT w.*, %s, %s FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[]) "
                "AS w(vendor, account, kind, remote_id) ON CONFLICT DO NOTHING",
                (self.stack, self.env, *cols))
            others = self._owners(conn, wanted)
            if others and not take_over:
                claim, owner = next(iter(others.items()))
                raise Owned(f"{claim.kind} {claim.remote_id} is owned by {owner}; nothing was claimed", owner=owner)
            if others:
                conn.execute(
                    "UPDATE voxplan_claims c SET stack = %s, env = %s, claimed_at = now() "
                    "FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[]) AS w(vendor, account, kind, "
                    "remote_id) WHERE (c.vendor, c.account, c.kind, c.remote_id) = "
                    "(w.vendor, w.account, w.kind, w.remote_id)", (self.stack, self.env, *cols))

    def release(self, objects: Iterable[Claim]) -> None:
        """Drop this (stack, env)'s claims on `objects` (deleted, or forgotten); others' claims stay."""
        wanted = list(dict.fromkeys(objects))
        if not wanted:
            return
        with self._sql() as conn:
            conn.execute(
                "DELETE FROM voxplan_claims c USING unnest(%s::text[], %s::text[], %s::text[], %s::text[]) "
                "AS w(vendor, account, kind, remote_id) WHERE (c.vendor, c.account, c.kind, c.remote_id) = "
                "(w.vendor, w.account, w.kind, w.remote_id) AND c.stack = %s AND c.env = %s",
                ([c.vendor for c in wanted], [c.account for c in wanted], [c.kind for c in wanted],
                 [c.remote_id for c in wanted], self.stack, self.env))

    def claims(self) -> list[Claim]:
        """This (stack, env)'s claims."""
        with self._sql() as conn:
            rows = conn.execute("SELECT vendor, account, kind, remote_id FROM voxplan_claims "
                                "WHERE stack = %s AND env = %s ORDER BY kind, remote_id",
                                (self.stack, self.env)).fetchall()
        return [Claim(*r) for r in rows]

    # -- publications ---------------------------------------------------------------------------------
    def published(self) -> Published:
        with self._sql() as conn, conn.transaction():
            rows = conn.execute(
                "SELECT DISTINCT ON (kind, name) kind, name, version, body, at FROM voxplan_publications "
                "WHERE stack = %s AND env = %s ORDER BY kind, name, version DESC", (self.stack, self.env)).fetchall()
            serial = self._serial(conn)
        live = {f"{k}/{n}": Publication(k, n, v, dict(b), at.isoformat(timespec="seconds"))
                for k, n, v, b, at in rows if b is not None}
        return Published(serial, live)

    def _serial(self, conn: psycopg.Connection[Any]) -> int:
        row = conn.execute("SELECT coalesce(max(id), 0) FROM voxplan_publications WHERE stack = %s AND env = %s",
                           (self.stack, self.env)).fetchone()
        return int(row[0]) if row else 0

    def publish(self, kind: str, name: str, body: dict[str, Any] | None) -> Publication | None:
        """One transaction: the next version, and a NOTIFY that every listening `serve` receives when it
        commits."""
        with self._sql() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_key("publish", self.stack, self.env),))
            row = conn.execute(
                "INSERT INTO voxplan_publications (stack, env, kind, name, version, body) "
                "SELECT %s, %s, %s, %s, coalesce(max(version), 0) + 1, %s FROM voxplan_publications "
                "WHERE stack = %s AND env = %s AND kind = %s AND name = %s RETURNING version, at",
                (self.stack, self.env, kind, name, None if body is None else Json(body, dumps=_DUMPS),
                 self.stack, self.env, kind, name)).fetchone()
            conn.execute("SELECT pg_notify(%s, %s)", (PUBLISHED_CHANNEL, f"{self.stack}/{self.env}"))
        assert row is not None
        at = row[1].isoformat(timespec="seconds")
        return None if body is None else Publication(kind, name, int(row[0]), body, at)

    def wait_published(self, serial: int, timeout: float) -> int:
        """LISTEN on a connection of its own (kept for the next wait), then look at the serial: a
        publication committed between the two is seen either way."""
        with self._listen_guard:
            try:
                if self._listener is None or self._listener.closed:
                    self._listener = self._connect()
                    self._listener.execute(f"LISTEN {PUBLISHED_CHANNEL}")
                listener = self._listener
                now = self._serial(listener)
                if now != serial:
                    return now
                for _ in listener.notifies(timeout=timeout, stop_after=1):
                    pass
                return self._serial(listener)
            except psycopg.Error as exc:
                if self._listener is not None:
                    self._listener.close()
                    self._listener = None
                raise StateError(f"{self.describe()}: {_first_line(exc)}") from None

    # -- locking --------------------------------------------------------------------------------------
    @contextmanager
    def lock(self, timeout: float = 0.0) -> Iterator[None]:
        """Hold the (stack, env) advisory lock for the block, on the session that writes the journal; wait
        up to `timeout` seconds for it, then fail naming the holder."""
        key = _key("state", self.stack, self.env)
        conn = self.conn
        try:
            deadline = time.monotonic() + timeout
            while True:
                with self._using:
                    if conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:  # type: ignore[index]
                        conn.execute(
                            "INSERT INTO voxplan_lock (stack, env, holder, backend_pid) VALUES (%s, %s, %s, "
                            "pg_backend_pid()) ON CONFLICT (stack, env) DO UPDATE SET holder = EXCLUDED.holder, "
                            "backend_pid = EXCLUDED.backend_pid",
                            (self.stack, self.env, Json(Holder.current().locking().to_json())))
                        self._locked, self._lost = conn, None
                        break
                    if time.monotonic() >= deadline:
                        raise LockHeld(f"{self.describe()} is locked by {self._holder(conn)}; wait for it, pass "
                                       "--lock-timeout SECONDS to wait longer, or if its holder is gone: voxplan "
                                       "force-unlock STACK LOCK_ID")
                time.sleep(POLL_SECONDS)
        except psycopg.Error as exc:
            raise StateError(f"{self.describe()}: lock: {_first_line(exc)}") from None
        try:
            yield
        finally:
            lost, self._locked = self._lost, None
            if lost is None:
                try:
                    with self._using:
                        conn.execute("DELETE FROM voxplan_lock WHERE stack = %s AND env = %s AND backend_pid = "
                                     "pg_backend_pid()", (self.stack, self.env))
                        conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
                except psycopg.Error:
                    self.close()  # the session is gone, and the lock with it
            else:
                self.close()
                self._lost = None

    def unlock(self, *, force: bool = False) -> str:
        """Nothing to remove: the server frees the advisory lock when its holder's session ends."""
        return (f"{self.describe()}: the lock is a session-level advisory lock, which the server frees when the "
                "holder's session ends; there is no lock to remove.")

    def force_unlock(self, lock_id: str) -> str:
        """Break the lock whose holder recorded `lock_id`, and no other.

        A session-level advisory lock can be released only by the session that holds it, so breaking one
        means ending that session: `pg_terminate_backend` on the backend the holder recorded with the id,
        chosen in the same statement that checks that this backend holds the (stack, env) lock right now
        and that its record carries `lock_id` (a lock that changed hands is never broken). The server then
        frees the lock as it does for a runner killed with -9. Needs the holder's role or
        pg_signal_backend."""
        key = _key("state", self.stack, self.env)
        with self._sql() as conn:
            row = conn.execute("SELECT holder, backend_pid FROM voxplan_lock WHERE stack = %s AND env = %s",
                               (self.stack, self.env)).fetchone()
            holder = Holder.from_json(row[0]) if row else None
            holding = self._holding(conn, key)
            if holder is None or holder.lock_id != lock_id:
                found = f"lock id {holder.lock_id}" if holder and holder.lock_id else "no recorded lock id"
                state = "is locked" if holding else "is not locked"
                raise LockHeld(f"{self.describe()} {state} and its record has {found}, not {lock_id}; refusing to "
                               "break another lock (it may have changed hands: look again)")
            pid = int(row[1]) if row else 0
            if holding != pid:
                conn.execute("DELETE FROM voxplan_lock WHERE stack = %s AND env = %s AND backend_pid = %s",
                             (self.stack, self.env, pid))
                if holding is None:
                    return (f"{self.describe()} was not locked any more (lock {lock_id}, {holder.describe()}, had "
                            "ended); removed its record.")
                raise LockHeld(f"{self.describe()} is locked by another session now (not lock {lock_id}); "
                               "refusing to break it")
            ended = conn.execute(
                "SELECT pg_terminate_backend(v.backend_pid) FROM voxplan_lock v WHERE v.stack = %s AND v.env = %s "
                "AND v.backend_pid = %s AND v.holder->>'lock_id' = %s AND EXISTS (" + _HOLDS + ")",
                (self.stack, self.env, pid, lock_id, key)).fetchone()
            if not ended or not ended[0]:
                raise StateError(f"{self.describe()}: could not end the session holding lock {lock_id} (backend "
                                 f"pid {pid}): it changed hands or ended meanwhile, or this role may not "
                                 "signal it (it needs the holder's role or pg_signal_backend)")
            deadline = time.monotonic() + CONNECT_TIMEOUT
            while self._holding(conn, key) == pid and time.monotonic() < deadline:
                time.sleep(POLL_SECONDS)
            conn.execute("DELETE FROM voxplan_lock WHERE stack = %s AND env = %s AND backend_pid = %s",
                         (self.stack, self.env, pid))
        return (f"Broke the lock {lock_id} on {self.describe()} ({holder.describe()}) by ending its database "
                f"session (backend pid {pid}); the server released the lock.")

    @staticmethod
    def _holding(conn: psycopg.Connection[Any], key: int) -> int | None:
        """The backend pid holding advisory lock `key` in this database, if any."""
        row = conn.execute("SELECT l.pid FROM pg_locks l WHERE " + _HOLDS_PID, (key,)).fetchone()
        return int(row[0]) if row else None

    def _holder(self, conn: psycopg.Connection[Any]) -> str:
        row = conn.execute("SELECT holder FROM voxplan_lock WHERE stack = %s AND env = %s",
                           (self.stack, self.env)).fetchone()
        return Holder.from_json(row[0]).describe() if row else "another session (holder not recorded yet)"


# pg_locks shows a bigint advisory key as classid (high 32 bits) and objid (low 32 bits), objsubid 1
_HOLDS_PID = ("l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND "
              "l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND "
              "((l.classid::bigint << 32) | l.objid::bigint) = %s")
_HOLDS = "SELECT 1 FROM pg_locks l WHERE l.pid = v.backend_pid AND " + _HOLDS_PID


def migrate(conn: psycopg.Connection[Any]) -> int:
    """Bring voxplan's tables up to SCHEMA_VERSION, one runner at a time; returns the version."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATE_KEY,))
        conn.execute("CREATE TABLE IF NOT EXISTS voxplan_schema (version integer NOT NULL, "
                     "applied_at timestamptz NOT NULL DEFAULT now())")
        row = conn.execute("SELECT coalesce(max(version), 0) FROM voxplan_schema").fetchone()
        current = int(row[0]) if row else 0
        if current > SCHEMA_VERSION:
            raise StateError(f"the state database has voxplan schema version {current}, newer than this "
                             f"voxplan's {SCHEMA_VERSION}: upgrade voxplan")
        for version in range(current + 1, SCHEMA_VERSION + 1):
            conn.execute(MIGRATIONS[version - 1])  # type: ignore[arg-type]  # our own constant SQL
            conn.execute("INSERT INTO voxplan_schema (version) VALUES (%s)", (version,))
    return SCHEMA_VERSION


def _key(*parts: str) -> int:
    """A signed 64-bit advisory-lock key for `parts`."""
    digest = hashlib.sha256("\0".join(("voxplan", *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _columns(claims: Sequence[Claim]) -> list[list[str]]:
    return [[c.vendor for c in claims], [c.account for c in claims], [c.kind for c in claims],
            [c.remote_id for c in claims]]


def _journal_record(row_id: int, record: Any, where: str) -> dict[str, Any]:
    """A journal row's record, checked: one clear error naming the row, never a guess."""
    if not isinstance(record, dict) or not ("put" in record and isinstance(record.get("entry"), dict)
                                            or "rm" in record or "mv" in record and "to" in record):
        raise StateError(f"{where}: journal row {row_id} is not a journal record ({_shown(record)}); refusing to "
                         "guess")
    return record


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


@dataclass(eq=False)
class _Pending:
    """One append in the group commit's queue: its rows and claims, then whether and how it was written."""

    records: list[dict[str, Any]]
    take: tuple[Claim, ...]
    release: tuple[Claim, ...]
    done: bool = False
    error: BaseException | None = None
