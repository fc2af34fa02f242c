"""Wavix: SIP trunks and purchased numbers (reference/wavix-api.md).

Quirks handled here: the trunk's SIP login (`name`) is made by the server, so the Vapi credential waits
for it; `GET /v1/trunks` items are SIPTrunkSummary, without six of the fields voxplan declares
(`ip_restrict`, `didinfo_enabled`, …), so refresh reads each trunk the stack or state names in full
(`GET /v1/trunks/{id}`, one request per declared trunk) and compares only that; trunk updates are a
full-replace PUT ("omitted fields revert to their defaults") that needs the password every time (taken
from the stack, never from state), so an update starts from the live full object and changes only the
declared keys: settings made in the portal (`encrypted_media`, recording, `allowed_ips`) survive a
password rotation, and the PUT changes nothing the plan does not show; numbers are adopted, never bought
or released (removing one from a stack clears its routing); numbers are digits without `+`, written as
`destinations` and read as `destination`; lists page with `page/per_page` (max 100).

Unconfirmed, and where one change fixes it: whether `[did]` expands with a `+` (DID_PLACEHOLDER);
whether an empty `destinations` list clears routing (Number.delete); read-after-write lag on
destinations (not modelled).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypedDict

from voxplan.core import errors
from voxplan.core.errors import Diagnostic
from voxplan.core.model import Ref, Resource, address
from voxplan.providers.base import (
    OMITTED,
    Adapter,
    ExpandContext,
    Finding,
    Provider,
    buying,
    routes_to_platform,
    run_probes,
    shared,
    transfer_reach,
)
from voxplan.providers.http import ApiClient, remaining_pages
from voxplan.providers.reverse import GenerateContext, Unresolved
from voxplan.providers.wavix import buy, hops, reach
from voxplan.providers.wavix.network import DID_PLACEHOLDER, REGIONAL_GATEWAYS, is_gateway_host
from voxplan.providers.wavix.surface import SURFACE
from voxplan.stack.model import Stack

API_URL = "https://api.wavix.com"
PER_PAGE = 100  # the largest page Wavix serves
SIP_URI, PSTN, SIP_TRUNK = 1, 4, 5
TRUNK, NUMBER = "wavix.trunk", "wavix.number"


def digits(number: str) -> str:
    return number.lstrip("+")


class Route(TypedDict, total=False):
    """What voxplan reads of a number's `destination` row (NumberDestination, wavix-openapi.json)."""

    destination: Any
    transport: Any
    priority: Any
    trunk_id: Any


class ListedNumber(TypedDict, total=False):
    """What voxplan reads of a listed number (Number.normalise): its fees, SMS settings and documents are
    skipped as the page is decoded, never built."""

    id: Any
    number: Any
    destination: list[Route] | None


class NumbersPage(TypedDict, total=False):
    items: list[ListedNumber] | None
    pagination: Any


def list_pages(api: ApiClient, path: str, key: str, each: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
               shape: Any = None) -> list[dict[str, Any]]:
    """Every item behind a page/per_page list: page 1, then the rest concurrently (total_pages is known).
    `each` makes what is kept of an item as its page arrives, so a decoded page is dropped at once; `shape`
    (ApiClient.request) is what is decoded of a page."""

    def page(number: int) -> tuple[list[dict[str, Any]], int]:
        body = api.request("GET", path, params={"page": number, "per_page": PER_PAGE}, shape=shape)
        meta = body.get("pagination") or {}
        total = int(meta.get("total_pages") or math.ceil(int(meta.get("total") or 0) / PER_PAGE) or 1)
        items = body.get(key) or []
        return [each(o) for o in items] if each else list(items), total

    first, total = page(1)
    return first + remaining_pages(total, lambda n: page(n)[0])


# SIPTrunkCreateRequest, the body of POST and of the full-replace PUT (wavix-openapi.json)
WRITABLE = ("label", "password", "callerid", "multiple_numbers", "ip_restrict", "allowed_ips", "didinfo_enabled",
            "call_restrict", "call_limit", "cost_limit", "max_call_cost", "channels_restrict", "max_channels",
            "rewrite_enabled", "rewrite_prefix", "rewrite_cond", "call_recording_enabled", "transcription_enabled",
            "transcription_threshold", "machine_detection_enabled", "encrypted_media", "host_request")
SUMMARY_ONLY = ("auth_method", "host_request", "status", "talk_time", "charge", "access_token")


