"""What Wavix adds to the stack format: the `wavix` carrier (a trunk is a Wavix SIP trunk plus its Vapi
credential; a number is one bought on the account) and where its secrets and values sit."""

from __future__ import annotations

from voxplan.providers.base import NUMBER_MONEY
from voxplan.stack import telephony
from voxplan.stack.surface import PROVIDER_SETTINGS, CarrierSurface, Surface

TRUNK = {
    "required": ["password"],
    "properties": {
        "password": {"type": "string", "minLength": 1,
                     "description": "The trunk's SIP password (write-only); the same secret goes to the Vapi "
                                    "credential."},
        "caller_id": {"type": "string", "description": "An E.164 number of the account used as caller ID (Wavix "
                                                       "requires one; defaults to the first number on the trunk)."},
        "max_channels": {"type": "integer", "minimum": 1},
        "wavix": {"type": "object", "description": "Any other Wavix trunk field, passed through as-is."}}}
NUMBER = {"properties": {"trunk": {"type": "string", "description": "The trunks: entry that carries it."},
                        **NUMBER_MONEY}}

SURFACE = Surface(
    provider="wavix",
    settings=PROVIDER_SETTINGS,
    carriers=(CarrierSurface("wavix", "a Wavix SIP trunk and its numbers (adopted; bought only with purchase: true)",
                             NUMBER, TRUNK,
                             drop=("auth",)),),  # the trunk's SIP login is made by Wavix
    secret_places=(("trunks", "*", "password"), ("trunks", "*", "wavix", "**")),
    passwords=(("trunks", "*", "password"),),
    value_checks=((("trunks", "*", "caller_id"), telephony.caller_id_problem),),
)
