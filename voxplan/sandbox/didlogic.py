"""didlogic emulator, from reference/didlogic-api.md: SIP accounts and purchased numbers' destinations.

True to: Bearer auth with **403** on a bad token; Rails-style form bodies (`sipaccount[password]=…`; a JSON
body wrapped under the root key is accepted too); optional `.json` suffixes; server-assigned 5-digit
login `name`; write-only `password`; `{"sipaccounts":[…]}`/`{"sipaccount":…}` envelopes; `/v1/purchases`
paged 100 by default (max 1000); destinations listed under `destination` (singular key), created under
`did_destination`, appended with `priority = max + 1`, and immutable except `active`/`callhunt` (422).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from voxplan.core.hops import split_uri
from voxplan.sandbox.core import Answer, ApiError, Request, Response, Router, key_refused

ACCOUNT_FIELDS = {"password", "callerid", "label", "rewrite_enabled", "rewrite_cond", "rewrite_prefix",
                  "didinfo_enabled", "ip_restrict", "call_restrict", "call_limit", "channels_restrict",
                  "max_channels", "cost_limit", "max_call_cost"}
BOOLS = {"rewrite_enabled", "didinfo_enabled", "ip_restrict", "call_restrict", "channels_restrict", "cost_limit",
         "callhunt", "active"}
_BRACKET = re.compile(r"^(\w+)\[(\w+)\]$")
# didlogic publishes no signalling addresses (didlogic-api.md): the emulated didlogic sends calls from this
# documentation address, the one the example stacks list as didlogic's inbound gateway
SIGNALLING_IP = "198.51.100.20"


def fail(status: int, message: str) -> ApiError:
    return ApiError(status, {"error": message})


def form(req: Request, root: str) -> dict[str, Any]:
    """`root[field]=value` form fields (or a JSON body wrapped under `root`) as a dict."""
    ctype = req.headers.get("content-type", "")
    if "json" in ctype:
        body = json.loads(req.body or b"{}")
        return dict(body.get(root) or {})
    out: dict[str, Any] = {}
    for key, values in parse_qs(req.body.decode(), keep_blank_values=True).items():
        match = _BRACKET.match(key)
        if not match or match.group(1) != root:
            raise fail(422, f"unexpected parameter {key}")
        field, value = match.group(2), values[-1]
        out[field] = value in ("1", "true") if field in BOOLS else value
    return out


class DidlogicEmulator:
    """Calls (voxplan.sandbox.core.Network): a call to a purchased number goes to its first active destination
    (list order), from SIGNALLING_IP; no destination answers 404. An outbound call through the proxy
    (`*.didlogic.net`) is checked against the SIP account's login and password (403 otherwise)."""

    name = "didlogic"
    network: Any = None  # the sandbox's Network, set by the Sandbox
    api_key: str | None = None  # set by Sandbox: the one key accepted, None for any

    def __init__(self) -> None:
        self.accounts: dict[str, dict[str, Any]] = {}
        self.numbers: dict[str, dict[str, Any]] = {}
        self._newest: list[str] | None = None  # the numbers' digits, newest first; None: to sort
        self.secrets: dict[str, str] = {}
        self.stock: dict[str, dict[str, Any]] = {}  # numbers for sale, by digits
        self._next = {"login": 10001, "account": 1, "dest": 1, "number": 501}
        r = self.router = Router()
        r.add("GET", "/v1/sipaccounts", lambda req: Response(200, {"sipaccounts": [self._out(a) for a in
                                                                                    self.accounts.values()]}))
        r.add("POST", "/v1/sipaccounts", self.create_account)
        r.add("GET", "/v1/sipaccounts/{name}",
              lambda req, name: Response(200, {"sipaccount": self._out(self._acct(name))}))
        r.add("PUT", "/v1/sipaccounts/{name}", self.update_account)
        r.add("DELETE", "/v1/sipaccounts/{name}", self.delete_account)
        r.add("GET", "/v1/purchases", self.list_purchases)
        r.add("GET", "/v1/purchases/{number}/destinations", self.list_destinations)
        r.add("POST", "/v1/purchases/{number}/destinations", self.create_destination)
        r.add("PATCH", "/v1/purchases/{number}/destinations/{id}", self.patch_destination)
        r.add("DELETE", "/v1/purchases/{number}/destinations/{id}", self.delete_destination)
        r.add("POST", "/v2/buy/purchase", self.purchase)
        r.add("DELETE", "/v2/buy/purchase", self.release)

    def handle(self, request: Request) -> Response:
        if key_refused(request, self.api_key):
            raise fail(403, "Access denied")  # 403, not 401, for a missing or wrong token (didlogic-api.md)
        request.path = request.path.removeprefix("/api").removesuffix(".json")
        return self.router.handle(request, fail(404, "Not found"))

    @staticmethod
    def error_body(status: int, message: str) -> Any:
        return fail(status, message).body

    def dump(self) -> dict[str, Any]:
        return {"accounts": self.accounts, "numbers": self.numbers, "secrets": self.secrets, "next": self._next,
                "stock": self.stock}

    def load(self, data: dict[str, Any]) -> None:
        self.accounts = dict(data.get("accounts") or {})
        self.numbers = dict(data.get("numbers") or {})
        self._newest = None
        self.secrets = dict(data.get("secrets") or {})
        self._next = dict(data.get("next") or {"login": 10001, "account": 1, "dest": 1, "number": 501})
        self.stock = dict(data.get("stock") or {})

    def seed_number(self, number: str, status: str = "active") -> dict[str, Any]:
        digits = number.lstrip("+")
        if digits not in self.numbers:
            self.numbers[digits] = {"id": self._take("number"), "number": digits, "channels": 2, "country": "",
                                    "area": "", "check_state": "checked", "destinations": []}
            self._newest = None
        return self.numbers[digits]

    # -- buying (v2): the stock is what the sandbox seeds as available -----------------------------------
    def seed_available(self, item: Any) -> None:
        spec = item if isinstance(item, dict) else {"number": item}
        digits = str(spec["number"]).lstrip("+")
        if digits not in self.numbers:
            self.stock[digits] = {"number": digits, "activation": float(spec.get("activation_fee", 1.0)),
                                  "monthly_fee": float(spec.get("monthly_fee", 1.0)), "per_minute": 0.01}

    def purchase(self, req: Request) -> Response:
        wanted = [d.lstrip("+") for d in self._did_numbers(req)]
        errors = {d: "not available" for d in wanted if d not in self.stock}
        bought = []
        for digits in wanted:
            if digits in self.stock:
                item = self.stock.pop(digits)
                number = self.seed_number(digits)
                bought.append({**{k: v for k, v in number.items() if k != "destinations"}, **item, "channels": 2,
                               "area": "", "free_minutes": 0, "codec": "G711", "require_docs": ""})
        return Response(200, {"purchase": {"errors": errors, "purchases": bought}})

    def release(self, req: Request) -> Response:
        gone = [self.numbers.pop(d.lstrip("+")) for d in self._did_numbers(req) if d.lstrip("+") in self.numbers]
        self._newest = None
        if not gone:
            raise fail(404, "DID not found")
        return Response(200, {"dids": [{k: v for k, v in n.items() if k != "destinations"} for n in gone]})

    @staticmethod
    def _did_numbers(req: Request) -> list[str]:
        values = parse_qs(req.body.decode(), keep_blank_values=True).get("did_numbers") or []
        numbers = [n for v in values for n in v.split(",") if n]
        if not numbers:
            raise fail(422, "did_numbers is required")
        return numbers

    # -- SIP accounts -------------------------------------------------------------------------------
    def create_account(self, req: Request) -> Response:
        body = form(req, "sipaccount")
        unknown = set(body) - ACCOUNT_FIELDS
        if unknown or not body.get("password"):
            raise fail(422, "password is required" if not unknown else f"unknown fields: {', '.join(sorted(unknown))}")
        name = str(self._take("login"))
        account = {"id": self._take("account"), "name": name, "callerid": None, "label": "", "host": "dynamic",
                   "charge": "0.0", "talk_time": 0, "rewrite_enabled": False, "rewrite_cond": "", "rewrite_prefix": "",
                   "didinfo_enabled": False, "ip_restrict": False, "allowed_ips": [], "call_restrict": False,
                   "call_limit": 0, "channels_restrict": False, "max_channels": 1, "cost_limit": False,
                   "max_call_cost": "0.0", "created_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")}
        self._apply(account, body)
        self.accounts[name] = account
        return Response(200, {"sipaccount": self._out(account)})

    def update_account(self, req: Request, name: str) -> Response:
        account = self._acct(name)
        body = form(req, "sipaccount")
        if set(body) - ACCOUNT_FIELDS:
            raise fail(422, f"unknown fields: {', '.join(sorted(set(body) - ACCOUNT_FIELDS))}")
        self._apply(account, body)  # a partial update: fields not sent are kept
        return Response(200, {"sipaccount": self._out(account)})

    def delete_account(self, req: Request, name: str) -> Response:
        del self.accounts[self._acct(name)["name"]]
        return Response(200, {"success": True})

    def _apply(self, account: dict[str, Any], body: dict[str, Any]) -> None:
        for key, value in body.items():
            if key == "password":
                self.secrets[f"{account['name']}:password"] = hashlib.sha256(str(value).encode()).hexdigest()
            elif key == "max_call_cost":
                account[key] = str(float(value or 0))
            else:
                account[key] = value

    def _acct(self, name: str) -> dict[str, Any]:
        if name not in self.accounts:
            raise fail(404, "SIP account not found")
        return self.accounts[name]

    @staticmethod
    def _out(obj: dict[str, Any]) -> dict[str, Any]:
        return copy.deepcopy(obj)

    # -- numbers and destinations ------------------------------------------------------------------
    def list_purchases(self, req: Request) -> Response:
        page, per_page = int(req.query.get("page", "1")), int(req.query.get("per_page", "100"))
        if not 1 <= per_page <= 1000:
            raise fail(422, "per_page must be between 1 and 1000")
        if self._newest is None:  # sorted once per change of the set, not per page (paging stays linear)
            self._newest = sorted(self.numbers, key=lambda d: self.numbers[d]["id"], reverse=True)  # newest first
        items = self._newest
        chunk = items[(page - 1) * per_page: page * per_page]
        rows = [{k: v for k, v in self.numbers[d].items() if k != "destinations"} for d in chunk]
        pages = max(1, math.ceil(len(items) / per_page))
        return Response(200, {"purchases": rows, "pagination": {"page": page, "pages": pages, "per_page": per_page,
                                                                "total_records": len(items)}})

    def list_destinations(self, req: Request, number: str) -> Response:
        return Response(200, {"destination": copy.deepcopy(self._num(number)["destinations"])})

    def create_destination(self, req: Request, number: str) -> Response:
        num = self._num(number)
        body = form(req, "destination")
        if not body.get("destination") or set(body) - {"destination", "transport", "callhunt", "active"}:
            raise fail(422, "destination[destination] is required; only transport, callhunt and active may be given")
        transport = int(body.get("transport", 1))
        if transport not in (1, 4, 5):
            raise fail(422, "transport must be 1, 4 or 5")
        priority = max([d["priority"] for d in num["destinations"]], default=0) + 1
        row = {"id": self._take("dest"), "destination": body["destination"], "transport": transport,
               "priority": priority, "callhunt": bool(body.get("callhunt", False)),
               "active": bool(body.get("active", True))}
        num["destinations"].append(row)
        return Response(200, {"did_destination": copy.deepcopy(row)})

    def patch_destination(self, req: Request, number: str, id: str) -> Response:
        row = self._dest(number, id)
        body = form(req, "destination")
        if set(body) - {"callhunt", "active"}:
            raise fail(422, "only callhunt and active can be changed; delete and recreate the destination")
        row.update(body)
        return Response(200, {"did_destination": copy.deepcopy(row)})

    def delete_destination(self, req: Request, number: str, id: str) -> Response:
        num = self._num(number)
        row = self._dest(number, id)
        num["destinations"].remove(row)
        return Response(200, {"success": True})

    def _num(self, number: str) -> dict[str, Any]:
        digits = number.lstrip("+")
        if digits not in self.numbers:
            raise fail(404, "DID not found")
        return self.numbers[digits]

    def _dest(self, number: str, dest_id: str) -> dict[str, Any]:
        for row in self._num(number)["destinations"]:
            if str(row["id"]) == dest_id:
                return row
        raise fail(404, "Destination not found")

    # -- calls --------------------------------------------------------------------------------------
    def ingress(self, leg: Any, network: Any) -> Any:
        scheme, user, host, _ = split_uri(leg.to)
        if scheme != "tel" and not host.lower().endswith(".didlogic.net"):
            return None
        digits = user.lstrip("+")
        with network.lock:
            number = self.numbers.get(digits)
            if number is None:
                return None if scheme == "tel" else Answer(404, "Not Found", via=leg.via)
            rows = [d for d in sorted(number["destinations"], key=lambda d: d["priority"]) if d.get("active", True)]
            if not rows:
                return Answer(404, f"Not Found: no destination for +{digits}", via=leg.via)
            row = dict(rows[0])
        passed = f"didlogic: +{digits}"
        target = str(row["destination"])
        if int(row["transport"]) == 4:
            return network.deliver(leg.next(f"tel:+{target.lstrip('+')}", source=SIGNALLING_IP, passed=passed))
        return network.deliver(leg.next(target if target.startswith(("sip:", "sips:")) else f"sip:{target}",
                                        source=SIGNALLING_IP, passed=passed))

    def egress(self, gateway: str, leg: Any, network: Any) -> Any:
        if not gateway.lower().endswith(".didlogic.net"):
            return None
        with network.lock:
            login, digest = leg.auth or ("", "")
            if login not in self.accounts or self.secrets.get(f"{login}:password") != digest:
                return Answer(403, "Forbidden: the SIP account login or password is wrong", via=leg.via)
        return network.deliver(leg.next(leg.to, source=SIGNALLING_IP, passed=f"didlogic: account {login}"))

    def _take(self, counter: str) -> int:
        value = self._next[counter]
        self._next[counter] = value + 1
        return value


EMULATOR = DidlogicEmulator  # found by voxplan.sandbox.core.emulators()
