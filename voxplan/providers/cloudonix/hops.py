"""How a call crosses Cloudonix (voxplan.core.hops): a DNID matches the dialled number and runs its voice
application; a CXML application hands the call to Vapi as the number it was dialled as (seed 001's
`<Dial><Service>` to `sip:<number>@sip.vapi.ai`, as cx-vcc sets it up). What the CXML at the application's
URL really does is the user's own document: voxplan does not fetch it, and says so on the hop.

Also the DNID patterns voxplan writes and reads (one place for both)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from voxplan.core.hops import NUMBER_PLACEHOLDER, HopContext, HopSet, Link, Node, Resolved, node_key, split_uri

DNID, APP = "cloudonix.dnid", "cloudonix.application"


def dnid_pattern(number: str) -> str:
    """The DNID regex for one number, with or without the leading `+` (which Cloudonix sees is unconfirmed)."""
    return "^\\+?" + number.lstrip("+") + "$"


def dnid_number(pattern: str) -> str:
    """The digits a DNID matches, from our regex, a plain `source` or Cloudonix's compiled form."""
    return pattern.removeprefix("^").removeprefix("\\+?").removeprefix("\\+").removeprefix("+").removesuffix("$")


def hops(ctx: HopContext) -> HopSet:
    apps = ctx.of(APP)
    dnids = ctx.of(DNID)
    nodes = [_app(aid, body) for aid, body in apps.items()]
    by_digits: dict[str, str] = {}
    for did, body in dnids.items():
        node = _dnid(did, body, apps)
        nodes.append(node)
        by_digits[node.number.lstrip("+")] = node.key

    def resolve(uri: str, link: Link) -> Resolved | None:
        scheme, user, _, _ = split_uri(uri)
        found = by_digits.get(user.lstrip("+")) if scheme == "tel" else None
        return Resolved((found,)) if found else None

    return HopSet(tuple(nodes), (resolve,))


def _dnid(did: str, body: Mapping[str, Any], apps: Mapping[str, Mapping[str, Any]]) -> Node:
    number = "+" + dnid_number(str(body.get("dnid") or body.get("source") or ""))
    app = str(body.get("applicationId") or "")
    key = next((node_key(APP, a) for a in (f"{body.get('domain')}/{app}", app) if a in apps), node_key(APP, app))
    link = Link("runs", to=key, missing=f"the DNID runs application {app}, which does not exist in domain "
                f"{body.get('domain')}: Cloudonix answers 404")
    active = body.get("active", True) is not False
    return Node(node_key(DNID, did), DNID, did, f"DNID {number}", (link,) if active else (),
                "" if active else "the DNID is inactive: Cloudonix does not match the number", number=number)


def _app(aid: str, body: Mapping[str, Any]) -> Node:
    name = str(body.get("name") or aid)
    if body.get("type") != "cxml" or not body.get("url"):
        return Node(node_key(APP, aid), APP, aid, f"application {name}", answers=True)
    handover = Link("hands over (CXML)", uri=f"sip:{NUMBER_PLACEHOLDER}@sip.vapi.ai")
    return Node(node_key(APP, aid), APP, aid, f"application {name} (CXML at {body['url']}; not fetched)",
                (handover,))
