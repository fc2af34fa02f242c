"""The engine's vocabulary: desired resources and the references that wire their ids together."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from voxplan.core.secret import Secret

PathT = tuple[str | int, ...]


class Ref(msgspec.Struct, frozen=True, gc=False):
    """A value known only from another resource's live object, e.g. a credential's `id`.

    `attr` is a dotted path into the target's normalised live body; `template` formats it
    (`"{}"` for the value itself, `"[did]@{}.sip.vapi.ai"` to embed it). It holds three strings, so it can be
    in no cycle: the garbage collector need not track it (`gc=False`), nor then a body whose values are
    strings and Refs (two per number).
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


_DEPOSED = " (deposed "


def deposed(addr: str, remote_id: str) -> str:
    """The state address of `addr`'s old object while a replacement runs (Terraform's "deposed"): it stays
    in state until its DELETE succeeds, so a kill or a vendor error leaves it for the next plan to delete."""
    return f"{addr}{_DEPOSED}{remote_id})"


_PENDING = " (creating)"


def pending(addr: str) -> str:
    """The state address where apply notes, before its POST, the body of a create that nothing else would find
    again (a kind with no natural key: most Vapi tools). A run killed between the POST and recording it leaves
    this note, and the next plan looks for an object carrying that body instead of making a second one."""
    return f"{addr}{_PENDING}"


def pending_of(addr: str) -> str | None:
    """The address a pending note is for, or None for any other state address."""
    return addr[: -len(_PENDING)] if addr.endswith(_PENDING) else None


def base_address(addr: str) -> str:
    """The resource a (possibly deposed) state address belongs to."""
    return addr.split(_DEPOSED, 1)[0]


@dataclass(frozen=True, slots=True)
class Resource:
    """One object a provider will hold. `body` is in the vendor's own shape, holding only what the
    stack declared; values may be `Ref` or `Secret`."""

    kind: str
    name: str
    body: dict[str, Any]
    origin: PathT = ()  # where in the stack it came from, for error messages
    depends_on: tuple[str, ...] = ()  # ordering edges beyond the Refs in `body`
    lifecycle: dict[str, Any] = field(default_factory=dict)
    import_id: str | None = None  # the stack's `imports:` entry: adopt this remote object while state has none

    # derived once, when the resource is made (every plan reads them for every resource)
    address: str = field(init=False, repr=False, compare=False)
    ref_paths: tuple[tuple[PathT, Ref], ...] = field(init=False, repr=False, compare=False)
    _dependencies: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _shape: _Shape = field(init=False, repr=False, compare=False)  # what its twins (`sibling`) share

    __hash__ = None  # type: ignore[assignment]  # it holds a dict: compared by value, never hashed

    def __post_init__(self) -> None:
        found = ref_paths(self.body)  # where each Ref sits: resolving copies only those paths
        self._derive(_PATHS.setdefault(found, found))  # one per shape: 10,000 numbers on 100 trunks have 100
        object.__setattr__(self, "_shape", _Shape())

    def _derive(self, found: tuple[tuple[PathT, Ref], ...]) -> None:
        own = address(self.kind, self.name)
        deps: dict[str, None] = {}  # the Refs' targets, then the other edges, each once, in that order
        for _, ref in found:
            deps[ref.address] = None
        for edge in self.depends_on:
            deps[edge] = None
        deps.pop(own, None)
        object.__setattr__(self, "address", own)
        object.__setattr__(self, "ref_paths", found)
        object.__setattr__(self, "_dependencies", tuple(deps))

    def dependencies(self) -> tuple[str, ...]:
        return self._dependencies

    def secret_paths(self) -> tuple[str, ...]:
        """The dotted path of every Secret in the body (`secret_paths`), found on first use, when expand has
        marked its kind's secret fields, and then once per shape: the twins `sibling` made of one resource
        share it (their bodies differ only in top-level plain strings, their containers are one), so 10,000
        numbers on 100 trunks walk 100 bodies for it, not 10,000 (every plan reads it for every resource)."""
        shape = self._shape
        if shape.secret_paths is None:
            shape.secret_paths = secret_paths(self.body)
        return shape.secret_paths

    def sibling(self, name: str, origin: PathT, values: Mapping[str, str],
                depends_on: tuple[str, ...] | None = None) -> Resource:
        """This resource's twin for another stack entry: the same kind, lifecycle and Refs, named `name`, its body
        this one's with the top-level string `values` over it (a number's own digits), its containers shared.
        Made for numbers alike but for their number: where the values replace no Ref nor container, the Refs sit
        where they sit in this body, so the new body is not walked for them again."""
        body = {**self.body, **values}
        depends_on = self.depends_on if depends_on is None else depends_on
        for key, value in values.items():
            if type(value) is not str or type(self.body.get(key, "")) is not str:
                return Resource(self.kind, name, body, origin, depends_on, dict(self.lifecycle), self.import_id)
        twin = object.__new__(Resource)  # every field as __init__ sets it (tests/test_expand_alike.py holds it to that)
        put = object.__setattr__
        put(twin, "kind", self.kind)
        put(twin, "name", name)
        put(twin, "body", body)
        put(twin, "origin", origin)
        put(twin, "depends_on", depends_on)
        put(twin, "lifecycle", dict(self.lifecycle))
        put(twin, "import_id", self.import_id)
        put(twin, "_shape", self._shape)
        twin._derive(self.ref_paths)
        if twin._dependencies == self._dependencies:  # alike numbers keep one tuple (the other is dropped at once)
            put(twin, "_dependencies", self._dependencies)
        return twin


