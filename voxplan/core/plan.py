"""The plan as plain, frozen data (after Terraform's internal/plans): Plan → Change → Action.

Counts and "has changes" are derived, never stored. A Change carries everything apply needs; its
`reason` is for humans only and never steers apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import msgspec

from voxplan.core.hops import ChangedPath
from voxplan.core.model import UNKNOWN, PathT, Ref
from voxplan.core.secret import MASK, Secret, map_leaves


class Action(StrEnum):
    NOOP = "no-op"
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    UNROUTE = "unroute"  # the adapter's delete only clears routing: the object (a number) is kept

    @property
    def symbol(self) -> str:
        return {"no-op": " ", "create": "+", "update": "~", "replace": "-/+", "delete": "-",
                "unroute": "-~"}[self.value]

    @property
    def destroys(self) -> bool:
        """Whether a remote object really goes away (an unroute keeps it)."""
        return self in (Action.DELETE, Action.REPLACE)


# read per change by the hot paths: a module global costs a tenth of `Action.NOOP` (EnumType's __getattr__ hook)
NOOP = Action.NOOP


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One leaf that changes. `before`/`after` are display values: secrets are already masked, and
    `after` may be UNKNOWN (known after apply)."""

    path: str
    before: Any = None
    after: Any = None
    sensitive: bool = False
    forces_replacement: bool = False
    removed: bool = False  # present before, absent after
    added: bool = False  # absent before


class Change(msgspec.Struct, frozen=True, gc=False):
    """One object's change. It holds the plan's data (bodies, the live object, strings and tuples of them),
    never anything that refers back to it, so it can be in no cycle: the garbage collector need not track it
    (`gc=False`; one per object, 20,000 at 10,000 numbers). `msgspec.structs.replace` makes a changed copy."""

    address: str
    kind: str
    action: Action
    body: Mapping[str, Any] = msgspec.field(default_factory=dict)  # desired, with Secrets; Refs only where unknown
    remote_id: str | None = None
    send_keys: tuple[str, ...] = ()  # top-level keys an update sends, each whole
    fields: tuple[FieldChange, ...] = ()
    depends_on: tuple[str, ...] = ()  # desired dependencies (apply waits on their changes)
    prior_depends_on: tuple[str, ...] = ()  # dependencies recorded in state (deletes wait for dependents)
    importing: bool = False  # adopted: not in state, found remotely by natural key or `import`
    create_before_destroy: bool = True
    full_replace: bool = False  # the update sends every declared key (a PUT)
    write_only: tuple[str, ...] = ()
    origin: PathT = ()
    reason: str = ""  # for humans
    live: Mapping[str, Any] | None = None  # the refreshed object, for display and stale-plan checks
    protect: bool = False  # lifecycle.protect: apply records it in state
    moved_from: str = ""  # the address state keeps it under now (a `moved:` entry): apply renames it there
    prior_protect: bool = False  # lifecycle.protect as state recorded it
    clears: tuple[str, ...] = ()  # top-level keys sent before, no longer declared: the update clears them
    declared: Mapping[str, Any] = msgspec.field(default_factory=dict)  # for a shared list: voxplan's own entries,
    # which state records (the body sends them followed by the entries others keep there)
    affects: tuple[str, ...] = ()  # the numbers whose call path passes through it (for humans: blast radius)
    purchase: bool = False  # the create buys something (its adapter says so): apply needs --allow-purchase
    release: bool = False  # the delete gives a number back to the carrier: apply needs --allow-release
    cost: str = ""  # what a purchase costs, as the vendor lists it (for humans)

    @property
    def protect_changed(self) -> bool:
        """lifecycle.protect differs from state: apply records it even when nothing remote changes."""
        return self.protect != self.prior_protect and self.action in (Action.NOOP, Action.UPDATE)

    @property
    def is_change(self) -> bool:
        return (self.action is not NOOP or self.importing or self.protect_changed or bool(self.moved_from))


@dataclass(frozen=True, slots=True)
class Plan:
    stack: str
    changes: tuple[Change, ...]
    forget: tuple[str, ...] = ()  # in state, gone remotely and from the stack: dropped from state
    warnings: tuple[str, ...] = ()
    refresh_only: bool = False  # changes are drift to accept into state; nothing remote changes
    outside: tuple[Change, ...] = ()  # for humans: objects changed outside voxplan since the last apply (state's
    # `seen` -> live; a delete if gone), shown apart from the stack's own changes; apply never reads them
    environment: str = ""  # the --env it was made for ("" or "default": the default one)
    paths: tuple[ChangedPath, ...] = ()  # the call paths of the numbers the changes affect (for drawing)

    __hash__ = None  # type: ignore[assignment]

    @property
    def to_add(self) -> int:
        return sum(1 for c in self.changes if c.action in (Action.CREATE, Action.REPLACE))

    @property
    def to_change(self) -> int:
        return sum(1 for c in self.changes if c.action is Action.UPDATE)

    @property
    def to_destroy(self) -> int:
        return sum(1 for c in self.changes if c.action.destroys)

    @property
    def to_unroute(self) -> int:
        return sum(1 for c in self.changes if c.action is Action.UNROUTE)

    @property
    def to_record(self) -> int:
        """Changes of lifecycle only: recorded in state, nothing remote."""
        return sum(1 for c in self.changes if c.protect_changed and c.action is Action.NOOP and not c.importing)

    @property
    def to_import(self) -> int:
        return sum(1 for c in self.changes if c.importing)

    @property
    def to_move(self) -> int:
        return sum(1 for c in self.changes if c.moved_from)

    @property
    def has_changes(self) -> bool:
        return any(c.is_change for c in self.changes)

    @property
    def actionable(self) -> list[Change]:
        return [c for c in self.changes if c.is_change]

    @property
    def drifted(self) -> bool:
        """Something changed outside voxplan since the last apply (what `voxplan drift` reports)."""
        return bool(self.outside) or (self.refresh_only and self.has_changes)

    @property
    def pending(self) -> list[Change]:
        """Changes the stack asks for that no outside change explains (merged, not yet applied)."""
        moved = {c.address for c in self.outside}
        return [c for c in self.actionable if c.address not in moved]

    def summary(self) -> str:
        if self.refresh_only:
            drifted = sum(1 for c in self.changes if c.is_change)
            return f"Refresh: {drifted} object(s) changed outside voxplan; apply --refresh-only records them in state."
        head = f"{self.to_import} to import, " if self.to_import else ""
        head += f"{self.to_move} to move, " if self.to_move else ""
        tail = f", {self.to_unroute} to unroute" if self.to_unroute else ""
        tail += f", {self.to_record} lifecycle change(s) to record in state" if self.to_record else ""
        return f"Plan: {head}{self.to_add} to add, {self.to_change} to change, {self.to_destroy} to destroy{tail}."


def display(value: Any) -> Any:
    """A desired value as plans show it: secrets masked, values known only after apply named so."""
    return map_leaves(value, lambda v: MASK if isinstance(v, Secret) else UNKNOWN if isinstance(v, Ref) else v)
