"""What a stack may say, declared by the providers as data (as a Terraform provider declares its schema), and
the document assembled from those declarations.

Each provider's folder holds one `Surface`: the stack sections it adds (`tools:`, `agents:`), the carriers it
brings (what their trunks and numbers take), the route targets it answers, its `providers.<name>:` settings,
where a secret may sit in what it declares, which values a telephony parser checks, and which strings name
entries of other sections. `assemble` joins them with the parts no vendor owns (version, backend,
environments, moved, and the trunks/numbers/routes shells that dispatch on `carrier:` and on the route's
target) into a `StackSurface`: the JSON Schema (`schemas/stack.schema.json` is generated from it), and the
tables validation walks. Nothing here knows a vendor; the registry (voxplan.providers) hands the surfaces in.
"""

from __future__ import annotations

import copy
import functools
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from voxplan.core.errors import Diagnostic
from voxplan.stack.model import PathT, SourceMap
from voxplan.stack.telephony import Problem

Pattern = tuple[str, ...]  # a path in the stack: `*` is one key or index, `**` anything below
Check = Callable[[str], "Problem | None"]
StackCheck = Callable[[dict[str, Any], SourceMap], Iterable[Diagnostic]]
Schema = dict[str, Any]


@dataclass(frozen=True)
class Section:
    """A top-level stack section: a map of entries under keys the user chooses (`tools: {to-human: …}`), or,
    with `keyed=False`, one object (`vapi: {region: us}`). `entry` is the JSON Schema of one entry (or of
    the object); `definition` names it under `$defs`."""

    name: str
    definition: str
    entry: Schema
    description: str = ""
    keyed: bool = True


@dataclass(frozen=True)
class CarrierSurface:
    """What a carrier's trunks and numbers take besides `carrier: <name>`: JSON Schema objects (`properties`,
    `required`, …). `trunk` None: the carrier has no trunks. `drop`: platform trunk properties this carrier
    cannot use (a Wavix trunk's login is made by Wavix, so it takes no `auth:`). `named`: a number of this
    carrier may be keyed by a name instead of its number, because the vendor assigns the number (a free
    Vapi number: `numbers: {front-line: {carrier: vapi, area_code: "415", purchase: true}}`)."""

    name: str
    description: str
    number: Schema
    trunk: Schema | None = None
    drop: tuple[str, ...] = ()
    named: bool = False


@dataclass(frozen=True)
class Reference:
    """The string at `path` names an entry of `section`; with `raw_id`, a string it matches is taken as a
    remote id instead (a Vapi squad made elsewhere)."""

    path: Pattern
    section: str
    raw_id: re.Pattern[str] | None = None


@dataclass(frozen=True)
class Surface:
    """Everything one provider adds to the stack format. Patterns are absolute stack paths."""

    provider: str
    settings: Schema | None = None  # providers.<name>: ; None: the vendor has no API of its own (byo)
    sections: tuple[Section, ...] = ()
    defs: Mapping[str, Schema] = field(default_factory=dict)  # definitions its schemas $ref (#/$defs/<name>)
    carriers: tuple[CarrierSurface, ...] = ()
    every_trunk: Schema = field(default_factory=dict)  # the platform: what every carrier's trunk takes
    every_number: Schema = field(default_factory=dict)  # the platform: what every number takes
    route: Schema = field(default_factory=dict)  # route properties (JSON Schema `properties`)
    route_targets: tuple[str, ...] = ()  # which of those say where the calls go (exactly one per route)
    secret_places: tuple[Pattern, ...] = ()  # where a Secret may sit: handed to the vendor as a value
    passwords: tuple[Pattern, ...] = ()  # SIP and trunk passwords: at least 8 characters
    value_checks: tuple[tuple[Pattern, Check], ...] = ()  # telephony values, each parsed by its parser
    header_names: tuple[Pattern, ...] = ()  # mapping keys that are SIP header names
    one_line: tuple[Pattern, ...] = ()  # values a schema pattern checks: also one line
    references: tuple[Reference, ...] = ()
    checks: tuple[StackCheck, ...] = ()  # any other offline check of what it declares (cycles, reach)


# -- what no vendor owns -----------------------------------------------------------------------------------

LIFECYCLE: Schema = {
    "type": "object", "additionalProperties": False,
    "description": "How plans may treat the resources this entry expands to.",
    "properties": {
        "protect": {"type": "boolean", "description": "A plan that would destroy or replace any of them fails, "
                                                      "naming it."},
        "ignore_changes": {"type": "array", "items": {"type": "string"},
                           "description": "Vendor field paths (e.g. firstMessage, model.temperature) whose live "
                                          "value is left alone."}}}