@dataclass(slots=True)
class _Shape:
    """What a resource and its twins (`Resource.sibling`) have alike, worked out once for all of them."""

    secret_paths: tuple[str, ...] | None = None  # None: not yet found


def secret_paths(value: Any, prefix: str = "") -> tuple[str, ...]:
    """The dotted path of every Secret inside `value` (a body: dicts and lists)."""
    found: list[str] = []
    items = value.items() if type(value) is dict else enumerate(value) if type(value) is list else ()
    for k, v in items:  # a path is spelled out only where it leads somewhere: this runs for every body
        t = type(v)
        if t is Secret:
            found.append(f"{prefix}{k}")
        elif t is dict or t is list:
            inner = secret_paths(v)  # its prefix is written only onto what it found (most bodies hold none)
            if inner:
                found += [f"{prefix}{k}.{p}" for p in inner]
    return tuple(found)


def ref_paths(value: Any) -> tuple[tuple[PathT, Ref], ...]:
    """Every Ref inside `value`, with its path (a Ref itself is at the empty path)."""
    if type(value) is Ref:
        return (((), value),)
    found: list[tuple[PathT, Ref]] = []
    _collect_refs(value, (), found)
    return tuple(found)


_PATHS: dict[tuple[tuple[PathT, Ref], ...], tuple[tuple[PathT, Ref], ...]] = {}
_REFS: dict[Ref, Ref] = {}  # one instance per distinct Ref: 10,000 numbers on 100 trunks name 100 credentials


def _collect_refs(value: Any, path: PathT, found: list[tuple[PathT, Ref]]) -> None:
    items = value.items() if type(value) is dict else enumerate(value) if type(value) is list else ()
    for k, v in items:
        t = type(v)
        if t is Ref:
            v = value[k] = _REFS.setdefault(v, v)  # equal Refs are interchangeable: keep one of each
            found.append(((*path, k), v))
        elif t is dict or t is list:
            _collect_refs(v, (*path, k), found)


def substitute(body: Mapping[str, Any], paths: Iterable[tuple[PathT, Ref]],
               value_of: Callable[[Ref], Any]) -> dict[str, Any]:
    """A copy of `body` with the Ref at each path replaced by `value_of(ref)`; containers off those paths
    are shared with `body`, not copied."""
    out = dict(body)
    for path, ref in paths:
        node: Any = out
        for step in path[:-1]:
            child = node[step]
            child = dict(child) if isinstance(child, dict) else list(child)
            node[step] = child
            node = child
        node[path[-1]] = value_of(ref)
    return out


def get_path(obj: Any, dotted: str) -> Any:
    if type(obj) is dict and "." not in dotted:  # "id", nearly always
        return obj.get(dotted)
    for part in dotted.split("."):
        if isinstance(obj, dict):
            obj = obj.get(part)
        elif isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return None
    return obj


def value_at(data: Any, path: PathT, missing: Any = None) -> Any:
    """The value at `path` (keys and list indexes) in nested mappings and lists, or `missing` where the path
    leads nowhere."""
    for step in path:
        if isinstance(data, Mapping) and step in data:
            data = data[step]
        elif isinstance(data, list) and isinstance(step, int) and 0 <= step < len(data):
            data = data[step]
        else:
            return missing
    return data


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON data where types count: True is not 1, 1 is not 1.0, a string is not a number.
    Key order does not count (JSON objects are unordered). A Secret or Ref equals nothing but itself."""
    if a is b:  # shared values (state keeps repeats once): nothing to walk
        return True
    ta = type(a)
    if ta is not type(b):
        return False
    if ta is dict:  # a key b lacks is _ABSENT there, a type nothing in JSON has (no key views made and compared)
        return len(a) == len(b) and json_equal_at(b, a, _ABSENT)
    if ta is list or ta is tuple:
        if len(a) != len(b):
            return False
        for x, y in zip(a, b, strict=True):
            if x is not y and (type(x) is not type(y) or (not json_equal(x, y) if type(x) in _NESTED else x != y)):
                return False
        return True
    return bool(a == b)


_NESTED = (dict, list, tuple)
_ABSENT = object()


def json_equal_at(obj: Mapping[str, Any], expected: Mapping[str, Any], missing: Any = None) -> bool:
    """`json_equal({k: obj.get(k, missing) for k in expected}, expected)`, without making that dict: obj's
    values at expected's keys (`missing` where obj lacks one) against expected's."""
    get = obj.get
    for k, y in expected.items():  # scalars compared in the loop, containers by recursion: this runs for every body
        x = get(k, missing)
        if x is not y and (type(x) is not type(y) or (not json_equal(x, y) if type(x) in _NESTED else x != y)):
            return False
    return True


def loosely_equal(a: Any, b: Any) -> bool:
    """Equality where an absent value and null agree, and 1 == 1.0."""
    if isinstance(a, dict) and isinstance(b, dict):
        return all(loosely_equal(a.get(k), b.get(k)) for k in set(a) | set(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(loosely_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return bool(a == b)
