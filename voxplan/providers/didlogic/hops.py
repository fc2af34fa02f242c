"""How a call crosses didlogic (voxplan.core.hops): a purchased number forwards to the first of its
destinations (list order is priority; a SIP URI is written without `sip:`); a call dialled to it on the PSTN,
or sent to `sip:<number>@<…>.didlogic.net` (a transfer), arrives on that number. didlogic's own signalling IPs
are unconfirmed (reference/didlogic-api.md), so its legs name no source address for Vapi to check."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from voxplan.core.hops import HopContext, HopSet, Link, Node, Resolved, node_key, split_uri

NUMBER = "didlogic.number"
PSTN = 4
UNROUTED = "routed nowhere: the number has no destination on didlogic, so its calls are not answered"


def hops(ctx: HopContext) -> HopSet:
    numbers = ctx.of(NUMBER)
    by_digits = {str(body.get("number") or "").lstrip("+"): nid for nid, body in numbers.items()}

    def resolve(uri: str, link: Link) -> Resolved | None:
        scheme, user, host, _ = split_uri(uri)
        if scheme != "tel" and not host.lower().endswith(".didlogic.net"):
            return None
        found = by_digits.get(user.lstrip("+"))
        if found is not None:
            return Resolved((node_key(NUMBER, found),))
        if scheme == "tel":
            return None
        return Resolved(problem=f"{user} is not a number of this didlogic account: didlogic answers 404",
                        kind=NUMBER, id=user)

    return HopSet(tuple(_number(nid, body) for nid, body in numbers.items()), (resolve,))


def _number(nid: str, body: Mapping[str, Any]) -> Node:
    digits = str(body.get("number") or "").lstrip("+")
    label = f"+{digits}"
    if "destinations" not in body:  # a number the refresh listed without reading its destinations
        return Node(node_key(NUMBER, nid), NUMBER, nid, f"{label} (destinations not read)", number=label)
    rows = [d for d in body.get("destinations") or [] if isinstance(d, dict) and d.get("active", True) is not False]
    links: tuple[Link, ...] = ()
    if rows:
        target = str(rows[0].get("destination") or "")
        if int(rows[0].get("transport") or 1) == PSTN:
            links = (Link("forwards to", uri=f"tel:+{target.lstrip('+')}"),)
        else:
            links = (Link("routes to", uri=target if target.startswith(("sip:", "sips:")) else f"sip:{target}"),)
    return Node(node_key(NUMBER, nid), NUMBER, nid, label, links, "" if links else UNROUTED, number=label)
