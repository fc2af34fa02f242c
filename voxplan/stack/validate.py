"""Load a stack file and check everything that can be checked offline, against the stack format the
providers declare (a `StackSurface`, handed in: this layer knows no vendor).

Every problem is collected (with its `file:line:col`) before failing; vendor lint that needs the expanded
resources runs later, in `voxplan.expand`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from voxplan import __version__
from voxplan.core.context import RunContext
from voxplan.core.errors import Diagnostic, StackErrors
from voxplan.core.secret import Secret, header_unsafe, reveal_all, stars
from voxplan.specs import nearest
from voxplan.stack import e164, environments, telephony
from voxplan.stack.lint import secret_errors, telephony_errors
from voxplan.stack.loader import Interpolator, parse_yaml, read_stack
from voxplan.stack.model import PathT, SourceMap, Stack
from voxplan.stack.surface import StackSurface, reference_errors


def load_and_validate(path: str | Path, ctx: RunContext | None = None, *, surface: StackSurface,
                      sandbox: bool = False, env: Mapping[str, str] | None = None) -> tuple[Stack, list[Diagnostic]]:
    """Returns the stack and its warnings; raises StackErrors listing every error. `surface` is the stack
    format (voxplan.providers.SURFACE). Without `ctx`, one is made from `sandbox` and `env` (tools, tests)."""
    if ctx is None:
        ctx = RunContext(sandbox=sandbox) if env is None else RunContext(sandbox=sandbox, env=dict(env))
    path = Path(path)
    file = str(path)
    text, problems = read_stack(path)
    if text is None:
        raise StackErrors(problems)
    data, source, diags = parse_yaml(text, file)
    if data is None:
        raise StackErrors(diags)
    if not isinstance(data, dict):
        raise StackErrors([*diags, Diagnostic(source.at(()), "a stack is a mapping (version:, trunks:, …)")])
    required = _required_version(data, source)
    if required:  # before anything else: a newer stack may use what this version cannot read
        raise StackErrors([required])
    variables, var_diags = environments.variables(data, source, path, ctx.env_name, var_files=ctx.var_files,
                                                  overrides=ctx.variables)
    diags += var_diags
    declared_envs = data.pop("environments", None)  # raw: only the chosen environment's values are used
    interp = Interpolator(path.parent, ctx.env, source, ctx.sandbox, ctx.offline, variables=variables,
                          environment=ctx.env_name)
    data = interp.walk(data, ())
    if declared_envs is not None:
        data["environments"] = declared_envs
    diags += interp.diagnostics
    unresolved = {d.location for d in interp.diagnostics if d.severity == "error"}  # unset: "", said once
    secrets = [d for d in secret_errors(data, source, surface) if d.location not in unresolved]
    # a secret where none can go, or a short password, is the one line for its value: the schema's
    # complaint about the same stars ('****' does not match '^sips?:') would be a second line for one mistake
    explained = {d.location for d in secrets}
    diags += [d for d in _schema_errors(data, source, surface) if d.location not in explained] + secrets
    if not _errors(diags):
        diags += list(_semantic_errors(data, source, surface))
    if _errors(diags):
        raise StackErrors(diags)
    return Stack(path=path, data=data, source=source, environment=ctx.env_name, text=text), diags


def _required_version(data: dict[str, Any], source: SourceMap) -> Diagnostic | None:
    """`voxplan: ">=X.Y"` (Terraform's required_version): this voxplan must satisfy it."""
    wanted = data.get("voxplan")
    if wanted is None:
        return None
    where = source.at(("voxplan",))
    try:
        constraint = SpecifierSet(str(wanted))
    except InvalidSpecifier:
        return Diagnostic(where, f"voxplan: {wanted!r} is not a version constraint",
                          hint='write e.g. voxplan: ">=0.2" or ">=0.2,<1"')
    if constraint.contains(__version__, prereleases=True):
        return None
    return Diagnostic(where, f"this stack needs voxplan {constraint}, and this is voxplan {__version__}",
                      hint=f"install a voxplan that satisfies it: pip install 'voxplan{constraint}'")


def _errors(diags: list[Diagnostic]) -> list[Diagnostic]:
    return [d for d in diags if d.severity == "error"]


_FLAT = frozenset({str, int, float, bool, type(None)})  # values a flat entry holds (never a Secret)


def _schema_errors(data: dict[str, Any], source: SourceMap, surface: StackSurface) -> Iterator[Diagnostic]:
    """The document's shape, then each entry of the map sections against its definition (a trunk's or a
    number's, its carrier's). Entries that are alike (10,000 numbers on a few trunks) are validated once:
    their errors depend only on their content."""
    sections = surface.sections
    shell = {k: ({} if k in sections and isinstance(v, dict) else _schema_view(v)) for k, v in data.items()}
    found = [(tuple(e.absolute_path), e) for e in surface.validator().iter_errors(shell)]
    for section in sections:
        entries = data.get(section)
        if not isinstance(entries, dict):
            continue
        memo: dict[Any, list[jsonschema.ValidationError]] = {}
        for key, entry in entries.items():
            # alike entries share their errors: a flat entry is told apart by its keys, values and their types
            # (true is not 1), anything else by its JSON text
            signature: Any = (tuple((k, type(v), v) for k, v in entry.items())
                              if type(entry) is dict and all(type(v) in _FLAT for v in entry.values()) else
                              json.dumps(_schema_view(entry), sort_keys=True, default=str))
            if signature not in memo:
                validator = surface.validator(surface.definition_for(section, entry))
                memo[signature] = list(validator.iter_errors(_schema_view(entry)))
            if memo[signature]:
                found += [((section, key, *e.absolute_path), e) for e in memo[signature]]
    seen: set[tuple[PathT, str]] = set()
    for path, err in sorted(found, key=lambda pe: list(map(str, pe[0]))):
        message = _schema_message(err, path)
        if (path, message) in seen:
            continue
        seen.add((path, message))
        loc = source.key_at(path + (_extra_key(err),)) if err.validator == "additionalProperties" else source.at(path)
        yield Diagnostic(loc, message, _schema_hint(err))


def _schema_view(value: Any) -> Any:
    """Secrets as stars of the same length: length limits still apply, the value never shows."""
    return stars(value)


def _extra_key(err: jsonschema.ValidationError) -> str:
    if isinstance(err.instance, dict) and isinstance(err.schema, dict):
        allowed = set(err.schema.get("properties", {}))
        extra = [k for k in err.instance if k not in allowed]
        if extra:
            return str(extra[0])
    return ""


def _schema_message(err: jsonschema.ValidationError, path: PathT) -> str:
    where = ".".join(str(p) for p in path) or "stack"
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = sorted(err.schema.get("properties", {})) if isinstance(err.schema, dict) else []
        extra = [k for k in err.instance if k not in allowed]
        return f"{where}: unknown key {extra[0]!r} (expected one of: {', '.join(allowed)})"
    if err.validator == "oneOf" and isinstance(err.schema, dict):
        options = [sorted(s.get("required", [])) for s in err.schema["oneOf"] if "required" in s]
        if options:
            names = " | ".join("/".join(o) for o in options)
            return f"{where}: needs exactly one of {names}"
    if err.validator == "required":
        return f"{where}: {err.message}"
    if err.validator == "dependentRequired" and isinstance(err.validator_value, dict):
        for key, needs in err.validator_value.items():
            missing = [n for n in needs if key in err.instance and n not in err.instance]
            if missing:
                return f"{where}: `{key}` needs `{missing[0]}` beside it"
    if err.validator == "enum" and isinstance(err.validator_value, list):
        return f"{where}: {err.instance!r} is not one of {', '.join(map(str, err.validator_value))}"
    return f"{where}: {err.message}"


def _schema_hint(err: jsonschema.ValidationError) -> str:
    """The value or key a misspelt one most likely meant (`endcall` -> `endCall`)."""
    if err.validator == "enum" and isinstance(err.validator_value, list) and isinstance(err.instance, str):
        fix = nearest(err.instance, [str(v) for v in err.validator_value])
    elif err.validator == "additionalProperties" and isinstance(err.schema, dict) and isinstance(err.instance, dict):
        fix = nearest(_extra_key(err), list(err.schema.get("properties", {})))
    else:
        fix = None
    return f"did you mean {fix!r}?" if fix else ""


def _semantic_errors(data: dict[str, Any], source: SourceMap, surface: StackSurface) -> Iterator[Diagnostic]:
    yield from _api_keys(data, source)
    yield from telephony_errors(data, source, surface)
    yield from _numbers(data, source, surface)
    yield from _trunks(data, source)
    yield from reference_errors(data, source, surface.references)
    for check in surface.checks:
        yield from check(data, source)


def _api_keys(data: dict[str, Any], source: SourceMap) -> Iterator[Diagnostic]:
    for name, settings in (data.get("providers") or {}).items():
        key = (settings or {}).get("api_key")
        if isinstance(key, Secret) and key.origin == "literal":
            yield Diagnostic(source.at(("providers", name, "api_key")),
                             f"providers.{name}.api_key is written literally in the stack",
                             hint=f"use ${{env:{name.upper()}_API_KEY}} or ${{file:PATH}}")
        elif isinstance(key, Secret | str) and (why := header_unsafe(str(reveal_all(key)))):
            origin = f" (from {key.origin})" if isinstance(key, Secret) else ""
            yield Diagnostic(source.at(("providers", name, "api_key")), f"providers.{name}.api_key{origin} has "
                             f"{why}: an API key travels in an HTTP header, which carries printable ASCII only",
                             hint="copy the key again from the vendor's dashboard")


NUMBER_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")  # a number keyed by name (its carrier assigns the number)


def number_key(key: str) -> str:
    """The canonical form of a `numbers:`/`routes:` key: E.164 without punctuation, a SIP URI lower-cased, or
    a name as written (a number its carrier assigns: only carriers whose surface says `named` take one)."""
    if key.startswith("+"):  # the common case, settled without lower-casing
        return e164.normalise(key)
    if key.lower().startswith(("sip:", "sips:")):
        return key.lower()
    return key if NUMBER_NAME.match(key) else e164.normalise(key)


def is_number_name(canon: str) -> bool:
    return bool(NUMBER_NAME.match(canon))


def _numbers(data: dict[str, Any], source: SourceMap, surface: StackSurface) -> Iterator[Diagnostic]:
    seen: dict[str, str] = {}
    numbers = data.get("numbers") or {}
    canon_of = {key: number_key(key) for key in numbers}
    for key, canon in canon_of.items():  # positions only for what is reported: locating is not free
        if canon in seen:  # first: `+61 2 9059 7521` beside `+61290597521` is a duplicate before a misspelling
            yield Diagnostic(source.key_at(("numbers", key)),
                             f"numbers.{key}: the same number as {seen[canon]!r} (both are {canon})",
                             hint="declare each number once")
            continue
        seen[canon] = key
        if canon.startswith(("sip:", "sips:")):
            continue  # a SIP URI, not a phone number: its carrier says whether it takes one
        if is_number_name(canon):
            carrier = surface.carriers.get(str((numbers[key] or {}).get("carrier")))
            if carrier is None or not carrier.named:
                named = ", ".join(sorted(c.name for c in surface.carriers.values() if c.named))
                yield Diagnostic(source.key_at(("numbers", key)), f"numbers.{key}: a number is keyed by its E.164 "
                                 f"form (or SIP URI); only a number its carrier assigns ({named}) takes a name",
                                 hint='e.g. "+14155550100"')
        elif (problem := telephony.phone_problem(key)) is not None:
            yield Diagnostic(source.key_at(("numbers", key)), f"numbers.{key}: {key!r} {problem.message}",
                             hint=problem.hint)
    declared = set(canon_of.values())
    routed: dict[str, str] = {}
    for key in data.get("routes") or {}:
        canon = number_key(key)
        if canon not in declared:
            yield Diagnostic(source.key_at(("routes", key)), f"routes.{key}: route to a number not declared under "
                             "numbers:", hint=f"add {key!r} to numbers:")
        elif key != canon and not canon.startswith(("sip:", "sips:")):
            yield Diagnostic(source.key_at(("routes", key)), f"routes.{key}: {key!r} is not in E.164 form (it means "
                             f"{canon})", hint=f"write {canon}")
        if canon in routed:
            yield Diagnostic(source.key_at(("routes", key)), f"routes.{key}: a second route for {routed[canon]!r}")
        routed.setdefault(canon, key)


def _trunks(data: dict[str, Any], source: SourceMap) -> Iterator[Diagnostic]:
    """A number's trunk is declared, and of the number's carrier."""
    trunks = data.get("trunks") or {}
    for num, spec in (data.get("numbers") or {}).items():  # 10,000 of these: no generator unless reporting
        if "trunk" not in spec:
            continue
        if spec["trunk"] not in trunks:
            known = ", ".join(sorted(trunks)) or "none declared"
            yield Diagnostic(source.at(("numbers", num, "trunk")), f"unknown trunk {spec['trunk']!r} (known: {known})")
            continue
        carrier = (trunks.get(spec["trunk"]) or {}).get("carrier")
        if carrier and carrier != spec.get("carrier"):
            yield Diagnostic(source.at(("numbers", num, "trunk")),
                             f"numbers.{num}: a {spec.get('carrier')} number routed through trunk "
                             f"{spec['trunk']!r} of carrier {carrier}", hint="a number's carrier must match its "
                             "trunk's")
