"""State in memory: address → remote id, last-applied values, keyed fingerprints of write-only secrets.

Where it is kept is a `StateStore`'s business (voxplan.state.store). `State` journals every change
through its store before the change counts as done, and folds the journal into a snapshot on `compact()`.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import msgspec

from voxplan.core.errors import LockLost, StateError
from voxplan.core.model import json_equal
from voxplan.state import codec, keys
from voxplan.state.store import Claim, StateStore

FORMAT_VERSION = codec.FORMAT  # 2: the fingerprint key left the state (only its id stays), lineage; 3: what
# repeats across entries is written once (voxplan.state.codec); formats 1 and 2 are still read


class Entry(msgspec.Struct, gc=False):
    """What state keeps of one remote object. It holds JSON data read from state (or sent and answered), never
    anything that refers back to it, so it can be in no cycle: the garbage collector need not track it
    (`gc=False`; one per object, 20,000 at 10,000 numbers)."""

    kind: str
    id: str
    sent: dict[str, Any] = msgspec.field(default_factory=dict)  # last-applied request values (no secrets)
    seen: dict[str, Any] = msgspec.field(default_factory=dict)  # the server's answer for those keys
    fingerprints: dict[str, str] = msgspec.field(default_factory=dict)  # write-only path -> keyed fingerprint
    deps: tuple[str, ...] = ()  # a tuple of strings, which the collector stops tracking (a list it never does)
    protect: bool = False  # lifecycle.protect, remembered for when the entry leaves the stack

    def to_json(self) -> dict[str, Any]:
        """`seen` is left out when the server answered exactly what was sent (types count: True is not 1)."""
        out: dict[str, Any] = {"kind": self.kind, "id": self.id, "sent": self.sent}
        if not json_equal(self.seen, self.sent):
            out["seen"] = self.seen
        out |= {"fingerprints": self.fingerprints, "deps": list(self.deps)}
        return {**out, "protect": True} if self.protect else out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Entry:
        """An entry as state stores it; ValueError saying what is wrong with one that is not."""
        if type(data) is not dict:
            raise ValueError(f"an entry is a mapping, not {_shown(data)}")
        sent = data.get("sent") or {}
        seen = (data["seen"] or {}) if "seen" in data else sent
        fingerprints, deps = data.get("fingerprints") or {}, data.get("deps") or ()
        kind, remote_id = data.get("kind"), data.get("id")
        if not (type(kind) is str and type(remote_id) is str and type(sent) is dict and type(seen) is dict
                and type(fingerprints) is dict and type(deps) in (list, tuple)):  # the common case in one test
            for name, value, want in (("kind", kind, str), ("id", remote_id, str), ("sent", sent, dict),
                                      ("seen", seen, dict), ("fingerprints", fingerprints, dict),
                                      ("deps", deps, (list, tuple))):
                if not isinstance(value, want):
                    raise ValueError(f"its {name} is {_shown(value)}" if name in data else f"it has no {name}")
        if not all(type(d) is str for d in deps):
            raise ValueError(f"its deps are {_shown(deps)}")
        # shared, never edited: no copies (deps a state names once are a tuple already: voxplan.state.codec.decode)
        return cls(kind, remote_id, sent, seen, fingerprints, tuple(deps),  # type: ignore[arg-type]
                   bool(data.get("protect", False)))


def read_entry(store: StateStore, address: str, data: Any) -> Entry:
    """One entry of `store`'s snapshot; a malformed one is a StateError naming the backend, stack and row."""
    try:
        return Entry.from_json(data)
    except ValueError as exc:
        env = "" if store.env == "default" else f", environment {store.env}"
        raise StateError(f"{store.describe()} ({store.name} state of stack {store.stack}{env}): resource "
                         f"{address} is corrupt: {exc}; refusing to guess") from None


