"""How a call crosses Vapi (voxplan.core.hops): which credential a URI host names and which of its phone
numbers the user part is, what answers a number (assistant, squad, server URL), an assistant's tools and
where each transfers.

From reference/vapi-api.md §10: a carrier sends a BYO number's calls to `<number>@<credential id>.sip.vapi.ai`
(`.sip.eu.vapi.ai` in the EU); Vapi matches the call to the credential by its source IP and refuses one from an
address no inbound gateway lists with 401; the user part must equal the phone number's `number`. A Vapi SIP
number is dialled as its own `sip:<user>@sip.vapi.ai`. From VapiAI/docs #1197: a Vapi SIP number has no PSTN
number to call from, so it cannot place an outbound call ("Vapi Numbers Can't Dial Outbound Yet"), nor the
new leg of a transfer to a phone number.

Unconfirmed, and kept here: a number with no assistant, squad or server URL is refused (VapiAI/docs say the
org's server URL is asked, which voxplan does not read).
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from voxplan.core.hops import HopContext, HopSet, Link, Node, Resolved, node_key, split_uri

CREDENTIAL, NUMBER, ASSISTANT, TOOL, SQUAD = "vapi.credential", "vapi.phone_number", "vapi.assistant", "vapi.tool", \
    "vapi.squad"
SERVER = "vapi.server"
PSTN = ("twilio", "vonage", "telnyx", "vapi")  # phone-number providers whose `number` rings on the PSTN
_CREDENTIAL_HOST = re.compile(r"^(?P<id>.+)\.sip(?:\.eu)?\.vapi\.ai$", re.IGNORECASE)
SIP_HOSTS = ("sip.vapi.ai", "sip.eu.vapi.ai")
OUTBOUND_REFUSED = ("a Vapi SIP number cannot place an outbound leg (Vapi: \"Vapi Numbers Can't Dial Outbound "
                    "Yet\", VapiAI/docs #1197)")


def digits(number: Any) -> str:
    return str(number or "").lstrip("+")


def hops(ctx: HopContext) -> HopSet:
    credentials = ctx.of(CREDENTIAL)
    numbers = ctx.of(NUMBER)
    by_credential: dict[tuple[str, str], str] = {}  # (credential id, digits) -> number id
    by_sip_uri: dict[str, str] = {}
    by_number: dict[str, list[str]] = {}
    for nid, body in numbers.items():
        if body.get("sipUri"):
            by_sip_uri[str(body["sipUri"]).lower()] = nid
        if body.get("number"):
            by_number.setdefault(digits(body["number"]), []).append(nid)
            if body.get("credentialId"):
                by_credential[(str(body["credentialId"]), digits(body["number"]))] = nid
    nodes = [_credential(cid, body) for cid, body in credentials.items()]
    nodes += [_number(nid, body, credentials) for nid, body in numbers.items()]
    nodes += [_assistant(aid, body) for aid, body in ctx.of(ASSISTANT).items()]
    nodes += [_squad(sid, body) for sid, body in ctx.of(SQUAD).items()]
    nodes += [_tool(tid, body) for tid, body in ctx.of(TOOL).items()]
    nodes += _answerers(numbers, ctx)

    admitted: dict[str, list[ipaddress.IPv4Network | ipaddress.IPv6Network]] = {}  # per credential, once

    def resolve(uri: str, link: Link) -> Resolved | None:
        scheme, user, host, _params = split_uri(uri)
        if scheme == "tel":  # a number Vapi itself holds on the PSTN (Twilio, Vonage, Telnyx, a free Vapi number)
            found = next((n for n in by_number.get(digits(user)) or () if numbers[n].get("provider") in PSTN), None)
            return Resolved((node_key(NUMBER, found),)) if found else None
        if not host:
            return None
        if host.lower() in SIP_HOSTS:
            return _sip_host(uri, user, by_sip_uri, by_number)
        match = _CREDENTIAL_HOST.match(host)
        if match is None:
            return None
        cid = match.group("id")
        credential = credentials.get(cid)
        if credential is None:
            return Resolved(problem=f"the URI names credential {cid}, which does not exist: Vapi answers 404",
                            kind=CREDENTIAL, id=cid)
        key = node_key(CREDENTIAL, cid)
        if cid not in admitted:
            admitted[cid] = _inbound(credential)
        refused = [ip for ip in link.sources if not any((a := _address(ip)) is not None and a in net
                                                        for net in admitted[cid])]
        if refused:
            return Resolved((key,), f"gateway list incomplete: the carrier also calls from {', '.join(refused)}, "
                            "which no inbound gateway of this credential lists, and Vapi refuses those calls with "
                            "401", kind=CREDENTIAL, id=cid)
        found = by_credential.get((cid, digits(user)))
        if found is None:
            return Resolved((key,), f"credential {credential.get('name') or cid} has no phone number {user}: the "
                            "number is not bound on Vapi, which answers 404", kind=NUMBER, id=user)
        return Resolved((key, node_key(NUMBER, found)))

    return HopSet(tuple(nodes), (resolve,))


def _sip_host(uri: str, user: str, by_sip_uri: Mapping[str, str], by_number: Mapping[str, list[str]]) -> Resolved:
    plain = split_uri(uri)
    found = by_sip_uri.get(f"sip:{plain[1]}@{plain[2]}".lower())
    if found is None and user.lstrip("+").isdigit():  # a platform number handed over by number (Cloudonix)
        found = next(iter(by_number.get(digits(user)) or ()), None)
    if found is None:
        return Resolved(problem=f"no Vapi SIP number {plain[1]}@{plain[2]}: Vapi answers 404", kind=NUMBER,
                        id=f"sip:{plain[1]}@{plain[2]}")
    return Resolved((node_key(NUMBER, found),))


def _inbound(credential: Mapping[str, Any]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The networks a credential's inbound gateways admit (ip/netmask); a hostname gateway admits none."""
    out = []
    for gw in credential.get("gateways") or []:
        if not isinstance(gw, dict) or gw.get("inboundEnabled") is False:
            continue
        try:
            out.append(ipaddress.ip_network(f"{gw.get('ip')}/{gw.get('netmask') or 32}", strict=False))
        except ValueError:
            continue
    return out