PROVIDER_SETTINGS: Schema = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "api_key": {"type": "string", "description": "Only from ${env:NAME} or ${file:PATH}, never literal."},
        "base_url": {"type": "string", "pattern": "^https?://"},
        "rate_limit": {
            "description": "Pacing of this provider's requests (default: the vendor's budget from its fact "
                           "sheet); off turns it off.",
            "oneOf": [{"type": "object", "required": ["requests", "per_seconds"], "additionalProperties": False,
                       "description": "A client-side budget: at most this many requests per window (Cloudonix: "
                                      "10 per 3 s per domain, built in).",
                       "properties": {"requests": {"type": "integer", "minimum": 1},
                                      "per_seconds": {"type": "number", "exclusiveMinimum": 0}}},
                      {"const": "off"}]},
        "concurrency": {"type": "integer", "minimum": 1, "maximum": 100,
                        "description": "Requests in flight at once (default 10)."},
        "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 600,
                    "description": "Seconds to wait for an answer (default 30). A create whose POST gets no answer "
                                   "is looked up, never blindly re-sent."}}}
BACKEND: Schema = {
    "description": "Where state lives: local (files in .voxplan/ beside the stack, the default) or postgres. "
                   "--backend URL and VOXPLAN_BACKEND override it.",
    "anyOf": [
        {"type": "string", "description": "local, postgres, or a postgresql:// URL"},
        {"type": "object", "additionalProperties": False, "minProperties": 1, "maxProperties": 1, "properties": {
            "local": {"type": ["object", "null"], "additionalProperties": False, "properties": {
                "dir": {"type": "string", "description": "State directory, relative to the stack."}}},
            "postgres": {"type": "object", "additionalProperties": False, "required": ["url"], "properties": {
                "url": {"type": "string", "description": "postgresql://user@host/db, e.g. \"${env:VOXPLAN_PG_URL}\"."}
            }}}}]}
ENVIRONMENTS: Schema = {
    "type": "object",
    "description": "Per-environment variables, used as ${var:NAME}; the environment is chosen by --env or "
                   "VOXPLAN_ENV.",
    "propertyNames": {"pattern": "^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"},
    "additionalProperties": {"type": ["object", "null"], "additionalProperties": {"type": ["string", "number",
                                                                                          "boolean"]}}}
MOVED: Schema = {
    "type": "array",
    "description": "Renames: each entry moves what `from` expanded to onto `to` in state (section.name, or "
                   "kind/name addresses).",
    "items": {"type": "object", "additionalProperties": False, "required": ["from", "to"],
              "properties": {"from": {"type": "string", "minLength": 3}, "to": {"type": "string", "minLength": 3}}}}
IMPORTS: Schema = {
    "type": "object",
    "description": "Objects to adopt by id (as Terraform's import blocks): `kind/name` address -> remote id, or "
                   "{environment: id} in a stack with environments. Planned as an import while the address is not "
                   "in state, inert after; voxplan generate writes them for the objects nothing else would find "
                   "again (a Vapi tool without a name).",
    "propertyNames": {"pattern": "^[a-z][a-z0-9_]*\\.[a-z][a-z0-9_]*/.+$"},
    "additionalProperties": {"oneOf": [
        {"type": "string", "minLength": 1, "description": "The id, in the default environment only."},
        {"type": "object", "description": "Per environment: its name -> the id it adopts there (an environment "
                                          "not named imports nothing).",
         "additionalProperties": {"type": "string", "minLength": 1}}]}}
TESTS: Schema = {
    "type": "object", "additionalProperties": False, "required": ["caller"],
    "description": "Test calls (voxplan test): placed only when the user runs voxplan test or voxplan call.",
    "properties": {
        "caller": {"type": "string", "description": "The number test calls come from (a key of numbers:, here or in "
                                                    "`stack`); it must be able to call out."},
        "stack": {"type": "string", "description": "Another stack file (relative to this one) that holds the caller, "
                                                   "e.g. a shared test line."},
        "assistant": {"type": "string", "description": "The assistant on the calling side (default: the one the "
                                                       "caller is routed to)."}}}
ROUTE_CORE: Schema = {
    "sip": {"type": "string", "pattern": "^(sips?:)?[^@\\s]+@[^@\\s]+$",
            "description": "Any SIP URI the carrier forwards to."},
    "forward": {"type": "string", "description": "Forward to this E.164 number (PSTN)."}}

# Where a Secret may sit, whatever the vendors: an API key, a database URL (it may hold a password).
CORE_SECRET_PLACES: tuple[Pattern, ...] = (("providers", "*", "api_key"), ("backend", "*", "url"))
CORE_ONE_LINE: tuple[Pattern, ...] = (("stack",), ("providers", "*", "base_url"), ("trunks", "*", "carrier"),
                                      ("numbers", "*", "carrier"), ("numbers", "*", "trunk"), ("tests", "caller"),
                                      ("tests", "stack"), ("tests", "assistant"))