class State:
    def __init__(self, store: StateStore, *, key: bytes, resources: dict[str, Entry] | None = None,
                 serial: int = 0, lineage: str = "", exists: bool = False):
        self.store = store
        self.stack = store.stack
        self.key = key
        self.resources: dict[str, Entry] = resources or {}
        self.serial = serial
        self.lineage = lineage or uuid.uuid4().hex
        self.exists = exists  # a snapshot or journal was found
        self._lock = threading.Lock()
        # (before, after) of recorded changes -> the claims they take and release (voxplan.ownership.track):
        # the store records them with the journal row, in the same transaction
        self.unrecorded: list[dict[str, Any]] = []  # journal records the store refused once its lock was lost
        self.claims: Callable[[list[tuple[Entry | None, Entry | None]]], tuple[list[Claim], list[Claim]]] | None = None

    @classmethod
    def open(cls, store: StateStore, *, key: bytes | None = None, env: Mapping[str, str] | None = None) -> State:
        """The store's state, checked: it must be this stack's, and its fingerprints must be under `key`."""
        snap = store.load()
        head = snap.head
        if snap.exists:
            if head.get("format_version", 0) > FORMAT_VERSION:
                raise StateError(f"{store.describe()}: written by a newer voxplan (format {head['format_version']})")
            owner = head.get("stack")
            if owner and owner != store.stack:
                raise StateError(f"{store.describe()}: this state belongs to stack {owner!r}, not {store.stack!r}; "
                                 "refusing to use another stack's state (copied by mistake?)")
            environment = head.get("env")
            if environment and environment != store.env:
                raise StateError(f"{store.describe()}: this state belongs to environment {environment!r} of stack "
                                 f"{store.stack!r}, not {store.env!r}; refusing to use another environment's state")
        resources = {address: read_entry(store, address, data) for address, data in snap.read()}
        key = key if key is not None else _key_for(head, store, env)
        recorded = head.get("key_id")
        if recorded and recorded != keys.key_id(key) and any(e.fingerprints for e in resources.values()):
            raise StateError(f"{store.describe()}: its secret fingerprints were made with fingerprint key {recorded}, "
                             f"but this run has key {keys.key_id(key)}; set {keys.ENV} to the key the last apply used "
                             "(a fresh key would re-send every secret)")
        return cls(store, key=key, resources=resources, serial=int(head.get("serial", 0)),
                   lineage=str(head.get("lineage") or ""), exists=snap.exists)

    @classmethod
    def load(cls, path: Any, stack: str, **kw: Any) -> State:
        """A local state file (a convenience for tools and tests)."""
        from voxplan.state.local import LocalStore

        return cls.open(LocalStore(path, stack), **kw)

    def head(self) -> dict[str, Any]:
        return {"format_version": FORMAT_VERSION, "stack": self.stack, "env": self.store.env,
                "lineage": self.lineage, "serial": self.serial, "key_id": keys.key_id(self.key)}

    def get(self, address: str) -> Entry | None:
        return self.resources.get(address)

    def put(self, address: str, entry: Entry) -> None:
        self.put_many({address: entry})

    def put_many(self, entries: dict[str, Entry]) -> None:
        """Record entries: one journal append (durable through the store) before they count. The append is
        queued under the lock (the journal keeps the order of the serials) and waited for outside it, so
        other workers' appends can join the same database commit."""
        if not entries:
            return
        with self._lock:
            before = [self.resources.get(a) for a in entries]
            claims = self.claims(list(zip(before, entries.values(), strict=True))) if self.claims else ((), ())
            records = [{"put": a, "entry": e.to_json()} for a, e in entries.items()]
            recorded = self._append(records, *claims)
        self._wait(recorded, records)
        with self._lock:
            self.resources.update(entries)

    def move(self, source: str, target: str) -> None:
        """Move an entry to another address, in one journal record: a kill leaves it at one or the other."""
        with self._lock:
            entry = self.resources.get(source)
            if entry is None:
                return
            self._wait(self._append([{"mv": source, "to": target}]), [{"mv": source, "to": target}])
            self.resources[target] = entry
            del self.resources[source]

    def remove(self, address: str) -> None:
        with self._lock:
            before = self.resources.get(address)
            if before is None:
                return
            recorded = self._append([{"rm": address}], *(self.claims([(before, None)]) if self.claims else ((), ())))
        self._wait(recorded, [{"rm": address}])
        with self._lock:
            self.resources.pop(address, None)

    def rename(self, moves: Mapping[str, str]) -> None:
        """Rename entries (from → to) in one journal append of `mv` records; remote ids, and so claims, stay."""
        with self._lock:
            todo = {a: b for a, b in moves.items() if a in self.resources}
            taken = sorted(b for b in todo.values() if b in self.resources)
            if taken:
                raise StateError(f"cannot move to {taken[0]}: state already has it")
            if todo:
                records = [{"mv": src, "to": dst} for src, dst in todo.items()]
                self._wait(self._append(records), records)
            for src, dst in todo.items():
                self.resources[dst] = self.resources.pop(src)

    def _append(self, records: list[dict[str, Any]], take: Iterable[Claim] = (),
                release: Iterable[Claim] = ()) -> Callable[[], None]:
        """Queue the records (under self._lock); the returned call waits until the store recorded them."""
        if not self.exists:  # the head (lineage, key id) must be stored before anything refers to it
            self.store.commit(self.head(), {})
            self.exists = True
        self.serial += 1
        try:
            return self.store.append([{**r, "serial": self.serial} for r in records], take=list(take),
                                     release=list(release))
        except LockLost:
            self.unrecorded += records  # done remotely, not journalled: the caller records them if it can
            raise

    def _wait(self, recorded: Callable[[], None], records: list[dict[str, Any]]) -> None:
        try:
            recorded()
        except LockLost:
            self.unrecorded += records  # done remotely, not journalled: the caller records them if it can
            raise

    def check_lock(self) -> None:
        """Raise LockLost if the store's lock went since it was taken (called before each remote change)."""
        self.store.check()

    def sync(self) -> None:
        self.store.sync()

    def compact(self) -> None:
        """Fold the journal into a new snapshot, atomically."""
        self.store.sync()
        with self._lock:
            self.serial += 1
            self.store.commit(self.head(), _AsJson(self.resources))
            self.exists = True

    save = compact

    def snapshot(self) -> dict[str, Entry]:
        with self._lock:
            return copy.deepcopy(self.resources)


    def redo(self, records: list[dict[str, Any]]) -> list[str]:
        """Record journal records another State could not (its lock was lost); returns their addresses."""
        done: list[str] = []
        for record in records:
            if "put" in record:
                self.put(record["put"], Entry.from_json(record["entry"]))
                done.append(record["put"])
            elif "rm" in record:
                self.remove(record["rm"])
                done.append(record["rm"])
            elif "mv" in record:
                self.move(record["mv"], record["to"])
                done.append(record["to"])
        return done


