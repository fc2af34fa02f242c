"""What Vapi adds to the stack format, as data: the `vapi:` settings section, `tools:` and `assistants:`, what
every trunk's and number's Vapi side takes (a trunk becomes a SIP-trunk credential, a number a Vapi phone
number), the `vapi` carrier (Vapi-hosted SIP URIs), the route targets Vapi answers, and where its secrets,
telephony values and references sit. Checks that need more than a table (handoff cycles, transfers no trunk
can reach) are functions below."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from voxplan.core.errors import Diagnostic
from voxplan.providers.base import NUMBER_MONEY
from voxplan.providers.vapi.forms import wired_paths
from voxplan.stack import telephony
from voxplan.stack.lint import digits, sip_uri
from voxplan.stack.model import PathT, SourceMap
from voxplan.stack.surface import PROVIDER_SETTINGS, CarrierSurface, Reference, Section, Surface, values_at

TRANSFER_MODES = ["blind-transfer", "blind-transfer-add-summary-to-sip-header", "warm-transfer-say-message",
                  "warm-transfer-say-summary", "warm-transfer-twiml",
                  "warm-transfer-wait-for-operator-to-speak-first-and-then-say-message",
                  "warm-transfer-wait-for-operator-to-speak-first-and-then-say-summary", "warm-transfer-experimental"]
PASS_THROUGH = "Any other Vapi {} field, passed through as-is."

DEFS: dict[str, Any] = {
    "name": {"type": "string", "minLength": 1},
    "gateway": {
        "type": "object", "required": ["ip"], "additionalProperties": False,
        "properties": {
            "ip": {"type": "string", "minLength": 1,
                   "description": "IPv4 address, or a hostname for an outbound-only gateway."},
            "port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 5060},
            "netmask": {"type": "integer", "minimum": 24, "maximum": 32, "default": 32},
            "inbound": {"type": "boolean", "default": True},
            "outbound": {"type": "boolean", "default": True},
            "protocol": {"enum": ["udp", "tcp", "tls", "tls/srtp"], "default": "udp"},
            "options_ping": {"type": "boolean", "default": False}}},
    "transfer_mode": {"enum": TRANSFER_MODES},
    "destination": {
        "type": "object", "additionalProperties": False,
        "properties": {
            "sip": {"type": "string", "pattern": "^sips?:", "description": "Transfer to this SIP URI."},
            "number": {"type": "string", "minLength": 3, "maxLength": 40,
                       "description": "Transfer to this E.164 number (not an emergency, premium-rate or shared-cost "
                                      "one)."},
            "message": {"type": "string", "maxLength": 1000,
                        "description": 'Spoken before the transfer; "" is silent.'},
            "when": {"type": "string", "description": "When the assistant should use this destination (its "
                                                      "description)."},
            "headers": {"type": "object", "additionalProperties": {"type": "string"},
                        "description": "SIP headers added to the REFER."},
            "extension": {"type": "string", "minLength": 1, "maxLength": 10},
            "caller_id": {"type": "string", "maxLength": 40},
            "mode": {"$ref": "#/$defs/transfer_mode"},
            "sip_verb": {"enum": ["refer", "bye", "dial"]},
            "external": {"type": "string", "minLength": 1,
                         "description": "Why a transfer to a carrier number that no route of this stack serves still "
                                        "reaches someone (e.g. 'the Sydney office PBX, routed in the Wavix portal')."}},
        "oneOf": [{"required": ["sip"]}, {"required": ["number"]}]},
}

# Every tool type Vapi's POST /tool takes (its oneOf of Create…ToolDTO; tests hold this list to the document)
TOOL_TYPES = ["apiRequest", "code", "dtmf", "endCall", "function", "transferCall", "handoff", "bash", "computer",
              "textEditor", "query", "google.calendar.event.create", "google.sheets.row.append",
              "google.calendar.availability.check", "slack.message.send", "sms", "mcp",
              "gohighlevel.calendar.availability.check", "gohighlevel.calendar.event.create",
              "gohighlevel.contact.create", "gohighlevel.contact.get", "sipRequest", "voicemail"]
BY_KEY = ("Where Vapi wants an id, name an entry of this stack by its key: `server: {credential: <key>}`, "
          "`credential: <key>`, a destination's `assistant: <key>` or `squad: <key>`.")
FRIENDLY_TOOL: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,64}$",
                 "description": "The function name the model sees (handoff tools; defaults to the key). Vapi's "
                                "transferCall tools have no name."},
        "description": {"type": "string", "description": "Tells the model when to call the tool; on a transfer, each "
                                                         "destination without its own `when` is described so."},
        "transfer": {"type": "array", "items": {"$ref": "#/$defs/destination"},
                     "description": "A Vapi transferCall tool."},
        "handoff": {"type": "array", "minItems": 1, "description": "A Vapi handoff tool to assistants of this stack.",
                    "items": {"oneOf": [{"type": "string"}, {
                        "type": "object", "required": ["assistant"], "additionalProperties": False,
                        "properties": {"assistant": {"type": "string"}, "description": {"type": "string"}}}]}},
        "mode": {"$ref": "#/$defs/transfer_mode", "default": "blind-transfer"},
        "sip_verb": {"enum": ["refer", "bye", "dial"]},
        "vapi": {"type": "object", "description": PASS_THROUGH.format("tool")},
        "lifecycle": {"$ref": "#/$defs/lifecycle"}},
    "oneOf": [{"required": ["transfer"]}, {"required": ["handoff"]}]}
TYPED_TOOL: dict[str, Any] = {
    "type": "object", "required": ["type"],
    "description": "Vapi's own body for this tool type (its Create…ToolDTO, field names as Vapi spells them), "
                   "checked against Vapi's OpenAPI document by validate. " + BY_KEY,
    "properties": {"type": {"enum": TOOL_TYPES, "description": "Vapi's tool type."},
                   "lifecycle": {"$ref": "#/$defs/lifecycle"}},
    "additionalProperties": True}
TOOL: dict[str, Any] = {"if": {"type": "object", "required": ["type"]}, "then": {"$ref": "#/$defs/tool.typed"},
                        "else": {"$ref": "#/$defs/tool.friendly"}}

ASSISTANT: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "name": {"$ref": "#/$defs/name", "description": "Vapi name (at most 40 characters); defaults to the key."},
        "first_message": {"type": "string"},
        "first_message_mode": {"enum": ["assistant-speaks-first", "assistant-speaks-first-with-model-generated-message",
                                        "assistant-waits-for-user"]},
        "model": {"type": "object", "required": ["provider", "model"], "properties": {
            "provider": {"type": "string"}, "model": {"type": "string"},
            "system": {"type": "string", "description": "The system prompt (model.messages[0])."},
            "temperature": {"type": "number", "minimum": 0, "maximum": 2},
            "max_tokens": {"type": "integer", "minimum": 50, "maximum": 10000}}},
        "voice": {"type": "object"},
        "transcriber": {"type": "object"},
        "server_url": {"type": "string", "pattern": "^https?://"},
        "server": {"type": "object", "description": "Vapi's Server object (instead of server_url); `credential: "
                                                    "<key>` names a credentials: entry (its credentialId)."},
        "tools": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        "metadata": {"type": "object"},
        "max_duration_seconds": {"type": "number", "minimum": 10, "maximum": 43200},
        "end_call_message": {"type": "string", "maxLength": 1000},
        "vapi": {"type": "object", "description": PASS_THROUGH.format("assistant")},
        "lifecycle": {"$ref": "#/$defs/lifecycle"}},
    "dependentRequired": {"tools": ["model"]}}  # Vapi holds an assistant's tools in its model (model.toolIds)

SETTINGS: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "properties": {"region": {"enum": ["us", "eu"], "default": "us",
                              "description": "Picks Vapi's API and SIP hosts (an org lives in one region)."}}}

# A trunk's Vapi side: its SIP-trunk credential (every carrier's trunk becomes one).
EVERY_TRUNK: dict[str, Any] = {
    "name": {"$ref": "#/$defs/name", "description": "The Vapi credential's name (at most 40); defaults to the key."},
    "gateways": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/gateway"}},
    "auth": {"type": "object", "required": ["username", "password"], "additionalProperties": False,
             "properties": {"username": {"type": "string", "minLength": 1},
                            "password": {"type": "string", "minLength": 1}}},
    "register": {"type": "object", "additionalProperties": False,
                 "properties": {"domain": {"type": "string"}, "username": {"type": "string"},
                                "realm": {"type": "string"}}},
    "leading_plus": {"type": "boolean", "default": False},
    "tech_prefix": {"type": "string", "maxLength": 10000},
    "sip_diversion_header": {"type": "string", "maxLength": 10000},
    "vapi": {"type": "object", "description": PASS_THROUGH.format("credential")},
}
EVERY_NUMBER: dict[str, Any] = {
    "name": {"$ref": "#/$defs/name"},
    "fallback": {"$ref": "#/$defs/destination",
                 "description": "Vapi's fallbackDestination: where calls go when no assistant, squad or server "
                                "answers (a number or a SIP URI, as a transfer destination)."},
    "hooks": {"type": "array", "items": {"type": "object"},
              "description": "Vapi's phone-number hooks (call.ringing, call.ending), as Vapi writes them."},
    "vapi": {"type": "object", "description": "Any other Vapi phone-number field, passed through."},
}
ROUTE: dict[str, Any] = {
    "assistant": {"type": "string", "description": "An assistant of this stack answers."},
    "squad": {"type": "string", "description": "A squad of this stack (its key), or a Vapi squad id, answers."},
    "server_url": {"type": "string", "pattern": "^https?://", "description": "No assistant: Vapi sends "
                                                                             "assistant-request here."},
}
SIP_NUMBER: dict[str, Any] = {"properties": {
    "auth": {"type": "object", "required": ["username", "password"], "additionalProperties": False,
             "properties": {"username": {"type": "string", "minLength": 20, "maxLength": 40},
                            "password": {"type": "string", "minLength": 20, "maxLength": 40},
                            "realm": {"type": "string"}}},
    "area_code": {"type": "string", "pattern": "^[0-9]{3}$",
                  "description": "A free Vapi number (US) in this area code; the entry is keyed by a name, as Vapi "
                                 "assigns the number. Got only with purchase: true (apply: --allow-purchase); "
                                 "removing it from the stack unroutes it, release: true gives it back."},
    **NUMBER_MONEY}}
CREDENTIAL_NUMBER = "a credentials: entry of provider {} (its credentialId)"
TWILIO_NUMBER: dict[str, Any] = {
    "properties": {
        "account_sid": {"type": "string", "pattern": "^AC[0-9a-fA-F]{32}$", "description": "The Twilio account SID."},
        "auth_token": {"type": "string", "minLength": 1, "description": "Write-only: compared by fingerprint."},
        "api_key": {"type": "string", "minLength": 1},
        "api_secret": {"type": "string", "minLength": 1, "description": "Write-only: compared by fingerprint."},
        "credential": {"type": "string", "description": "Instead of the fields above: a credentials: entry of "
                                                        "provider twilio, whose account this number's import uses."},
        "sms": {"type": "boolean", "description": "Vapi's smsEnabled (default true)."}},
    "oneOf": [{"required": ["account_sid", "auth_token"], "not": {"anyOf": [{"required": ["api_key"]},
                                                                           {"required": ["credential"]}]}},
              {"required": ["account_sid", "api_key", "api_secret"], "not": {"anyOf": [
                  {"required": ["auth_token"]}, {"required": ["credential"]}]}},
              {"required": ["credential"], "not": {"anyOf": [{"required": ["account_sid"]},
                                                             {"required": ["auth_token"]}]}}]}


def _account_number(provider: str) -> dict[str, Any]:
    return {"required": ["credential"], "properties": {"credential": {
        "type": "string", "description": CREDENTIAL_NUMBER.format(provider)}}}


KNOWLEDGE_BASE: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "properties": {"name": {"type": "string", "minLength": 1, "description": "Vapi's name; defaults to the key."},
                   "description": {"type": "string", "maxLength": 1000},
                   "lifecycle": {"$ref": "#/$defs/lifecycle"}}}
CREDENTIAL_PROVIDERS = ["webhook", "custom-credential", "twilio", "vonage", "telnyx"]
CREDENTIAL: dict[str, Any] = {
    "type": "object", "required": ["provider"], "additionalProperties": True,
    "description": "Vapi's Create…CredentialDTO of its provider, as Vapi spells it (webhook and custom-credential "
                   "server auth; Twilio, Vonage and Telnyx accounts), checked against Vapi's document by validate. "
                   "Its secrets (a bearer token, an HMAC key, an auth token, an API secret) are write-only: "
                   "compared by fingerprint, never stored.",
    "properties": {"provider": {"enum": CREDENTIAL_PROVIDERS},
                   "name": {"$ref": "#/$defs/name", "description": "Vapi's name (at most 40); defaults to the key."},
                   "lifecycle": {"$ref": "#/$defs/lifecycle"}}}
MEMBER: dict[str, Any] = {
    "type": "object", "additionalProperties": True,
    "description": "A squad member: any SquadMemberDTO field, and these.",
    "properties": {
        "assistant": {"description": "An assistant of this stack (its key); an object is Vapi's inline assistant.",
                      "type": ["string", "object"]},
        "overrides": {"type": "object", "description": "Vapi's assistantOverrides for this member."},
        "handoff": {"type": "array", "description": "Assistants of this stack this member hands off to.",
                    "items": {"oneOf": [{"type": "string"}, {
                        "type": "object", "required": ["assistant"], "additionalProperties": False,
                        "properties": {"assistant": {"type": "string"}, "description": {"type": "string"}}}]}}}}
SQUAD: dict[str, Any] = {
    "type": "object", "required": ["members"], "additionalProperties": True,
    "description": "A Vapi squad: any other CreateSquadDTO field (membersOverrides) as Vapi spells it.",
    "properties": {"name": {"type": "string", "minLength": 1, "description": "Vapi's name; defaults to the key."},
                   "members": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/squad_member"}},
                   "lifecycle": {"$ref": "#/$defs/lifecycle"}}}
STRUCTURED_OUTPUT: dict[str, Any] = {
    "type": "object", "required": ["schema"], "additionalProperties": True,
    "description": "A Vapi structured output: any CreateStructuredOutputDTO field as Vapi spells it.",
    "properties": {"name": {"$ref": "#/$defs/name", "description": "Vapi's name (at most 40); defaults to the key."},
                   "schema": {"type": "object", "description": "The JSON schema of what is extracted."},
                   "assistants": {"type": "array", "items": {"type": "string"}, "uniqueItems": True,
                                  "description": "Assistants of this stack it is extracted for (assistantIds)."},
                   "lifecycle": {"$ref": "#/$defs/lifecycle"}}}


def _edges(data: dict[str, Any]) -> dict[str, list[tuple[str, PathT]]]:
    """Who must exist before whom: an assistant uses tools; a handoff tool names assistants and squads; a
    squad names its member assistants."""
    edges: dict[str, list[tuple[str, PathT]]] = {}
    for aname, assistant in (data.get("assistants") or {}).items():
        edges[f"assistant {aname}"] = [
            (f"tool {t}", ("assistants", aname, "tools", i)) for i, t in enumerate(assistant.get("tools") or [])
        ]
    for tname, tool in (data.get("tools") or {}).items():
        targets = [t["assistant"] if isinstance(t, dict) else t for t in tool.get("handoff") or []]
        out: list[tuple[str, PathT]] = [(f"assistant {a}", ("tools", tname, "handoff", i))
                                        for i, a in enumerate(targets)]
        for i, dest in enumerate(tool.get("destinations") or [] if "type" in tool else []):
            for key, what in (("assistant", "assistant"), ("squad", "squad")):
                if isinstance(dest, dict) and isinstance(dest.get(key), str):
                    out.append((f"{what} {dest[key]}", ("tools", tname, "destinations", i, key)))
        edges[f"tool {tname}"] = out
    for qname, squad in (data.get("squads") or {}).items():
        out = []  # the same list type as the tools' above
        for i, member in enumerate(squad.get("members") or []):
            if isinstance(member, dict) and isinstance(member.get("assistant"), str):
                out.append((f"assistant {member['assistant']}", ("squads", qname, "members", i, "assistant")))
            for j, target in enumerate(member.get("handoff") or [] if isinstance(member, dict) else []):
                name = target["assistant"] if isinstance(target, dict) else target
                out.append((f"assistant {name}", ("squads", qname, "members", i, "handoff", j)))
        edges[f"squad {qname}"] = out
    return edges


def cycles(data: dict[str, Any], source: SourceMap) -> Iterator[Diagnostic]:
    """Assistants use tools; handoff tools name assistants and squads by id; squads name assistants. A loop
    can never be created in order."""
    edges = _edges(data)
    state: dict[str, int] = {}
    reported: set[frozenset[str]] = set()

    def visit(node: str, trail: list[tuple[str, PathT]]) -> Iterator[Diagnostic]:
        state[node] = 1
        for nxt, path in edges.get(node, []):
            if state.get(nxt) == 1:
                names = [n for n, _ in trail] + [node]
                loop = names[names.index(nxt):] + [nxt]
                if frozenset(loop) not in reported:
                    reported.add(frozenset(loop))
                    yield Diagnostic(source.at(path), f"reference cycle: {' -> '.join(loop)}",
                                     hint="a handoff tool cannot name an assistant (or a squad of one) that uses "
                                          "it, directly or not")
            elif state.get(nxt) is None and nxt in edges:
                yield from visit(nxt, trail + [(node, path)])
        state[node] = 2

    for node in list(edges):
        if node not in state:
            yield from visit(node, [])


SERVER_AUTH = ("webhook", "custom-credential")  # the credentials a `server` authenticates with


def credential_kinds(data: dict[str, Any], source: SourceMap) -> Iterator[Diagnostic]:
    """A credential named by key is of the provider its use needs: a Vonage or Telnyx number's (and a Twilio
    number's account) of that carrier, a server's webhook or custom-credential."""
    credentials = data.get("credentials") or {}

    def provider(name: Any) -> str | None:
        entry = credentials.get(name) if isinstance(name, str) else None
        return str(entry.get("provider")) if isinstance(entry, dict) else None

    uses: list[tuple[PathT, Any, tuple[str, ...]]] = []
    for key, spec in (data.get("numbers") or {}).items():
        if spec.get("carrier") in ("twilio", "vonage", "telnyx") and "credential" in spec:
            uses.append((("numbers", key, "credential"), spec["credential"], (str(spec["carrier"]),)))
    for key, spec in (data.get("tools") or {}).items():
        for path, value in values_at(spec, ("server", "credential")):
            uses.append((("tools", key, *path), value, SERVER_AUTH))
        for path, value in values_at(spec, ("destinations", "*", "server", "credential")):
            uses.append((("tools", key, *path), value, SERVER_AUTH))
    for key, spec in (data.get("assistants") or {}).items():
        for path, value in values_at(spec, ("server", "credential")):
            uses.append((("assistants", key, *path), value, SERVER_AUTH))
        if "server" in spec and "server_url" in spec:
            yield Diagnostic(source.at(("assistants", key, "server")), f"assistants.{key}: both server and "
                             "server_url", hint="keep one: server_url is server: {url: …}")
    for path, name, wanted in uses:
        found = provider(name)
        if found is not None and found not in wanted:
            yield Diagnostic(source.at(path), f"{'.'.join(map(str, path))}: credential {name!r} is a {found} "
                             f"credential; this needs {' or '.join(wanted)}")


def transfer_reach(data: dict[str, Any], source: SourceMap) -> Iterator[Diagnostic]:
    """A transfer to a phone number is dialled out through a trunk, or a number Vapi can call out from (a
    Twilio, Vonage or Telnyx number, a free Vapi number): with none of them, no call can get there."""
    if data.get("trunks"):
        return
    numbers = data.get("numbers") or {}
    if any(isinstance(n, dict) and (n.get("carrier") in ("twilio", "vonage", "telnyx")
                                    or (n.get("carrier") == "vapi" and "area_code" in n)) for n in numbers.values()):
        return
    for tool, spec in (data.get("tools") or {}).items():
        for i, dest in enumerate(spec.get("transfer") or []):
            if "number" in dest:
                yield Diagnostic(source.at(("tools", tool, "transfer", i, "number")),
                                 f"tools.{tool}: transfer to {dest['number']}: no trunk in this stack can reach a "
                                 "phone number", hint="declare a trunk, or transfer to a sip: URI")


TRANSFER = ("tools", "*", "transfer", "*")
FALLBACK = ("numbers", "*", "fallback")
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
SURFACE = Surface(
    provider="vapi",
    settings=PROVIDER_SETTINGS,
    sections=(Section("vapi", "vapi_settings", SETTINGS, keyed=False),
              Section("credentials", "credential", CREDENTIAL,
                      "Vapi credentials that are not SIP trunks: server auth (webhook, custom-credential) and the "
                      "Twilio, Vonage and Telnyx accounts numbers are imported with."),
              Section("tools", "tool", TOOL, "Vapi tools: any of Vapi's tool types (type: and Vapi's own body), or "
                                             "transferCall (transfer:) and handoff (handoff:) in voxplan's words."),
              Section("assistants", "assistant", ASSISTANT, "Vapi assistants."),
              Section("squads", "squad", SQUAD, "Vapi squads of this stack's assistants; a route's squad: names one."),
              Section("structured_outputs", "structured_output", STRUCTURED_OUTPUT,
                      "Vapi structured outputs, extracted during the calls of the assistants they name."),
              Section("knowledge_bases", "knowledge_base", KNOWLEDGE_BASE, "Vapi knowledge bases (v2).")),
    defs={**DEFS, "tool.typed": TYPED_TOOL, "tool.friendly": FRIENDLY_TOOL, "squad_member": MEMBER},
    carriers=(CarrierSurface("vapi", "a Vapi-hosted SIP URI (the key is the URI), or a free Vapi number in an area "
                                     "code (keyed by a name); no trunk", SIP_NUMBER, named=True),
              CarrierSurface("twilio", "a number of a Twilio account, imported into Vapi; no trunk", TWILIO_NUMBER),
              CarrierSurface("vonage", "a number of a Vonage account, imported into Vapi through its credential; no "
                                       "trunk", _account_number("vonage")),
              CarrierSurface("telnyx", "a number of a Telnyx account, imported into Vapi through its credential; no "
                                       "trunk", _account_number("telnyx"))),
    every_trunk=EVERY_TRUNK,
    every_number=EVERY_NUMBER,
    route=ROUTE,
    route_targets=("assistant", "squad", "server_url"),
    secret_places=(("trunks", "*", "auth", "*"), ("trunks", "*", "vapi", "**"), ("numbers", "*", "auth", "*"),
                   ("numbers", "*", "vapi", "**"), ("numbers", "*", "auth_token"), ("numbers", "*", "api_key"),
                   ("numbers", "*", "api_secret"), ("numbers", "*", "account_sid"), ("numbers", "*", "hooks", "**"),
                   (*FALLBACK, "message"), (*FALLBACK, "when"), (*FALLBACK, "headers", "*"),
                   ("assistants", "*", "first_message"),
                   ("assistants", "*", "end_call_message"), ("assistants", "*", "model", "system"),
                   ("assistants", "*", "metadata", "**"), ("assistants", "*", "voice", "**"),
                   ("assistants", "*", "transcriber", "**"), ("assistants", "*", "vapi", "**"),
                   ("assistants", "*", "server", "headers", "*"),
                   ("tools", "*", "description"), ("tools", "*", "vapi", "**"),
                   ("tools", "*", "handoff", "*", "description"), (*TRANSFER, "message"), (*TRANSFER, "when"),
                   (*TRANSFER, "headers", "*"), ("tools", "*", "server", "headers", "*"), ("tools", "*", "url"),
                   ("tools", "*", "headers", "**"), ("tools", "*", "body", "**"), ("tools", "*", "code"),
                   ("tools", "*", "environmentVariables", "*", "value"), ("tools", "*", "messages", "**"),
                   ("tools", "*", "parameters", "**"), ("tools", "*", "function", "description"),
                   ("tools", "*", "destinations", "*", "sipHeaders", "*"),
                   ("tools", "*", "destinations", "*", "message"),
                   ("credentials", "*", "authenticationPlan", "**"), ("credentials", "*", "encryptionPlan", "**"),
                   ("credentials", "*", "authToken"), ("credentials", "*", "apiKey"), ("credentials", "*", "apiSecret"),
                   ("credentials", "*", "accountSid"),
                   ("squads", "*", "members", "*", "overrides", "**"), ("squads", "*", "membersOverrides", "**"),
                   ("structured_outputs", "*", "description"), ("knowledge_bases", "*", "description")),
    passwords=(("trunks", "*", "auth", "password"), ("numbers", "*", "auth", "password")),
    value_checks=(((*TRANSFER, "number"), telephony.transfer_problem), ((*TRANSFER, "sip"), sip_uri()),
                  ((*TRANSFER, "caller_id"), telephony.caller_id_problem),
                  ((*TRANSFER, "headers", "*"), telephony.header_value_problem), ((*TRANSFER, "extension"), digits),
                  ((*FALLBACK, "number"), telephony.transfer_problem), ((*FALLBACK, "sip"), sip_uri()),
                  ((*FALLBACK, "caller_id"), telephony.caller_id_problem),
                  ((*FALLBACK, "headers", "*"), telephony.header_value_problem), ((*FALLBACK, "extension"), digits),
                  (("trunks", "*", "tech_prefix"), telephony.tech_prefix_problem),
                  (("trunks", "*", "sip_diversion_header"), telephony.header_value_problem),
                  (("trunks", "*", "auth", "username"), telephony.username_problem),
                  (("trunks", "*", "register", "username"), telephony.username_problem),
                  (("trunks", "*", "register", "domain"), telephony.host_problem),
                  (("trunks", "*", "register", "realm"), telephony.host_problem),
                  (("trunks", "*", "gateways", "*", "ip"), telephony.gateway_problem),
                  (("numbers", "*", "auth", "username"), telephony.username_problem)),
    header_names=((*TRANSFER, "headers", "*"), (*FALLBACK, "headers", "*")),
    one_line=(("routes", "*", "squad"), ("routes", "*", "server_url"), ("assistants", "*", "server_url"),
              ("tools", "*", "name"), ("assistants", "*", "name"), ("trunks", "*", "name"), ("numbers", "*", "name"),
              ("credentials", "*", "name"), ("squads", "*", "name"), ("structured_outputs", "*", "name")),
    references=(Reference(("assistants", "*", "tools", "*"), "tools"),
                Reference(("tools", "*", "handoff", "*"), "assistants"),
                Reference(("tools", "*", "handoff", "*", "assistant"), "assistants"),
                *(Reference(path, section) for path, section in wired_paths(("tools", "*"))),
                Reference(("assistants", "*", "server", "credential"), "credentials"),
                Reference(("routes", "*", "assistant"), "assistants"),
                Reference(("routes", "*", "squad"), "squads", raw_id=UUID),
                Reference(("squads", "*", "members", "*", "assistant"), "assistants"),
                Reference(("squads", "*", "members", "*", "handoff", "*"), "assistants"),
                Reference(("squads", "*", "members", "*", "handoff", "*", "assistant"), "assistants"),
                Reference(("structured_outputs", "*", "assistants", "*"), "assistants"),
                Reference(("numbers", "*", "credential"), "credentials")),
    checks=(cycles, transfer_reach, credential_kinds),
)
