"""How `serve` replicas share the work: the dedupe of deliveries, the record of each call
(deciding → accepted | rejected → ended), and the lease on each call's sideband.

`PostgresCoordinator` (the `postgres` backend) lets any number of replicas answer one stack:

- A replica registers itself in `voxplan_serve_replicas` and beats every second. A replica whose beat is
  older than STALE seconds is dead, and so is a lease it held.
- `claim` is one statement: record the delivery (`webhook-id`), and insert the call as `deciding` with the
  decision this replica intends, owned by it; or, if the call is already there, take it over only when it
  is still `deciding` and its owner is dead (the owner died between claiming and recording). It answers
  MINE (decide it: the decision to send is the first owner's, so a takeover re-sends the same), DONE (it
  was decided: a retried delivery is a no-op) or BUSY (a live replica is deciding it now: answer non-2xx
  and OpenAI retries, by then it is DONE).
- `decided` records the outcome; a call with a sideband stays `accepted`, leased to its owner, until its
  sideband closes. `orphans` takes over accepted calls whose owner died, so a survivor re-attaches their
  sideband (and their transfer and hang-up still work) within STALE + REAP seconds. A replica that was
  only slow, not dead, finds at its next tool call that it no longer `owns` the call and lets it go, so a
  transfer is never sent by two replicas.

`MemoryCoordinator` (the `local` backend) does the same in one process, and refuses a second process on
the same state (a lock file beside it): the local backend runs one replica.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

from voxplan.core.errors import StateError
from voxplan.state import StateStore

STALE = 3.0  # seconds without a heartbeat after which a replica, and every lease it holds, is dead
BEAT = 1.0  # seconds between heartbeats
REAP = 0.5  # seconds between looks for orphaned sidebands: re-attached within STALE + REAP of the last beat
KEEP = 4 * 86400  # seconds a delivery and a finished call are remembered: OpenAI retries for up to 72 h


class Claim(Enum):
    MINE = "mine"
    DONE = "done"
    BUSY = "busy"


def replica_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Coordinator(Protocol):
    replica: str
    shared: bool  # whether other replicas can share the work (PostgreSQL) or not (local)

    def start(self) -> None: ...

    def claim(self, call_id: str, webhook_id: str, decision: dict[str, Any]) -> tuple[Claim, dict[str, Any] | None]:
        """MINE with the decision to carry out (this one, or a dead owner's), DONE, or BUSY."""
        ...

    def decided(self, call_id: str, state: str, follow: dict[str, Any] | None) -> None: ...

    def release(self, call_id: str) -> None:
        """Give a call this replica could not decide back to whoever gets its next delivery."""
        ...

    def ended(self, call_id: str) -> None: ...

    def owns(self, call_id: str) -> bool:
        """Whether this replica still holds the call's lease (checked before a tool's refer or hang-up)."""
        ...

    def orphans(self) -> list[tuple[str, dict[str, Any]]]:
        """Accepted calls with a sideband whose owner died, now leased to this replica: (call id, agent)."""
        ...

    def hand_back(self) -> int:
        """On a graceful stop: give every sideband this replica follows to the others at once."""
        ...

    def healthy(self) -> bool: ...

    def recent(self, number: str, since: float) -> list[dict[str, Any]]:
        """Calls to `number` decided since `since` (a Unix time), oldest first: number, caller, agent, outcome
        (accepted | rejected), at. What `voxplan test` asks serve (GET /calls), from any replica."""
        ...

    def prune(self) -> int:
        """Forget deliveries and finished calls older than KEEP (no retry can come for them any more)."""
        ...

    def stop(self) -> None: ...


class MemoryCoordinator:
    """One process: call records in memory, and a lock file so a second `serve` on the same local state
    stops with a clear message instead of deciding calls twice."""

    shared = False

    def __init__(self, lock_file: Path):
        self.replica = replica_id()
        self.lock_file = lock_file
        self._fd: int | None = None
        self._calls: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        self.lock_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StateError(f"another voxplan serve already answers from {self.lock_file.parent}: the local backend "
                             "runs one replica; for several, use backend: postgres") from None
        self._fd = fd

    def claim(self, call_id: str, webhook_id: str, decision: dict[str, Any]) -> tuple[Claim, dict[str, Any] | None]:
        with self._lock:
            call = self._calls.get(call_id)
            if call is None:
                self._calls[call_id] = {"state": "deciding", "owner": self.replica, "decision": decision,
                                        "at": time.monotonic(), "decided_at": None}
                return Claim.MINE, decision
            if call["state"] == "deciding" and call["owner"] == "":
                call["owner"] = self.replica
                return Claim.MINE, call["decision"]
            return (Claim.BUSY if call["state"] == "deciding" else Claim.DONE), None

    def decided(self, call_id: str, state: str, follow: dict[str, Any] | None) -> None:
        with self._lock:
            self._calls[call_id].update(state=state, follow=follow, decided_at=time.time())

    def recent(self, number: str, since: float) -> list[dict[str, Any]]:
        with self._lock:
            calls = [dict(v) for v in self._calls.values() if v["decided_at"] is not None
                     and v["decided_at"] >= since and (v["decision"] or {}).get("number") == number]
        calls.sort(key=lambda c: c["decided_at"])
        return [_witnessed(c["decision"], c["state"], c["decided_at"]) for c in calls]

    def release(self, call_id: str) -> None:
        with self._lock:
            if self._calls.get(call_id, {}).get("state") == "deciding":
                self._calls[call_id]["owner"] = ""

    def ended(self, call_id: str) -> None:
        with self._lock:
            if call_id in self._calls:
                self._calls[call_id]["state"] = "ended"

    def owns(self, call_id: str) -> bool:
        return True

    def orphans(self) -> list[tuple[str, dict[str, Any]]]:
        return []

    def hand_back(self) -> int:
        return 0

    def healthy(self) -> bool:
        return self._fd is not None

    def prune(self) -> int:
        cutoff = time.monotonic() - KEEP
        with self._lock:
            old = [c for c, v in self._calls.items() if v["at"] < cutoff and v["state"] != "deciding"]
            for call_id in old:
                del self._calls[call_id]
        return len(old)

    def stop(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


_CLAIM = """
WITH d AS (
    INSERT INTO voxplan_serve_deliveries (webhook_id, call_id, replica) VALUES (%(webhook_id)s, %(call_id)s, %(me)s)
    ON CONFLICT DO NOTHING RETURNING 1)
INSERT INTO voxplan_serve_calls AS c (call_id, stack, env, state, owner, decision)
VALUES (%(call_id)s, %(stack)s, %(env)s, 'deciding', %(me)s, %(decision)s)
ON CONFLICT (call_id) DO UPDATE SET owner = EXCLUDED.owner
WHERE c.state = 'deciding' AND c.owner <> EXCLUDED.owner AND NOT EXISTS (
    SELECT 1 FROM voxplan_serve_replicas r
    WHERE r.id = c.owner AND r.heartbeat_at > clock_timestamp() - make_interval(secs => %(stale)s))
RETURNING c.decision
"""

_ORPHANS = """
UPDATE voxplan_serve_calls c SET owner = %(me)s
WHERE c.call_id IN (
    SELECT o.call_id FROM voxplan_serve_calls o
    WHERE o.stack = %(stack)s AND o.env = %(env)s AND o.state = 'accepted' AND o.follow IS NOT NULL
      AND o.owner <> %(me)s AND NOT EXISTS (
        SELECT 1 FROM voxplan_serve_replicas r
        WHERE r.id = o.owner AND r.heartbeat_at > clock_timestamp() - make_interval(secs => %(stale)s))
    ORDER BY o.decided_at LIMIT 50 FOR UPDATE SKIP LOCKED)
RETURNING c.call_id, c.follow
"""


class PostgresCoordinator:
    """Replicas on one PostgreSQL database (psycopg 3 and its connection pool)."""

    shared = True

    def __init__(self, url: str, stack: str, env: str, *, pool_size: int = 16):
        from psycopg_pool import ConnectionPool

        self.replica = replica_id()
        self.stack, self.env = stack, env
        self._pool = ConnectionPool(url, min_size=2, max_size=pool_size, open=False, name="voxplan-serve",
                                    kwargs={"autocommit": True, "application_name": f"voxplan serve {stack}/{env}"})
        self._beat_ok = 0.0
        self._stop = threading.Event()
        self._beater: threading.Thread | None = None

    @contextmanager
    def _sql(self) -> Iterator[Any]:
        import psycopg

        try:
            with self._pool.connection(timeout=10) as conn:
                yield conn
        except (psycopg.Error, OSError) as exc:
            first = str(exc).strip().splitlines()
            raise StateError(f"serve's database: {first[0] if first else type(exc).__name__}") from None

    def start(self) -> None:
        self._pool.open(wait=True, timeout=15)
        self._beat()
        self._beater = threading.Thread(target=self._beat_loop, name="voxplan-serve-heartbeat", daemon=True)
        self._beater.start()

    def _beat(self) -> None:
        with self._sql() as conn:
            conn.execute(
                "INSERT INTO voxplan_serve_replicas (id, stack, env, host, pid) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (id) DO UPDATE SET heartbeat_at = clock_timestamp()",
                (self.replica, self.stack, self.env, socket.gethostname(), os.getpid()))
        self._beat_ok = time.monotonic()

    def _beat_loop(self) -> None:
        while not self._stop.wait(BEAT):
            try:
                self._beat()
            except StateError:
                pass  # healthy() turns false; /readyz says so

    def claim(self, call_id: str, webhook_id: str, decision: dict[str, Any]) -> tuple[Claim, dict[str, Any] | None]:
        from psycopg.types.json import Json

        with self._sql() as conn:
            row = conn.execute(_CLAIM, {"webhook_id": webhook_id, "call_id": call_id, "me": self.replica,
                                        "stack": self.stack, "env": self.env, "decision": Json(decision),
                                        "stale": STALE}).fetchone()
            if row is not None:
                return Claim.MINE, dict(row[0])
            state = conn.execute("SELECT state FROM voxplan_serve_calls WHERE call_id = %s", (call_id,)).fetchone()
        return (Claim.BUSY if state and state[0] == "deciding" else Claim.DONE), None

    def decided(self, call_id: str, state: str, follow: dict[str, Any] | None) -> None:
        from psycopg.types.json import Json

        with self._sql() as conn:
            conn.execute(
                "UPDATE voxplan_serve_calls SET state = %s, follow = %s, decided_at = clock_timestamp(), "
                "ended_at = CASE WHEN %s = 'accepted' THEN NULL ELSE clock_timestamp() END WHERE call_id = %s",
                (state, Json(follow) if follow is not None else None, state, call_id))

    def release(self, call_id: str) -> None:
        with self._sql() as conn:
            conn.execute("UPDATE voxplan_serve_calls SET owner = '' WHERE call_id = %s AND owner = %s "
                         "AND state = 'deciding'", (call_id, self.replica))

    def ended(self, call_id: str) -> None:
        with self._sql() as conn:
            conn.execute("UPDATE voxplan_serve_calls SET state = 'ended', ended_at = clock_timestamp() "
                         "WHERE call_id = %s", (call_id,))

    def owns(self, call_id: str) -> bool:
        with self._sql() as conn:
            row = conn.execute("SELECT owner FROM voxplan_serve_calls WHERE call_id = %s", (call_id,)).fetchone()
        return bool(row) and row[0] == self.replica

    def orphans(self) -> list[tuple[str, dict[str, Any]]]:
        with self._sql() as conn:
            rows = conn.execute(_ORPHANS, {"me": self.replica, "stack": self.stack, "env": self.env,
                                           "stale": STALE}).fetchall()
        return [(str(r[0]), dict(r[1])) for r in rows]

    def hand_back(self) -> int:
        with self._sql() as conn:
            cur = conn.execute("UPDATE voxplan_serve_calls SET owner = '' WHERE owner = %s AND state = 'accepted'",
                               (self.replica,))
            conn.execute("DELETE FROM voxplan_serve_replicas WHERE id = %s", (self.replica,))
            return int(cur.rowcount or 0)

    def healthy(self) -> bool:
        return time.monotonic() - self._beat_ok < STALE

    def recent(self, number: str, since: float) -> list[dict[str, Any]]:
        with self._sql() as conn:
            rows = conn.execute(
                "SELECT decision, state, extract(epoch FROM decided_at) FROM voxplan_serve_calls WHERE stack = %s "
                "AND env = %s AND decided_at >= to_timestamp(%s) AND decision->>'number' = %s ORDER BY decided_at",
                (self.stack, self.env, since, number)).fetchall()
        return [_witnessed(decision, state, float(at)) for decision, state, at in rows]

    def prune(self) -> int:
        keep = {"keep": KEEP, "stack": self.stack, "env": self.env}
        with self._sql() as conn:
            gone = conn.execute("DELETE FROM voxplan_serve_deliveries WHERE at < clock_timestamp() - "
                                "make_interval(secs => %(keep)s)", keep).rowcount or 0
            gone += conn.execute("DELETE FROM voxplan_serve_calls WHERE stack = %(stack)s AND env = %(env)s "
                                 "AND state <> 'deciding' AND received_at < clock_timestamp() - "
                                 "make_interval(secs => %(keep)s)", keep).rowcount or 0
            conn.execute("DELETE FROM voxplan_serve_replicas WHERE heartbeat_at < clock_timestamp() - "
                         "make_interval(secs => %(keep)s)", keep)
        return int(gone)

    def stop(self) -> None:
        self._stop.set()
        if self._beater is not None:
            self._beater.join(timeout=5)
        self._pool.close(timeout=5)


def for_store(store: StateStore) -> Coordinator:
    """The coordinator for a state backend: PostgreSQL shares the work; the local files serve one process."""
    if store.name == "postgres":
        return PostgresCoordinator(str(getattr(store, "url")), store.stack, store.env)  # noqa: B009
    state_file = Path(str(getattr(store, "path")))  # noqa: B009
    return MemoryCoordinator(state_file.with_name(state_file.name.removesuffix(".state.json") + ".serve.lock"))


def _witnessed(decision: dict[str, Any], state: str, at: float) -> dict[str, Any]:
    """One decided call as `voxplan test` reads it (an ended call was accepted: only those have a sideband)."""
    return {"number": decision.get("number"), "caller": decision.get("caller"), "agent": decision.get("agent"),
            "outcome": "rejected" if state == "rejected" else "accepted", "at": at}
