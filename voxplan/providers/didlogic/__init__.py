"""didlogic: SIP accounts and purchased numbers' destinations (reference/didlogic-api.md).

Quirks handled here: form-encoded Rails-style bodies (`sipaccount[password]=…`); the 5-digit login
`name` is made by the server and is the path key; the password is write-only; destinations are
immutable but for `active`/`callhunt`, and their order is append order, so a change rebuilds the list
from the first wrong position; numbers are adopted, never bought or released; destination lists cost a
request per number, so refresh fetches them only for numbers the stack or state names.

Unconfirmed, and where one change fixes it: the proxy host (PROXY); didlogic's inbound source IPs
(none assumed: add them as inbound gateways in the stack); whether `sip:` is kept or stripped (destinations
are written without it). The user part of the Vapi URI is digits without `+`, as didlogic's and Vapi's
didlogic guides write it (USER_PART_PLUS).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from voxplan.core import errors
from voxplan.core.errors import Diagnostic
from voxplan.core.model import Ref, Resource, address
from voxplan.providers.base import (
    Adapter,
    ExpandContext,
    Finding,
    Provider,
    buying,
    routes_to_platform,
    run_probes,
    transfer_reach,
)
from voxplan.providers.didlogic import hops
from voxplan.providers.didlogic.surface import SURFACE
from voxplan.providers.http import ApiClient
from voxplan.providers.reverse import GenerateContext, Unresolved, as_dict
from voxplan.stack.model import Stack

API_URL = "https://app.didlogic.com/api"
PROXY = "sip.nl.didlogic.net"
PER_PAGE = 1000
SIP_URI, PSTN = 1, 4
ACCOUNT, NUMBER = "didlogic.sipaccount", "didlogic.number"


USER_PART_PLUS = False  # didlogic's and Vapi's didlogic guides write the user part as digits: 31203691111@…


def user_part(number: str) -> str:
    """How a didlogic destination names the dialled number in a Vapi URI (`<user>@<credential>.sip.vapi.ai`)."""
    digits = number.lstrip("+")
    return "+" + digits if USER_PART_PLUS else digits


def _message(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    return str(body.get("error") or body.get("message") or body) if isinstance(body, dict) else str(body)


def form(root: str, body: dict[str, Any]) -> dict[str, str]:
    out = {}
    for key, value in body.items():
        out[f"{root}[{key}]"] = ("1" if value else "0") if isinstance(value, bool) else str(value)
    return out


class SipAccount(Adapter):
    kind = ACCOUNT
    write_only = ("password",)
    cleared = {"callerid": ""}  # form-encoded: an empty value, never the text "None"
    env_named = "label"

    def list(self, interest: frozenset[str] | None = None) -> list[dict[str, Any]]:
        body = self.client.request("GET", "/v1/sipaccounts")
        return [self.normalise(a) for a in body.get("sipaccounts") or []]

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        answer = self.client.request("POST", "/v1/sipaccounts", data=form("sipaccount", body))
        return self.normalise(answer["sipaccount"])

    def update(self, remote_id: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = self.client.request("PUT", f"/v1/sipaccounts/{remote_id}", data=form("sipaccount", body))
        return self.normalise(answer["sipaccount"])

    def delete(self, remote_id: str) -> None:
        self.delete_at(f"/v1/sipaccounts/{remote_id}")

    @staticmethod
    def normalise(raw: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in raw.items() if k not in ("password", "charge", "talk_time")}

    @staticmethod
    def remote_id(obj: Any) -> str:
        return str(obj["name"])  # the login is the path key

    @staticmethod
    def natural_key(body: dict[str, Any]) -> str | None:
        return body.get("label")


class Number(Adapter):
    kind = NUMBER
    creatable = False
    delete_unroutes = True  # delete() clears destinations; numbers are never released
    cleared = {"destinations": []}
    shared_lists = ("destinations",)  # seed 004: Vapi's "at the top of the list", the user's others kept
    wants_interest = True  # a number's destinations cost a request each: only for the stack's numbers

    def list(self, interest: frozenset[str] | None = None) -> list[dict[str, Any]]:
        owned: list[dict[str, Any]] = []
        page = 1
        while True:
            body = self.client.request("GET", "/v1/purchases", params={"page": page, "per_page": PER_PAGE})
            owned += body.get("purchases") or []
            meta = body.get("pagination") or {}
            pages = int(meta.get("pages") or meta.get("total_pages") or 1)
            if page >= pages or not body.get("purchases"):
                break
            page += 1
        out = []
        for item in owned:
            obj = {"id": item["number"], "number": item["number"]}
            if interest is None or item["number"] in interest:
                rows = self.client.request("GET", f"/v1/purchases/{item['number']}/destinations")
                obj["destination_rows"] = sorted(rows.get("destination") or [], key=lambda d: d["priority"])
            out.append(self.normalise(obj))
        return out

    create_spends = True  # a create buys the number (POST /v2/buy/purchase), with purchase: true and --allow-purchase

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """Buy the number (reference/didlogic-api.md: `POST /v2/buy/purchase`, form `did_numbers`), then add its
        destinations. didlogic's price shows in the purchase's answer only: voxplan does not walk its stock at
        plan time (quote: none)."""
        digits = str(body["number"]).lstrip("+")
        answer = self.client.request("POST", "/v2/buy/purchase", data={"did_numbers": digits})
        problems = ((answer or {}).get("purchase") or {}).get("errors") or {}
        if problems:
            raise errors.InvalidRequest(f"+{digits}: didlogic refused the purchase: {problems}", provider="didlogic")
        return self.update(digits, body) if body.get("destinations") else self.normalise(
            {"id": digits, "number": digits, "destination_rows": []})

    def release(self, remote_id: str) -> None:
        self.client.request("DELETE", "/v2/buy/purchase", data={"did_numbers": remote_id})

    def update(self, remote_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Rebuild the destination list from the first position that differs (order is append order)."""
        path = f"/v1/purchases/{remote_id}/destinations"
        rows = sorted(self.client.request("GET", path).get("destination") or [], key=lambda d: d["priority"])
        wanted = body.get("destinations") or []
        keep = 0
        while keep < min(len(rows), len(wanted)) and _same_row(rows[keep], wanted[keep]):
            keep += 1
        for row in rows[keep:]:
            self.client.request("DELETE", f"{path}/{row['id']}")
        for dest in wanted[keep:]:
            self.client.request("POST", path, data=form("destination", {**dest, "active": True}))
        rows = self.client.request("GET", path).get("destination") or []
        return self.normalise({"id": remote_id, "number": remote_id, "destination_rows": rows})

    def delete(self, remote_id: str) -> None:
        """Never release a number: removing it from a stack removes its routing."""
        self.update(remote_id, {"destinations": []})

    @staticmethod
    def normalise(raw: dict[str, Any]) -> dict[str, Any]:
        obj = {k: v for k, v in raw.items() if k != "destination_rows"}
        if "destination_rows" in raw:
            rows = sorted(raw["destination_rows"], key=lambda d: d["priority"])
            obj["destinations"] = [{"destination": d["destination"], "transport": d["transport"]} for d in rows]
        return obj

    @staticmethod
    def natural_key(body: dict[str, Any]) -> str | None:
        number = body.get("number")
        return str(number).lstrip("+") if number else None

    @classmethod
    def sandbox_seed(cls, body: dict[str, Any]) -> dict[str, Any]:
        return {"numbers": {"didlogic": ["+" + str(body["number"])]}}


