"""How a call crosses Wavix (voxplan.core.hops): a number routes to its first destination by priority (a SIP
URI with `[did]` filled in, a PSTN number, or a SIP trunk's registered device), arriving from Wavix's regional
gateways; a call sent to `sip:<number>@<region>.wavix.net` (a transfer) is delivered as an inbound call to that
number, as is a call dialled to it on the PSTN."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from voxplan.core.hops import HopContext, HopSet, Link, Node, Resolved, node_key, split_uri
from voxplan.providers.wavix.network import DID_PLACEHOLDER, REGIONAL_GATEWAYS, is_gateway_host

NUMBER, TRUNK = "wavix.number", "wavix.trunk"
SIP_URI, PSTN, SIP_TRUNK = 1, 4, 5
UNROUTED = "routed nowhere: the number has no destination on Wavix, so its calls are not answered"


def hops(ctx: HopContext) -> HopSet:
    numbers = ctx.of(NUMBER)
    by_digits = {str(body.get("number") or "").lstrip("+"): nid for nid, body in numbers.items()}
    nodes = [_number(nid, body) for nid, body in numbers.items()]
    nodes += [Node(node_key(TRUNK, tid), TRUNK, tid, f"SIP trunk {body.get('label') or tid} (a registered device)",
                   answers=True) for tid, body in ctx.of(TRUNK).items()]

    def resolve(uri: str, link: Link) -> Resolved | None:
        scheme, user, host, _ = split_uri(uri)
        if scheme == "tel" or (host and is_gateway_host(host)):
            found = by_digits.get(user.lstrip("+"))
            if found is not None:
                return Resolved((node_key(NUMBER, found),))
            if scheme == "tel":
                return None  # someone else's number: the call leaves the accounts voxplan reads
            return Resolved(problem=f"{user} is not a number of this Wavix account: Wavix answers 404", kind=NUMBER,
                            id=user)
        return None

    return HopSet(tuple(nodes), (resolve,))


def _number(nid: str, body: Mapping[str, Any]) -> Node:
    digits = str(body.get("number") or "").lstrip("+")
    rows = sorted((d for d in body.get("destinations") or [] if isinstance(d, dict)),
                  key=lambda d: d.get("priority") or 0)
    links: list[Link] = []
    if rows:
        first = rows[0]
        target = str(first.get("destination") or "")
        transport = first.get("transport")
        if transport == PSTN:
            links.append(Link("forwards to", uri=f"tel:+{target.lstrip('+')}"))
        elif transport == SIP_TRUNK and first.get("trunk_id") is not None:
            links.append(Link("routes to", to=node_key(TRUNK, str(first["trunk_id"])),
                              missing=f"the destination names SIP trunk {first['trunk_id']}, which does not exist"))
        else:
            uri = target.replace(DID_PLACEHOLDER, digits)
            links.append(Link("routes to", uri=uri if uri.startswith(("sip:", "sips:")) else f"sip:{uri}",
                              sources=tuple(REGIONAL_GATEWAYS.values())))
    return Node(node_key(NUMBER, nid), NUMBER, nid, f"+{digits}", tuple(links), "" if links else UNROUTED,
                number=f"+{digits}", rank=0)
