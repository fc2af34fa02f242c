"""Seed 000's two checks before calling: the account's max call rate (a destination priced above it ends
with 603 Declined) and which regional gateway to transfer through ("choose the primary Wavix gateway with
the lowest ping from your location"). Read-only: `GET /v1/profile/config`. The gateway is not timed from
here: a transfer leaves from the platform's media servers, not from the machine (often a CI runner) that
runs voxplan, and voxplan opens no connection outside its HTTP client."""

from __future__ import annotations

from voxplan.providers.base import Finding
from voxplan.providers.http import ApiClient
from voxplan.providers.wavix.network import REGIONAL_GATEWAYS

# the Wavix region nearest each region a platform's media runs in (Vapi: us, eu)
NEAREST_TO = {"us": "us", "eu": "nl"}


def gateways(platform_region: str | None) -> Finding:
    shown = "; ".join(f"{region}.wavix.net {ip}" for region, ip in REGIONAL_GATEWAYS.items())
    best = NEAREST_TO.get(platform_region or "")
    found = shown + (f"; the platform's media run in its {platform_region} region: nearest {best}.wavix.net"
                     if best else "; the platform's region is not known here")
    return Finding("wavix", "the regional gateway nearest the platform's media is the one to transfer through "
                   "(seed 000)", "voxplan/providers/wavix/reach.py: gateways", found,
                   f"nothing by itself: write sip:<number>@{best or '<region>'}.wavix.net in transfer destinations"
                   " (every gateway stays listed on the Vapi credential); not timed from this machine, which is "
                   "not where a transfer leaves from")


def call_rate(client: ApiClient) -> Finding:
    config = client.request("GET", "/v1/profile/config")
    limits = config.get("global_limits") or {}
    return Finding("wavix", "a call to a destination priced above the account's max call rate ends with 603 "
                   "(seed 000)", "voxplan/providers/wavix/reach.py: call_rate",
                   f"max call rate {limits.get('max_call_rate')} cents a minute, {limits.get('max_sip_channels')} "
                   f"concurrent outbound calls, calls up to {limits.get('max_call_duration')} s, balance "
                   f"{config.get('balance')} USD",
                   "nothing: a 603 on a test call to a pricier destination is this limit (ask Wavix support to raise "
                   "it)")
