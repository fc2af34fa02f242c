"""Seed 000's two checks before calling: the account's max call rate (a destination priced above it ends
with 603 Declined) and which regional gateway is nearest ("choose the primary Wavix gateway with the lowest
ping from your location"). Read-only: `GET /v1/profile/config`, and a TCP connection to each gateway's SIP
port, timed (a round trip: SYN out, SYN-ACK back), closed at once."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor

from voxplan.providers.base import Finding
from voxplan.providers.http import ApiClient
from voxplan.providers.wavix.network import REGIONAL_GATEWAYS

SIP_PORT = 5060
TIMEOUT = 1.5  # seconds: a gateway slower than this is no choice for media either


def round_trip(ip: str, port: int = SIP_PORT, timeout: float = TIMEOUT) -> float | None:
    """Milliseconds to open a TCP connection to ip:port, or None when none opened within `timeout`."""
    started = time.monotonic()
    try:
        with socket.create_connection((ip, port), timeout=timeout):
            return (time.monotonic() - started) * 1000
    except OSError:
        return None


def nearest(times: Mapping[str, float | None]) -> str | None:
    """The region whose gateway answered fastest, or None when none answered."""
    answered = {region: ms for region, ms in times.items() if ms is not None}
    return min(answered, key=lambda r: answered[r]) if answered else None


def gateways(measure: Callable[[str], float | None] = round_trip) -> Finding:
    with ThreadPoolExecutor(max_workers=len(REGIONAL_GATEWAYS)) as pool:
        times = dict(zip(REGIONAL_GATEWAYS, pool.map(measure, REGIONAL_GATEWAYS.values()), strict=True))
    shown = "; ".join(f"{region}.wavix.net {REGIONAL_GATEWAYS[region]}: "
                      + (f"{ms:.0f} ms" if ms is not None else f"no answer in {TIMEOUT:g} s")
                      for region, ms in times.items())
    best = nearest(times)
    return Finding("wavix", "the nearest regional gateway is the one to transfer through (seed 000)",
                   "voxplan/providers/wavix/reach.py: gateways",
                   shown + (f"; nearest: {best}.wavix.net" if best else "; none answered from here"),
                   f"nothing by itself: write sip:<number>@{best or '<region>'}.wavix.net in transfer destinations"
                   " (every gateway stays listed on the Vapi credential)")


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