def replacement(live: dict[str, Any], declared: dict[str, Any]) -> dict[str, Any]:
    """The PUT body that changes only `declared`: every writable setting as the live full object
    (SIPTrunkResponse) has it, in the request's types, with the declared keys over it. A declared key
    whose value is OMITTED (voxplan sent it before, the stack no longer does) is left out, so Wavix
    resets it to its default, as the plan says."""
    cleared = {k for k, v in declared.items() if v is OMITTED}
    declared = {k: v for k, v in declared.items() if k not in cleared}
    body: dict[str, Any] = {k: live[k] for k in WRITABLE if live.get(k) is not None and k not in cleared}
    if body.get("allowed_ips"):
        body["allowed_ips"] = [{"ip": row["ip"]} for row in body["allowed_ips"]]
    if body.get("max_call_cost") is not None:
        body["max_call_cost"] = float(body["max_call_cost"])
    if live.get("host") not in (None, "dynamic"):
        body["host_request"] = {"host": live["host"]}  # IP auth: the approved host, as it was submitted
    return {**body, **declared}


class Trunk(Adapter):
    kind = TRUNK
    write_only = ("password",)
    env_named = "label"
    full_replace = True
    wants_interest = True  # list items lack fields voxplan compares: read the declared trunks in full

    def clear_value(self, key: str) -> Any:
        return OMITTED  # the PUT replaces the whole trunk: a key left out is reset by Wavix

    def list(self, interest: frozenset[str] | None = None) -> list[dict[str, Any]]:
        summaries = list_pages(self.client, "/v1/trunks", "sip_trunks")
        wanted = [t for t in summaries if interest is None or str(t["id"]) in interest or t.get("label") in interest]
        with ThreadPoolExecutor(max_workers=max(1, min(8, len(wanted)))) as pool:
            full = {t["id"]: t for t in pool.map(lambda t: self._get(str(t["id"])), wanted)}
        # a trunk no one declared is seen as its summary, which has no field voxplan compares
        return [self.normalise(full.get(t["id"]) or t) for t in summaries]

    def _get(self, remote_id: str) -> dict[str, Any]:
        return dict(self.client.request("GET", f"/v1/trunks/{remote_id}"))

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.normalise(self.client.request("POST", "/v1/trunks", json=body))

    def update(self, remote_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Read, modify, write: the PUT replaces the whole trunk, so it carries the live settings."""
        if "password" not in body:
            raise errors.InvalidRequest("a Wavix trunk update needs the password (PUT replaces the whole trunk)",
                                        provider="wavix")
        payload = replacement(self._get(remote_id), body)
        return self.normalise(self.client.request("PUT", f"/v1/trunks/{remote_id}", json=payload))

    def delete(self, remote_id: str) -> None:
        self.delete_at(f"/v1/trunks/{remote_id}")

    @staticmethod
    def normalise(raw: dict[str, Any]) -> dict[str, Any]:
        obj = {k: v for k, v in raw.items() if k not in ("password", *SUMMARY_ONLY)}
        if obj.get("max_call_cost") is not None:
            obj["max_call_cost"] = float(obj["max_call_cost"])
        return obj

    @staticmethod
    def natural_key(body: dict[str, Any]) -> str | None:
        return body.get("label")


class Number(Adapter):
    """Numbers are adopted; one the stack marks `purchase: true` is bought (buy.py), once, with
    --allow-purchase. delete() only clears routing; `release: true` with --allow-release gives it back."""

    kind = NUMBER
    creatable = False
    create_spends = True  # a create buys the number
    delete_unroutes = True  # delete() clears destinations; numbers are never released by a delete
    cleared = {"destinations": []}  # no route: no destination (Number.delete)

    def list(self, interest: frozenset[str] | None = None) -> list[dict[str, Any]]:
        return list_pages(self.client, "/v1/numbers", "items", self.normalise, NumbersPage)

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """Buy the number, then route it. A buy that may have happened is found by `natural_key` (the engine
        looks it up before trying again): the number is then on the account."""
        digits = str(body["number"]).lstrip("+")
        buy.buy(self.client, digits)
        bought = next((n for n in self.list() if n["number"] == digits), None)
        if bought is None:
            raise errors.ServerError(f"+{digits} was checked out but is not on the account", provider="wavix")
        if "destinations" in body:
            return self.update(str(bought["id"]), body)
        return bought

    def quote(self, body: Mapping[str, Any]) -> str | None:
        item = buy.offer(self.client, str(body["number"]).lstrip("+"))
        return buy.price(item) if item else None

    def release(self, remote_id: str) -> None:
        buy.release(self.client, remote_id)

    def update(self, remote_id: str, body: dict[str, Any]) -> dict[str, Any]:
        patch = {"destinations": body["destinations"]} if "destinations" in body else {}
        return self.normalise(self.client.request("PATCH", f"/v1/numbers/{remote_id}", json=patch))

    def delete(self, remote_id: str) -> None:
        """Never release a number: removing it from a stack removes its routing."""
        try:
            self.client.request("PATCH", f"/v1/numbers/{remote_id}", json={"destinations": []})
        except errors.NotFound:
            pass

    @staticmethod
    def normalise(raw: dict[str, Any]) -> dict[str, Any]:
        """What voxplan reads of a number: its id, its digits and its routing (`destination`, read as
        `destinations`, the key it is written as). A stack declares nothing else of a Wavix number (its fees,
        SMS settings and documents are the vendor's bookkeeping), and it runs for every number on the
        account: keeping the rest would make them most of what a refresh holds. Many numbers route to one
        destination: its text is `shared`."""
        rows = raw.get("destination") or ()
        if len(rows) > 1:
            rows = sorted(rows, key=lambda d: d.get("priority") or 0)
        return {"id": raw.get("id"), "number": raw.get("number"),
                "destinations": [{"destination": shared(d.get("destination")), "transport": d.get("transport"),
                                  "priority": d.get("priority"), "trunk_id": d.get("trunk_id")} for d in rows]}

    @staticmethod
    def natural_key(body: dict[str, Any]) -> str | None:
        number = body.get("number")
        return digits(str(number)) if number else None

    def fill_defaults(self, key: str, value: Any) -> Any:
        if key == "destinations" and isinstance(value, list):
            return [{"trunk_id": None, **d} for d in value]
        return value

    @classmethod
    def sandbox_seed(cls, body: dict[str, Any]) -> dict[str, Any]:
        return {"numbers": {"wavix": [body["number"]]}}


def adapters(api: ApiClient, stack: Stack | None = None) -> dict[str, Adapter]:
    return {TRUNK: Trunk(api), NUMBER: Number(api)}


COMPARED_ONLY_IN_FULL = ("ip_restrict", "didinfo_enabled", "call_restrict", "cost_limit", "channels_restrict",
                         "rewrite_enabled")


def probe(api: ApiClient, region: str | None = None) -> list[Finding]:
    """Read-only probes of the assumptions no Wavix source settles, for `voxplan doctor`."""

    def list_fields(client: ApiClient) -> Finding:
        items = client.request("GET", "/v1/trunks", params={"page": 1, "per_page": 1}).get("sip_trunks") or []
        found = ("no trunk on the account to look at" if not items else
                 "list items carry " + (", ".join(k for k in COMPARED_ONLY_IN_FULL if k in items[0]) or "none")
                 + " of " + ", ".join(COMPARED_ONLY_IN_FULL))
        return Finding("wavix", "GET /v1/trunks items are summaries without the settings voxplan compares",
                       "voxplan/providers/wavix/__init__.py: Trunk.list", found,
                       "reads each declared trunk in full (one GET each) and updates it read-modify-write")

    def did_expansion(client: ApiClient) -> Finding:
        return Finding("wavix", "[did] expands to the dialled number's digits, with or without +",
                       "voxplan/providers/wavix/network.py: DID_PLACEHOLDER",
                       "not probed: only a test call shows it", "writes [did]@<credential id>.sip.vapi.ai")

    def empty_destinations(client: ApiClient) -> Finding:
        return Finding("wavix", "destinations: [] clears a number's routing; a list sent replaces the whole list",
                       "voxplan/providers/wavix/__init__.py: Number.delete, Number.update",
                       "not probed: it takes a write", "sends the whole list, [] to clear")

    def nearest_gateway(client: ApiClient) -> Finding:
        return reach.gateways(region)

    return run_probes("wavix", api, (list_fields, did_expansion, empty_destinations, reach.call_rate,
                                     nearest_gateway))


def _media_region(stack: Stack) -> str | None:
    """Where the voice platform's media run (the gateway to transfer through is the one nearest them)."""
    from voxplan import providers as registry  # the registry imports this package: asked at run time

    return registry.platform(stack).region


FIXED = {"ip_restrict": False, "didinfo_enabled": True, "call_restrict": False, "cost_limit": False,
         "rewrite_enabled": False, "transcription_enabled": False, "transcription_threshold": 6}  # what a stack sets


def _first_numbers(ctx: ExpandContext) -> dict[str, str]:
    """Each trunk's first number in the stack (a trunk without caller_id: takes it as its caller ID), found in
    one pass over the numbers per expansion, not one per trunk (1,000 trunks on 100,000 numbers: 10^8 steps)."""
    key = ("wavix", "first number per trunk")
    found: dict[str, str] | None = ctx.memo.get(key)
    if found is None:
        found = ctx.memo[key] = {}
        for number, entry in (ctx.stack.data.get("numbers") or {}).items():
            trunk = entry.get("trunk") if isinstance(entry, dict) else None
            if isinstance(trunk, str):
                found.setdefault(trunk, number)
    return found


def trunk_body(name: str, spec: dict[str, Any], caller_id: Any) -> dict[str, Any]:
    """A `trunks:` entry's Wavix trunk (SIPTrunkCreateRequest)."""
    body: dict[str, Any] = {"label": spec.get("name") or name, "password": spec["password"],
                            "callerid": digits(str(caller_id)), **FIXED, "channels_restrict": "max_channels" in spec}
    if "max_channels" in spec:
        body["max_channels"] = spec["max_channels"]
    body.update(spec.get("wavix") or {})
    return body


def credential(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """What the trunk's platform credential is made of: the four regional gateways unless the stack lists
    its own, the trunk's server-made SIP login as username, the same password, a leading plus."""
    gateways = spec.get("gateways") or [{"ip": ip} for ip in REGIONAL_GATEWAYS.values()]
    return {"gateways": gateways, "username": Ref(address(TRUNK, name), "name"), "password": spec["password"],
            "options": {"leading_plus": True, **spec}}


class WavixCarrier:
    name = "wavix"
    sip_uri_numbers = False
    tls_signalling = True  # a SIP URI destination may carry ;transport=tls (seed 003)
    number_header = "x-number"  # the dialled number, in the INVITE Wavix sends to a SIP URI (seed 003)

    def needs_trunk(self, route: dict[str, Any] | None) -> bool:
        return routes_to_platform(route)  # Vapi is reached through the trunk's credential

    def expand_trunk(self, ctx: ExpandContext, name: str, spec: dict[str, Any]) -> None:
        caller_id = spec.get("caller_id") or _first_numbers(ctx).get(name)
        if caller_id is None:
            ctx.error(("trunks", name), f"trunks.{name}: a Wavix trunk needs caller_id: (Wavix requires an active "
                      "number of the account), or a number on it")
            return
        ctx.add(Resource(TRUNK, name, trunk_body(name, spec, caller_id), origin=("trunks", name)))
        ctx.platform.trunk_credential(ctx, name, **credential(name, spec))

    def expand_number(self, ctx: ExpandContext, key: str, spec: dict[str, Any], route: dict[str, Any] | None) -> None:
        """A number and its one destination. Numbers sent to one place (`[did]` at one credential: every number of
        a trunk routed to the platform) have the same destinations: the first number's resource is the template
        the rest are siblings of, with their own digits."""
        body: dict[str, Any] = {"number": digits(key)}
        lifecycle = buying(spec)
        if route is None:
            ctx.add(Resource(NUMBER, key, body, origin=("numbers", key), lifecycle=lifecycle))
            return
        target = ctx.route(route, key, spec.get("trunk", ""), DID_PLACEHOLDER)
        shape = (NUMBER, target.uri, target.pstn)
        template = None if lifecycle else ctx.memo.get(shape)
        if template is not None:
            ctx.add(template.sibling(key, ("numbers", key), body, depends_on=target.waits_for))
            return
        body["destinations"] = [{"destination": target.uri, "transport": PSTN if target.pstn else SIP_URI,
                                 "priority": 1}]
        made = Resource(NUMBER, key, body, origin=("numbers", key), depends_on=target.waits_for, lifecycle=lifecycle)
        if not lifecycle:
            ctx.memo[shape] = made
        ctx.add(made)

    # -- the way back (voxplan.providers.reverse) ------------------------------------------------------
    takes_the_rest = False

    def generate_trunks(self, ctx: GenerateContext) -> None:
        """Each Wavix trunk with the platform credential that logs in as it, back to one `trunks:` entry."""
        for trunk in ctx.objects(TRUNK):
            found = ctx.platform.credential_for(ctx, login=str(trunk.get("name")))
            if found is None:
                ctx.skip(TRUNK, trunk, "no Vapi credential logs in as it, and a stack's Wavix trunk always has one")
                continue
            key = ctx.key_for("trunks", TRUNK, trunk, str(trunk.get("label") or trunk.get("name")))
            ctx.claim("trunks", TRUNK, trunk, key)
            entry: dict[str, Any] = {"carrier": "wavix"}
            if trunk.get("label") and trunk["label"] != key:
                entry["name"] = trunk["label"]
            entry["password"] = ctx.secret(("trunks", key, "password"), f"trunks.{key}.password: the Wavix trunk's "
                                           "SIP password, also its Vapi credential's (write-only: neither returns it)")
            if trunk.get("callerid"):
                entry["caller_id"] = "+" + digits(str(trunk["callerid"]))
            if trunk.get("channels_restrict") and trunk.get("max_channels"):
                entry["max_channels"] = trunk["max_channels"]
            forward = trunk_body(key, entry, entry.get("caller_id", ""))
            own = {k: trunk.get(k) for k in forward if k not in ("label", "password", "callerid", "max_channels")
                   and trunk.get(k) is not None and trunk.get(k) != forward[k]}  # settings the stack's fixed ones miss
            if own:
                entry["wavix"] = own
            side = ctx.platform.trunk_side(ctx, found, key, entry, made=functools.partial(credential, key),
                                           defaults={"gateways": credential(key, {"password": ""})["gateways"],
                                                     "leading_plus": True, "auth": False})
            if isinstance(side, Unresolved):
                ctx.skip(TRUNK, trunk, side.why)
                continue
            ctx.place("trunks", key, side, (TRUNK, trunk))

    def generate_numbers(self, ctx: GenerateContext) -> None:
        """Each Wavix number back to its `numbers:` entry and, from its one destination, its route."""
        for number in ctx.objects(NUMBER):
            key = "+" + digits(str(number.get("number")))
            entry: dict[str, Any] = {"carrier": "wavix"}
            rows = number.get("destinations") or []
            row = rows[0] if len(rows) == 1 else {}
            route: dict[str, Any] | None = None
            why = f"{len(rows)} destinations, where a route says one" if len(rows) > 1 else ""
            if row and (row.get("transport") not in (SIP_URI, PSTN) or row.get("trunk_id") is not None
                        or row.get("priority") not in (None, 1)):
                why = "its destination is not one a route says (a SIP URI or a phone number, priority 1)"
            elif row:
                route, fields = ctx.route(str(row.get("destination")), pstn=row.get("transport") == PSTN,
                                          number=key, user=DID_PLACEHOLDER)
                why = str(fields.pop("why", ""))
                entry.update(fields)
            if why:
                ctx.notes[("numbers", key)] = f"routing left as it is: {why}"
            ctx.place("numbers", key, entry, (NUMBER, number))
            if route is not None:
                ctx.place("routes", key, route)

    def lint(self, stack: Stack) -> Iterable[Diagnostic]:
        yield from transfer_reach(stack, "wavix", is_gateway_host)
        for name, spec in stack.section("trunks").items():
            if spec.get("carrier") != "wavix" or "gateways" not in spec:
                continue
            have = {g.get("ip") for g in spec["gateways"]}
            for region, ip in REGIONAL_GATEWAYS.items():
                if ip not in have:
                    yield Diagnostic(stack.source.at(("trunks", name, "gateways")),
                                     f"trunks.{name}: Wavix gateway {ip} ({region}.wavix.net) is missing; Vapi "
                                     "rejects inbound calls from an unlisted gateway with 401",
                                     hint="list all four regional gateways, or leave gateways: out")


# Wavix documents no limits for trunks and numbers (reference/wavix-api.md §11), only that 429s come back.
BUDGET = (10, 1.0, None)
PROVIDER = Provider(name="wavix", surface=SURFACE, api_url=API_URL, kinds=(Trunk, Number), adapters=adapters,
                    carrier=lambda platform: WavixCarrier(), budget=BUDGET,
                    probes=lambda client, stack: probe(client, _media_region(stack)), hops=hops.hops)