def _same_row(row: dict[str, Any], dest: dict[str, Any]) -> bool:
    return bool(row["destination"] == dest["destination"] and int(row["transport"]) == int(dest["transport"]))


def adapters(api: ApiClient, stack: Stack | None = None) -> dict[str, Adapter]:
    return {ACCOUNT: SipAccount(api), NUMBER: Number(api)}


def probe(api: ApiClient) -> list[Finding]:
    """Read-only probes of the assumptions no didlogic source settles, for `voxplan doctor`."""

    def purchases_paging(client: ApiClient) -> Finding:
        meta = client.request("GET", "/v1/purchases", params={"page": 1, "per_page": 1}).get("pagination") or {}
        return Finding("didlogic", "/v1/purchases pages say pages or total_pages",
                       "voxplan/providers/didlogic/__init__.py: Number.list",
                       f"pagination keys {sorted(meta)}" if meta else "no pagination in the answer",
                       "reads either, and stops at an empty page")

    def uri_user_part(client: ApiClient) -> Finding:
        return Finding("didlogic", "Vapi matches the URI's user part written as digits without +",
                       "voxplan/providers/didlogic/__init__.py: USER_PART_PLUS", "not probed: it takes a call",
                       "writes digits, as didlogic's and Vapi's didlogic guides do")

    return run_probes("didlogic", api, (purchases_paging, uri_user_part))


