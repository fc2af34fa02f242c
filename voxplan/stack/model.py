from __future__ import annotations

import struct
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from voxplan.core.errors import Location

PathT = tuple[str | int, ...]


def pack(line: int, column: int) -> int:
    """A 1-based line and column as one integer (how positions are kept: no object per value)."""
    return line << 32 | column


class Where:
    """The positions inside one mapping or sequence of a stack, in the order its entries were written:
    `marks` holds, per entry, the packed position of its key (0 in a sequence) and of its value; `kids` the
    positions inside the entries that are themselves mappings or sequences, by entry index. Built, one
    whose entries are all scalars (a number's `{carrier: wavix, trunk: wx0}`) becomes a `Leaf`."""

    __slots__ = ("keys", "marks", "kids", "_index")

    def __init__(self, keys: list[str] | None) -> None:
        self.keys: Sequence[str] | None = keys  # a mapping's keys, in order; None for a sequence
        self.marks = array("Q")
        self.kids: dict[int, Where | Leaf] | None = None
        self._index: dict[str, int] | None = None

    def add(self, key: str | None, key_at: int, value_at: int, kid: Where | Leaf | None = None) -> None:
        if kid is not None:
            if self.kids is None:
                self.kids = {}
            self.kids[len(self.marks) // 2] = kid
        if self.keys is not None:
            self.keys.append(key)  # type: ignore[attr-defined]  # a list while it is built
        self.marks.append(key_at)
        self.marks.append(value_at)

    def done(self, shapes: dict[tuple[str, ...], tuple[str, ...]]) -> Where | Leaf:
        """Built: the keys become a tuple, one per set of keys (`shapes`: 10,000 numbers written as
        `{carrier: wavix, trunk: wx0}` share one); without nested entries, the positions become a Leaf (its
        positions one packed array, no integer object each)."""
        keys = tuple(self.keys) if self.keys is not None else None
        if keys is not None:
            keys = shapes.setdefault(keys, keys)
        if self.kids is None:
            return Leaf(keys, self.marks.tobytes())
        self.keys = keys
        return self

    def find(self, step: str | int) -> int:
        """The index of the entry at `step` (a key, or a sequence index), or -1."""
        if self.keys is None:
            return step if type(step) is int and 0 <= step < len(self.marks) // 2 else -1
        if len(self.keys) <= 8:
            return self.keys.index(step) if step in self.keys else -1  # type: ignore[arg-type]
        if self._index is None:  # built on the first lookup: only a stack with problems ever looks
            self._index = {k: i for i, k in enumerate(self.keys)}
        return self._index.get(step, -1)  # type: ignore[arg-type]

    def at(self, i: int) -> tuple[int, int]:
        """The packed (key, value) positions of entry `i`."""
        return self.marks[2 * i], self.marks[2 * i + 1]


_PAIR = struct.Struct("QQ")  # one entry's two packed positions, as `array("Q")` lays them out


class Leaf(msgspec.Struct, frozen=True, gc=False):
    """The positions inside a mapping or sequence whose entries are all scalars (see `Where`). It holds only
    strings and bytes, so it can be in no cycle: the garbage collector need not track it (`gc=False`; 20,000
    at 10,000 numbers)."""

    keys: tuple[str, ...] | None
    marks: bytes  # an `array("Q")` of packed positions, as bytes: no integer object per position
    kids: None = None

    def find(self, step: str | int) -> int:
        if self.keys is None:
            return step if type(step) is int and 0 <= step < len(self.marks) // _PAIR.size else -1
        return self.keys.index(step) if step in self.keys else -1  # type: ignore[arg-type]

    def at(self, i: int) -> tuple[int, int]:
        """The packed (key, value) positions of entry `i`."""
        key_at, value_at = _PAIR.unpack_from(self.marks, _PAIR.size * i)
        return key_at, value_at


class SourceMap:
    """Where each value (and each mapping key) of a stack came from: a tree of `Where`, built with the
    values in the same pass, read only to place a diagnostic."""

    def __init__(self, file: str, root: Where | Leaf | None = None, root_at: int = 0):
        self.file = file
        self.root = root
        self.root_at = root_at or pack(1, 1)

    def _walk(self, path: PathT) -> tuple[int, int, bool]:
        """(value position, key position, whether the whole path was found) of the deepest entry found."""
        node, value_at, key_at = self.root, self.root_at, 0
        for depth, step in enumerate(path):
            i = node.find(step) if node is not None else -1
            if i < 0:
                return value_at, 0, False
            key_at, value_at = node.at(i)  # type: ignore[union-attr]
            node = node.kids.get(i) if node.kids else None  # type: ignore[union-attr,assignment]
            if depth + 1 < len(path) and node is None:
                return value_at, 0, False
        return value_at, key_at, True

    def _location(self, packed: int) -> Location:
        return Location(self.file, packed >> 32, packed & 0xFFFFFFFF)

    def at(self, path: PathT) -> Location:
        """The closest known location for `path` (walking up to the parents)."""
        return self._location(self._walk(tuple(path))[0])

    def key_at(self, path: PathT) -> Location:
        """Where the key of `path` is written (its value's location when it has no key)."""
        value_at, key_at, found = self._walk(tuple(path))
        return self._location(key_at if found and key_at else value_at)


@dataclass
class Stack:
    """A loaded, interpolated and validated stack. `data` is plain YAML data (secrets as `Secret`)."""

    path: Path
    data: dict[str, Any]
    source: SourceMap
    environment: str = "default"  # --env / VOXPLAN_ENV: picks `${var:…}` values, state and claims
    text: str = field(default="", repr=False)  # the file as read (history keeps it, secrets as their forms)

    @property
    def name(self) -> str:
        return str(self.data.get("stack") or self.path.stem)

    def section(self, name: str) -> dict[str, Any]:
        return dict(self.data.get(name) or {})

    def provider_settings(self, name: str) -> dict[str, Any]:
        return dict((self.data.get("providers") or {}).get(name) or {})