class _AsJson(Mapping[str, dict[str, Any]]):
    """Entries as `Entry.to_json` gives them, in address order, each made when it is read: a store's commit
    reads them a few times over (codec.encoded), and never holds all of them at once."""

    def __init__(self, resources: dict[str, Entry]):
        self.resources = resources
        self.order = sorted(resources)

    def __getitem__(self, address: str) -> dict[str, Any]:
        return self.resources[address].to_json()

    def __iter__(self) -> Iterator[str]:
        return iter(self.order)

    def __len__(self) -> int:
        return len(self.order)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def replay(records: list[dict[str, Any]], entries: dict[str, Any], serial: int, shared: list[Any] | None = None) -> int:
    """Apply journal records to snapshot entries; returns the last serial. A format-3 snapshot's entries
    (read with `shared`) stay in the codec's form: a record's entry, whole, is put in it."""
    for record in records:
        if "put" in record:
            entries[record["put"]] = record["entry"] if shared is None else codec.escape(record["entry"], shared)
        elif "rm" in record:
            entries.pop(record["rm"], None)
        elif "mv" in record and record["mv"] in entries:
            entries[record["to"]] = entries.pop(record["mv"])
        number = record.get("serial")
        serial = max(serial, number) if type(number) is int else serial
    return serial


def _key_for(head: Mapping[str, Any], store: StateStore, env: Mapping[str, str] | None) -> bytes:
    """The configured key. A format-1 state carried its own key: it moves to the key file once, if that
    file does not exist yet; otherwise the two must agree."""
    import base64
    import os

    legacy = head.get("fingerprint_key")
    env = os.environ if env is None else env
    if legacy and keys.ENV not in env and not keys.key_file(env).exists():
        raw = base64.b64decode(legacy)
        path = keys.key_file(env)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(raw.hex() + "\n")
        return raw
    key = keys.load_key(env)
    if legacy and base64.b64decode(legacy) != key:
        raise StateError(f"{store.describe()}: a format-1 state with its own fingerprint key, which differs from "
                         f"the configured one; set {keys.ENV} to the state's key once to move it")
    return key
