"""The vendors' OpenAPI documents, kept once as package data, with their documented corrections, and the one
checker of request bodies that the Vapi provider (`validate`, offline), the Vapi emulator (its 400s) and the
test suite's contract observer all read.

    document("vapi")        the corrected document: vapi-openapi.json, the fragments its corrections file
                            names, and every correction of vapi-corrections.json applied (each with its source)
    checker("vapi")         a Checker over it: `check(schema, body)` -> [Problem], located by body path
    corrections("vapi")     the corrections file itself (aliases for hints, write-only fields, ...)

What the checker holds a body to is the document's own rules plus what the vendor's server does and the
document cannot say: Vapi's API is NestJS with a whitelist, so an unknown key is refused at every depth of a
DTO class (the document sets `additionalProperties: false` nowhere), while free objects (`metadata`,
`headers`) and the schemas the corrections file names open (`JsonSchema`) take anything. A `oneOf` is
dispatched on the branch's single-value discriminator (`type`, `provider`, `on`), read off the branches
themselves, never off a `discriminator.mapping` alone (POST /tool's lacks `code`); without one, the first
branch that takes the value wins, as class-transformer's does. Quirks of NestJS's output are read as their
authors meant them: a pattern written as a JavaScript literal (`/^…$/`), an enum repeated on an array and its
items, a string enum typed `object` (corrected in the file). Nothing here knows a vendor; the data does.
"""

from __future__ import annotations

import copy
import difflib
import functools
import json
import re
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

HERE = Path(__file__).resolve().parent
PathT = tuple[str | int, ...]
Node = dict[str, Any]
_NOT_RETURNED = "This is not returned in the API."


@dataclass(frozen=True)
class Problem:
    """One thing a body breaks. `path` is inside the body; `text` says what is wrong the way NestJS's
    class-validator words it, without the path (`must be shorter than or equal to 40 characters`);
    `allowed` lists the valid keys (kind `unknown`) or values (kind `enum`), for a did-you-mean."""

    path: PathT
    text: str
    kind: str  # unknown | enum | type | required | limit | pattern | format | documented
    allowed: tuple[str, ...] = ()
    value: Any = None
    schema: str = ""  # the DTO (component schema) the rule belongs to
    source: str = ""  # kind documented: where the vendor's docs send the key

    @property
    def severity(self) -> str:
        return "warning" if self.kind == "documented" else "error"

    def nest(self) -> str:
        """The message as NestJS writes it: `destinations.0.property foo should not exist`,
        `name must be shorter than or equal to 40 characters`."""
        if self.kind == "unknown":
            parent = ".".join(map(str, self.path[:-1]))
            return f"{parent + '.' if parent else ''}property {self.path[-1]} should not exist"
        return f"{'.'.join(map(str, self.path)) or 'body'} {self.text}"


def nearest(value: str, allowed: tuple[str, ...] | list[str], aliases: Mapping[str, str] | None = None) -> str | None:
    """The valid value `value` most likely meant: an alias the vendor's spelling needs (`elevenlabs` is
    Vapi's `11labs`, which no string distance reaches), else difflib's closest at its usual cutoff, else a
    case-insensitive match."""
    if aliases:
        found = aliases.get(value) or aliases.get(value.lower())
        if found in allowed:
            return found
    lowered = {a.lower(): a for a in allowed}
    if value.lower() in lowered:
        return lowered[value.lower()]
    close = difflib.get_close_matches(value, list(allowed), n=1)
    return close[0] if close else None


# -- the documents ---------------------------------------------------------------------------------------------

@functools.cache
def corrections(vendor: str) -> dict[str, Any]:
    return dict(json.loads((HERE / f"{vendor}-corrections.json").read_text()))


@functools.cache
def _document(vendor: str) -> dict[str, Any]:
    fixes = corrections(vendor)
    doc = dict(msgspec.json.decode((HERE / fixes["document"]).read_bytes()))  # 3 MB: twice as fast as json
    for fragment in fixes.get("fragments", []):
        extra = json.loads((HERE / fragment["file"]).read_text())
        for path, item in extra.get("paths", {}).items():
            doc["paths"].setdefault(path, {}).update(item)
    schemas = doc["components"]["schemas"]
    for fix in fixes.get("corrections", []):
        _apply(doc, schemas, fix)
    return doc


def document(vendor: str) -> dict[str, Any]:
    """The corrected document (a copy: callers may change theirs)."""
    return copy.deepcopy(_document(vendor))


