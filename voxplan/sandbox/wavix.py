"""Wavix emulator, from reference/wavix-api.md: SIP trunks and purchased numbers.

True to: Bearer (or legacy `appid`) auth; `{"success":false,"message":…}` errors; trunk create 201 with a
server-made 5-digit SIP login in `name`; `password` write-only; PUT full replace (omitted fields revert
to defaults, `password` required every time); numbers paged with `page/per_page` (default 25, max 100),
digits without `+`, written as `destinations` and read as `destination` with row ids that change on every
rewrite; legacy `/v1/mydids` list; numbers are never created here (the account buys them: tests and the
embedded sandbox seed them through `/_sandbox`).
"""

from __future__ import annotations

import copy
import hashlib
import math
import zlib
from datetime import UTC, datetime
from typing import Any, TypeVar

import phonenumbers

from voxplan.core.hops import split_uri
from voxplan.sandbox.core import Answer, ApiError, Request, Response, Router, key_refused

TRUNK_REQUIRED = ("label", "password", "callerid", "ip_restrict", "didinfo_enabled", "call_restrict", "cost_limit",
                  "channels_restrict", "rewrite_enabled", "transcription_enabled", "transcription_threshold")
TRUNK_DEFAULTS: dict[str, Any] = {
    "ip_restrict": False, "allowed_ips": [], "didinfo_enabled": True, "call_restrict": False, "call_limit": None,
    "cost_limit": False, "max_call_cost": None, "channels_restrict": False, "max_channels": None,
    "rewrite_enabled": False, "rewrite_prefix": "", "rewrite_cond": "", "call_recording_enabled": False,
    "transcription_enabled": False, "transcription_threshold": 6, "machine_detection_enabled": False,
    "encrypted_media": False, "multiple_numbers": False,
}
TRUNK_FIELDS = set(TRUNK_DEFAULTS) | {"label", "password", "callerid", "host_request"}
# GET /v1/trunks items are SIPTrunkSummary (additionalProperties: false): not the full object
SUMMARY_FIELDS = ("id", "name", "callerid", "label", "multiple_numbers", "passthrough", "encrypted_media",
                  "call_recording_enabled", "machine_detection_enabled", "transcription_enabled",
                  "transcription_threshold", "access_token")
NUMBER_DEFAULTS: dict[str, Any] = {  # the spec's required Number fields, as a freshly bought number has them
    "activation_fee": "0.00", "monthly_fee": "1.00", "per_min": "0.01", "city": "", "state": None, "country": "",
    "country_short_name": "", "channels": 2, "require_docs": [], "documents": [], "label": None, "seconds": "0",
    "paid_until": "2027-01-01", "sms_enabled": False, "sms_relay_url": None, "cnam": None,
    "call_recording_enabled": False, "transcription_enabled": False, "transcription_threshold": 6,
    "domestic_cli": False, "call_status_url": None,
}
NUMBER_PATCH = {"destinations", "sms_enabled", "sms_relay_url", "call_recording_enabled", "transcription_enabled",
                "transcription_threshold", "call_status_url"}
DEST_FIELDS = {"destination", "transport", "priority", "trunk_id"}
# the regional gateways calls come from and trunks dial through (wavix-api.md, "SIP side"), nl first
GATEWAYS = {"nl.wavix.net": "95.211.82.14", "us.wavix.net": "209.58.144.243", "sg.wavix.net": "23.108.101.90",
            "au.wavix.net": "173.234.106.26"}