# -- the assembled document --------------------------------------------------------------------------------

@dataclass(frozen=True)
class StackSurface:
    """The stack format: every provider's surface joined with the vendor-free parts."""

    surfaces: tuple[Surface, ...]
    _validators: dict[str, jsonschema.Draft202012Validator] = field(default_factory=dict, compare=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    def validator(self, definition: str = "") -> jsonschema.Draft202012Validator:
        """A validator of the whole document, or of one definition (an entry of a section)."""
        with self._lock:
            found = self._validators.get(definition)
            if found is None:
                root = self.schema
                schema = {"$ref": f"#/$defs/{definition}", "$defs": root["$defs"]} if definition else root
                found = self._validators[definition] = jsonschema.Draft202012Validator(schema)
            return found

    @functools.cached_property
    def carriers(self) -> dict[str, CarrierSurface]:
        return {c.name: c for s in self.surfaces for c in s.carriers}

    @functools.cached_property
    def sections(self) -> dict[str, str]:
        """Map sections whose entries are validated one by one -> the definition of one entry (trunks and
        numbers: the generic one; `definition_for` picks the carrier's)."""
        found = {"trunks": "trunk", "numbers": "number", "routes": "route"}
        found.update({sec.name: sec.definition for s in self.surfaces for sec in s.sections if sec.keyed})
        return found

    def definition_for(self, section: str, entry: Any) -> str:
        """The definition one entry is validated against: a trunk or number by its carrier's own (so an
        error names what that carrier takes), any other by its section's."""
        definition = self.sections[section]
        if section in ("trunks", "numbers") and isinstance(entry, dict):
            carrier = entry.get("carrier")
            if isinstance(carrier, str) and f"{definition}.{carrier}" in self.schema["$defs"]:
                return f"{definition}.{carrier}"
        return definition

    def _all(self, name: str) -> tuple[Any, ...]:
        return tuple(dict.fromkeys(x for s in self.surfaces for x in getattr(s, name)))

    @functools.cached_property
    def secret_places(self) -> tuple[Pattern, ...]:
        return CORE_SECRET_PLACES + self._all("secret_places")

    @functools.cached_property
    def passwords(self) -> tuple[Pattern, ...]:
        return self._all("passwords")

    @functools.cached_property
    def value_checks(self) -> tuple[tuple[Pattern, Check], ...]:
        return self._all("value_checks")

    @functools.cached_property
    def header_names(self) -> tuple[Pattern, ...]:
        return self._all("header_names")

    @functools.cached_property
    def one_line(self) -> tuple[Pattern, ...]:
        return CORE_ONE_LINE + self._all("one_line")

    @functools.cached_property
    def references(self) -> tuple[Reference, ...]:
        return self._all("references")

    @functools.cached_property
    def checks(self) -> tuple[StackCheck, ...]:
        return self._all("checks")

    @functools.cached_property
    def schema(self) -> Schema:
        return _document(self.surfaces)


def assemble(surfaces: Iterable[Surface]) -> StackSurface:
    return StackSurface(tuple(surfaces))


def _document(surfaces: tuple[Surface, ...]) -> Schema:
    defs: dict[str, Schema] = {"lifecycle": LIFECYCLE}

    def define(name: str, schema: Schema, who: str) -> None:
        if name in defs:
            raise ValueError(f"{who} defines $defs/{name}, which another provider (or voxplan) defines too")
        defs[name] = copy.deepcopy(schema)

    properties: dict[str, Schema] = {
        "version": {"const": 1, "description": "Stack format version."},
        "voxplan": {"type": "string", "description": "The voxplan versions this stack needs, as a PEP 440 "
                                                       "constraint (\">=0.2\", \">=0.2,<1\"); any other "
                                                       "version refuses the stack before reading further."},
        "stack": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$",
                  "description": "Stack name; defaults to the file name."}}
    settings: dict[str, Schema] = {}
    route: dict[str, Schema] = {}
    targets: list[str] = []
    every_trunk: dict[str, Schema] = {}
    every_number: dict[str, Schema] = {}
    for s in surfaces:
        for name, schema in s.defs.items():
            define(name, schema, s.provider)
        if s.settings is not None:
            settings[s.provider] = s.settings
        route.update(s.route)
        targets += s.route_targets
        every_trunk.update(s.every_trunk)
        every_number.update(s.every_number)
    route.update(ROUTE_CORE)
    targets += list(ROUTE_CORE)
    properties["providers"] = {"type": "object", "additionalProperties": False, "properties": settings}
    properties["backend"] = BACKEND
    properties["environments"] = ENVIRONMENTS
    properties["moved"] = MOVED
    properties["imports"] = IMPORTS
    properties["tests"] = TESTS
    carriers = [c for s in surfaces for c in s.carriers]
    for kind, plural, common in (("trunk", "trunks", every_trunk), ("number", "numbers", every_number)):
        own = [c for c in carriers if getattr(c, kind) is not None]
        for c in own:
            part: Schema = getattr(c, kind)
            props = {"carrier": {"const": c.name, "description": c.description},
                     **{k: v for k, v in common.items() if k not in c.drop},
                     **part.get("properties", {}), "lifecycle": {"$ref": "#/$defs/lifecycle"}}
            entry: Schema = {**{k: v for k, v in part.items() if k not in ("properties", "required")},
                             "type": "object", "additionalProperties": False,
                             "required": ["carrier", *part.get("required", [])], "properties": props}
            define(f"{kind}.{c.name}", entry, c.name)
        define(kind, {
            "type": "object", "required": ["carrier"],
            "properties": {"carrier": {"enum": [c.name for c in own],
                                       "description": "; ".join(f"{c.name}: {c.description}" for c in own)}},
            "allOf": [{"if": {"properties": {"carrier": {"const": c.name}}, "required": ["carrier"]},
                       "then": {"$ref": f"#/$defs/{kind}.{c.name}"}} for c in own]}, "voxplan")
        properties[plural] = {"type": ["object", "null"], "additionalProperties": {"$ref": f"#/$defs/{kind}"}}
    define("route", {"type": "object", "additionalProperties": False, "properties": route,
                     "oneOf": [{"required": [t]} for t in targets]}, "voxplan")
    properties["routes"] = {"type": ["object", "null"], "additionalProperties": {"$ref": "#/$defs/route"},
                            "description": "Who answers each number: exactly one of " + ", ".join(targets) + "."}
    for s in surfaces:
        for sec in s.sections:
            define(sec.definition, sec.entry, s.provider)
            ref = {"$ref": f"#/$defs/{sec.definition}"}
            shape: Schema = ({"type": ["object", "null"], "additionalProperties": ref} if sec.keyed else ref)
            if sec.description:
                shape = {**shape, "description": sec.description}
            if sec.name in properties:
                raise ValueError(f"{s.provider} declares section {sec.name}:, which is taken")
            properties[sec.name] = shape
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://voxplan.dev/schemas/stack.schema.json",
        "title": "voxplan stack",
        "description": "One YAML stack declares a voice-AI call path: trunks, numbers, routes, and what answers "
                       "them. Generated from the providers' surfaces (voxplan schema); do not edit by hand.",
        "type": "object", "required": ["version"], "additionalProperties": False,
        "properties": properties, "$defs": defs}


