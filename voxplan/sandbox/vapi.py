"""Vapi emulator, from reference/vapi-api.md (fact sheet) and Vapi's OpenAPI document.

Every request is checked against the document as voxplan.specs corrects it (vapi-corrections.json: hidden but
live fields, the document's NestJS quirks, the /credential paths it lacks), by the same checker `validate`
uses, so what validates offline is what the emulator takes, and what the document refuses it refuses: an
unknown key at any depth of a DTO, a wrong enum or type, a missing required field, each a NestJS 400
(`{"message": [...], "error": "Bad Request", "statusCode": 400}`); an unknown or malformed query parameter, or
a path id that is not a UUID, too. On top of the document, the rules no schema states, each from the fact
sheet: a BYO number's credential must exist and be a SIP trunk (a Vonage or Telnyx number's, of its
provider), numbers and SIP URIs are unique in an org, a number is E.164 while `numberE164CheckEnabled`, an
inbound gateway must be a numeric IPv4, a PATCH may repeat `provider`/`type` but never change them (those are
business 400s, with a single string message, as Vapi words them).

What it is true to besides: 201 on create, 200 otherwise; DELETE returns the object; server-set
id/orgId/createdAt/updatedAt; documented server defaults added to stored bodies; write-only values (every
field the document marks "not returned", and the secrets the corrections file adds: SIP `authentication.
password`, webhook auth secrets, Twilio number tokens) stored as hashes and never returned; bare-array v1
lists with default limit 100, max 1000, newest first, and the createdAt/updatedAt filters; paged lists
(`/v2/phone-number`, `/structured-output`) as `{results, metadata}`; PATCH replacing each top-level key it
receives; a key sent as null is cleared (the docs' PATCH examples use it: `assistantId: null`) and left out
of answers rather than shown as null (the document types these fields as non-null).
"""

from __future__ import annotations

import bisect
import copy
import hashlib
import ipaddress
import itertools
import json
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, overload

from voxplan import specs
from voxplan.core.hops import split_uri, uri_headers
from voxplan.core.templates import fill
from voxplan.sandbox.core import Answer, ApiError, Leg, Request, Response, Router, key_refused

ORG_ID = "5ad1e7f0-0000-4000-8000-00000000a11a"
SERVER_SET = ("id", "orgId", "createdAt", "updatedAt")
READ_ONLY = set(SERVER_SET) | {"status", "isServerUrlSecretSet", "latestVersion"}
LEGACY_MODES = {"warm-transfer-with-summary": "warm-transfer-say-summary",
                "warm-transfer-with-message": "warm-transfer-say-message",
                "warm-transfer-with-twiml": "warm-transfer-twiml"}
SIP_URI = re.compile(r"^sip:[^@\s]+@sip\.(eu\.)?vapi\.ai$", re.IGNORECASE)
BYO_NUMBER = re.compile(r"^\+?[a-zA-Z0-9]+$")
E164 = re.compile(r"^\+[1-9]\d{1,14}$")
VAPI_SBC = ("44.229.228.186", "44.238.177.138")  # Vapi's SIP signalling addresses (its SIP networking docs)
CREDENTIAL_HOST = re.compile(r"^([^.]+(?:\.[^.]+)*?)\.sip(?:\.eu)?\.vapi\.ai$")
PSTN_PROVIDERS = ("twilio", "vonage", "telnyx")  # phone-number providers whose numbers call out themselves
GATEWAY_DEFAULTS = {"port": 5060, "netmask": 32, "inboundEnabled": True, "outboundEnabled": True,
                    "outboundProtocol": "udp", "optionsPingEnabled": False}
Listed = Sequence[dict[str, Any]] | Iterator[dict[str, Any]]  # a collection's objects in a list's order


@dataclass(frozen=True)
class Collection:
    """One kind of Vapi object: where it lives, which key names its kind (a PATCH may repeat it, never change
    it), and how its list answers (`array`: v1 bare array; `paged`: `{results, metadata}`)."""

    name: str
    path: str
    kind_key: str | None = None
    listing: str = "array"
    by_id: tuple[tuple[str, Any], ...] = ()  # what a GET by id adds (server-set: a knowledge base's files)


COLLECTIONS = (Collection("credential", "/credential", "provider"),
               Collection("phone-number", "/phone-number", "provider"),
               Collection("assistant", "/assistant"),
               Collection("tool", "/tool", "type"),
               Collection("squad", "/squad"),
               Collection("structured-output", "/structured-output", listing="paged"),
               Collection("knowledge-base", "/v2/knowledge-base", by_id=(("files", ()), ("toolId", None))))


def bad_request(*messages: str) -> ApiError:
    return ApiError(400, {"message": list(messages), "error": "Bad Request", "statusCode": 400})


def business_error(message: str, status: int = 400) -> ApiError:
    reason = {400: "Bad Request", 404: "Not Found", 409: "Conflict"}.get(status, "Error")
    return ApiError(status, {"message": message, "error": reason, "statusCode": status})


