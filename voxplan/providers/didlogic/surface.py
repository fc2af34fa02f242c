"""What didlogic adds to the stack format: the `didlogic` carrier (a trunk is a didlogic SIP account plus its
Vapi credential on the proxy; a number is a purchased DID) and where its secrets and values sit."""

from __future__ import annotations

from voxplan.providers.base import NUMBER_MONEY
from voxplan.stack import telephony
from voxplan.stack.surface import PROVIDER_SETTINGS, CarrierSurface, Surface

TRUNK = {
    "required": ["password"],
    "properties": {
        "password": {"type": "string", "minLength": 1,
                     "description": "The SIP account's password (write-only); the same secret goes to the Vapi "
                                    "credential."},
        "caller_id": {"type": "string", "description": "An E.164 number of the account used as caller ID."},
        "proxy": {"type": "string", "description": "The SIP proxy (default sip.nl.didlogic.net)."},
        "protocol": {"enum": ["udp", "tcp", "tls", "tls/srtp"]},
        "refer_enabled": {"type": "boolean", "default": False,
                          "description": "didlogic's account manager has enabled SIP REFER on the account (there is "
                                         "no API for it): blind transfers of calls on its numbers need it."},
        "didlogic": {"type": "object", "description": "Any other didlogic SIP-account field, passed through as-is."}}}
NUMBER = {"properties": {"trunk": {"type": "string", "description": "The trunks: entry that carries it."},
                        **NUMBER_MONEY}}

SURFACE = Surface(
    provider="didlogic",
    settings=PROVIDER_SETTINGS,
    carriers=(CarrierSurface("didlogic", "a didlogic SIP account and its DIDs (adopted; bought with purchase: true)",
                             NUMBER, TRUNK,
                             drop=("auth",)),),  # the SIP account's login is made by didlogic
    secret_places=(("trunks", "*", "password"), ("trunks", "*", "didlogic", "**")),
    passwords=(("trunks", "*", "password"),),
    value_checks=((("trunks", "*", "caller_id"), telephony.caller_id_problem),
                  (("trunks", "*", "proxy"), telephony.host_problem)),
)