# -- the declarative checks --------------------------------------------------------------------------------

def matches(path: PathT, pattern: Pattern) -> bool:
    for i, part in enumerate(pattern):
        if part == "**":
            return len(path) > i
        if i >= len(path) or (part != "*" and path[i] != part):
            return False
    return len(path) == len(pattern)


def values_at(data: Any, pattern: Pattern, path: PathT = ()) -> Iterator[tuple[PathT, Any]]:
    """Every (path, value) in `data` matching `pattern` (`*` only): level by level, with a path made only
    for what matches (a `numbers: *` pattern visits 10,000 entries; most lack the key asked for)."""
    found: list[tuple[PathT, Any]] = [(path, data)]
    for depth, head in enumerate(pattern):
        nxt: list[tuple[PathT, Any]] = []
        then = pattern[depth + 1] if depth + 1 < len(pattern) and pattern[depth + 1] != "*" else None
        for where, value in found:
            if type(value) is dict:
                if head != "*":
                    if head in value:
                        nxt.append(((*where, head), value[head]))
                elif then is None:
                    nxt += [((*where, k), v) for k, v in value.items()]
                else:  # `*` then a key: only the entries that have it
                    nxt += [((*where, k), v) for k, v in value.items() if type(v) is dict and then in v]
            elif type(value) is list and head == "*":
                nxt += [((*where, i), v) for i, v in enumerate(value)]
        found = nxt
    return iter(found)


def reference_errors(data: dict[str, Any], source: SourceMap, references: Iterable[Reference]
                     ) -> Iterator[Diagnostic]:
    """Each declared reference names an entry of its section (or, where allowed, is a raw remote id)."""
    for ref in references:
        pool = data.get(ref.section) or {}
        for path, name in values_at(data, ref.path):
            if not isinstance(name, str) or name in pool or (ref.raw_id is not None and ref.raw_id.match(name)):
                continue
            known = ", ".join(sorted(map(str, pool))) or "none declared"
            what = ref.section[:-1] if ref.section.endswith("s") else ref.section
            yield Diagnostic(source.at(path), f"unknown {what.replace('_', ' ')} {name!r} (known: {known})")