def _now() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class VapiEmulator:
    """`quirks` are the answers no source settles (fact sheet §12), each switchable so a client can be
    tested against either: `list_order` of the v1 lists ("newest" or "oldest" first), `total_pages` (whether
    /v2/phone-number metadata carries totalPages and hasNextPage, which the spec marks optional) and
    `echo_write_only` (answers carry write-only values in clear, as the SDK's SipAuthentication model
    allows)."""

    name = "vapi"
    api_key: str | None = None  # set by Sandbox: the one key accepted, None for any
    collections = tuple(c.name for c in COLLECTIONS)
    QUIRKS: dict[str, Any] = {"list_order": "newest", "total_pages": True, "echo_write_only": False}
    network: Any = None  # the sandbox's Network (voxplan.sandbox.core): set by the Sandbox, carries calls

    def __init__(self) -> None:
        self.check = specs.checker("vapi")
        self.quirks = dict(self.QUIRKS)
        self._clear: dict[str, str] = {}  # write-only values in clear, kept only while echo_write_only is on
        self.store: dict[str, dict[str, dict[str, Any]]] = {c: {} for c in (*self.collections, "call")}
        self.secrets: dict[str, str] = {}  # "<id>:<path>" -> sha256 of the write-only value
        # derived from the store, kept in step by every write (a list or a uniqueness check must not cost
        # the whole collection): each collection's (createdAt, id) in ascending order, and number/sipUri -> id
        self._order: dict[str, list[tuple[datetime, str]]] = {}
        self._indexes: dict[str, dict[str, str]] = {}
        self.refusals: list[dict[str, Any]] = []  # business refusals a test asks for (control `/refuse`)
        self.rules: dict[str, Callable[[dict[str, Any], dict[str, Any] | None], None]] = {
            "credential": self._credential, "phone-number": self._phone_number, "assistant": self._assistant,
            "tool": self._tool}
        self.router = Router()
        self.router.add("GET", "/v2/phone-number", self.list_v2)
        self.router.add("POST", "/call", self.create_call)
        self.router.add("POST", "/call/phone", self.create_call)  # the path seeds 000 and 001 use
        self.router.add("GET", "/call", self.list_calls)
        self.router.add("GET", "/call/{id}", lambda req, id: Response(200, copy.deepcopy(self._call(id))))
        for coll in COLLECTIONS:
            self.router.add("GET", coll.path, lambda req, c=coll: self.listing(c, req))
            self.router.add("POST", coll.path, lambda req, c=coll: self.create(c, req))
            self.router.add("GET", f"{coll.path}/{{id}}", lambda req, id, c=coll: self.get(c, id))
            self.router.add("PATCH", f"{coll.path}/{{id}}", lambda req, id, c=coll: self.update(c, id, req))
            self.router.add("DELETE", f"{coll.path}/{{id}}", lambda req, id, c=coll: self.delete(c, id))

    # -- Vendor protocol --------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        if key_refused(request, self.api_key):
            raise ApiError(401, {"message": "Invalid Key. Hot tip, you may be using the private key instead of "
                                 "the public key, or vice versa.", "error": "Unauthorized", "statusCode": 401})
        missing = ApiError(404, {"message": f"Cannot {request.method} {request.path}", "error": "Not Found",
                                 "statusCode": 404})
        if self.router.dispatch(request) is not None:
            self._query(request)
            self._refusal(request)
        return self.router.handle(request, missing)

    def control(self, method: str, path: str, body: bytes) -> Response:
        """Test hooks under /_sandbox/vapi. `POST /refuse {"method", "path", "message", "status"?}`: the next
        such request is refused as Vapi refuses what breaks a business rule no schema states (a single-string
        400), after it passed the document: what a stack can meet however well it validates."""
        if method == "POST" and path == "/refuse":
            self.refusals.append(json.loads(body or b"{}"))
            return Response(200, {"refusals": len(self.refusals)})
        return Response(404, {"message": "unknown sandbox control path"})

    def _refusal(self, req: Request) -> None:
        for i, ask in enumerate(self.refusals):
            if ask.get("method", "POST") == req.method and ask.get("path") == req.path:
                del self.refusals[i]
                if req.body:
                    self._checked(req.method, req.path, req.json())
                raise business_error(str(ask.get("message", "refused")), int(ask.get("status", 400)))

    @staticmethod
    def error_body(status: int, message: str) -> Any:
        return business_error(message, status).body

    def dump(self) -> dict[str, Any]:
        return {"store": self.store, "secrets": self.secrets}

    def load(self, data: dict[str, Any]) -> None:
        self.store = {c: dict((data.get("store") or {}).get(c) or {}) for c in (*self.collections, "call")}
        self.secrets = dict(data.get("secrets") or {})
        self._order.clear()
        self._indexes.clear()

    def _query(self, req: Request) -> None:
        """The query string against the operation's declared parameters: an undeclared one, a value its
        schema refuses (`limit=5000`) or a required one left out (`schemaOverride`) is a 400, as NestJS's
        validation pipe answers."""
        found = self.check.operation(req.method, req.path)
        if found is None:
            return
        params = {p["name"]: p for p in (self.check._resolve(p) for p in found[1].get("parameters") or [])}
        errors = []
        for key, text in req.query.items():
            param = params.get(key)
            if param is None or param.get("in") != "query":
                errors.append(f"property {key} should not exist")
                continue
            schema = param.get("schema") or {}
            errors += [f"{key} {p.text}" for p in self.check.check(schema, _typed(text, schema))]
        errors += [f"{k} should not be empty" for k, p in params.items()
                   if p.get("in") == "query" and p.get("required") and k not in req.query]
        template = found[0]
        for name, part in zip(template.split("/"), req.path.split("/"), strict=False):
            if name == "{id}" and not _is_uuid(part):
                raise business_error("Validation failed (uuid is expected)")
        if errors:
            raise bad_request(*errors)

    # -- handlers ---------------------------------------------------------------------------------
    def listing(self, coll: Collection, req: Request) -> Response:
        if coll.listing == "paged":
            return self._paged(coll, req)
        limit = _count(req, "limit", 100)
        items = self._in_order(coll.name, req, newest=self.quirks["list_order"] == "newest")
        if "idAny" in req.query:
            wanted = set(req.query["idAny"].split(","))
            items = (o for o in items if o["id"] in wanted)
        return Response(200, [self._public(coll, o) for o in itertools.islice(items, limit)])

    def _paged(self, coll: Collection, req: Request) -> Response:
        """`{results, metadata}` (PaginationMeta): page from 1, sorted by createdAt (DESC by default)."""
        page, limit = _count(req, "page", 1), _count(req, "limit", 100)
        order = req.query.get("sortOrder", "DESC")
        items = self._in_order(coll.name, req, newest=order == "DESC")
        if "id" in req.query or "name" in req.query:
            items = (o for o in items if all(o.get(k) == req.query[k] for k in ("id", "name") if k in req.query))
        return Response(200, self._page(coll, items, page, limit, order))

    def _in_order(self, name: str, req: Request, *, newest: bool) -> Listed:
        """The collection sorted by (createdAt, id), inside the request's createdAt bounds (found by bisection
        in the kept order, not by reading every object) and its updatedAt ones: a sequence when nothing but
        createdAt narrows it (a page is then a slice), else an iterator."""
        order, store = self._sorted(name), self.store[name]
        low, high = 0, len(order)
        for key, text in req.query.items():
            if key[:9] == "createdAt" and len(key) == 11:
                bound, op = _parse_time(text), key[9:]
                if op in ("Gt", "Ge"):
                    find = bisect.bisect_right if op == "Gt" else bisect.bisect_left
                    low = max(low, find(order, bound, key=lambda k: k[0]))
                else:
                    find = bisect.bisect_left if op == "Lt" else bisect.bisect_right
                    high = min(high, find(order, bound, key=lambda k: k[0]))
        ids = _Window(order, low, max(low, high), newest)
        items = _Objects(ids, store)
        if any(key[:9] == "updatedAt" and len(key) == 11 for key in req.query):
            return (o for o in items if _filtered(o, req))
        return items

    def _sorted(self, name: str) -> list[tuple[datetime, str]]:
        order = self._order.get(name)
        if order is None or len(order) != len(self.store[name]):
            order = sorted((_parse_time(o["createdAt"]), o["id"]) for o in self.store[name].values())
            self._order[name] = order
        return order

    def _page(self, coll: Collection, items: Listed, page: int, limit: int, order: str) -> dict[str, Any]:
        if not isinstance(items, Sequence):
            items = list(items)
        total = len(items)
        chunk = items[(page - 1) * limit: page * limit] if limit else []
        pages = -(-total // limit) if limit else 0
        meta: dict[str, Any] = {"itemsPerPage": limit, "totalItems": total, "currentPage": page, "sortOrder": order}
        if self.quirks["total_pages"]:  # optional in PaginationMeta
            meta.update(totalPages=pages, hasNextPage=page < pages)
        return {"results": [self._public(coll, o) for o in chunk], "metadata": meta}

    def list_v2(self, req: Request) -> Response:
        """GET /v2/phone-number: pages with `{results, metadata}` (PhoneNumberPaginatedResponse)."""
        page, limit = _count(req, "page", 1), _count(req, "limit", 100)
        order = req.query.get("sortOrder", "DESC")
        if req.query.get("sortBy", "createdAt") != "createdAt":
            raise business_error("only sortBy=createdAt is emulated")
        coll = COLLECTIONS[1]
        items: Listed = self._in_order(
            "phone-number", Request(req.method, req.path, {}, req.headers, b""), newest=order == "DESC")
        search = req.query.get("search", "").lower()
        if search:
            items = (o for o in items if search in " ".join(str(o.get(k, "")) for k in ("name", "number", "sipUri"))
                     .lower())
        return Response(200, self._page(coll, items, page, limit, order))

    def get(self, coll: Collection, obj_id: str) -> Response:
        answer = self._public(coll, self._find(coll, obj_id))
        return Response(200, {**{k: copy.deepcopy(list(v) if isinstance(v, tuple) else v) for k, v in coll.by_id},
                              **answer})

    def create(self, coll: Collection, req: Request) -> Response:
        body = req.json()
        self._checked("POST", coll.path, body)
        obj = copy.deepcopy(body)
        rule = self.rules.get(coll.name)
        if rule is not None:
            rule(obj, None)
        now = _now()
        obj.update(id=str(uuid.uuid4()), orgId=ORG_ID, createdAt=now, updatedAt=now)
        _unset_nulls(obj)
        self._keep_secrets(coll, obj)
        self.store[coll.name][obj["id"]] = obj
        self._note_write(coll.name, None, obj)
        return Response(201, self._public(coll, obj))

    def update(self, coll: Collection, obj_id: str, req: Request) -> Response:
        current = self._find(coll, obj_id)
        body = req.json()
        if isinstance(body, dict) and coll.kind_key is not None:
            if coll.kind_key in body and body[coll.kind_key] != current.get(coll.kind_key):
                raise business_error(f"{coll.kind_key} cannot be changed: delete and create the {coll.name} again")
            body = {coll.kind_key: current[coll.kind_key], **body}  # the DTO is picked by the object's own kind
        self._checked("PATCH", f"{coll.path}/{obj_id}", body)
        merged = {k: v for k, v in current.items() if k not in SERVER_SET}
        merged.update(copy.deepcopy(body))  # PATCH replaces each top-level key it receives
        rule = self.rules.get(coll.name)
        if rule is not None:
            rule(merged, current)
        merged.update({k: current[k] for k in SERVER_SET})
        merged["updatedAt"] = max(_now(), current["updatedAt"])
        _unset_nulls(merged)
        self._keep_secrets(coll, merged, replaced=set(body))
        self.store[coll.name][obj_id] = merged
        self._note_write(coll.name, current, merged)
        return Response(200, self._public(coll, merged))

    def delete(self, coll: Collection, obj_id: str) -> Response:
        obj = self._find(coll, obj_id)
        del self.store[coll.name][obj_id]
        self._note_write(coll.name, obj, None)
        for ref in [r for r in self.secrets if r.startswith(f"{obj_id}:")]:
            del self.secrets[ref]
        return Response(200, self._public(coll, obj))

    def _checked(self, method: str, path: str, body: Any) -> None:
        """The body against the document (as corrected): every error at once, in NestJS's words."""
        schema = self.check.request_schema(method, path)
        if not isinstance(body, dict):
            raise bad_request("body must be an object")
        if schema is not None:
            errors = [p.nest() for p in self.check.check(schema, body) if p.severity == "error"]
            if errors:
                raise bad_request(*errors)

    def _note_write(self, coll: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        """A write (create: no old; delete: no new) moves the kept order and indexes in place, so neither
        is rebuilt: an update keeps createdAt, so only a create or a delete moves the order."""
        order = self._order.get(coll)
        if order is not None and (old is None) != (new is None):
            if old is None:
                assert new is not None
                bisect.insort(order, (_parse_time(new["createdAt"]), new["id"]))
            else:
                at = bisect.bisect_left(order, (_parse_time(old["createdAt"]), old["id"]))
                if at < len(order) and order[at][1] == old["id"]:
                    del order[at]
                else:
                    self._order.pop(coll)  # out of step (a hand-edited data file): the next list sorts again
        if coll != "phone-number":
            return
        for key, index in self._indexes.items():
            if old is not None and old.get(key) and index.get(_index_key(old[key])) == old["id"]:
                del index[_index_key(old[key])]
            if new is not None and new.get(key):
                index[_index_key(new[key])] = new["id"]

    # -- calls: placed through the emulated network (voxplan.sandbox.core.Network) ---------------------
    def create_call(self, req: Request) -> Response:
        """POST /call (and /call/phone, the seeds' path): a 201 with the call `queued`; the network carries
        it on a thread of its own (GET /call/{id} shows it ring, and end with the reason a real call gives)."""
        body = req.json()
        self._checked("POST", "/call", body)  # CreateCallDTO; what it leaves optional, a phone call needs:
        customer = body.get("customer")
        if not isinstance(customer, dict) or not (customer.get("number") or customer.get("sipUri")):
            raise business_error("customer.number or customer.sipUri should not be empty")
        if customer.get("number") and customer.get("numberE164CheckEnabled", True) \
                and not E164.match(str(customer["number"])):
            raise business_error("customer.number must be a valid phone number in the E.164 format")
        if not body.get("phoneNumberId"):
            raise business_error("phoneNumberId should not be empty")
        number = self.store["phone-number"].get(str(body["phoneNumberId"]))
        if number is None:
            raise business_error("Couldn't Get Phone Number. Phone number not found.", 404)
        if body.get("assistantId") and body["assistantId"] not in self.store["assistant"]:
            raise business_error("Couldn't Get Assistant. Assistant not found.", 404)
        now = _now()
        call = {"id": str(uuid.uuid4()), "orgId": ORG_ID, "createdAt": now, "updatedAt": now,
                "type": "outboundPhoneCall", "status": "queued", "phoneNumberId": number["id"],
                "customer": copy.deepcopy(customer),
                "phoneCallTransport": "sip" if (customer or {}).get("sipUri") else "pstn"}
        for key in ("assistantId", "squadId", "assistantOverrides", "name"):
            if body.get(key) is not None:
                call[key] = copy.deepcopy(body[key])
        if "assistantId" not in call and "squadId" not in call and number.get("assistantId"):
            call["assistantId"] = number["assistantId"]
        self.store["call"][call["id"]] = call
        if self.network is not None:
            self.network.run(lambda: self._carry(call["id"]))
        return Response(201, copy.deepcopy(call))

    def list_calls(self, req: Request) -> Response:
        limit = _count(req, "limit", 100)
        items = [c for c in self.store["call"].values() if _filtered(c, req)]
        for key in ("id", "assistantId", "phoneNumberId"):
            if req.query.get(key):
                items = [c for c in items if c.get(key) == req.query[key]]
        items.sort(key=lambda o: (o["createdAt"], o["id"]), reverse=True)
        return Response(200, [copy.deepcopy(c) for c in items[:limit]])

    def _call(self, call_id: str) -> dict[str, Any]:
        call = self.store["call"].get(call_id)
        if call is None:
            raise business_error("Call not found", 404)
        return call

    def _carry(self, call_id: str) -> None:
        """One outbound call, on the network's thread: from a BYO number out through its credential's
        gateway (the carrier there checks the trunk's login), to a SIP URI straight from Vapi's SBC; a Vapi
        SIP number cannot call out (VapiAI/docs #1197)."""
        with self.network.lock:
            call = self.store["call"][call_id]
            number = self.store["phone-number"].get(call["phoneNumberId"]) or {}
            call.update(status="ringing", updatedAt=_now())
            plan = self._outbound(call, number)
        first, second = plan
        if not isinstance(second, Leg):
            return self._end(call_id, first, second)
        gateway, leg = first, second
        answer = self.network.egress(gateway, leg) if gateway else self.network.deliver(leg)
        if answer.ok:
            self._end(call_id, "customer-ended-call", None, started=True)
        else:
            self._end(call_id, "call.in-progress.error-sip-outbound-call-failed-to-connect",
                      f"SIP {answer.status} {answer.reason}")

    def _outbound(self, call: dict[str, Any], number: dict[str, Any]) -> Any:
        """The first leg of an outbound call: (gateway or "", Leg), or (endedReason, endedMessage)."""
        customer = call["customer"]
        if number.get("provider") == "vapi" and not number.get("number"):
            return "call.start.error-get-transport", "Vapi Numbers Can't Dial Outbound Yet."
        if "assistantId" not in call and "squadId" not in call:
            return "call-start-error-neither-assistant-nor-server-set", None
        caller = str(number.get("number") or number.get("sipUri") or "")
        if customer.get("sipUri"):
            uri = str(customer["sipUri"])
            scheme, user, host, _ = split_uri(uri)
            return "", Leg(f"{scheme}:{user}@{host}", caller, uri_headers(uri), VAPI_SBC[0], via=["vapi: SBC"])
        dialled = "+" + str(customer["number"]).lstrip("+")
        provider = str(number.get("provider") or "")
        if provider in PSTN_PROVIDERS or provider == "vapi":
            # a number of a telephony provider (or a free Vapi number) dials out through that provider's own
            # network, with no trunk of the user's: the leg goes to the PSTN as the number
            if number.get("credentialId") and str(number["credentialId"]) not in self.store["credential"]:
                return "call.start.error-get-transport", "the number's credential does not exist"
            if provider == "vapi" and not dialled.startswith("+1"):
                return "call.start.error-vapi-number-international", "Free Vapi numbers dial US and Canada only."
            return "", Leg(f"tel:{dialled}", caller, {}, VAPI_SBC[0], via=[f"vapi: {provider} number {caller}"])
        credential = self.store["credential"].get(str(number.get("credentialId") or ""))
        if credential is None:
            return "call.start.error-get-transport", "the number's credential does not exist"
        out = [g for g in credential.get("gateways") or [] if g.get("outboundEnabled", True)]
        if not out:
            return "call.start.error-get-transport", "the credential has no outbound gateway"
        plan = credential.get("outboundAuthenticationPlan") or {}
        secret = self.secrets.get(f"{credential['id']}:outboundAuthenticationPlan.authPassword")
        auth = (str(plan.get("authUsername") or ""), secret or "") if plan.get("authUsername") else None
        return str(out[0]["ip"]), Leg(f"tel:{dialled}", caller, {}, VAPI_SBC[0], auth,
                                      via=[f"vapi: credential {credential.get('name') or credential['id']}"])

    def _end(self, call_id: str, reason: str, message: str | None, *, started: bool = False) -> None:
        with self.network.lock:
            call = self.store["call"][call_id]
            now = _now()
            call.update(status="ended", endedReason=reason, updatedAt=now, endedAt=now)
            if started:
                call["startedAt"] = now
            if message:
                call["endedMessage"] = message

    # -- calls that arrive: a carrier's leg to a credential's URI, or a dial to a SIP number ---------------
    def ingress(self, leg: Any, network: Any) -> Any:
        scheme, user, host, _ = split_uri(leg.to)
        host = host.lower()
        if scheme == "tel":  # the PSTN rings a Twilio, Vonage or Telnyx number, or a free Vapi one: Vapi answers
            with network.lock:
                found = next((n for n in self.store["phone-number"].values()
                              if (n.get("provider") in PSTN_PROVIDERS or n.get("provider") == "vapi")
                              and str(n.get("number") or "").lstrip("+") == user.lstrip("+")), None)
                return self._inbound(found, leg) if found is not None else None
        if not host.endswith("vapi.ai"):
            return None
        with network.lock:
            numbers = list(self.store["phone-number"].values())
            if host in ("sip.vapi.ai", "sip.eu.vapi.ai"):
                uri = f"sip:{user}@{host}".lower()
                found = next((n for n in numbers if str(n.get("sipUri", "")).lower() == uri), None)
                if found is None and user.lstrip("+").isdigit():  # a platform number handed over by number
                    found = next((n for n in numbers if str(n.get("number", "")).lstrip("+") == user.lstrip("+")
                                  and self._peer(n, leg.source)), None)
                if found is None:
                    return Answer(404, "Not Found", via=leg.via)
                return self._inbound(found, leg)
            match = CREDENTIAL_HOST.match(host)
            if match is None:
                return Answer(404, "Not Found", via=leg.via)
            credential = self.store["credential"].get(match.group(1))
            if credential is None:
                return Answer(404, f"Not Found: no credential {match.group(1)}", via=leg.via)
            if not self._admits(credential, leg.source):
                return Answer(401, f"Unauthorized: {leg.source} is not an inbound gateway of the credential",
                              via=leg.via)
            found = next((n for n in numbers if n.get("credentialId") == credential["id"]
                          and str(n.get("number", "")).lstrip("+") == user.lstrip("+")), None)
            if found is None:
                return Answer(404, f"Not Found: no number {user} on the credential", via=leg.via)
            return self._inbound(found, leg)

    def ingress_last(self, leg: Any, network: Any) -> Any:
        """A number no emulated carrier holds, on a credential whose inbound gateway is a SIP peer the sandbox
        does not emulate (your PBX): that peer is taken to route it to Vapi, as a BYO trunk does."""
        scheme, user, _, _ = split_uri(leg.to)
        if scheme != "tel":
            return None
        routed = None
        with network.lock:
            for number in self.store["phone-number"].values():
                if str(number.get("number", "")).lstrip("+") != user.lstrip("+") or not number.get("credentialId"):
                    continue
                credential = self.store["credential"].get(number["credentialId"]) or {}
                peers = [g["ip"] for g in credential.get("gateways") or [] if g.get("inboundEnabled", True)
                         and _is_ipv4(g["ip"])]
                if peers:
                    host = f"{credential['id']}.sip.vapi.ai"
                    routed = leg.next(f"sip:{user}@{host}", source=peers[0], passed=f"peer {peers[0]}")
                    break
        return network.deliver(routed) if routed is not None else None

    @staticmethod
    def _admits(credential: dict[str, Any], source: str) -> bool:
        for gw in credential.get("gateways") or []:
            if not gw.get("inboundEnabled", True):
                continue
            try:
                if ipaddress.ip_address(source) in ipaddress.ip_network(f"{gw['ip']}/{gw.get('netmask', 32)}",
                                                                        strict=False):
                    return True
            except ValueError:
                continue
        return False

    def _peer(self, number: dict[str, Any], source: str) -> bool:
        """Whether `source` is a gateway (IP or host) of the number's credential."""
        credential = self.store["credential"].get(str(number.get("credentialId") or "")) or {}
        return any(str(g.get("ip")) == source for g in credential.get("gateways") or [])

    def _inbound(self, number: dict[str, Any], leg: Any) -> Any:
        """The call Vapi answers on `number` (lock held): recorded as an inboundPhoneCall with the SIP headers
        it came with, their `x-` values as template variables, and the first message spoken with them."""
        now = _now()
        variables = {k[2:]: v for k, v in leg.headers.items() if k.lower().startswith("x-")}
        call: dict[str, Any] = {"id": str(uuid.uuid4()), "orgId": ORG_ID, "createdAt": now, "updatedAt": now,
                                "type": "inboundPhoneCall", "phoneNumberId": number["id"], "phoneCallTransport": "sip",
                                "customer": {"sipUri": leg.caller} if leg.caller.startswith("sip") else
                                {"number": leg.caller}, "status": "ended", "startedAt": now, "endedAt": now,
                                "phoneCallProviderDetails": {"sip": {"headers": dict(leg.headers)}}}
        if variables:
            call["assistantOverrides"] = {"variableValues": variables}
        assistant = self.store["assistant"].get(str(number.get("assistantId") or ""))
        by: dict[str, Any]
        if number.get("assistantId") and assistant is None:
            call["endedReason"] = "assistant-not-found"
            answer = Answer(480, "Temporarily Unavailable: assistant-not-found", via=leg.via)
        elif assistant is not None:
            spoken = []
            if assistant.get("firstMessage") and assistant.get("firstMessageMode") != "assistant-waits-for-user":
                stamp = datetime.now(UTC).timestamp() * 1000
                spoken = [{"role": "bot", "message": fill(str(assistant["firstMessage"]), variables), "time": stamp,
                           "endTime": stamp + 1000, "secondsFromStart": 0}]
            call.update(assistantId=assistant["id"], endedReason="customer-ended-call", messages=spoken,
                        artifact={"messages": spoken, "variableValues": variables})
            by = {"vendor": "vapi", "kind": "assistant", "id": assistant["id"], "name": assistant.get("name")}
            answer = Answer(200, "OK", by, leg.via)
        elif number.get("squadId"):
            call.update(squadId=number["squadId"], endedReason="customer-ended-call")
            answer = Answer(200, "OK", {"vendor": "vapi", "kind": "squad", "id": number["squadId"]}, leg.via)
        elif (number.get("server") or {}).get("url"):
            call["endedReason"] = "customer-ended-call"
            answer = Answer(200, "OK", {"vendor": "vapi", "kind": "server", "id": number["server"]["url"]}, leg.via)
        else:
            call["endedReason"] = "call-start-error-neither-assistant-nor-server-set"
            answer = Answer(480, "Temporarily Unavailable: no assistant, squad or server", via=leg.via)
        self.store["call"][call["id"]] = call
        answer.by["call_id"] = call["id"]
        return answer

    # -- storage helpers --------------------------------------------------------------------------
    def _find(self, coll: Collection, obj_id: str) -> dict[str, Any]:
        obj = self.store[coll.name].get(obj_id)
        if obj is None:
            raise business_error(f"{coll.name.replace('-', ' ').title().replace(' ', '')} not found", 404)
        return obj

    def _response_schema(self, coll: Collection, obj: dict[str, Any]) -> str | None:
        schema = _answer_schema(self.check, f"{coll.path}/{{id}}")
        return self.check.discriminated(schema, obj) if schema is not None else None

    def _write_only(self, coll: Collection, obj: dict[str, Any]) -> tuple[str, ...]:
        name = self._response_schema(coll, obj)
        return self.check.write_only_paths(name) if name else ()

    def _keep_secrets(self, coll: Collection, obj: dict[str, Any], replaced: set[str] | None = None) -> None:
        """Write-only values are kept as hashes beside the object, and dropped from the object itself."""
        for path in self._write_only(coll, obj):
            ref = f"{obj['id']}:{path}"
            if replaced is not None and path.split(".")[0] in replaced:
                self.secrets.pop(ref, None)  # the block was replaced whole: a missing secret is cleared
                self._clear.pop(ref, None)
            *parents, key = path.split(".")
            block: Any = obj
            for part in parents:
                block = block.get(part) if isinstance(block, dict) else None
            if isinstance(block, dict) and key in block:
                value = str(block.pop(key))
                self.secrets[ref] = _hash(value)
                if self.quirks["echo_write_only"]:
                    self._clear[ref] = value

    def _public(self, coll: Collection, obj: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(obj)
        if self.quirks["echo_write_only"]:
            for path in self._write_only(coll, obj):
                value = self._clear.get(f"{obj['id']}:{path}")
                *parents, key = path.split(".")
                block: Any = out
                for part in parents:
                    block = block.get(part) if isinstance(block, dict) else None
                if value is not None and isinstance(block, dict):
                    block[key] = value
        return out

    # -- what no schema says, per collection (fact sheet), and server defaults ---------------------
    def _credential(self, body: dict[str, Any], current: dict[str, Any] | None) -> None:
        provider = body.get("provider")
        if provider == "byo-sip-trunk":
            gateways = [{**GATEWAY_DEFAULTS, **g} for g in body.get("gateways") or []]
            body["gateways"] = gateways
            if any(gw["inboundEnabled"] and not _is_ipv4(gw["ip"]) for gw in gateways):
                # the SBC refuses a hostname source for inbound matching (fact sheet §3, §11.12)
                raise business_error("Couldn't validate SIP trunk credential. SIP gateway creation failed.")
            body.setdefault("outboundLeadingPlusEnabled", False)
        elif provider in ("webhook", "custom-credential"):
            body.setdefault("authenticationSession", {})  # required in the answer; server-made
        elif provider == "vonage":
            body.setdefault("vonageApplicationId", str(uuid.uuid4()))  # made by Vapi on Vonage's side

    def _phone_number(self, body: dict[str, Any], current: dict[str, Any] | None) -> None:
        provider = body.get("provider")
        _server_defaults(body)
        if provider == "byo-phone-number":
            body.setdefault("numberE164CheckEnabled", True)
            number = body.get("number")
            if isinstance(number, str):
                if body["numberE164CheckEnabled"] and not E164.match(number):
                    raise business_error("number must be a valid phone number in the E.164 format. Hot tip, you "
                                         "may be missing the country code (Eg. US: +1).")
                if not BYO_NUMBER.match(number):
                    raise business_error("number must match ^\\+?[a-zA-Z0-9]+$ regular expression")
        if provider in ("byo-phone-number", "vonage", "telnyx"):
            wanted = {"byo-phone-number": "byo-sip-trunk"}.get(provider, provider)
            cred = self.store["credential"].get(str(body.get("credentialId")))
            if cred is None or cred.get("provider") != wanted:
                raise business_error(f"Credential with ID {body.get('credentialId')} not found")
        if provider == "twilio" and not (body.get("twilioAuthToken") or (body.get("twilioApiKey")
                                                                          and body.get("twilioApiSecret"))):
            if current is None:
                raise business_error("twilioAuthToken or twilioApiKey and twilioApiSecret must be provided")
        if provider == "twilio":
            body.setdefault("smsEnabled", True)  # the documented default ("Vapi sets the messaging webhook")
        if provider == "vapi":
            sip_uri = body.get("sipUri")
            if sip_uri is not None and not SIP_URI.match(str(sip_uri)):
                raise business_error("sipUri must be a valid SIP URI of the form sip:username@sip.vapi.ai")
            if current is None and sip_uri is None and body.get("numberDesiredAreaCode"):
                body["number"] = self._free_number(str(body["numberDesiredAreaCode"]))
            if current is None and sip_uri is None and "number" not in body:
                raise business_error("either sipUri or numberDesiredAreaCode must be provided")
        for key in ("number", "sipUri"):
            if body.get(key):
                self._unique(body, current, key)
        body.setdefault("status", "active")

    def _free_number(self, area: str) -> str:
        """A free US number in the area code (fact sheet §4: `numberDesiredAreaCode`, exactly 3 digits)."""
        if not area.isdigit():
            raise business_error(f"No free numbers are available in area code {area}")
        taken = self._number_index("number")
        for n in range(10000):
            number = f"+1{area}555{n:04d}"
            if number.lstrip("+") not in taken:
                return number
        raise business_error(f"No free numbers are available in area code {area}")

    def _assistant(self, body: dict[str, Any], current: dict[str, Any] | None) -> None:
        _server_defaults(body)
        body.setdefault("isServerUrlSecretSet", False)
        body.setdefault("latestVersion", None)

    def _tool(self, body: dict[str, Any], current: dict[str, Any] | None) -> None:
        _server_defaults(body)
        for i, dest in enumerate(body.get("destinations") or []):
            if dest.get("type") == "number":
                dest.setdefault("numberE164CheckEnabled", True)
                if dest["numberE164CheckEnabled"] and not E164.match(str(dest.get("number", ""))):
                    raise business_error(f"destinations.{i}.number must be a valid phone number in the E.164 format")
            plan = dest.get("transferPlan")
            if isinstance(plan, dict) and plan.get("mode") in LEGACY_MODES:
                plan["mode"] = LEGACY_MODES[plan["mode"]]
        if current is None:
            # dashboard/API-materialised default the fact sheet reports in GET bodies (§6, §11.6)
            body.setdefault("messages", [{"type": "request-start", "blocking": False}])
        body.setdefault("latestVersion", None)

    def _unique(self, body: dict[str, Any], current: dict[str, Any] | None, key: str) -> None:
        mine = str(body.get(key, "")).lower().lstrip("+")
        owner = self._number_index(key).get(mine)
        if owner is not None and (current is None or owner != current["id"]):
            raise business_error(f"Phone number {body[key]} already exists in this organization.")

    def _number_index(self, key: str) -> dict[str, str]:
        """number/sipUri -> id, kept in step with the store (the uniqueness check must not be O(n))."""
        index = self._indexes.get(key)
        if index is None:
            index = {_index_key(o[key]): o["id"] for o in self.store["phone-number"].values() if o.get(key)}
            self._indexes[key] = index
        return index


def _index_key(value: object) -> str:
    return str(value).lower().lstrip("+")


class _Window(Sequence[str]):
    """Ids of order[low:high] (ascending by createdAt), read newest first when `newest`: a view, no copy."""

    def __init__(self, order: list[tuple[datetime, str]], low: int, high: int, newest: bool):
        self.order, self.low, self.high, self.newest = order, low, high, newest

    def __len__(self) -> int:
        return self.high - self.low

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...
    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        i %= len(self)
        return self.order[self.high - 1 - i if self.newest else self.low + i][1]


class _Objects(Sequence[dict[str, Any]]):
    """The stored objects behind a _Window of ids."""

    def __init__(self, ids: _Window, store: dict[str, dict[str, Any]]):
        self.ids, self.store = ids, store

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, i: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, i: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, i: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(i, slice):
            return [self.store[k] for k in self.ids[i]]
        return self.store[self.ids[i]]


def _answer_schema(check: specs.Checker, template: str) -> dict[str, Any] | None:
    found = check.operation("GET", template.replace("{id}", "00000000-0000-4000-8000-000000000000"))
    if found is None:
        return None
    answer = (found[1].get("responses") or {}).get("200") or {}
    schema = ((answer.get("content") or {}).get("application/json") or {}).get("schema")
    return schema if isinstance(schema, dict) else None


def _server_defaults(body: dict[str, Any]) -> None:
    """`server.timeoutSeconds` defaults to 20 (Server, §4), wherever a body holds a server."""
    server = body.get("server")
    if isinstance(server, dict):
        server.setdefault("timeoutSeconds", 20)


def _typed(text: str, schema: dict[str, Any]) -> Any:
    """A query value as its parameter's type says (query values are text on the wire); the SDK sends
    numbers as floats (`2.0`)."""
    kind = schema.get("type")
    if kind in ("number", "integer"):
        try:
            return float(text)
        except ValueError:
            return text
    if kind == "array":
        return text.split(",")
    return text


def _count(req: Request, key: str, default: int) -> int:
    text = req.query.get(key)
    return default if text is None else int(float(text))


def _filtered(obj: dict[str, Any], req: Request) -> bool:
    for key, text in req.query.items():
        if key[:9] in ("createdAt", "updatedAt") and len(key) == 11:
            if not _cmp(_parse_time(obj[key[:9]]), key[9:], _parse_time(text)):
                return False
    return True


def _unset_nulls(obj: dict[str, Any]) -> None:
    """A top-level key PATCHed to null is cleared: answered absent, not as a null the spec does not allow
    (`latestVersion` alone is nullable there)."""
    for key in [k for k, v in obj.items() if v is None and k != "latestVersion"]:
        del obj[key]


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
        return True
    except ValueError:
        return False


def _is_uuid(text: object) -> bool:
    try:
        uuid.UUID(str(text))
        return len(str(text)) == 36
    except ValueError:
        return False


def _parse_time(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(f"{text} must be a valid ISO 8601 date string") from None


def _cmp(value: datetime, op: str, bound: datetime) -> bool:
    return {"Gt": value > bound, "Lt": value < bound, "Ge": value >= bound, "Le": value <= bound}[op]


EMULATOR = VapiEmulator  # found by voxplan.sandbox.core.emulators()
