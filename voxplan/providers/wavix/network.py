"""Facts about Wavix's SIP network that expansion, lint and the call path share (reference/wavix-api.md, seed 000):
the regional gateways a call arrives from and transfers are sent to, and the `[did]` placeholder of a SIP URI
destination."""

from __future__ import annotations

import re

REGIONAL_GATEWAYS = {"nl": "95.211.82.14", "us": "209.58.144.243", "sg": "23.108.101.90", "au": "173.234.106.26"}
GATEWAY_HOSTS = {f"{region}.wavix.net" for region in REGIONAL_GATEWAYS}
DID_PLACEHOLDER = "[did]"  # Wavix replaces it with the called number at call time


def is_gateway_host(host: str) -> bool:
    return host.lower() in GATEWAY_HOSTS or bool(re.fullmatch(r"[a-z]{2}\.wavix\.net", host.lower()))