@functools.lru_cache(maxsize=256)
def _address(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(ip)
    except ValueError:
        return None


def _credential(cid: str, body: Mapping[str, Any]) -> Node:
    return Node(node_key(CREDENTIAL, cid), CREDENTIAL, cid, str(body.get("name") or cid))


def _number(nid: str, body: Mapping[str, Any], credentials: Mapping[str, Mapping[str, Any]]) -> Node:
    sip_uri = str(body.get("sipUri") or "").lower()
    number = sip_uri or ("+" + digits(body["number"]) if body.get("number") else "")
    links: list[Link] = []
    if body.get("assistantId"):
        links.append(Link("answered by", to=node_key(ASSISTANT, str(body["assistantId"])),
                          missing=f"the number is bound to assistant {body['assistantId']}, which does not exist"))
    elif body.get("squadId"):
        links.append(Link("answered by", to=node_key(SQUAD, str(body["squadId"])),
                          missing=f"the number is bound to squad {body['squadId']}, which does not exist"))
    elif isinstance(body.get("server"), dict) and body["server"].get("url"):
        links.append(Link("asks", to=node_key(SERVER, str(body["server"]["url"]))))
    problem = "" if links else "not bound: no assistant, squad or server URL answers it"
    credential = str(body.get("credentialId") or "")
    if credential and credential not in credentials:
        problem = f"its credential {credential} does not exist: no call can arrive on it"
    sip_only = body.get("provider") == "vapi" and not body.get("number")
    first = bool(sip_uri) or body.get("provider") in PSTN  # no carrier of the accounts comes before it
    return Node(node_key(NUMBER, nid), NUMBER, nid, str(body.get("name") or number or nid), tuple(links), problem,
                number=number, rank=0 if first else 1, dials_out=OUTBOUND_REFUSED if sip_only else "",
                before=(node_key(CREDENTIAL, credential),) if credential in credentials else ())


def _assistant(aid: str, body: Mapping[str, Any]) -> Node:
    model = body.get("model") if isinstance(body.get("model"), dict) else {}
    links = tuple(Link("tool", to=node_key(TOOL, str(t)), missing=f"the assistant uses tool {t}, which does not "
                       "exist") for t in (model or {}).get("toolIds") or [])
    return Node(node_key(ASSISTANT, aid), ASSISTANT, aid, str(body.get("name") or aid), links, answers=True)


def _squad(sid: str, body: Mapping[str, Any]) -> Node:
    """A squad (CreateSquadDTO): its members' assistants answer in turn; the first member takes the call."""
    links = tuple(Link("member", to=node_key(ASSISTANT, str(m["assistantId"])),
                       missing=f"the squad's member assistant {m['assistantId']} does not exist")
                  for m in body.get("members") or [] if isinstance(m, dict) and m.get("assistantId"))
    return Node(node_key(SQUAD, sid), SQUAD, sid, str(body.get("name") or sid), links, answers=True)


def _tool(tid: str, body: Mapping[str, Any]) -> Node:
    links: list[Link] = []
    for dest in body.get("destinations") or []:
        if not isinstance(dest, dict):
            continue
        if dest.get("type") == "sip" and dest.get("sipUri"):
            links.append(Link("transfers to", uri=str(dest["sipUri"])))
        elif dest.get("type") == "number" and dest.get("number"):
            links.append(Link("transfers to", uri=f"tel:+{digits(dest['number'])}", outbound=True))
        elif dest.get("type") == "assistant" and dest.get("assistantId"):
            links.append(Link("hands off to", to=node_key(ASSISTANT, str(dest["assistantId"])),
                              missing=f"the handoff names assistant {dest['assistantId']}, which does not exist"))
    label = {"transferCall": "transfer", "handoff": "handoff"}.get(str(body.get("type")), str(body.get("type")))
    return Node(node_key(TOOL, tid), TOOL, tid, label, tuple(links))


def _answerers(numbers: Mapping[str, Mapping[str, Any]], ctx: HopContext) -> list[Node]:
    """Server URLs (assistant-request), and squads when no squad objects were read (a raw id in a route)."""
    out: dict[str, Node] = {}
    read_squads = SQUAD in ctx.objects
    for body in numbers.values():
        server = body.get("server")
        if isinstance(server, dict) and server.get("url") and not body.get("assistantId"):
            url = str(server["url"])
            out[url] = Node(node_key(SERVER, url), SERVER, url, f"assistant-request to {url}", answers=True)
        squad = body.get("squadId")
        if squad and not body.get("assistantId") and not read_squads:
            out[str(squad)] = Node(node_key(SQUAD, str(squad)), SQUAD, str(squad), f"squad {squad}", answers=True)
    return list(out.values())
