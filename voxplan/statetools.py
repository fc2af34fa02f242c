"""State commands beyond a plain apply: `state mv`, `state pull` / `state push` (between the local files
and the stack's backend) and history. Nothing here sends a request to a vendor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from voxplan import moves, ownership
from voxplan import providers as registry
from voxplan.core.errors import PlanError, StateError
from voxplan.core.secret import MASK, SafeEncoder
from voxplan.core.writeonly import mask_paths
from voxplan.state import LocalStore, StateStore, codec
from voxplan.state.local import state_path
from voxplan.workflow import Loaded, load_state


def move(loaded: Loaded, src: str, dst: str, *, lock_timeout: float = 0.0) -> dict[str, str]:
    """Rename state entries: addresses, or a stack entry (`assistants.a`) with all it expands to."""
    with loaded.store.lock(timeout=lock_timeout):
        state = load_state(loaded)
        todo = moves.pending(moves.expand_move(src, dst, loaded.desired, state.resources), state)
        if not todo:
            raise PlanError(f"nothing in state at {src}" + ("" if "/" in src else " (looked for "
                            + ", ".join(moves.expand_move(src, dst, loaded.desired, state.resources)) + ")"))
        state.rename(todo)
        state.compact()
    return todo


def local_store(loaded: Loaded, file: Path | None) -> LocalStore:
    path = file or state_path(loaded.stack.path, loaded.stack.name, loaded.ctx.env_name)
    return LocalStore(path, loaded.stack.name, loaded.ctx.env_name)


def _remote(loaded: Loaded, verb: str) -> StateStore:
    store = loaded.store
    if store.name == "local":
        raise StateError(f"state {verb} moves state between the local files and the stack's backend, which is "
                         "local here: pass --backend postgresql://… or set VOXPLAN_BACKEND")
    return store


def copy(src: StateStore, dst: StateStore, stack: str, *, force: bool = False, lock_timeout: float = 0.0) -> int:
    """Copy src's state over dst's, refusing another stack's or another lineage's state; returns its size."""
    snap = src.load()
    if not snap.exists:
        raise StateError(f"{src.describe()} holds no state to copy")
    owner = snap.head.get("stack")
    if owner and owner != stack:
        raise StateError(f"{src.describe()} belongs to stack {owner!r}, not {stack!r}; refusing to copy it")
    environment = snap.head.get("env")
    if environment and environment != dst.env:
        raise StateError(f"{src.describe()} is environment {environment!r}'s state, not {dst.env!r}'s; refusing "
                         "to copy it")
    lineage = str(snap.head.get("lineage") or "")
    with dst.lock(timeout=lock_timeout):
        there = dst.load()
        if there.exists:
            theirs = str(there.head.get("lineage") or "")
            if theirs and lineage and theirs != lineage:
                raise StateError(f"{dst.describe()} holds state lineage {theirs}, but {src.describe()} is lineage "
                                 f"{lineage}: two different states of stack {stack!r}; refusing to overwrite one "
                                 "with the other")
            if int(there.head.get("serial", 0)) > int(snap.head.get("serial", 0)) and not force:
                raise StateError(f"{dst.describe()} is newer (serial {there.head.get('serial')} > "
                                 f"{snap.head.get('serial')}); pass --force to overwrite it")
        entries = snap.whole()
        dst.commit(dict(snap.head), entries)
    return len(entries)


def snapshot(loaded: Loaded) -> dict[str, Any]:
    """The stack's state as its backend holds it (journal replayed), in the local file's layout: what
    `voxplan state pull` prints. Read without the lock, as Terraform's state pull."""
    snap = loaded.store.load()
    if not snap.exists:
        raise StateError(f"{loaded.store.describe()} holds no state yet: apply the stack first")
    shared, written = codec.encode(snap.whole(), SafeEncoder().encode)  # what repeats, once: as the file has it
    return {**snap.head, "format_version": max(snap.head.get("format_version", 0), codec.FORMAT), "shared": shared,
            "resources": written}


def pull(loaded: Loaded, file: Path | None = None, *, force: bool = False, lock_timeout: float = 0.0) -> str:
    """The backend's state into a local state file (`state pull --out FILE`)."""
    remote, local = _remote(loaded, "pull"), local_store(loaded, file)
    try:
        n = copy(remote, local, loaded.stack.name, force=force, lock_timeout=lock_timeout)
    finally:
        local.close()
    return f"Pulled {n} resource(s) from {remote.describe()} into {local.describe()}."


def push(loaded: Loaded, file: Path | None = None, *, force: bool = False, lock_timeout: float = 0.0) -> str:
    """Local file → the stack's backend; every object in it is claimed for this stack there."""
    remote, local = _remote(loaded, "push"), local_store(loaded, file)
    try:
        snap = local.load()
        provs = registry.connect(loaded.stack, loaded.ctx)  # no request: only the accounts claims name
        remote.claim(ownership.claim_of(provs, e["kind"], e["id"]) for e in snap.whole().values())
        n = copy(local, remote, loaded.stack.name, force=force, lock_timeout=lock_timeout)
    finally:
        local.close()
    return f"Pushed {n} resource(s) from {local.describe()} to {remote.describe()}."


def outputs(loaded: Loaded) -> dict[str, dict[str, Any]]:
    """What `voxplan output` prints, from state alone: per address its kind, remote id and the values the
    server answered at the last apply (secrets masked: state holds only their fingerprints)."""
    out: dict[str, dict[str, Any]] = {}
    for addr, entry in sorted(load_state(loaded).resources.items()):
        hidden = tuple(entry.fingerprints)
        out[addr] = {"kind": entry.kind, "id": entry.id,
                     "attributes": {k: MASK if k in hidden else mask_paths(k, v, hidden)
                                    for k, v in entry.seen.items()}}
    return out


def history(loaded: Loaded) -> list[dict[str, Any]]:
    runs = loaded.store.history()
    return [{**run, "n": run.get("n", i + 1)} for i, run in enumerate(runs)]
