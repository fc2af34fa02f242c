"""What Cloudonix adds to the stack format: the `cloudonix` carrier (a trunk names an existing domain, with
its voice application and an optional outbound trunk; a number becomes a DNID) and where its secrets and
values sit."""

from __future__ import annotations

from voxplan.stack import telephony
from voxplan.stack.surface import PROVIDER_SETTINGS, CarrierSurface, Surface

OUTBOUND = ("trunks", "*", "outbound")
TRUNK = {
    "required": ["domain"],
    "properties": {
        "domain": {"type": "string", "description": "The existing Cloudonix domain (read, never created)."},
        "border": {"type": "boolean", "default": True,
                   "description": "Allow border-to-border calls and redirect unknown destinations to the border."},
        "options_ping": {"type": "boolean", "default": True},
        "cxml_url": {"type": "string", "pattern": "^https?://",
                     "description": "URL of the CXML that hands inbound calls to Vapi; a voice application points at "
                                    "it."},
        "outbound": {
            "type": "object", "required": ["name", "ip"], "additionalProperties": False,
            "description": "An outbound trunk to a PSTN carrier.",
            "properties": {
                "name": {"type": "string", "minLength": 1}, "ip": {"type": "string", "minLength": 1},
                "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                "transport": {"enum": ["udp", "tcp", "tls"]}, "prefix": {"type": "string"},
                "auth": {"type": "object", "required": ["username", "password"], "additionalProperties": False,
                         "properties": {"username": {"type": "string"}, "password": {"type": "string"}}}}}}}
NUMBER = {"properties": {"trunk": {"type": "string", "description": "The trunks: entry naming its domain."}}}

SURFACE = Surface(
    provider="cloudonix",
    settings=PROVIDER_SETTINGS,
    carriers=(CarrierSurface("cloudonix", "a Cloudonix domain's numbers, handed to Vapi by a voice application",
                             NUMBER, TRUNK),),
    secret_places=((*OUTBOUND, "auth", "*"),),
    passwords=((*OUTBOUND, "auth", "password"),),
    value_checks=(((*OUTBOUND, "auth", "username"), telephony.username_problem),
                  ((*OUTBOUND, "ip"), telephony.gateway_problem),
                  ((*OUTBOUND, "prefix"), telephony.tech_prefix_problem),
                  (("trunks", "*", "domain"), telephony.host_problem)),
    one_line=(("trunks", "*", "cxml_url"), (*OUTBOUND, "name")),
)