def account_body(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """A `trunks:` entry's didlogic SIP account."""
    body: dict[str, Any] = {"label": spec.get("name") or name, "password": spec["password"]}
    if spec.get("caller_id"):
        body["callerid"] = str(spec["caller_id"]).lstrip("+")
    body.update(spec.get("didlogic") or {})
    return body


def credential(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """What the account's platform credential is made of: the proxy first (outbound only: a hostname),
    then the stack's gateways; the account's server-made login as username; the same password."""
    proxy = {"ip": spec.get("proxy") or PROXY, "inbound": False, "protocol": spec.get("protocol", "udp")}
    return {"gateways": [proxy, *(spec.get("gateways") or [])], "username": Ref(address(ACCOUNT, name), "name"),
            "password": spec["password"], "options": {"leading_plus": True, **spec}}


class DidlogicCarrier:
    name = "didlogic"
    sip_uri_numbers = False

    def needs_trunk(self, route: dict[str, Any] | None) -> bool:
        return routes_to_platform(route)  # Vapi is reached through the trunk's credential

    def expand_trunk(self, ctx: ExpandContext, name: str, spec: dict[str, Any]) -> None:
        ctx.add(Resource(ACCOUNT, name, account_body(name, spec), origin=("trunks", name)))
        ctx.platform.trunk_credential(ctx, name, **credential(name, spec))

    def expand_number(self, ctx: ExpandContext, key: str, spec: dict[str, Any], route: dict[str, Any] | None) -> None:
        body: dict[str, Any] = {"number": key.lstrip("+")}
        depends: tuple[str, ...] = ()
        if route is not None:
            target = ctx.route(route, key, spec.get("trunk", ""), user_part(key))
            body["destinations"] = [{"destination": target.uri, "transport": PSTN if target.pstn else SIP_URI}]
            depends = target.waits_for
        ctx.add(Resource(NUMBER, key, body, origin=("numbers", key), depends_on=depends, lifecycle=buying(spec)))

    # -- the way back (voxplan.providers.reverse) ------------------------------------------------------
    takes_the_rest = False

    def generate_trunks(self, ctx: GenerateContext) -> None:
        """Each SIP account with the platform credential that logs in as it, back to one `trunks:` entry."""
        for account in ctx.objects(ACCOUNT):
            login = str(account.get("name"))
            found = ctx.platform.credential_for(ctx, login=login)
            if found is None:
                ctx.skip(ACCOUNT, account, "no Vapi credential logs in as it, and a stack's didlogic trunk always has "
                         "one")
                continue
            key = ctx.key_for("trunks", ACCOUNT, account, str(account.get("label") or login))
            ctx.claim("trunks", ACCOUNT, account, key)
            entry: dict[str, Any] = {"carrier": "didlogic"}
            if account.get("label") and account["label"] != key:
                entry["name"] = account["label"]
            entry["password"] = ctx.secret(("trunks", key, "password"), f"trunks.{key}.password: the didlogic SIP "
                                           "account's password, also its Vapi credential's (write-only)")
            if account.get("callerid"):
                entry["caller_id"] = "+" + str(account["callerid"]).lstrip("+")
            proxy = as_dict((found.get("gateways") or [None])[0])
            if proxy.get("ip") and proxy["ip"] != PROXY:
                entry["proxy"] = proxy["ip"]
            if proxy.get("outboundProtocol") not in (None, "udp"):
                entry["protocol"] = proxy["outboundProtocol"]
            side = ctx.platform.trunk_side(ctx, found, key, entry, made=functools.partial(credential, key), fixed=1,
                                           defaults={"leading_plus": True, "auth": False})
            if isinstance(side, Unresolved):
                ctx.skip(ACCOUNT, account, side.why)
                continue
            ctx.place("trunks", key, side, (ACCOUNT, account))

    def generate_numbers(self, ctx: GenerateContext) -> None:
        """Each number back to its `numbers:` entry and, from the first of its destinations (the one a
        stack's route is), its route; the others stay as they are, after it."""
        for number in ctx.objects(NUMBER):
            key = "+" + str(number.get("number")).lstrip("+")
            entry: dict[str, Any] = {"carrier": "didlogic"}
            rows = number.get("destinations") or []
            route: dict[str, Any] | None = None
            if rows and int(rows[0].get("transport") or 0) in (SIP_URI, PSTN):
                route, fields = ctx.route(str(rows[0].get("destination")), pstn=int(rows[0]["transport"]) == PSTN,
                                          number=key, user=user_part(key))
                why = str(fields.pop("why", ""))
                entry.update(fields)
                if why:
                    ctx.notes[("numbers", key)] = f"routing left as it is: {why}"
            elif rows:
                ctx.notes[("numbers", key)] = "routing left as it is: its first destination is not one a route says"
            ctx.place("numbers", key, entry, (NUMBER, number))
            if route is not None:
                ctx.place("routes", key, route)

    def lint(self, stack: Stack) -> Iterable[Diagnostic]:
        yield from transfer_reach(stack, "didlogic", lambda host: host.lower().endswith(".didlogic.net"))
        yield from refer_lint(stack)
        for name, spec in stack.section("trunks").items():
            inbound = [g for g in spec.get("gateways") or [] if g.get("inbound", True)]
            if spec.get("carrier") == "didlogic" and not inbound:
                yield Diagnostic(stack.source.at(("trunks", name)),
                                 f"trunks.{name}: no inbound gateway: didlogic's proxy is a hostname, so Vapi can "
                                 "only send calls out through it", hint="add didlogic's signalling IPs under "
                                 "gateways: to receive calls on Vapi", severity="warning")


def refer_lint(stack: Stack) -> Iterable[Diagnostic]:
    """A blind transfer hands the call back to the carrier with SIP REFER, which didlogic's account manager must
    enable (seed 004; no API): a transfer on a call that came in on a didlogic number, whose trunk does not say
    `refer_enabled: true`, is a warning at the trunk."""
    trunks = stack.section("trunks")
    tools = stack.section("tools")
    assistants = stack.section("assistants")
    routes = {k.replace(" ", ""): v for k, v in stack.section("routes").items() if isinstance(v, dict)}
    warned: set[str] = set()
    for key, spec in stack.section("numbers").items():
        trunk = str(spec.get("trunk") or "")
        if spec.get("carrier") != "didlogic" or not trunk or trunks.get(trunk, {}).get("refer_enabled") \
                or trunk in warned:
            continue
        route = routes.get(key.replace(" ", "")) or {}
        assistant = assistants.get(str(route.get("assistant"))) if route.get("assistant") else None
        transfers = [t for t in (assistant or {}).get("tools") or [] if (tools.get(t) or {}).get("transfer")
                     and "refer" == ((tools.get(t) or {}).get("sip_verb") or "refer")]
        if transfers:
            warned.add(trunk)
            yield Diagnostic(stack.source.at(("trunks", trunk)),
                             f"trunks.{trunk}: calls on {key} may be transferred ({', '.join(transfers)}) with SIP "
                             "REFER, which didlogic's account manager must enable on the account (seed 004)",
                             hint="once didlogic has enabled it, say so: refer_enabled: true", severity="warning")


# didlogic documents no rate limits (reference/didlogic-api.md §9): a gentle default.
BUDGET = (5, 1.0, None)
PROVIDER = Provider(name="didlogic", surface=SURFACE, api_url=API_URL, kinds=(SipAccount, Number), adapters=adapters,
                    carrier=lambda platform: DidlogicCarrier(), budget=BUDGET, message=_message,
                    probes=lambda client, _stack: probe(client), hops=hops.hops)
