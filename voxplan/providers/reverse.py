"""The way back: live objects → stack entries, for `voxplan generate` and `voxplan drift --adopt`.

Each kind declares its reverse mapping next to its forward one, in its provider's folder (the platform's
tools and assistants beside `VapiPlatform._tool`/`_assistant`, a carrier's trunks and numbers beside its
`expand_trunk`/`expand_number`); they share this context. The rules they keep:

- References by stack key, never by id: a number's `credentialId` becomes `trunk: <key>`, a tool id in an
  assistant its key. An object that refers to something not in the stack is left out, and said why.
- Secrets are never written: a write-only value (a password) or a vendor secret field becomes a
  `${env:NAME}` placeholder, listed for the user to set (`secret`).
- Server defaults and read-only fields are left out; whatever else the vendor holds that the stack's own
  vocabulary does not say goes into the kind's pass-through (`vapi:`), checked by expanding the entry
  forward again and comparing it with the live object (`extras`), so a plan of the generated stack
  changes nothing.
- Another stack's objects (its claims, its owner marker) are skipped and listed.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from voxplan.core.model import PathT, address, get_path, loosely_equal, ref_paths, substitute
from voxplan.core.secret import Secret, map_leaves
from voxplan.core.writeonly import mark_secret_fields

if TYPE_CHECKING:
    from voxplan.providers.base import Adapter, Platform

ENV_NAME = re.compile(r"[^A-Z0-9]+")


def slug(text: str, fallback: str = "entry") -> str:
    """A stack key from a vendor name: `Front Desk` → `front-desk`."""
    out = re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")
    return out[:63] or fallback


def as_dict(value: Any) -> dict[str, Any]:
    """`value` if it is a mapping, else an empty one (live bodies are the vendor's: any key may be null)."""
    return value if isinstance(value, dict) else {}


@dataclass
class Unresolved:
    """Why an entry could not be written (an object it needs is not in the stack)."""

    why: str


@dataclass
class GenerateContext:
    """The live objects a mapping reads and the stack it writes.

    `live`: kind → objects (normalised by their adapters, write-only values dropped). `keys`: (kind, id) →
    the key of the entry an object went into; `fixed` holds the stack's own keys when the objects are known
    already (drift --adopt maps a stack's desired bodies back, under the keys it has). `foreign`: (kind, id)
    → the other owner that claims it. `carriers`: the carriers whose trunks and numbers are wanted (None:
    all)."""

    live: Mapping[str, Sequence[dict[str, Any]]]
    adapters: Mapping[str, Adapter]
    platform: Platform
    owner: str = ""
    carriers: frozenset[str] | None = None
    foreign: dict[tuple[str, str], str] = field(default_factory=dict)
    fixed: dict[tuple[str, str], str] = field(default_factory=dict)
    keys: dict[tuple[str, str], str] = field(default_factory=dict)
    used: set[tuple[str, str]] = field(default_factory=set)
    data: dict[str, dict[str, Any]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)  # top-level settings sections (`vapi: {region}`)
    reserved: dict[str, set[str]] = field(default_factory=dict)  # section -> keys promised to an entry
    secrets: dict[str, str] = field(default_factory=dict)  # env name -> what it holds
    skipped: list[str] = field(default_factory=list)
    notes: dict[PathT, str] = field(default_factory=dict)  # a comment at the end of an entry's line
    route_sources: Sequence[Callable[[str], dict[str, Any] | None]] = ()
    _ids: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict, repr=False)  # kind -> id -> object
    _addresses: dict[str, str] = field(default_factory=dict, repr=False)  # address -> remote id
    _indexes: dict[str, dict[Any, list[dict[str, Any]]]] = field(default_factory=dict, repr=False)

    # -- objects ---------------------------------------------------------------------------------------
    def rid(self, kind: str, obj: Mapping[str, Any]) -> str:
        return self.adapters[kind].remote_id(obj) if kind in self.adapters else str(obj.get("id"))

    def objects(self, kind: str) -> list[dict[str, Any]]:
        """The live objects of `kind` not yet placed, another stack's left out (and listed, once)."""
        out = []
        for obj in self.live.get(kind, ()):
            ident = (kind, self.rid(kind, obj))
            if ident in self.used:
                continue
            if ident in self.foreign:
                self.used.add(ident)
                self.skipped.append(f"{kind} {ident[1]}{_named(obj)}: owned by {self.foreign[ident]}")
                continue
            out.append(obj)
        return out

    def find(self, kind: str, remote_id: Any) -> dict[str, Any] | None:
        if kind not in self._ids:
            self._ids[kind] = {self.rid(kind, o): o for o in self.live.get(kind, ())}
        return self._ids[kind].get(str(remote_id))

    def index(self, name: str, kind: str, key: Callable[[dict[str, Any]], Any]) -> dict[Any, list[dict[str, Any]]]:
        """The live objects of `kind` by `key(obj)`, built once per `name` (a lookup per object of a 10,000-number
        account would otherwise scan them all each time)."""
        if name not in self._indexes:
            found: dict[Any, list[dict[str, Any]]] = {}
            for obj in self.live.get(kind, ()):
                found.setdefault(key(obj), []).append(obj)
            self._indexes[name] = found
        return self._indexes[name]

    def unplaced(self, kind: str, obj: Mapping[str, Any]) -> bool:
        ident = (kind, self.rid(kind, obj))
        return ident not in self.used and ident not in self.foreign

    def wants(self, carrier: str) -> bool:
        return self.carriers is None or carrier in self.carriers

    def key_for(self, section: str, kind: str, obj: Mapping[str, Any], name: str) -> str:
        """The stack key of the entry `obj` goes into: the stack's own (drift --adopt) or a new one made
        from `name`, unique in its section (`support`, `support-2`, …)."""
        ident = (kind, self.rid(kind, obj))
        if ident in self.fixed:
            return self.fixed[ident]
        if ident in self.keys:
            return self.keys[ident]
        entries, reserved = self.data.get(section, {}), self.reserved.get(section, set())
        base = slug(name)
        key, n = base, 2
        while key in entries or key in reserved:
            key, n = f"{base}-{n}", n + 1
        return key

    def place(self, section: str, key: str, entry: dict[str, Any], *objects: tuple[str, Mapping[str, Any]]) -> None:
        """Write `entry` as `section.key`; `objects` (kind, live object) are what it stands for."""
        self.data.setdefault(section, {})[key] = entry
        for kind, obj in objects:
            self.used.add((kind, self.rid(kind, obj)))
            self._keyed(kind, obj, key)

    def claim(self, section: str, kind: str, obj: Mapping[str, Any], key: str) -> None:
        """Promise `obj` the entry `section.key` before it is written, so others can refer to it."""
        self._keyed(kind, obj, key)
        self.reserved.setdefault(section, set()).add(key)

    def named(self, kind: str, obj: Mapping[str, Any], name: str) -> None:
        """Record the address name `obj` has (`kind/name`) where it is not an entry's key."""
        self._keyed(kind, obj, name)

    def _keyed(self, kind: str, obj: Mapping[str, Any], key: str) -> None:
        rid = self.rid(kind, obj)
        self.keys[(kind, rid)] = key
        self._addresses[address(kind, key)] = rid

    def id_of(self, kind: str, key: str) -> str | None:
        """The remote id of the object that has the address `kind/key`."""
        return self._addresses.get(address(kind, key))

    def key_of(self, kind: str, remote_id: Any) -> str | None:
        return self.keys.get((kind, str(remote_id)))

    def skip(self, kind: str, obj: Mapping[str, Any], why: str) -> None:
        ident = (kind, self.rid(kind, obj))
        self.used.add(ident)
        if ident in self.keys:
            self._addresses.pop(address(kind, self.keys.pop(ident)), None)
        self.skipped.append(f"{kind} {ident[1]}{_named(obj)}: {why}")

    def route(self, uri: str, *, pstn: bool, number: str, user: str) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """A carrier destination back to a route (`{forward:}`, a vendor's own, the platform's, `{sip:}`),
        with what the number's entry takes from the platform (its trunk, name, pass-through); route None
        with a `why` in the second part when no route of a stack says it."""
        if pstn:
            return {"forward": "+" + str(uri).lstrip("+")}, {}
        for source in self.route_sources:
            found = source(str(uri))
            if found is not None:
                return found, {}
        platform = self.platform.inbound_route(self, str(uri), number=number, user=user)
        if platform is not None:
            return platform
        return {"sip": uri if str(uri).startswith(("sip:", "sips:")) else f"sip:{uri}"}, {}

    # -- secrets and pass-through ------------------------------------------------------------------------
    def secret(self, path: PathT, what: str) -> str:
        """A `${env:NAME}` placeholder for the secret written at `path` (section, key, field…)."""
        parts = [str(path[0]).removesuffix("s"), *(_user(str(p)) for p in path[1:] if p not in ("vapi", "auth"))]
        base = ENV_NAME.sub("_", "_".join(parts).upper()).strip("_")
        name, n = base, 2
        while name in self.secrets and self.secrets[name] != what:
            name, n = f"{base}_{n}", n + 1
        self.secrets[name] = what
        return "${env:" + name + "}"

    def scrub(self, value: Any, patterns: Iterable[str], path: PathT, top: str) -> Any:
        """`value` (of top-level vendor key `top`) with each leaf a secret pattern (`server.headers.*`)
        names replaced by a placeholder; `path` is where it lands in the stack."""
        patterns = [p for p in patterns if p.split(".")[0] == top]
        if not patterns:
            return value
        return self._scrub(value, [p.split(".")[1:] for p in patterns], path, top)

    def _scrub(self, value: Any, patterns: list[list[str]], path: PathT, where: str) -> Any:
        if any(p == [] for p in patterns):
            return self.secret(path, f"{where} (a secret voxplan does not write)") if value is not None else None
        if isinstance(value, dict):
            return {k: self._scrub(v, [p[1:] for p in patterns if p and p[0] in ("*", k)], (*path, k), f"{where}.{k}")
                    for k, v in value.items()}
        if isinstance(value, list):
            return [self._scrub(v, [p[1:] for p in patterns if p and p[0] in ("*", str(i))], (*path, i),
                                f"{where}.{i}") for i, v in enumerate(value)]
        return value

    def resolve(self, body: dict[str, Any]) -> dict[str, Any] | Unresolved:
        """A forward body with each Ref replaced by the value of the live object its address names."""
        missing: list[str] = []

        def value_of(ref: Any) -> Any:
            kind = ref.address.partition("/")[0]
            rid = self._addresses.get(ref.address)
            obj = self.find(kind, rid) if rid is not None else None
            found = get_path(obj, ref.attr) if obj is not None else None
            if found is None:
                missing.append(ref.address)
                return None
            return ref.render(found)

        out = substitute(body, ref_paths(body), value_of)
        return Unresolved(f"refers to {missing[0]}, which is not in the stack") if missing else out

    def extras(self, kind: str, forward: dict[str, Any], obj: Mapping[str, Any], path: PathT,
               mapped: Iterable[str] = ()) -> dict[str, Any] | Unresolved:
        """What the kind's pass-through must say for the entry to expand to `obj` again: each top-level
        key the forward body gets wrong (server defaults filled first), and each key the vendor holds that
        the forward body does not say and that is neither read-only nor a documented server default.
        `mapped`: live keys the entry already says in its own words. A key holding a reference cannot be
        passed through (it would be a raw id): the entry is Unresolved."""
        adapter = self.adapters[kind]
        body = self.resolve(forward)
        if isinstance(body, Unresolved):
            return body
        hidden = (*adapter.write_only, *adapter.secret_fields)
        wanted_body, live = _without(body, hidden), _without(dict(obj), hidden)
        out: dict[str, Any] = {}
        for key, wanted in wanted_body.items():
            if loosely_equal(adapter.fill_defaults(key, wanted), live.get(key)):
                continue
            if ref_paths(forward.get(key)):
                return Unresolved(f"its {key} differs from what its entry says, and holds references")
            out[key] = obj.get(key)
        for key, live_value in obj.items():
            if key in body or key in mapped or key in adapter.read_only or key in adapter.write_only:
                continue
            if key in adapter.server_defaults and loosely_equal(adapter.server_defaults[key], live_value):
                continue
            if live_value is None:
                continue
            out[key] = live_value
        return {k: self.scrub(v, adapter.secret_fields, (*path, k), k) for k, v in out.items()}


def _without(body: dict[str, Any], patterns: Sequence[str]) -> dict[str, Any]:
    """`body` with the values at secret `patterns` (and every Secret) made null: a placeholder's value is
    unknown here, and the differ judges secrets by fingerprint anyway."""
    marked = copy.deepcopy(body)
    mark_secret_fields(marked, patterns, origin="reverse")
    return map_leaves(marked, lambda v: None if isinstance(v, Secret) else v)  # type: ignore[no-any-return]


def _user(part: str) -> str:
    """A SIP URI key by its user part (`sip:desk@sip.vapi.ai` → `desk`), for an environment variable's name."""
    return part.split(":", 1)[1].split("@")[0] if part.startswith(("sip:", "sips:")) else part


def _named(obj: Mapping[str, Any]) -> str:
    name = obj.get("name") or obj.get("label") or obj.get("number") or obj.get("sipUri") or obj.get("url")
    return f" ({name})" if name else ""
