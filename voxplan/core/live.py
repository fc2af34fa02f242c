"""What refresh found for one kind, as every later stage reads it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol


class Keyed(Protocol):
    """What indexing needs of an adapter: its ids and natural keys."""

    def remote_id(self, obj: Mapping[str, Any], /) -> str: ...

    def natural_key(self, body: dict[str, Any], /) -> str | None: ...


class Live:
    """What refresh found for one kind: objects by id, and by natural key (built on first use: a plan
    where state knows every object never needs it)."""

    def __init__(self, by_id: dict[str, dict[str, Any]], adapter: Keyed):
        self.by_id = by_id
        self._adapter = adapter
        self.relisted: list[str] = []  # tracked ids the list left out, found by a GET by id
        self._by_key: dict[str, list[dict[str, Any]]] | None = None

    @classmethod
    def index(cls, objects: Sequence[dict[str, Any]], adapter: Keyed) -> Live:
        return cls({adapter.remote_id(o): o for o in objects}, adapter)

    @property
    def by_key(self) -> dict[str, list[dict[str, Any]]]:
        if self._by_key is None:
            by_key: dict[str, list[dict[str, Any]]] = {}
            for obj in self.by_id.values():
                key = self._adapter.natural_key(obj)
                if key is not None:
                    by_key.setdefault(key, []).append(obj)
            self._by_key = by_key
        return self._by_key