def _geography(digits: str) -> dict[str, Any]:
    """Where the emulated stock says a number is: its country (libphonenumber's name), a region for the
    countries Wavix lists by state (US, Canada, Australia), a city named as libphonenumber names the area, and
    the area code (the national destination code). Ids are stable hashes of the names. The geocoder's data
    is imported here, on the first number asked about (0.3-0.6 s of CPU every sandbox paid at start)."""
    from phonenumbers import geocoder

    parsed = phonenumbers.parse("+" + digits)
    national = phonenumbers.national_significant_number(parsed)
    area = national[:phonenumbers.length_of_national_destination_code(parsed) or 3]
    country = geocoder.country_name_for_number(parsed, "en") or "Unknown"
    iso = phonenumbers.region_code_for_number(parsed) or "ZZ"
    city = geocoder.description_for_number(parsed, "en") or f"Area {area}"
    regions = iso in ("US", "CA", "AU")
    region = city.rpartition(", ")[2] if regions and ", " in city else "All"
    return {"country": country, "iso": iso, "country_id": zlib.crc32(country.encode()) % 90000 + 1000,
            "regions": regions, "region": region, "region_id": zlib.crc32(f"{iso}/{region}".encode()) % 9000 + 1,
            "city": city, "area_code": area, "city_id": zlib.crc32(f"{iso}/{city}/{area}".encode()) % 900000 + 1}
T = TypeVar("T")


def fail(status: int, message: str) -> ApiError:
    return ApiError(status, {"success": False, "message": message})


