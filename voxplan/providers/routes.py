"""Route resolution: where a carrier sends a number's calls, whatever the route names.

A route names one target: a vendor's own (`openai:`, answered by that vendor's `route_targets`), a SIP URI
(`sip:`), a phone number (`forward:`), or the voice platform (`assistant:`, `squad:`, `server_url:`), which
gets a number bound to the trunk's credential and gives back its inbound URI. Carriers ask through
`ExpandContext.route`; they never import the vendors that answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from voxplan.providers.base import ExpandContext, RouteTarget


@dataclass(frozen=True)
class Router:
    targets: Mapping[str, Callable[[dict[str, Any]], str]]  # route key -> SIP destination (without sip:)

    def __call__(self, ctx: ExpandContext, route: dict[str, Any], number: str, trunk: str, user: str) -> RouteTarget:
        for key, target in self.targets.items():
            if key in route:
                return RouteTarget(target(route))
        if "sip" in route:
            return RouteTarget(str(route["sip"]).removeprefix("sip:"))
        if "forward" in route:
            return RouteTarget(str(route["forward"]).lstrip("+"), pstn=True)
        credential = ctx.platform.credential_address(trunk)
        bound = ctx.platform.bind_number(ctx, number, credential=credential, route=route, origin=("numbers", number),
                                         options=ctx.numbers.get(number, {}))
        return RouteTarget(ctx.platform.inbound_uri(credential, user), platform_number=bound)
