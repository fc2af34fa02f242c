from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voxplan.core.errors import Location

PathT = tuple[str | int, ...]


class SourceMap:
    """Where each value (and each mapping key) of a stack came from."""

    def __init__(self, file: str):
        self.file = file
        self.values: dict[PathT, Location] = {}
        self.keys: dict[PathT, Location] = {}

    def at(self, path: PathT) -> Location:
        """The closest known location for `path` (walking up to the parents)."""
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
        return self.keys.get(tuple(path)) or self.at(path)


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