def _apply(doc: dict[str, Any], schemas: dict[str, Any], fix: dict[str, Any]) -> None:
    op = fix["op"]
    if op == "set":  # replace one node of a schema: {schema, pointer, value}
        node = schemas[fix["schema"]]
        parts = fix["pointer"].strip("/").split("/")
        for part in parts[:-1]:
            node = node[part]
        node[parts[-1]] = copy.deepcopy(fix["value"])
    elif op == "add_properties":  # keys the live API takes that the document lacks: {schemas, properties}
        for name in fix["schemas"]:
            props = schemas[name].setdefault("properties", {})
            for key, schema in fix["properties"].items():
                extra = {"x-voxplan-status": fix.get("status", "live"), "x-voxplan-source": fix["source"]}
                props.setdefault(key, {**copy.deepcopy(schema), **extra})
    elif op == "add_schemas":  # a schema no document has (a Telnyx credential): {schemas: {name: schema}}
        for name, schema in fix["schemas"].items():
            schemas.setdefault(name, copy.deepcopy(schema))
    elif op == "operation":  # an operation the document lacks or words wrongly: {path, method, operation}
        doc["paths"].setdefault(fix["path"], {})[fix["method"]] = copy.deepcopy(fix["operation"])
    elif op == "mapping":  # a discriminator mapping missing a branch of its oneOf: {path, method, in, add}
        operation = doc["paths"][fix["path"]][fix["method"]]
        part = operation["requestBody"] if fix["in"] == "request" else operation["responses"][fix["in"]]
        schema = part["content"]["application/json"]["schema"]
        schema = schema.get("items", schema) if schema.get("type") == "array" else schema
        schema["discriminator"].setdefault("mapping", {}).update(fix["add"])
    elif op == "js_patterns":  # `/…/flags` patterns, everywhere: the regex between the slashes
        _js_patterns(doc)
    elif op in ("open", "write_only", "null_clears"):
        pass  # read by the Checker (open, null_clears) and by the emulator and contract (write_only)
    else:
        raise ValueError(f"unknown correction op {op!r}")


_UNICODE = {r"\p{L}": r"[^\W\d_]", r"\p{N}": r"\d"}


def _js_patterns(node: Any) -> None:
    if isinstance(node, dict):
        pattern = node.get("pattern")
        literal = re.fullmatch(r"/(.*)/([a-z]*)", pattern, re.S) if isinstance(pattern, str) else None
        if literal:
            text = literal.group(1)
            for js, python in _UNICODE.items():
                text = text.replace(js, python)
            node["pattern"] = text
        for value in node.values():
            _js_patterns(value)
    elif isinstance(node, list):
        for value in node:
            _js_patterns(value)


def write_only(vendor: str) -> dict[str, frozenset[str]]:
    """schema -> its properties the vendor never returns: those the document itself marks "not returned",
    and those the corrections file names (secrets the document does not mark)."""
    found: dict[str, set[str]] = {}
    for name, schema in _document(vendor)["components"]["schemas"].items():
        for key, prop in (schema.get("properties") or {}).items():
            if isinstance(prop, dict) and _NOT_RETURNED in str(prop.get("description", "")):
                found.setdefault(name, set()).add(key)
    for fix in corrections(vendor).get("corrections", []):
        if fix["op"] == "write_only":
            for name, keys in fix["properties"].items():
                found.setdefault(name, set()).update(keys)
    return {k: frozenset(v) for k, v in found.items()}


# -- the checker -----------------------------------------------------------------------------------------------

_TYPES: dict[str, Any] = {"string": str, "boolean": bool, "array": list, "object": dict}


