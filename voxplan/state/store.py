"""The seam between the engine and where state lives: the `StateStore` protocol.

A store holds one state per (stack, environment): a snapshot (head + one JSON entry per address) and a
journal of remote changes recorded since the snapshot. The engine never touches files or tables; it calls

    load()              the snapshot with the journal replayed over it (never "empty" for unreadable data)
    lock(timeout)       exclusive for a whole apply; released if the process dies; LockHeld names the holder
    check()             before each remote change: raise LockLost if the lock went since it was taken
    append(records, take, release)
                        one remote change, durable before the change counts as done, with the claims it
                        takes and releases (one transaction where the store keeps claims)
    sync()              wait until every appended record is durable
    commit(head, ents)  fold the journal into a new snapshot in one atomic step
    record_history(run) an apply's summary and each change's outcome (the history hook)
    history()           those records, oldest first
    owners(objects)     which other (stack, env) claims each remote object (empty for the local store)
    claim(objects)      claim remote objects for this (stack, env); Owned if another holds one
    release(objects)    drop this (stack, env)'s claims (the objects were deleted or forgotten)
    unlock(force)       remove a lock its holder left behind
    force_unlock(id)    break the lock whose holder has that lock id (LockHeld messages show it), and no other
    published()         what apply published for this (stack, env): the live version of each object
                        whose "remote" is the backend itself (OpenAI agents, which `voxplan serve` answers
                        from), with the serial of the last publication
    publish(kind, name, body)   a new version of one (body None: unpublished); durable when it returns
    wait_published(serial, timeout)   block until the serial moves past `serial` (or the timeout)

Backends are listed once, in `voxplan.state.backends`.
"""

from __future__ import annotations

import getpass
import os
import socket
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from voxplan.state import codec


@dataclass(frozen=True)
class Holder:
    """Who holds a lock (or made an apply): printed in LockHeld and kept in history."""

    user: str
    host: str
    pid: int
    since: str
    ci_url: str = ""
    lock_id: str = ""  # set by a store's lock: what `voxplan force-unlock` names

    def locking(self) -> Holder:
        """This holder with a fresh lock id, for a store to write beside the lock it takes."""
        return replace(self, lock_id=str(uuid.uuid4()))

    @classmethod
    def current(cls, env: Mapping[str, str] | None = None) -> Holder:
        env = os.environ if env is None else env
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry (containers)
            user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
        return cls(user=user, host=socket.gethostname(), pid=os.getpid(),
                   since=datetime.now(UTC).isoformat(timespec="seconds"), ci_url=ci_url(env))

    def describe(self) -> str:
        ci = f", CI job {self.ci_url}" if self.ci_url else ""
        lock = f", lock id {self.lock_id}" if self.lock_id else ""
        return f"{self.user} on {self.host} (pid {self.pid}{ci}) since {self.since}{lock}"

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        if not self.lock_id:
            del out["lock_id"]
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Holder:
        return cls(user=str(data.get("user", "?")), host=str(data.get("host", "?")), pid=int(data.get("pid") or 0),
                   since=str(data.get("since") or data.get("started") or "?"), ci_url=str(data.get("ci_url") or ""),
                   lock_id=str(data.get("lock_id") or ""))


def ci_url(env: Mapping[str, str]) -> str:
    """The CI job's URL, when the CI says it (GitHub Actions, GitLab, Jenkins, Buildkite)."""
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL") or "https://github.com"
        return f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    for name in ("CI_JOB_URL", "BUILD_URL", "BUILDKITE_BUILD_URL"):
        if env.get(name):
            return env[name]
    return ""


