"""Stack form <-> Vapi body, one function per kind: what each stack entry becomes, and where in the stack each
part of the body came from (so the spec check can point at the line that holds a mistake).

A body is built as a `Draft`: every key it sets names its stack source. Friendly fields are renamed here
(`first_message` -> `firstMessage`, each in a table per kind); Vapi's own fields pass through verbatim
(a typed tool's body, a squad's, a structured output's, a `vapi:` map), except where Vapi wants an id and the
stack names an entry by its key (`WIRES`): `server: {credential: hooks}` becomes `server.credentialId`, a handoff
destination's `assistant: sales` its `assistantId`, both wired at apply. The tables are data so that the
reverse (a stack entry from a live body) reads them too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from voxplan.core.model import PathT, Ref, address

CREDENTIAL, NUMBER, ASSISTANT, TOOL = "vapi.credential", "vapi.phone_number", "vapi.assistant", "vapi.tool"
SQUAD, STRUCTURED_OUTPUT, KNOWLEDGE_BASE = "vapi.squad", "vapi.structured_output", "vapi.knowledge_base"
SECTION_KIND = {"credentials": CREDENTIAL, "trunks": CREDENTIAL, "assistants": ASSISTANT, "tools": TOOL,
                "squads": SQUAD, "structured_outputs": STRUCTURED_OUTPUT}


@dataclass
class Draft:
    """A Vapi body being built from one stack entry (`at`), with the stack path each part came from."""

    at: PathT
    body: dict[str, Any] = field(default_factory=dict)
    sources: dict[PathT, PathT] = field(default_factory=dict)  # body path -> stack path
    twice: list[tuple[PathT, PathT]] = field(default_factory=list)  # (verbatim key's path, the stack field's)

    def set(self, key: str, value: Any, source: PathT | None = None) -> None:
        """Set `key`; without a `source`, it came from the entry as a whole (`locate` falls back to it)."""
        self.body[key] = value
        if source is not None:
            self.sources[(key,)] = source

    def verbatim(self, values: Mapping[str, Any] | None, at: PathT, skip: tuple[str, ...] = ()) -> None:
        """Vapi's own fields as written (a `vapi:` map, a typed tool's body). One that names a field the
        entry already set in its own words (`model:` and `vapi: {model: ...}`) is recorded in `twice`: a
        whole-field replacement would drop what the stack's field said (its tools, its prompt) unseen. A field
        only defaulted from the entry (a credential's name from its key) is Vapi's to override."""
        for key, value in (values or {}).items():
            if key not in skip:
                before = self.sources.get((key,))
                if before is not None and before != self.at:
                    self.twice.append(((*at, key), before))
                self.set(key, value, (*at, key))

    def source(self, body_path: PathT, stack_path: PathT) -> None:
        self.sources[body_path] = stack_path

    def locate(self, path: PathT) -> PathT:
        """The stack path a body path came from: its closest recorded prefix, and the rest of the path."""
        for i in range(len(path), 0, -1):
            found = self.sources.get(path[:i])
            if found is not None:
                return (*found, *path[i:])
        return self.at


def drop_none(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None}


def function_name(key: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_-]", "_", key)[:64]


# -- stack keys where Vapi wants ids -----------------------------------------------------------------------

@dataclass(frozen=True)
class Wire:
    """At body path `at` (`*`: each list item), a string under stack key `key` names an entry of `section`;
    Vapi takes its id under `vapi_key`. A value that is not a string is Vapi's own (an inline assistant)."""

    at: tuple[str, ...]
    key: str
    vapi_key: str
    section: str


WIRES = (Wire(("server",), "credential", "credentialId", "credentials"),
         Wire((), "credential", "credentialId", "credentials"),
         Wire(("destinations", "*"), "assistant", "assistantId", "assistants"),
         Wire(("destinations", "*"), "squad", "squadId", "squads"),
         Wire(("destinations", "*", "server"), "credential", "credentialId", "credentials"))


# a Vapi id field -> the stack's word for it (the key a hint names: a stack says `credential: hooks`)
STACK_WORDS = {**{w.vapi_key: w.key for w in WIRES}, "assistantIds": "assistants"}


def wire(draft: Draft, wires: tuple[Wire, ...] = WIRES) -> None:
    """Each stack key of `wires` in the draft's body becomes the Vapi id field, a Ref wired at apply."""
    for w in wires:
        for path, obj in _objects_at(draft.body, w.at):
            name = obj.get(w.key)
            if isinstance(name, str):
                del obj[w.key]
                obj[w.vapi_key] = Ref(address(SECTION_KIND[w.section], name))
                draft.source((*path, w.vapi_key), draft.locate((*path, w.key)))


def unwire(body: dict[str, Any], key_of: Callable[[str, str], str | None],
           wires: tuple[Wire, ...] = WIRES) -> tuple[dict[str, Any], list[str]]:
    """The way back of `wire`: each Vapi id of `wires` in a live body (a copy) becomes the stack key of the entry
    it names, `key_of(kind, id)`; the ids that name no entry are returned as the second part."""
    out = _copy(body)
    missing: list[str] = []
    for w in wires:
        for _, obj in _objects_at(out, w.at):
            rid = obj.get(w.vapi_key)
            if isinstance(rid, str):
                key = key_of(SECTION_KIND[w.section], rid)
                if key is None:
                    missing.append(f"{SECTION_KIND[w.section]} {rid}")
                    continue
                del obj[w.vapi_key]
                obj[w.key] = key
    return out, missing


def wired_ids(body: dict[str, Any], wires: tuple[Wire, ...] = WIRES) -> list[tuple[str, str]]:
    """The (kind, id) pairs `wires` find in a live body: what it refers to."""
    return [(SECTION_KIND[w.section], obj[w.vapi_key]) for w in wires for _, obj in _objects_at(_copy(body), w.at)
            if isinstance(obj.get(w.vapi_key), str)]


def wired_paths(at: tuple[str, ...]) -> tuple[tuple[tuple[str, ...], str], ...]:
    """The stack paths (patterns) where `WIRES` name entries, under the entry at `at`, with the section."""
    return tuple(((*at, *w.at, w.key), w.section) for w in WIRES)


def _objects_at(node: Any, pattern: tuple[str, ...], path: PathT = ()) -> list[tuple[PathT, dict[str, Any]]]:
    if not pattern:
        return [(path, node)] if isinstance(node, dict) else []
    head, rest = pattern[0], pattern[1:]
    if head == "*":
        return [found for i, item in enumerate(node) for found in _objects_at(item, rest, (*path, i))] \
            if isinstance(node, list) else []
    if isinstance(node, dict) and isinstance(node.get(head), dict | list):
        node[head] = _copy(node[head])  # never change the stack's own data
        return _objects_at(node[head], rest, (*path, head))
    return []


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


# -- tools -------------------------------------------------------------------------------------------------

def tool(name: str, spec: dict[str, Any]) -> Draft:
    """A `tools:` entry: a typed body (`type:` and Vapi's own fields for it), or the friendly `transfer:`
    (a transferCall tool) and `handoff:` (a handoff tool to assistants of this stack)."""
    at: PathT = ("tools", name)
    draft = Draft(at)
    if "type" in spec:
        draft.verbatim(spec, at, skip=("lifecycle",))
        wire(draft)
        return draft
    function = drop_none({"name": spec.get("name") or function_name(name), "description": spec.get("description")})
    if "handoff" in spec:
        destinations = []
        for i, target in enumerate(spec["handoff"]):
            target = target if isinstance(target, dict) else {"assistant": target}
            destinations.append(drop_none({"type": "assistant",
                                           "assistantId": Ref(address(ASSISTANT, target["assistant"])),
                                           "description": target.get("description")}))
            draft.source(("destinations", i), (*at, "handoff", i))
        draft.set("type", "handoff", at)
        draft.set("function", function, (*at, "name") if "name" in spec else at)
        draft.set("destinations", destinations, (*at, "handoff"))
    else:
        # CreateTransferCallToolDTO (2026-08) has no `function`: the model chooses by each destination's
        # description, so the tool's description stands in for a destination that gives none
        draft.set("type", "transferCall", at)
        draft.set("destinations", [destination(d, spec) for d in spec["transfer"]], (*at, "transfer"))
    draft.verbatim(spec.get("vapi"), (*at, "vapi"))
    return draft


# a transfer destination in the stack's words -> Vapi's (TransferDestinationSip / TransferDestinationNumber)
DESTINATION_FIELDS = (("message", "message"), ("when", "description"), ("caller_id", "callerId"))


def destination(dest: dict[str, Any], tool: dict[str, Any] | None = None) -> dict[str, Any]:
    tool = tool or {}
    plan = drop_none({"mode": dest.get("mode") or tool.get("mode") or "blind-transfer",
                      "sipVerb": dest.get("sip_verb") or tool.get("sip_verb")})
    if "sip" in dest:
        out = {"type": "sip", "sipUri": dest["sip"], "sipHeaders": dest.get("headers")}
    else:
        out = {"type": "number", "number": dest["number"], "numberE164CheckEnabled": True,
               "extension": dest.get("extension")}
    out.update(message=dest.get("message"), description=dest.get("when") or tool.get("description"),
               callerId=dest.get("caller_id"), transferPlan=plan)
    return drop_none(out)


# -- assistants --------------------------------------------------------------------------------------------

ASSISTANT_FIELDS = (("first_message", "firstMessage"), ("first_message_mode", "firstMessageMode"),
                    ("voice", "voice"), ("transcriber", "transcriber"), ("metadata", "metadata"),
                    ("max_duration_seconds", "maxDurationSeconds"), ("end_call_message", "endCallMessage"))
MODEL_FIELDS = (("temperature", "temperature"), ("max_tokens", "maxTokens"))


def assistant(name: str, spec: dict[str, Any]) -> Draft:
    at: PathT = ("assistants", name)
    draft = Draft(at)
    draft.set("name", spec.get("name") or name, (*at, "name") if "name" in spec else at)
    for key, vapi_key in ASSISTANT_FIELDS[:2]:
        if key in spec:
            draft.set(vapi_key, spec[key], (*at, key))
    model = spec.get("model")
    tools = [Ref(address(TOOL, t)) for t in spec.get("tools") or []]
    if model is not None:
        mine = ("provider", "model", "system", *(k for k, _ in MODEL_FIELDS))
        body: dict[str, Any] = {"provider": model["provider"], "model": model["model"]}
        if "system" in model:
            body["messages"] = [{"role": "system", "content": model["system"]}]
            draft.source(("model", "messages"), (*at, "model", "system"))
        for key, vapi_key in MODEL_FIELDS:
            if key in model:
                body[vapi_key] = model[key]
                draft.source(("model", vapi_key), (*at, "model", key))
        if tools:
            body["toolIds"] = tools
            draft.source(("model", "toolIds"), (*at, "tools"))
        draft.set("model", {**body, **{k: v for k, v in model.items() if k not in mine}}, (*at, "model"))
    for key, vapi_key in ASSISTANT_FIELDS[2:]:
        if key in spec:
            draft.set(vapi_key, spec[key], (*at, key))
    if "server_url" in spec:
        draft.set("server", {"url": spec["server_url"]}, (*at, "server_url"))
    if "server" in spec:
        draft.set("server", spec["server"], (*at, "server"))
        wire(draft, WIRES[:1])
    draft.verbatim(spec.get("vapi"), (*at, "vapi"))
    return draft


# -- squads, structured outputs, credentials ----------------------------------------------------------------

MEMBER_FIELDS = (("overrides", "assistantOverrides"),)


def squad(name: str, spec: dict[str, Any]) -> Draft:
    """`members: [{assistant: <key>, overrides: {…}, handoff: [<key>…]}]` and any other CreateSquadDTO field;
    `handoff` lists the assistants this member hands off to (HandoffDestinationAssistant by id)."""
    at: PathT = ("squads", name)
    draft = Draft(at)
    draft.set("name", spec.get("name") or name, (*at, "name") if "name" in spec else at)
    members = []
    for i, member in enumerate(spec.get("members") or []):
        here: PathT = (*at, "members", i)
        out: dict[str, Any] = {}
        draft.source(("members", i), here)
        for key, value in member.items():
            if key == "assistant" and isinstance(value, str):
                out["assistantId"] = Ref(address(ASSISTANT, value))
                draft.source(("members", i, "assistantId"), (*here, key))
            elif key == "handoff":
                targets = [t if isinstance(t, dict) else {"assistant": t} for t in value]
                extra = [drop_none({"type": "assistant", "assistantId": Ref(address(ASSISTANT, t["assistant"])),
                                    "description": t.get("description")}) for t in targets]
                first = len(out.get("assistantDestinations") or [])
                out["assistantDestinations"] = [*(out.get("assistantDestinations") or []), *extra]
                for j in range(len(extra)):
                    draft.source(("members", i, "assistantDestinations", first + j), (*here, key, j))
            else:
                vapi_key = dict(MEMBER_FIELDS).get(key, key)
                if vapi_key == "assistantDestinations" and out.get(vapi_key):
                    out[vapi_key] = [*value, *out[vapi_key]]
                else:
                    out[vapi_key] = value
                draft.source(("members", i, vapi_key), (*here, key))
        members.append(out)
    draft.set("members", members, (*at, "members"))
    draft.verbatim(spec, at, skip=("name", "members", "lifecycle"))
    return draft


def structured_output(name: str, spec: dict[str, Any]) -> Draft:
    """Vapi's CreateStructuredOutputDTO as written, `assistants:` (keys) as `assistantIds`."""
    at: PathT = ("structured_outputs", name)
    draft = Draft(at)
    draft.set("name", spec.get("name") or name, (*at, "name") if "name" in spec else at)
    draft.verbatim(spec, at, skip=("name", "assistants", "lifecycle"))
    if "assistants" in spec:
        draft.set("assistantIds", [Ref(address(ASSISTANT, a)) for a in spec["assistants"]], (*at, "assistants"))
    return draft


def credential(name: str, spec: dict[str, Any]) -> Draft:
    """A `credentials:` entry: Vapi's Create…CredentialDTO of its provider, as written (webhook and custom-
    credential server auth, Twilio, Vonage, Telnyx accounts)."""
    at: PathT = ("credentials", name)
    draft = Draft(at)
    draft.set("name", spec.get("name") or name, (*at, "name") if "name" in spec else at)
    draft.verbatim(spec, at, skip=("name", "lifecycle"))
    return draft


def knowledge_base(name: str, spec: dict[str, Any]) -> Draft:
    """Vapi's CreateKnowledgeBaseV2DTO (`name`, `description`); its files are added in the dashboard."""
    at: PathT = ("knowledge_bases", name)
    draft = Draft(at)
    draft.set("name", spec.get("name") or name, (*at, "name") if "name" in spec else at)
    draft.verbatim(spec, at, skip=("name", "lifecycle"))
    return draft
