"""What Vapi adds to the stack format, as data: the `vapi:` settings section, `tools:` and `assistants:`, what
every trunk's and number's Vapi side takes (a trunk becomes a SIP-trunk credential, a number a Vapi phone
number), the `vapi` carrier (Vapi-hosted SIP URIs), the route targets Vapi answers, and where its secrets,
telephony values and references sit. Checks that need more than a table (handoff cycles, transfers no trunk
can reach) are functions below."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from voxplan.core.errors import Diagnostic
from voxplan.stack import telephony
from voxplan.stack.lint import digits, sip_uri
from voxplan.stack.model import PathT, SourceMap
from voxplan.stack.surface import PROVIDER_SETTINGS, CarrierSurface, Reference, Section, Surface

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

TOOL: dict[str, Any] = {
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
        "tools": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        "metadata": {"type": "object"},
        "max_duration_seconds": {"type": "number", "minimum": 10, "maximum": 43200},
        "end_call_message": {"type": "string", "maxLength": 1000},
        "vapi": {"type": "object", "description": PASS_THROUGH.format("assistant")},
        "lifecycle": {"$ref": "#/$defs/lifecycle"}}}

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
    "vapi": {"type": "object", "description": "Any other Vapi phone-number field (hooks, fallbackDestination), "
                                              "passed through."},
}
ROUTE: dict[str, Any] = {
    "assistant": {"type": "string", "description": "An assistant of this stack answers."},
    "squad": {"type": "string", "description": "A Vapi squad id answers."},
    "server_url": {"type": "string", "pattern": "^https?://", "description": "No assistant: Vapi sends "
                                                                             "assistant-request here."},
}
SIP_NUMBER: dict[str, Any] = {"properties": {
    "auth": {"type": "object", "required": ["username", "password"], "additionalProperties": False,
             "properties": {"username": {"type": "string", "minLength": 20, "maxLength": 40},
                            "password": {"type": "string", "minLength": 20, "maxLength": 40},
                            "realm": {"type": "string"}}}}}


def cycles(data: dict[str, Any], source: SourceMap) -> Iterator[Diagnostic]:
    """Assistants use tools; handoff tools name assistants by id. A loop can never be created in order."""
    edges: dict[str, list[tuple[str, PathT]]] = {}
    for aname, assistant in (data.get("assistants") or {}).items():
        edges[f"assistant {aname}"] = [
            (f"tool {t}", ("assistants", aname, "tools", i)) for i, t in enumerate(assistant.get("tools") or [])
        ]
    for tname, tool in (data.get("tools") or {}).items():
        targets = [t["assistant"] if isinstance(t, dict) else t for t in tool.get("handoff") or []]
        edges[f"tool {tname}"] = [(f"assistant {a}", ("tools", tname, "handoff", i)) for i, a in enumerate(targets)]
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
                                     hint="a handoff tool cannot name an assistant that uses it, directly or not")
            elif state.get(nxt) is None and nxt in edges:
                yield from visit(nxt, trail + [(node, path)])
        state[node] = 2

    for node in list(edges):
        if node not in state:
            yield from visit(node, [])


def transfer_reach(data: dict[str, Any], source: SourceMap) -> Iterator[Diagnostic]:
    """A transfer to a phone number is dialled out through a trunk: with none, no call can get there."""
    if data.get("trunks"):
        return
    for tool, spec in (data.get("tools") or {}).items():
        for i, dest in enumerate(spec.get("transfer") or []):
            if "number" in dest:
                yield Diagnostic(source.at(("tools", tool, "transfer", i, "number")),
                                 f"tools.{tool}: transfer to {dest['number']}: no trunk in this stack can reach a "
                                 "phone number", hint="declare a trunk, or transfer to a sip: URI")


TRANSFER = ("tools", "*", "transfer", "*")
SURFACE = Surface(
    provider="vapi",
    settings=PROVIDER_SETTINGS,
    sections=(Section("vapi", "vapi_settings", SETTINGS, keyed=False),
              Section("tools", "tool", TOOL, "Vapi tools: transferCall (transfer:) and handoff (handoff:)."),
              Section("assistants", "assistant", ASSISTANT, "Vapi assistants.")),
    defs=DEFS,
    carriers=(CarrierSurface("vapi", "a Vapi-hosted SIP URI (the key is the URI); no trunk", SIP_NUMBER),),
    every_trunk=EVERY_TRUNK,
    every_number=EVERY_NUMBER,
    route=ROUTE,
    route_targets=("assistant", "squad", "server_url"),
    secret_places=(("trunks", "*", "auth", "*"), ("trunks", "*", "vapi", "**"), ("numbers", "*", "auth", "*"),
                   ("numbers", "*", "vapi", "**"), ("assistants", "*", "first_message"),
                   ("assistants", "*", "end_call_message"), ("assistants", "*", "model", "system"),
                   ("assistants", "*", "metadata", "**"), ("assistants", "*", "voice", "**"),
                   ("assistants", "*", "transcriber", "**"), ("assistants", "*", "vapi", "**"),
                   ("tools", "*", "description"), ("tools", "*", "vapi", "**"),
                   ("tools", "*", "handoff", "*", "description"), (*TRANSFER, "message"), (*TRANSFER, "when"),
                   (*TRANSFER, "headers", "*")),
    passwords=(("trunks", "*", "auth", "password"), ("numbers", "*", "auth", "password")),
    value_checks=(((*TRANSFER, "number"), telephony.transfer_problem), ((*TRANSFER, "sip"), sip_uri()),
                  ((*TRANSFER, "caller_id"), telephony.caller_id_problem),
                  ((*TRANSFER, "headers", "*"), telephony.header_value_problem), ((*TRANSFER, "extension"), digits),
                  (("trunks", "*", "tech_prefix"), telephony.tech_prefix_problem),
                  (("trunks", "*", "sip_diversion_header"), telephony.header_value_problem),
                  (("trunks", "*", "auth", "username"), telephony.username_problem),
                  (("trunks", "*", "register", "username"), telephony.username_problem),
                  (("trunks", "*", "register", "domain"), telephony.host_problem),
                  (("trunks", "*", "register", "realm"), telephony.host_problem),
                  (("trunks", "*", "gateways", "*", "ip"), telephony.gateway_problem),
                  (("numbers", "*", "auth", "username"), telephony.username_problem)),
    header_names=((*TRANSFER, "headers", "*"),),
    one_line=(("routes", "*", "squad"), ("routes", "*", "server_url"), ("assistants", "*", "server_url"),
              ("tools", "*", "name"), ("assistants", "*", "name"), ("trunks", "*", "name"), ("numbers", "*", "name")),
    references=(Reference(("assistants", "*", "tools", "*"), "tools"),
                Reference(("tools", "*", "handoff", "*"), "assistants"),
                Reference(("tools", "*", "handoff", "*", "assistant"), "assistants"),
                Reference(("routes", "*", "assistant"), "assistants")),
    checks=(cycles, transfer_reach),
)
