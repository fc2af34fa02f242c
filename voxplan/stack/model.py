from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voxplan.core.errors import Location

PathT = tuple[str | int, ...]


class SourceMap:
    """Where each value (and each mapping key) of a stack came from.

    Positions cost a node tree and a Location per value, and only diagnostics read them: given a
    `locate` function, they are computed on the first lookup (a valid 10,000-number stack never asks)."""

    def __init__(self, file: str, locate: Callable[[SourceMap], None] | None = None):
        self.file = file
        self.values: dict[PathT, Location] = {}
        self.keys: dict[PathT, Location] = {}
        self._locate = locate

    def _ensure(self) -> None:
        if self._locate is not None:
            locate, self._locate = self._locate, None
            locate(self)

    def at(self, path: PathT) -> Location:
        """The closest known location for `path` (walking up to the parents)."""
        self._ensure()
        path = tuple(path)
        while True:
            if path in self.values:
                return self.values[path]
            if path in self.keys:
                return self.keys[path]
            if not path:
                return Location(self.file, 1, 1)
            path = path[:-1]

    def key_at(self, path: PathT) -> Location:
        self._ensure()
        return self.keys.get(tuple(path)) or self.at(path)


@dataclass
class Stack:
    """A loaded, interpolated and validated stack. `data` is plain YAML data (secrets as `Secret`)."""

    path: Path
    data: dict[str, Any]
    source: SourceMap

    @property
    def name(self) -> str:
        return str(self.data.get("stack") or self.path.stem)

    def section(self, name: str) -> dict[str, Any]:
        return dict(self.data.get(name) or {})

    def provider_settings(self, name: str) -> dict[str, Any]:
        return dict((self.data.get("providers") or {}).get(name) or {})
