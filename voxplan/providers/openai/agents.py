"""Agents: the Realtime session a call is accepted with, from the stack's `agents:` entry.

An agent is not an OpenAI object: nothing is provisioned per number or per agent. Model, voice and
instructions are chosen per call, at accept time, by `voxplan serve` (reference/openai-sip.md, trap 1).

The accept body is a `RealtimeSessionCreateRequestGA` (the OpenAPI fragment shipped beside this module):
`type: realtime`, `model`, `instructions`, the voice under `audio.output.voice`, the function tools the
agent declares (a transfer tool when it has `transfer:` targets, an end-call tool with `end_call:`), and
`session:` merged over that as-is (mappings merge key by key; `tools` are added after voxplan's).
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterator, Mapping
from importlib import resources
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from voxplan.core.errors import Diagnostic
from voxplan.stack import e164, telephony
from voxplan.stack.model import Stack

TRANSFER_TOOL = "transfer_call"
END_CALL_TOOL = "end_call"
SIP_URI = re.compile(r"^sips?:[^@\s]+@[^@\s]+$")
_SPEC = "realtime-sip.openapi.json"
_SESSION = "RealtimeSessionCreateRequestGA"


def refer_target(to: str) -> str:
    """The SIP `Refer-To` for a stack transfer target: `tel:+E164` for a number, a SIP URI as written."""
    text = str(to).strip()
    if SIP_URI.match(text):
        return text
    return "tel:" + e164.normalise(text)


def _target_problem(to: str) -> telephony.Problem | None:
    """What the parsers find wrong with a target the pattern let through: a number outside its plan, an
    emergency or premium-rate one, a SIP URI with a line break or '>'."""
    if SIP_URI.match(to):
        parsed = telephony.parse_sip_uri(to)
        return parsed if isinstance(parsed, telephony.Problem) else None
    return telephony.transfer_problem(to)


def valid_target(to: object) -> bool:
    return isinstance(to, str) and (bool(SIP_URI.match(to.strip())) or e164.is_e164(to))


def accept_body(agent: Mapping[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "realtime"}
    for key in ("model", "instructions"):
        if agent.get(key) is not None:
            body[key] = agent[key]
    if agent.get("voice") is not None:
        body["audio"] = {"output": {"voice": agent["voice"]}}
    tools = tools_of(agent)
    if tools:
        body["tools"] = tools
    return _merge(body, dict(agent.get("session") or {}))


def tools_of(agent: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The function tools voxplan answers on the call's sideband."""
    tools: list[dict[str, Any]] = []
    targets = [str(t["to"]) for t in agent.get("transfer") or []]
    if targets:
        when = "; ".join(f"{t['to']}: {t['when']}" if t.get("when") else str(t["to"])
                         for t in agent.get("transfer") or [])
        tools.append({"type": "function", "name": TRANSFER_TOOL,
                      "description": f"Transfer the caller to another line. Destinations, and when to use each: "
                                     f"{when}",
                      "parameters": {"type": "object", "properties": {
                          "destination": {"type": "string", "enum": targets}}, "required": ["destination"]}})
    end_call = agent.get("end_call")
    if end_call:
        hint = end_call.get("when") if isinstance(end_call, dict) else None
        tools.append({"type": "function", "name": END_CALL_TOOL,
                      "description": "Hang up the call." + (f" Use when: {hint}" if hint else ""),
                      "parameters": {"type": "object", "properties": {}}})
    return tools


def tool_action(agent: Mapping[str, Any], name: str, arguments: str) -> tuple[str, str | None] | None:
    """What a completed function call on the sideband asks of the call: ("refer", target URI),
    ("hangup", None), or None for a tool voxplan does not answer."""
    if name == END_CALL_TOOL and agent.get("end_call"):
        return "hangup", None
    if name != TRANSFER_TOOL:
        return None
    targets = [str(t["to"]) for t in agent.get("transfer") or []]
    try:
        wanted = json.loads(arguments or "{}").get("destination")
    except (ValueError, AttributeError):
        wanted = None
    if wanted not in targets:
        if len(targets) != 1:
            return None
        wanted = targets[0]  # one destination: the model cannot mean another
    return "refer", refer_target(wanted)


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if key == "tools" and isinstance(value, list):
            out["tools"] = [*out.get("tools", []), *copy.deepcopy(value)]
        elif isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@functools.lru_cache(maxsize=1)
