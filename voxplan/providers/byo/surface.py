"""What `carrier: byo` adds to the stack format: any SIP peer, whose trunk gives its gateways (and auth) and
becomes the platform's SIP-trunk credential alone; it has no API, so no `providers.byo:` settings."""

from __future__ import annotations

from voxplan.stack.surface import CarrierSurface, Surface

SURFACE = Surface(
    provider="byo",
    carriers=(CarrierSurface(
        "byo", "any SIP peer: you give its gateways and auth", {
            "properties": {"trunk": {"type": "string", "description": "The trunks: entry that carries it."}}},
        {"required": ["gateways"]}),),
)
