"""The engine's vocabulary: desired resources and the references that wire their ids together."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

PathT = tuple[str | int, ...]


@dataclass(frozen=True)
class Ref:
    """A value known only from another resource's live object, e.g. a credential's `id`.

    `attr` is a dotted path into the target's normalised live body; `template` formats it
    (`"{}"` for the value itself, `"[did]@{}.sip.vapi.ai"` to embed it).
    """

    address: str
    attr: str = "id"
    template: str = "{}"

    def render(self, value: Any) -> Any:
        return value if self.template == "{}" else self.template.format(value)

    def __str__(self) -> str:
        return f"${{{self.address}.{self.attr}}}"


class _Unknown:
    """A value that will only be known during apply (the target is being created or replaced)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "(known after apply)"

    __str__ = __repr__


UNKNOWN = _Unknown()


def address(kind: str, name: str) -> str:
    return f"{kind}/{name}"


@dataclass(frozen=True)
class Resource:
    """One object a provider will hold. `body` is in the vendor's own shape, holding only what the
    stack declared; values may be `Ref` or `Secret`."""

    kind: str
    name: str
    body: dict[str, Any]
    origin: PathT = ()  # where in the stack it came from, for error messages
    depends_on: tuple[str, ...] = ()  # ordering edges beyond the Refs in `body`
    lifecycle: dict[str, Any] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return address(self.kind, self.name)

    def refs(self) -> Iterator[Ref]:
        yield from iter_refs(self.body)

    def dependencies(self) -> tuple[str, ...]:
        seen = dict.fromkeys([r.address for r in self.refs()] + list(self.depends_on))
        seen.pop(self.address, None)
        return tuple(seen)


def iter_refs(value: Any) -> Iterator[Ref]:
    if isinstance(value, Ref):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from iter_refs(v)
    elif isinstance(value, list):
        for v in value:
            yield from iter_refs(v)


def get_path(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if isinstance(obj, dict):
            obj = obj.get(part)
        elif isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return None
    return obj