def _spec() -> dict[str, Any]:
    """OpenAI's OpenAPI fragment for Realtime SIP (openai/openai-openapi @ f85dbe22, unedited)."""
    return dict(json.loads(resources.files(__package__).joinpath(_SPEC).read_text()))


def nullable_as_null(node: Any) -> Any:
    """OpenAPI 3.0's `nullable: true` (which OpenAI's 3.1 document still writes, e.g. `session.tracing`,
    whose documented off switch is null) as JSON Schema says it: the schema, or null. A 2020-12 validator
    ignores `nullable` and would refuse the null the vendor documents."""
    if isinstance(node, list):
        return [nullable_as_null(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: nullable_as_null(v) for k, v in node.items() if k != "nullable"}
    return {"anyOf": [out, {"type": "null"}]} if node.get("nullable") is True else out


@functools.lru_cache(maxsize=1)
def _session_validator() -> jsonschema.Draft202012Validator:
    resource: Resource[Any] = Resource.from_contents(nullable_as_null(_spec()), default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource("urn:openai", resource)
    schema = {"$ref": f"urn:openai#/components/schemas/{_SESSION}"}
    return jsonschema.Draft202012Validator(schema, registry=registry)


def _session_properties(path: tuple[str, ...]) -> set[str] | None:
    """The keys the accept schema names at `path` (None where it names none, i.e. takes any)."""
    node: Any = _spec()["components"]["schemas"][_SESSION]
    for key in path:
        node = (node.get("properties") or {}).get(key)
        if not isinstance(node, dict) or "properties" not in node:
            return None
    return set(node.get("properties") or {})


def lint(stack: Stack) -> Iterator[Diagnostic]:
    """Each agent's transfer targets, and its accept body against the accept schema, located."""
    at = stack.source.at
    for name, agent in stack.section("agents").items():
        for i, target in enumerate(agent.get("transfer") or []):
            if not valid_target(target.get("to")):
                yield Diagnostic(at(("agents", name, "transfer", i, "to")),
                                 f"agents.{name}: transfer target {target.get('to')!r} is neither an E.164 number "
                                 "nor a SIP URI", hint='write "+14155550123" or "sip:agent@example.com"')
            elif (problem := _target_problem(str(target["to"]).strip())) is not None:
                yield Diagnostic(at(("agents", name, "transfer", i, "to")),
                                 f"agents.{name}: transfer target {target['to']!r} {problem.message}",
                                 hint=problem.hint)
        yield from _unknown_keys(stack, name, dict(agent.get("session") or {}), ())
        body = accept_body(agent)
        for err in _session_validator().iter_errors(body):
            path = tuple(str(p) for p in err.absolute_path)
            where = ("agents", name, "session", *path) if path and path[0] in (agent.get("session") or {}) \
                else ("agents", name)
            yield Diagnostic(at(where), f"agents.{name}: the accept body is not a Realtime session at "
                             f"{'.'.join(path) or 'top level'}: {err.message}")


def _unknown_keys(stack: Stack, name: str, value: Mapping[str, Any], path: tuple[str, ...]) -> Iterator[Diagnostic]:
    allowed = _session_properties(path)
    if allowed is None:
        return
    for key, sub in value.items():
        if key not in allowed:
            yield Diagnostic(stack.source.key_at(("agents", name, "session", *path, key)),
                             f"agents.{name}.session: {'.'.join((*path, key))!r} is not a field of the Realtime "
                             f"accept body (expected one of: {', '.join(sorted(allowed))})")
        elif isinstance(sub, Mapping):
            yield from _unknown_keys(stack, name, sub, (*path, key))
