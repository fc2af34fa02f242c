"""Vapi: the voice-AI platform. Credentials, phone numbers, assistants, tools, squads, structured outputs."""

from __future__ import annotations

from typing import Any

from voxplan.providers.base import Provider
from voxplan.providers.http import ApiClient
from voxplan.providers.vapi import hops, probes
from voxplan.providers.vapi.adapters import KINDS, VapiAdapter
from voxplan.providers.vapi.calls import VapiCalls
from voxplan.providers.vapi.platform import API_URLS, VapiNumberCarrier, VapiPlatform, VapiSipCarrier, region
from voxplan.providers.vapi.surface import SURFACE
from voxplan.stack.model import Stack

__all__ = ["API_URLS", "KINDS", "PROVIDER", "VapiPlatform", "VapiSipCarrier", "adapters", "region"]

# Vapi publishes no numbers (each org's limit shows in its dashboard); its own client spaces requests
# 700 ms apart, one at a time. 10 per second keeps a plan's parallel reads and an apply's writes well
# inside what a default org takes; raise it with `providers.vapi.rate_limit` (reference/vapi-api.md §9).
BUDGET = (10, 1.0, None)


def adapters(api: ApiClient, stack: Stack | None = None) -> dict[str, VapiAdapter]:
    return {cls.kind: cls(api) for cls in KINDS}


def _carriers(platform: Any) -> tuple[VapiSipCarrier | VapiNumberCarrier, ...]:
    """Vapi's own number shapes: its SIP URIs and free numbers, and Twilio, Vonage and Telnyx numbers imported
    into it."""
    return (VapiSipCarrier(platform), *(VapiNumberCarrier(platform, name) for name in ("twilio", "vonage", "telnyx")))


PROVIDER = Provider(name="vapi", api_url=lambda stack: API_URLS[region(stack)], kinds=KINDS, adapters=adapters,
                    carrier=_carriers, platform=VapiPlatform.of, budget=BUDGET,
                    probes=lambda client, _stack: probes.probe(client), surface=SURFACE, hops=hops.hops,
                    calls=VapiCalls)