@dataclass(frozen=True)
class Snapshot:
    """What `load` gives: the head (stack, lineage, serial, key id, …) and entries as JSON, journal replayed.

    A format-3 snapshot's entries are as the codec wrote them (voxplan.state.codec), naming `shared` values
    (journal records replayed over them are put in that form); `read` gives each one whole. `where` names
    the state in the codec's errors."""

    head: dict[str, Any] = field(default_factory=dict)
    entries: dict[str, Any] = field(default_factory=dict)
    exists: bool = False
    shared: list[Any] | None = None  # None: the entries are whole (formats 1 and 2)
    where: str = ""

    def read(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(address, entry as Entry.from_json reads it), each taken out of `entries` as it is given (so its
        JSON goes once the caller holds what it made of it): a snapshot is read once."""
        entries = self.entries
        for address in list(entries):
            entry = entries.pop(address)
            yield address, entry if self.shared is None else codec.decode(self.shared, address, entry, self.where)

    def whole(self) -> dict[str, dict[str, Any]]:
        """Every entry whole (`read` into one mapping)."""
        return dict(self.read())


def owner_name(stack: str, env: str) -> str:
    """How `owners` names another (stack, environment) in messages."""
    return f"stack {stack!r}" + ("" if env == "default" else f" (environment {env!r})")


@dataclass(frozen=True)
class Claim:
    """A remote object as ownership speaks of it."""

    vendor: str
    account: str
    kind: str
    remote_id: str


@dataclass(frozen=True)
class Publication:
    """One published version of an object the state backend itself holds (an OpenAI agent)."""

    kind: str
    name: str
    version: int
    body: dict[str, Any]
    at: str = ""

    @property
    def address(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class Published:
    """Everything published for one (stack, env) at one serial: one consistent set of versions."""

    serial: int = 0
    items: Mapping[str, Publication] = field(default_factory=dict)  # address -> its live version

    def of_kind(self, kind: str) -> dict[str, Publication]:
        return {p.name: p for p in self.items.values() if p.kind == kind}


class StateStore(Protocol):
    name: str  # the backend: "local", "postgres"
    stack: str
    env: str

    def describe(self) -> str:
        """Where the state lives, for messages (a path, or a database and key)."""
        ...

    def load(self) -> Snapshot: ...

    def lock(self, timeout: float = 0.0) -> AbstractContextManager[None]: ...

    def check(self) -> None: ...

    def append(self, records: list[dict[str, Any]], *, take: Sequence[Claim] = (),
               release: Sequence[Claim] = ()) -> Callable[[], None]:
        """Queue the journal rows (and the claims they take and release) after every row queued before them;
        the returned call waits until they are recorded, raising if they were not. Appends that wait at
        the same moment may be recorded together (a group commit), always in the order they were queued."""
        ...

    def sync(self) -> None: ...

    def commit(self, head: dict[str, Any], entries: Mapping[str, dict[str, Any]]) -> None: ...

    def record_history(self, run: dict[str, Any]) -> None: ...

    def history(self) -> list[dict[str, Any]]: ...

    def owners(self, objects: Iterable[Claim]) -> dict[Claim, str]:
        """Objects another (stack, env) claims, with that owner's name."""
        ...

    def claim(self, objects: Iterable[Claim], *, take_over: bool = False) -> None: ...

    def release(self, objects: Iterable[Claim]) -> None: ...

    def unlock(self, *, force: bool = False) -> str:
        """Remove a lock its holder left behind (refused while a live holder has it, unless `force`); says
        what it did."""
        ...

    def force_unlock(self, lock_id: str) -> str:
        """Break the lock if, and only if, its holder's lock id is `lock_id`; says what it did. Refuses
        another id (the lock changed hands) and says so when nothing holds the lock."""
        ...

    def published(self) -> Published: ...

    def publish(self, kind: str, name: str, body: dict[str, Any] | None) -> Publication | None:
        """A new version of `kind/name` (None: unpublish it; returns None then)."""
        ...

    def wait_published(self, serial: int, timeout: float) -> int:
        """The publication serial, once it differs from `serial` or `timeout` seconds have passed."""
        ...

    def close(self) -> None: ...
