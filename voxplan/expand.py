"""Stack → desired resources. Pure: providers contribute through the Platform/Carrier protocols."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from voxplan import providers
from voxplan.core.errors import Diagnostic, StackErrors
from voxplan.core.model import Resource
from voxplan.core.writeonly import mark_secret_fields
from voxplan.providers.base import ExpandContext
from voxplan.stack.model import Stack
from voxplan.stack.validate import is_number_name, number_key


def expand(stack: Stack) -> tuple[list[Resource], list[Diagnostic]]:
    """The desired resources of `stack` and the lint warnings; raises StackErrors on lint errors."""
    plat = providers.platform(stack)
    carriers = providers.carriers(plat)
    ctx = ExpandContext(stack=stack, platform=plat, resolve_route=providers.router())
    ctx.diagnostics.extend(plat.lint(stack))
    for carrier in carriers.values():
        ctx.diagnostics.extend(carrier.lint(stack))
    plat.expand(ctx)
    providers.expand_sections(ctx, carriers)
    for name, spec in stack.section("trunks").items():
        if _carrier(ctx, carriers, spec["carrier"], ("trunks", name, "carrier")):
            carriers[spec["carrier"]].expand_trunk(ctx, name, spec)
    routes = {number_key(k): v for k, v in stack.section("routes").items()}
    canon_of = {k: number_key(k) for k in stack.section("numbers")}
    ctx.numbers = {canon_of[k]: v for k, v in stack.section("numbers").items()}
    for key, spec in stack.section("numbers").items():
        canon = canon_of[key]
        if not _carrier(ctx, carriers, spec["carrier"], ("numbers", key, "carrier")):
            continue
        carrier = carriers[spec["carrier"]]
        if is_number_name(canon):
            if not getattr(carrier, "named_numbers", False):
                ctx.error(("numbers", key), f"numbers.{key}: a {carrier.name} number is keyed by its number",
                          hint="e.g. \"+14155550100\"")
                continue
        elif carrier.sip_uri_numbers != canon.startswith(("sip:", "sips:")):
            ctx.error(("numbers", key), f"numbers.{key}: a {carrier.name} number is keyed by "
                      + ("its SIP URI" if carrier.sip_uri_numbers else "an E.164 number"),
                      hint='write "sip:USER@HOST"' if carrier.sip_uri_numbers else "e.g. \"+14155550100\"")
            continue
        if carrier.needs_trunk(routes.get(canon)) and not spec.get("trunk"):
            ctx.error(("numbers", key), f"numbers.{key}: a {carrier.name} number "
                      + ("needs trunk:" if carrier.name == "byo" or not routes.get(canon) else
                         "routed to an assistant needs trunk:"), hint="name the trunks: entry that carries it")
            continue
        carrier.expand_number(ctx, canon, spec, routes.get(canon))
    secret_fields: dict[str, tuple[str, ...]] = {}  # kind -> its secret fields: 10,000 numbers are one kind
    for res in ctx.resources.values():
        fields = secret_fields.get(res.kind)
        if fields is None:
            cls = providers.adapter_class(res.kind)
            fields = secret_fields[res.kind] = cls.write_only + cls.secret_fields
        if fields:
            mark_secret_fields(res.body, fields, origin=f"{res.kind} secret field")
    for addr, given in (stack.data.get("imports") or {}).items():
        if isinstance(given, dict):  # per environment
            remote_id = given.get(stack.environment)
            if remote_id is None:
                continue
        elif stack.environment != "default":  # one id would adopt one object into every environment
            ctx.error(("imports", addr), f"imports.{addr}: one id adopts in the default environment only; in "
                      f"environment {stack.environment!r} name the environment",
                      hint=f"imports: {{{addr}: {{{stack.environment}: ID}}}}")
            continue
        else:
            remote_id = given
        target = ctx.resources.get(addr)
        if target is None:
            ctx.error(("imports", addr), f"imports.{addr}: the stack declares no such resource",
                      hint="an address from `voxplan plan` (kind/name), e.g. vapi.tool/transfer")
            continue
        ctx.resources[addr] = dataclasses.replace(target, import_id=str(remote_id))
    errors = [d for d in ctx.diagnostics if d.severity == "error"]
    if errors:
        raise StackErrors(ctx.diagnostics)
    return owned(list(ctx.resources.values()), stack.name, stack.environment), ctx.diagnostics


def owner_tag(stack: str, environment: str) -> str:
    """How an owner marker names a (stack, environment)."""
    return stack if environment == "default" else f"{stack}/{environment}"


def owned(resources: list[Resource], stack: str, environment: str) -> list[Resource]:
    """Each resource as its owner makes it: in a named environment, the name its kind is adopted by (the
    adapter's `env_named`) carries `-<env>`, so staging and prod can share an account and never match each
    other's objects by name; where the kind has a free-form field for it (`owner_marker`), the owner is
    written there, so another stack never adopts the object by name (whatever its backend)."""
    out = []
    for res in resources:
        adapter = providers.adapter_class(res.kind) if res.kind in providers.ADAPTER_CLASSES else None
        body = res.body
        named = adapter.named_path(body) if adapter is not None and environment != "default" else None
        if named:
            body = _suffixed(body, named.split("."), f"-{environment}")
        if adapter is not None and adapter.owner_marker:
            body = _marked(body, adapter.owner_marker.split("."), owner_tag(stack, environment))
        out.append(res if body is res.body else dataclasses.replace(res, body=body))
    return out


def _marked(body: dict[str, Any], path: list[str], tag: str) -> dict[str, Any]:
    if len(path) == 1:
        return {**body, path[0]: tag}
    inner = body.get(path[0])
    return {**body, path[0]: _marked(inner if isinstance(inner, dict) else {}, path[1:], tag)}


def unsuffixed(body: dict[str, Any], path: list[str], suffix: str) -> dict[str, Any]:
    """`body` with `suffix` taken off the name at `path` (the inverse of `owned`'s `-<env>`: what a stack
    entry says, for a name read back from a named environment's object)."""
    value = body.get(path[0])
    if len(path) > 1:
        return {**body, path[0]: unsuffixed(value, path[1:], suffix)} if isinstance(value, dict) else body
    if isinstance(value, str) and value.endswith(suffix):
        return {**body, path[0]: value[:-len(suffix)]}
    return body


def _suffixed(body: dict[str, Any], path: list[str], suffix: str) -> dict[str, Any]:
    value = body.get(path[0])
    if len(path) > 1:
        return {**body, path[0]: _suffixed(value, path[1:], suffix)} if isinstance(value, dict) else body
    if isinstance(value, str) and not value.endswith(suffix):
        return {**body, path[0]: value + suffix}
    return body


def _carrier(ctx: ExpandContext, carriers: Mapping[str, object], name: str, path: tuple[str, ...]) -> bool:
    if name in carriers:
        return True
    ctx.error(path, f"carrier {name!r} is not supported (known: {', '.join(sorted(carriers))})")
    return False