class WavixEmulator:
    """Calls (voxplan.sandbox.core.Network): a call to a number of the account goes to its first destination by
    priority, `[did]` filled with the number's digits, `x-number` set, from one regional gateway after another
    (as Wavix's regions share the load; so a Vapi credential missing one gateway fails the call that comes from
    it, with 401, as the seed warns); a number with no destination answers 404. A trunk's outbound call through
    any gateway is checked against its login (`name`) and password (403 otherwise) and placed on the PSTN."""

    name = "wavix"
    network: Any = None  # the sandbox's Network, set by the Sandbox
    api_key: str | None = None  # set by Sandbox: the one key accepted, None for any

    def __init__(self) -> None:
        self.trunks: dict[int, dict[str, Any]] = {}
        self.numbers: dict[int, dict[str, Any]] = {}
        self.secrets: dict[str, str] = {}
        self.stock: dict[str, dict[str, Any]] = {}  # numbers for sale, by digits (AvailableNumber)
        self.cart: list[str] = []
        self._next = {"trunk": 1, "login": 67758, "number": 1001, "dest": 1, "leg": 0}
        self._by_digits: dict[str, int] = {}  # a number's digits -> its id: seeding and caller-id checks stay O(1)
        self._sorted: list[int] | None = []  # number ids in order (lists page by slicing it); None: to sort
        r = self.router = Router()
        r.add("GET", "/v1/profile/config", lambda req: Response(200, {"balance": "100.00", "global_limits": {
            "max_call_duration": 3600, "max_sip_channels": 2, "max_call_rate": "99.0"}}))  # a new account's
        r.add("GET", "/v1/buy/countries", self.list_countries)
        r.add("GET", "/v1/buy/countries/{country}/regions", self.list_regions)
        r.add("GET", "/v1/buy/countries/{country}/cities", lambda req, country: self.list_cities(req, country, None))
        r.add("GET", "/v1/buy/countries/{country}/regions/{region}/cities", self.list_cities)
        r.add("GET", "/v1/buy/countries/{country}/cities/{city}/dids", self.list_stock)
        r.add("PUT", "/v1/buy/cart", self.add_to_cart)
        r.add("GET", "/v1/buy/cart", lambda req: Response(200, {"dids": [self._offer(d) for d in self.cart
                                                                          if d in self.stock], "doc_types": []}))
        r.add("POST", "/v1/buy/cart/checkout", self.checkout)
        r.add("DELETE", "/v1/numbers", self.release_numbers)
        r.add("GET", "/v1/trunks", self.list_trunks)
        r.add("POST", "/v1/trunks", self.create_trunk)
        r.add("GET", "/v1/trunks/{id}", lambda req, id: Response(200, self._trunk_out(self._trunk(id))))
        r.add("PUT", "/v1/trunks/{id}", self.replace_trunk)
        r.add("DELETE", "/v1/trunks/{id}", self.delete_trunk)
        r.add("GET", "/v1/numbers", self.list_numbers)
        r.add("GET", "/v1/mydids", self.list_numbers)  # legacy name of the same resource
        r.add("GET", "/v1/numbers/{id}", lambda req, id: Response(200, self._number_out(self._number(id))))
        r.add("PATCH", "/v1/numbers/{id}", self.patch_number)

    def handle(self, request: Request) -> Response:
        if key_refused(request, self.api_key, query_param="appid"):  # Bearer, or the legacy ?appid=
            raise fail(401, "Unauthorized")
        return self.router.handle(request, fail(404, "Not found"))

    @staticmethod
    def error_body(status: int, message: str) -> Any:
        return fail(status, message).body

    def dump(self) -> dict[str, Any]:
        return {"trunks": self.trunks, "numbers": self.numbers, "secrets": self.secrets, "next": self._next,
                "stock": self.stock, "cart": self.cart}

    def load(self, data: dict[str, Any]) -> None:
        self.trunks = {int(k): v for k, v in (data.get("trunks") or {}).items()}
        self.numbers = {int(k): v for k, v in (data.get("numbers") or {}).items()}
        self._by_digits = {n["number"]: nid for nid, n in self.numbers.items()}
        self._sorted = None
        self.secrets = dict(data.get("secrets") or {})
        self._next = dict(data.get("next") or {"trunk": 1, "login": 67758, "number": 1001, "dest": 1})
        self._next.setdefault("leg", 0)
        self.stock = dict(data.get("stock") or {})
        self.cart = list(data.get("cart") or [])

    # -- control (the account owner bought numbers) ---------------------------------------------
    def seed_number(self, number: str, status: str = "active") -> dict[str, Any]:
        digits = number.lstrip("+")
        if digits in self._by_digits:
            return self.numbers[self._by_digits[digits]]
        nid = self._take("number")
        self.numbers[nid] = {**copy.deepcopy(NUMBER_DEFAULTS), "id": nid, "number": digits, "status": status,
                             "destination": [], "added": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")}
        self._by_digits[digits] = nid
        if self._sorted is not None:
            if self._sorted and nid < self._sorted[-1]:
                self._sorted = None  # ids are handed out in order: this only follows a hand-edited data file
            else:
                self._sorted.append(nid)
        return self.numbers[nid]

    # -- buying (tags Buy and Cart): the stock is what the sandbox seeds as available -------------------
    def seed_available(self, item: Any) -> None:
        """A number for sale: "+1…", or {"number", "activation_fee", "monthly_fee"}."""
        spec = item if isinstance(item, dict) else {"number": item}
        digits = str(spec["number"]).lstrip("+")
        if any(n["number"] == digits for n in self.numbers.values()):
            return
        where = _geography(digits)
        self.stock[digits] = {"id": int(digits), "activation_fee": str(spec.get("activation_fee", "1.00")),
                              "monthly_fee": str(spec.get("monthly_fee", "2.00")), "per_min": "0.01",
                              "channels": "2", "city": where["city"], "country": where["country"],
                              "country_short_name": where["iso"], "cnam": False, "free_min": 0, "number": digits,
                              "require_docs": [], "sms_enabled": False, "sms_price": 0, "domestic_cli": False}

    def _places(self) -> list[dict[str, Any]]:
        return [{**_geography(d), "digits": d} for d in self.stock]

    def list_countries(self, req: Request) -> Response:
        seen = {p["country_id"]: p for p in self._places()}
        return Response(200, {"countries": [{"id": cid, "name": p["country"], "has_provinces_or_states": p["regions"]}
                                            for cid, p in sorted(seen.items())]})

    def list_regions(self, req: Request, country: str) -> Response:
        seen = {p["region_id"]: p["region"] for p in self._places() if str(p["country_id"]) == country and p["regions"]}
        return Response(200, {"regions": [{"id": rid, "name": name} for rid, name in sorted(seen.items())]})

    def list_cities(self, req: Request, country: str, region: str | None) -> Response:
        seen = {p["city_id"]: p for p in self._places() if str(p["country_id"]) == country
                and (region is None or str(p["region_id"]) == region)}
        return Response(200, {"cities": [{"id": cid, "name": p["city"], "area_code": int(p["area_code"])}
                                         for cid, p in sorted(seen.items())]})

    def list_stock(self, req: Request, country: str, city: str) -> Response:
        items = [self._offer(p["digits"]) for p in self._places()
                 if str(p["country_id"]) == country and str(p["city_id"]) == city]
        page, meta = self._page(sorted(items, key=lambda i: i["number"]), req)
        return Response(200, {"dids": page, "pagination": meta})

    def _offer(self, digits: str) -> dict[str, Any]:
        return copy.deepcopy(self.stock[digits])

    def add_to_cart(self, req: Request) -> Response:
        ids = self._ids(req)
        unknown = [i for i in ids if i not in {str(s["id"]) for s in self.stock.values()}]
        if unknown:
            raise fail(404, f"Phone number {unknown[0]} is not available")
        for i in ids:
            digits = next(d for d, s in self.stock.items() if str(s["id"]) == i)
            if digits not in self.cart:
                self.cart.append(digits)
        return Response(200, [self._offer(d) for d in self.cart if d in self.stock])

    def checkout(self, req: Request) -> Response:
        ids = self._ids(req)
        chosen = [d for d in self.cart if d in self.stock and str(self.stock[d]["id"]) in ids]
        if len(chosen) != len(ids):
            raise fail(404, "Phone numbers must be in the cart")
        for digits in chosen:
            item = self.stock.pop(digits)
            self.cart.remove(digits)
            bought = self.seed_number(digits)
            bought.update(activation_fee=item["activation_fee"], monthly_fee=item["monthly_fee"])
        return Response(201, {"success": True})

    def release_numbers(self, req: Request) -> Response:
        ids = [i for i in (req.query.get("ids") or "").split(",") if i]
        dids = [d.lstrip("+") for d in (req.query.get("dids") or "").split(",") if d]
        if bool(ids) == bool(dids):
            raise fail(422, "give ids or dids, not both")
        gone = [n for n in self.numbers.values() if str(n["id"]) in ids or n["number"] in dids]
        if not gone:
            raise fail(404, "Number not found")
        for number in gone:
            del self.numbers[number["id"]]
            self._by_digits.pop(number["number"], None)
        self._sorted = None
        return Response(200, {"success": True})

    @staticmethod
    def _ids(req: Request) -> list[str]:
        body = req.json()
        if not isinstance(body, dict) or set(body) != {"ids"} or not isinstance(body["ids"], list):
            raise fail(422, "ids is required")
        return [str(i) for i in body["ids"]]

    # -- trunks -----------------------------------------------------------------------------------
    def list_trunks(self, req: Request) -> Response:
        page, meta = self._page(list(self.trunks.values()), req)
        return Response(200, {"sip_trunks": [self._summary(t) for t in page], "pagination": meta})

    def create_trunk(self, req: Request) -> Response:
        body = self._trunk_body(req)
        tid = self._take("trunk")
        trunk = {**TRUNK_DEFAULTS, **body, "id": tid, "name": str(self._take("login")), "host": "dynamic",
                 "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"), "passthrough": False,
                 "access_token": hashlib.sha256(str(tid).encode()).hexdigest()[:32]}
        self._number_ips(trunk)
        self._secret(trunk)
        self.trunks[tid] = trunk
        return Response(201, self._trunk_out(trunk))

    def replace_trunk(self, req: Request, id: str) -> Response:
        current = self._trunk(id)
        body = self._trunk_body(req)
        trunk = {**TRUNK_DEFAULTS, **body}  # full replace: what is not sent reverts to its default
        trunk.update({k: current.get(k) for k in ("id", "name", "host", "created_at", "access_token", "passthrough")})
        self._number_ips(trunk)
        self._secret(trunk)
        self.trunks[current["id"]] = trunk
        return Response(200, self._trunk_out(trunk))

    def delete_trunk(self, req: Request, id: str) -> Response:
        trunk = self._trunk(id)
        del self.trunks[trunk["id"]]
        return Response(200, {"success": True})

    def _trunk_body(self, req: Request) -> dict[str, Any]:
        body = req.json()
        if not isinstance(body, dict):
            raise fail(400, "Invalid body")
        missing = [k for k in TRUNK_REQUIRED if k not in body]
        unknown = [k for k in body if k not in TRUNK_FIELDS]
        if missing or unknown:
            problems = [f"{k} is required" for k in missing] + [f"{k} is not permitted" for k in unknown]
            raise fail(422, "; ".join(problems))
        if body["ip_restrict"] and not body.get("allowed_ips"):
            raise fail(422, "allowed_ips is required when ip_restrict is true")
        callerid = str(body.get("callerid") or "")
        if callerid and callerid.lstrip("+") not in self._by_digits:
            raise fail(422, "callerid must be an active or verified number on your account")
        return copy.deepcopy(body)

    def _secret(self, trunk: dict[str, Any]) -> None:
        password = str(trunk.pop("password"))
        self.secrets[f"{trunk['id']}:password"] = hashlib.sha256(password.encode()).hexdigest()

    def _trunk(self, tid: str) -> dict[str, Any]:
        try:
            return self.trunks[int(tid)]
        except (KeyError, ValueError):
            raise fail(404, "SIP trunk not found") from None

    def _number_ips(self, trunk: dict[str, Any]) -> None:
        """allowed_ips come back as [{id, ip}]; host_request is kept (IP auth), never shown on the trunk."""
        trunk["allowed_ips"] = [{"id": self._take("dest"), "ip": row["ip"]} for row in trunk.get("allowed_ips") or []]

    @staticmethod
    def _trunk_out(trunk: dict[str, Any]) -> dict[str, Any]:
        """SIPTrunkResponse: every field of the trunk, money as a string, no host_request."""
        out = {k: copy.deepcopy(v) for k, v in trunk.items() if k != "host_request"}
        out.setdefault("passthrough", False)
        if out.get("max_call_cost") is not None:
            out["max_call_cost"] = f"{float(out['max_call_cost']):.2f}"  # money comes back as a string
        for key in ("rewrite_prefix", "rewrite_cond"):
            out[key] = out.get(key) or ""
        return out

    @staticmethod
    def _summary(trunk: dict[str, Any]) -> dict[str, Any]:
        out = {k: copy.deepcopy(trunk.get(k)) for k in SUMMARY_FIELDS}
        out["passthrough"] = bool(out["passthrough"])
        request = trunk.get("host_request")
        out.update(auth_method="IP auth" if request else "Digest", talk_time=0, charge="0.000",
                   host_request={"host": request["host"], "status": "pending"} if request else None,
                   status="pending" if request else "active")
        return out

    # -- numbers ----------------------------------------------------------------------------------
    def list_numbers(self, req: Request) -> Response:
        if self._sorted is None:
            self._sorted = sorted(self.numbers)
        ids: list[int] = self._sorted
        search = req.query.get("search")
        if search:
            ids = [i for i in ids if search.lstrip("+") in self.numbers[i]["number"]]
        chunk, meta = self._page(ids, req)  # slice the ids first: look up and copy only the page
        page = [self.numbers[i] for i in chunk]
        return Response(200, {"items": [self._number_out(n) for n in page], "doc_types": [], "pagination": meta})

    def patch_number(self, req: Request, id: str) -> Response:
        number = self._number(id)
        body = req.json()
        if not isinstance(body, dict) or any(k not in NUMBER_PATCH for k in body):
            raise fail(422, "Only " + ", ".join(sorted(NUMBER_PATCH)) + " can be updated")
        if "destinations" in body:
            rows = []
            for dest in body["destinations"]:
                if not isinstance(dest, dict) or set(dest) - DEST_FIELDS or "destination" not in dest:
                    raise fail(422, "destinations items take destination, transport, priority, trunk_id")
                if dest.get("transport") not in (1, 4, 5):
                    raise fail(422, "transport must be 1 (SIP URI), 4 (PSTN) or 5 (SIP trunk)")
                trunk = self.trunks.get(dest.get("trunk_id") or 0)
                rows.append({"id": self._take("dest"), "destination": dest["destination"],
                             "transport": dest["transport"], "priority": dest.get("priority", 1),
                             "trunk_id": dest.get("trunk_id"), "trunk_label": trunk["label"] if trunk else None,
                             "srtp": False})
            number["destination"] = rows  # the whole list is replaced; rows get new ids
        for key in NUMBER_PATCH - {"destinations"}:
            if key in body:
                number[key] = body[key]
        return Response(200, self._number_out(number))

    def _number(self, nid: str) -> dict[str, Any]:
        try:
            return self.numbers[int(nid)]
        except (KeyError, ValueError):
            raise fail(404, "Number not found") from None

    @staticmethod
    def _number_out(number: dict[str, Any]) -> dict[str, Any]:
        return {**copy.deepcopy(NUMBER_DEFAULTS), **copy.deepcopy(number)}  # a number stored before these fields

    # -- calls ------------------------------------------------------------------------------------
    def ingress(self, leg: Any, network: Any) -> Any:
        scheme, user, host, _ = split_uri(leg.to)
        if scheme != "tel" and host.lower() not in GATEWAYS:
            return None
        digits = user.lstrip("+")
        with network.lock:
            number = next((n for n in self.numbers.values() if n["number"] == digits), None)
            if number is None:
                return None if scheme == "tel" else Answer(404, "Not Found", via=leg.via)
            rows = sorted(number.get("destination") or [], key=lambda d: d.get("priority") or 0)
            if not rows:
                return Answer(404, f"Not Found: no route for +{digits}", via=leg.via)
            row = rows[0]
            source = list(GATEWAYS.values())[self._take("leg") % len(GATEWAYS)]
        passed = f"wavix: +{digits}"
        if row["transport"] == 4:
            return network.deliver(leg.next(f"tel:+{str(row['destination']).lstrip('+')}", source=source,
                                            passed=passed))
        if row["transport"] == 5:
            return Answer(480, "Temporarily Unavailable: no device registered on the trunk", via=[*leg.via, passed])
        uri = str(row["destination"]).replace("[did]", digits)
        return network.deliver(leg.next(uri if uri.startswith(("sip:", "sips:")) else f"sip:{uri}", source=source,
                                        headers={"x-number": digits}, passed=passed))

    def egress(self, gateway: str, leg: Any, network: Any) -> Any:
        if gateway not in GATEWAYS and gateway not in GATEWAYS.values():
            return None
        with network.lock:
            login, digest = leg.auth or ("", "")
            trunk = next((t for t in self.trunks.values() if t["name"] == login), None)
            if trunk is None or self.secrets.get(f"{trunk['id']}:password") != digest:
                return Answer(403, "Forbidden: the trunk login or password is wrong", via=leg.via)
            caller = str(trunk.get("callerid") or "")
        return network.deliver(leg.next(leg.to, source=GATEWAYS.get(gateway, gateway),
                                        passed=f"wavix: trunk {trunk.get('label')} as +{caller}"))

    # -- helpers ----------------------------------------------------------------------------------
    def _take(self, counter: str) -> int:
        value = self._next[counter]
        self._next[counter] = value + 1
        return value

    @staticmethod
    def _page(items: list[T], req: Request) -> tuple[list[T], dict[str, int]]:
        try:
            page = max(1, int(req.query.get("page", "1")))
            per_page = int(req.query.get("per_page", "25"))
        except ValueError:
            raise fail(422, "page and per_page must be integers") from None
        if per_page < 1:
            raise fail(422, "per_page must be positive")
        per_page = min(per_page, 100)  # the SDK's maximum; the spec sets none, so a larger ask is served 100
        total_pages = max(1, math.ceil(len(items) / per_page))
        chunk = items[(page - 1) * per_page: page * per_page]
        return chunk, {"current_page": page, "per_page": per_page, "total": len(items), "total_pages": total_pages}


EMULATOR = WavixEmulator  # found by voxplan.sandbox.core.emulators()