class Checker:
    """Request bodies against a corrected document, with the vendor's server-side rules (module docstring)."""

    def __init__(self, vendor: str):
        self.vendor = vendor
        doc = _document(vendor)
        self.doc = doc
        self.schemas: dict[str, Node] = doc["components"]["schemas"]
        fixes = corrections(vendor)
        self.open = {n for f in fixes.get("corrections", []) if f["op"] == "open" for n in f["schemas"]}
        nulls = [f for f in fixes.get("corrections", []) if f["op"] == "null_clears"]
        self.null_prefix: str = nulls[0]["schemas_starting"] if nulls else ""
        self.not_null = frozenset(nulls[0].get("except", [])) if nulls else frozenset()
        self.aliases: dict[str, str] = {k: v for k, v in fixes.get("aliases", {}).items() if not k.startswith("_")}
        self._flat: dict[int, Node] = {}
        self._names: dict[int, str] = {id(s): n for n, s in self.schemas.items()}
        self._dispatch: dict[int, tuple[str, dict[str, Node]] | None] = {}
        self._patterns: dict[str, re.Pattern[str] | None] = {}
        self._lock = threading.Lock()
        ordered = sorted(doc["paths"].items(), key=lambda kv: (kv[0].count("{"), -len(kv[0])))
        self._operations = [(re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(p)) + "/?$"), p, item)
                            for p, item in ordered]

    # what to check a request against
    def operation(self, method: str, path: str) -> tuple[str, Node] | None:
        """The path template and operation a request is for (literal paths before templated ones)."""
        for regex, template, item in self._operations:
            if regex.match(path) and method.lower() in item:
                return template, item[method.lower()]
        return None

    def request_schema(self, method: str, path: str) -> Node | None:
        found = self.operation(method, path)
        if found is None:
            return None
        body = self._resolve(found[1].get("requestBody") or {})
        media = (body.get("content") or {}).get("application/json") or {}
        return media.get("schema")

    def schema(self, name: str) -> Node:
        """A component schema by name (the node itself: the checker memoises by node)."""
        return self.schemas[name]

    def check(self, schema: Node, body: Any) -> list[Problem]:
        """Every problem of `body` against `schema`. The top-level keys of an update DTO (its name starts
        as the corrections file's `null_clears` says) may be null, which clears them, except those the
        file says the vendor does not clear so."""
        out: list[Problem] = []
        self._walk(schema, body, (), out, "", False)
        return out

    def discriminated(self, schema: Node, body: Any) -> str | None:
        """The component schema a body of a discriminated `oneOf` is checked against, by its own value."""
        flat = self._flatten(schema)
        if "oneOf" not in flat:
            return flat.get("x-voxplan-name") or None
        found = self._dispatcher(flat) if isinstance(body, dict) else None
        branch = found[1].get(str(body.get(found[0]))) if found is not None and isinstance(body, dict) else None
        return None if branch is None else branch.get("x-voxplan-name") or None

    @functools.lru_cache(maxsize=256)  # noqa: B019 - one Checker per vendor per process
    def write_only_paths(self, name: str) -> tuple[str, ...]:
        """The dotted paths (objects only, no list items) under component schema `name` that hold a value
        the vendor never returns (`write_only`): `authentication.password` of a VapiPhoneNumber."""
        hidden = write_only(self.vendor)
        found: list[str] = []

        def visit(node: Node, prefix: str, depth: int, seen: frozenset[int]) -> None:
            flat = self._flatten(node)
            if id(flat) in seen or depth > 3:
                return
            seen = seen | {id(flat)}
            for branch in flat.get("oneOf") or flat.get("anyOf") or []:
                visit(branch, prefix, depth, seen)
            mine = hidden.get(flat.get("x-voxplan-name", ""), frozenset())
            for key, prop in (flat.get("properties") or {}).items():
                if key in mine:
                    found.append(prefix + key)
                elif self._flatten(prop).get("type") != "array":
                    visit(prop, f"{prefix}{key}.", depth + 1, seen)

        visit(self.schemas[name], "", 0, frozenset())
        return tuple(dict.fromkeys(found))

    def hint(self, problem: Problem) -> str | None:
        """The valid key or value a wrong one most likely meant (`silenceTimeoutSecond` ->
        `silenceTimeoutSeconds`, `elevenlabs` -> `11labs`), or None."""
        if problem.kind == "unknown":
            return nearest(str(problem.path[-1]), problem.allowed)
        if problem.kind == "enum" and isinstance(problem.value, str):
            return nearest(problem.value, problem.allowed, self.aliases)
        return None

    # -- walking ---------------------------------------------------------------------------------------------
    def _resolve(self, node: Node) -> Node:
        while isinstance(node, dict) and "$ref" in node:
            node = self.schemas[node["$ref"].rsplit("/", 1)[-1]]
        return node

    def _flatten(self, node: Node) -> Node:
        """`node` with `$ref` followed and `allOf` merged (NestJS writes `allOf: [{$ref}]` beside a
        description); memoised: a document's nodes never change."""
        key = id(node)
        found = self._flat.get(key)
        if found is not None:
            return found
        resolved = self._resolve(node)
        parts = resolved.get("allOf")
        if parts:
            merged: Node = {k: v for k, v in resolved.items() if k != "allOf"}
            for part in parts:
                sub = self._flatten(part)
                merged.setdefault("properties", {})
                merged["properties"] = {**sub.get("properties", {}), **merged["properties"]}
                merged["required"] = sorted({*merged.get("required", []), *sub.get("required", [])})
                for k, v in sub.items():
                    if k not in ("properties", "required"):
                        merged.setdefault(k, v)
                merged.setdefault("x-voxplan-name", self._names.get(id(self._resolve(part)), ""))
            if not merged["properties"]:
                del merged["properties"]
            resolved = merged
        elif id(resolved) in self._names:
            resolved = {**resolved, "x-voxplan-name": self._names[id(resolved)]}
        with self._lock:
            self._flat[key] = resolved
        return resolved

    def _dispatcher(self, flat: Node) -> tuple[str, dict[str, Node]] | None:
        """(property, value -> branch) when every branch of a oneOf pins one property to its own single
        value; None when the branches cannot be told apart so."""
        key = id(flat)
        if key in self._dispatch:
            return self._dispatch[key]
        branches = [self._flatten(b) for b in flat["oneOf"]]
        named = (flat.get("discriminator") or {}).get("propertyName")
        found = None
        for prop in ([named] if named else []) + ["type", "provider", "on"]:
            table: dict[str, Node] = {}
            for branch in branches:
                enum = ((branch.get("properties") or {}).get(prop) or {}).get("enum")
                if not isinstance(enum, list) or len(enum) != 1 or str(enum[0]) in table:
                    break
                table[str(enum[0])] = branch
            else:
                found = (prop, table)
                break
        with self._lock:
            self._dispatch[key] = found
        return found

    def _walk(self, node: Node, value: Any, path: PathT, out: list[Problem], owner: str, top_update: bool) -> None:
        flat = self._flatten(node)
        owner = flat.get("x-voxplan-name") or owner
        if value is None:
            if flat.get("nullable") or (top_update and len(path) == 1 and str(path[0]) not in self.not_null):
                return
            out.append(Problem(path, "should not be null", "type", schema=owner))
            return
        if "oneOf" in flat or "anyOf" in flat:
            self._one_of(flat, value, path, out, owner)
            return
        if flat.get("x-voxplan-name") in self.open:
            return  # an open schema (JsonSchema): anything the vendor's docs write there is taken
        kind = flat.get("type")
        enum = flat.get("enum")
        if kind == "object" and isinstance(enum, list) and all(isinstance(e, str) for e in enum):
            kind = "string"  # NestJS types some string enums `object`
        if kind is not None and not _is_type(value, kind):
            out.append(Problem(path, f"must be {'an' if kind[0] in 'aeio' else 'a'} {kind}", "type", schema=owner))
            return
        if isinstance(enum, list) and enum and kind != "array" and value not in enum:
            shown = ", ".join(map(str, enum))
            out.append(Problem(path, f"must be one of the following values: {shown}", "enum",
                               tuple(map(str, enum)), value, owner))
            return
        if isinstance(value, str):
            self._string(flat, value, path, out, owner)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            if "minimum" in flat and value < flat["minimum"]:
                out.append(Problem(path, f"must not be less than {flat['minimum']}", "limit", schema=owner))
            if "maximum" in flat and value > flat["maximum"]:
                out.append(Problem(path, f"must not be greater than {flat['maximum']}", "limit", schema=owner))
        elif isinstance(value, list):
            if "minItems" in flat and len(value) < flat["minItems"]:
                out.append(Problem(path, f"must contain at least {flat['minItems']} elements", "limit", schema=owner))
            if "maxItems" in flat and len(value) > flat["maxItems"] and kind == "array":
                out.append(Problem(path, f"must contain no more than {flat['maxItems']} elements", "limit",
                                   schema=owner))
            items = flat.get("items")
            if isinstance(items, dict):
                for i, item in enumerate(value):
                    self._walk(items, item, (*path, i), out, owner, False)
        elif isinstance(value, dict):
            self._object(flat, value, path, out, owner)

    def _string(self, flat: Node, value: str, path: PathT, out: list[Problem], owner: str) -> None:
        if "minLength" in flat and len(value) < flat["minLength"]:
            out.append(Problem(path, f"must be longer than or equal to {flat['minLength']} characters", "limit",
                               schema=owner))
        if "maxLength" in flat and len(value) > flat["maxLength"]:
            out.append(Problem(path, f"must be shorter than or equal to {flat['maxLength']} characters", "limit",
                               schema=owner))
        pattern = self._pattern(flat.get("pattern"))
        if pattern is not None and not pattern.search(value):
            out.append(Problem(path, f"must match {flat['pattern']} regular expression", "pattern", schema=owner))
        if flat.get("format") == "uuid" and not _is_uuid(value):
            out.append(Problem(path, "must be a UUID", "format", schema=owner))

    def _pattern(self, text: Any) -> re.Pattern[str] | None:
        """A pattern, compiled; NestJS writes some as JavaScript literals (`/^…$/`). One Python's `re` cannot
        compile (`\\p{L}`) is not checked: never refuse what the vendor may take."""
        if not isinstance(text, str):
            return None
        if text not in self._patterns:
            source = text
            literal = re.fullmatch(r"/(.*)/([a-z]*)", text, re.S)
            if literal:
                source = literal.group(1)
            try:
                compiled: re.Pattern[str] | None = re.compile(source, re.I if literal and "i" in literal.group(2)
                                                              else 0)
            except re.error:
                compiled = None
            with self._lock:
                self._patterns[text] = compiled
        return self._patterns[text]

    def _object(self, flat: Node, value: dict[str, Any], path: PathT, out: list[Problem], owner: str) -> None:
        props: dict[str, Node] = flat.get("properties") or {}
        extra = flat.get("additionalProperties")
        name = flat.get("x-voxplan-name", "")
        closed = bool(props) and not extra and name not in self.open
        for key in flat.get("required") or []:
            if key not in value:
                out.append(Problem((*path, key), "should not be empty", "required", schema=name or owner))
        for key, item in value.items():
            prop = props.get(key)
            if prop is None:
                if isinstance(extra, dict):
                    self._walk(extra, item, (*path, key), out, owner, False)
                elif closed:
                    out.append(Problem((*path, key), "should not exist", "unknown", tuple(props), item,
                                       name or owner))
                continue
            if prop.get("x-voxplan-status") == "documented":
                out.append(Problem((*path, key), "is sent by the vendor's docs but is not in its spec", "documented",
                                   schema=name or owner, source=str(prop.get("x-voxplan-source", ""))))
            self._walk(prop, item, (*path, key), out, name or owner, not path and self._update_dto(name))

    def _update_dto(self, name: str) -> bool:
        return bool(self.null_prefix) and name.startswith(self.null_prefix) and name.endswith("DTO")

    def _one_of(self, flat: Node, value: Any, path: PathT, out: list[Problem], owner: str) -> None:
        branches = flat.get("oneOf") or flat.get("anyOf") or []
        dispatch = self._dispatcher(flat) if isinstance(value, dict) else None
        if dispatch is not None:
            prop, table = dispatch
            picked = value.get(prop)
            if picked is None and prop not in value:
                out.append(Problem((*path, prop), "should not be empty", "required", schema=owner))
                return
            branch = table.get(str(picked)) if isinstance(picked, str) else None
            if branch is None:
                out.append(Problem((*path, prop), f"must be one of the following values: {', '.join(table)}", "enum",
                                   tuple(table), picked, owner))
                return
            self._walk(branch, value, path, out, owner, False)
            return
        best: list[Problem] | None = None
        for branch in branches:
            found: list[Problem] = []
            self._walk(branch, value, path, found, owner, False)
            if not [p for p in found if p.severity == "error"]:
                out.extend(found)
                return
            if best is None or _distance(found) < _distance(best):
                best = found
        out.extend(best or [])


def _distance(problems: list[Problem]) -> tuple[int, int]:
    """How far a oneOf branch is from taking a value: a wrong type at the top is farthest."""
    wrong_type = any(p.kind == "type" and p.text.startswith("must be a") for p in problems[:1])
    return int(wrong_type), len(problems)


def _is_type(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    expected = _TYPES.get(kind)
    return expected is None or (isinstance(value, expected) and not (expected is not bool and isinstance(value, bool)))


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return len(text) == 36


@functools.cache
def checker(vendor: str) -> Checker:
    """The vendor's checker, built once per process (vapi-openapi.json is 3 MB: read only when asked for)."""
    return Checker(vendor)
