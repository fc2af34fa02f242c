"""Vapi emulator, from reference/vapi-api.md (fact sheet) and the Vapi OpenAPI document.

What it is true to: 201 on create, 200 otherwise; DELETE returns the object; server-set
id/orgId/createdAt/updatedAt; documented server defaults added to stored bodies; write-only secrets
(`authPassword`, SIP `authentication.password`) stored as hashes and never returned; unknown properties
rejected with NestJS's 400 body; bare-array lists with default limit 100, max 1000, newest first, and
the createdAt/updatedAt filters; PATCH replacing each top-level key it receives. Never stricter than
Vapi (fact sheet §12, Corrections): `provider` and tool `type` are accepted on PATCH (the 2026-08 Update
DTOs declare them and the SDK sends them; only a different value is refused, since no PATCH changes a
kind), `limit` and `page` may come as floats (`2.0`); a key sent as null is cleared, as the docs' PATCH
examples use it (`assistantId: null`), and is left out of answers rather than shown as null (the spec
types these fields as non-null).
"""

from __future__ import annotations

import bisect
import copy
import hashlib
import ipaddress
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from voxplan.core.hops import split_uri, uri_headers
from voxplan.core.templates import fill
from voxplan.sandbox.core import Answer, ApiError, Leg, Request, Response, Router, key_refused

Objects = list[dict[str, Any]]  # (`list` is also a method name of the emulator below)
Ordered = tuple[list[datetime], Objects]  # parsed createdAt, and the objects

ORG_ID = "5ad1e7f0-0000-4000-8000-00000000a11a"

SERVER_SET = ("id", "orgId", "createdAt", "updatedAt")
READ_ONLY = set(SERVER_SET) | {"status", "isServerUrlSecretSet", "latestVersion"}

# Writable properties per DTO (Vapi OpenAPI 2026-08-19), plus fields the fact sheet lists as hidden but
# live (transferCall `function`; assistant `silenceTimeoutSeconds`, `backgroundDenoisingEnabled`, ...).
CREDENTIAL_FIELDS = {"provider", "name", "gateways", "outboundAuthenticationPlan", "outboundLeadingPlusEnabled",
                     "techPrefix", "sipDiversionHeader"}
GATEWAY_FIELDS = {"ip", "port", "netmask", "inboundEnabled", "outboundEnabled", "outboundProtocol",
                  "optionsPingEnabled"}
AUTH_PLAN_FIELDS = {"authUsername", "authPassword", "sipRegisterPlan"}
REGISTER_FIELDS = {"domain", "username", "realm"}
NUMBER_COMMON = {"provider", "name", "assistantId", "squadId", "workflowId", "server", "fallbackDestination", "hooks"}
NUMBER_FIELDS = {
    "byo-phone-number": NUMBER_COMMON | {"number", "numberE164CheckEnabled", "credentialId"},
    "vapi": NUMBER_COMMON | {"sipUri", "authentication", "numberDesiredAreaCode"},
}
SERVER_FIELDS = {"url", "timeoutSeconds", "credentialId", "headers", "backoffPlan", "staticIpAddressesEnabled",
                 "encryptedPaths"}
ASSISTANT_FIELDS = {
    "analysisPlan", "artifactPlan", "backgroundSound", "backgroundSpeechDenoisingPlan", "clientMessages",
    "compliancePlan", "credentialIds", "credentials", "endCallMessage", "endCallPhrases", "firstMessage",
    "firstMessageInterruptionsEnabled", "firstMessageMode", "hooks", "keypadInputPlan", "maxDurationSeconds",
    "metadata", "model", "modelOutputInMessagesEnabled", "monitorPlan", "name", "observabilityPlan", "server",
    "serverMessages", "startSpeakingPlan", "stopSpeakingPlan", "transcriber", "transportConfigurations", "voice",
    "voicemailDetection", "voicemailMessage",
    # hidden from the spec, still live
    "silenceTimeoutSeconds", "backgroundDenoisingEnabled", "messagePlan", "endCallFunctionEnabled", "hipaaEnabled",
}
TOOL_FIELDS = {
    "transferCall": {"type", "destinations", "messages", "rejectionPlan", "function"},
    "handoff": {"type", "destinations", "messages", "rejectionPlan", "function", "defaultResult"},
}
DESTINATION_FIELDS = {
    "sip": {"type", "sipUri", "callerId", "sipHeaders", "message", "description", "transferPlan"},
    "number": {"type", "number", "numberE164CheckEnabled", "extension", "callerId", "message", "description",
               "transferPlan"},
    "assistant": {"type", "assistantName", "assistantId", "assistant", "assistantOverrides", "description",
                  "contextEngineeringPlan", "variableExtractionPlan"},
}
TRANSFER_PLAN_FIELDS = {"mode", "sipVerb", "dialTimeout", "timeout", "message", "summaryPlan",
                        "sipHeadersInReferToEnabled", "twiml", "holdAudioUrl", "transferCompleteAudioUrl",
                        "contextEngineeringPlan", "fallbackPlan"}
TRANSFER_MODES = {"blind-transfer", "blind-transfer-add-summary-to-sip-header", "warm-transfer-say-message",
                  "warm-transfer-say-summary", "warm-transfer-twiml",
                  "warm-transfer-wait-for-operator-to-speak-first-and-then-say-message",
                  "warm-transfer-wait-for-operator-to-speak-first-and-then-say-summary", "warm-transfer-experimental"}
LEGACY_MODES = {"warm-transfer-with-summary": "warm-transfer-say-summary",
                "warm-transfer-with-message": "warm-transfer-say-message",
                "warm-transfer-with-twiml": "warm-transfer-twiml"}
SIP_URI = re.compile(r"^sip:[^@\s]+@sip\.(eu\.)?vapi\.ai$", re.IGNORECASE)
BYO_NUMBER = re.compile(r"^\+?[a-zA-Z0-9]+$")
E164 = re.compile(r"^\+[1-9]\d{1,14}$")
FUNCTION_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
CALL_FIELDS = {"assistantVersion", "transport", "customers", "name", "schedulePlan", "assistantId", "assistant",
               "assistantOverrides", "squadId", "squad", "squadOverrides", "workflowId", "workflow",
               "workflowOverrides", "phoneNumberId", "phoneNumber", "customerId", "customer"}  # CreateCallDTO
VAPI_SBC = ("44.229.228.186", "44.238.177.138")  # Vapi's SIP signalling addresses (its SIP networking docs)
CREDENTIAL_HOST = re.compile(r"^([^.]+(?:\.[^.]+)*?)\.sip(?:\.eu)?\.vapi\.ai$")
LIST_FILTERS = ("createdAtGt", "createdAtLt", "createdAtGe", "createdAtLe",
                "updatedAtGt", "updatedAtLt", "updatedAtGe", "updatedAtLe")


def bad_request(*messages: str) -> ApiError:
    return ApiError(400, {"message": list(messages), "error": "Bad Request", "statusCode": 400})


def business_error(message: str, status: int = 400) -> ApiError:
    reason = {400: "Bad Request", 404: "Not Found", 409: "Conflict"}.get(status, "Error")
    return ApiError(status, {"message": message, "error": reason, "statusCode": status})


def _unknown(body: dict[str, Any], allowed: set[str], prefix: str = "") -> list[str]:
    return [f"property {prefix}{k} should not exist" for k in body if k not in allowed]


def _count(req: Request, key: str, default: int) -> int:
    """A numeric query parameter; the SDK types `limit` and `page` as floats and may send `2.0`."""
    text = req.query.get(key)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise bad_request(f"{key} must be a number conforming to the specified constraints") from None
    if not value.is_integer():
        raise bad_request(f"{key} must be an integer number")
    return int(value)


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
    collections = ("credential", "phone-number", "assistant", "tool")
    QUIRKS: dict[str, Any] = {"list_order": "newest", "total_pages": True, "echo_write_only": False}
    network: Any = None  # the sandbox's Network (voxplan.sandbox.core): set by the Sandbox, carries calls

    def __init__(self) -> None:
        self.quirks = dict(self.QUIRKS)
        self._clear: dict[str, str] = {}  # write-only values in clear, kept only while echo_write_only is on
        self.store: dict[str, dict[str, dict[str, Any]]] = {c: {} for c in (*self.collections, "call")}
        self.secrets: dict[str, str] = {}  # "<id>:<path>" -> sha256 of the write-only value
        # kept in step with every write, so no request costs O(objects): a phone number's `number` and
        # `sipUri` (lower-cased, without `+`) -> id, for the uniqueness check; per collection, the objects
        # in (createdAt, id) order with their parsed createdAt, for lists (None: sort again on next use)
        self._unique_ids: dict[str, dict[str, str]] = {"number": {}, "sipUri": {}}
        self._ordered: dict[str, Ordered | None] = {}
        self.router = Router()
        self.router.add("GET", "/v2/phone-number", self.list_v2)
        self.router.add("POST", "/call", self.create_call)
        self.router.add("POST", "/call/phone", self.create_call)  # the path seeds 000 and 001 use
        self.router.add("GET", "/call", self.list_calls)
        self.router.add("GET", "/call/{id}", lambda req, id: Response(200, copy.deepcopy(self._find("call", id))))
        for coll in self.collections:
            self.router.add("GET", f"/{coll}", lambda req, c=coll: self.list(c, req))
            self.router.add("POST", f"/{coll}", lambda req, c=coll: self.create(c, req))
            self.router.add("GET", f"/{coll}/{{id}}", lambda req, id, c=coll: self.get(c, id))
            self.router.add("PATCH", f"/{coll}/{{id}}", lambda req, id, c=coll: self.update(c, id, req))
            self.router.add("DELETE", f"/{coll}/{{id}}", lambda req, id, c=coll: self.delete(c, id))

    # -- Vendor protocol --------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        if key_refused(request, self.api_key):
            raise ApiError(401, {"message": "Invalid Key. Hot tip, you may be using the private key instead of "
                                 "the public key, or vice versa.", "error": "Unauthorized", "statusCode": 401})
        return self.router.handle(request, ApiError(404, {"message": f"Cannot {request.method} {request.path}",
                                                          "error": "Not Found", "statusCode": 404}))

    def dump(self) -> dict[str, Any]:
        return {"store": self.store, "secrets": self.secrets}

    def load(self, data: dict[str, Any]) -> None:
        self.store = {c: dict((data.get("store") or {}).get(c) or {}) for c in (*self.collections, "call")}
        self.secrets = dict(data.get("secrets") or {})
        self._unique_ids = {key: {} for key in self._unique_ids}
        for obj in self.store["phone-number"].values():
            self._index(obj)
        self._ordered = {}

    # -- handlers ---------------------------------------------------------------------------------
    def list(self, coll: str, req: Request) -> Response:
        limit = _count(req, "limit", 100)
        if limit > 1000:
            raise bad_request("limit must not be greater than 1000")
        if limit < 0:
            raise bad_request("limit must not be less than 0")
        unknown = [k for k in req.query if k not in LIST_FILTERS and k != "limit"]
        if unknown:
            raise bad_request(*(f"property {k} should not exist" for k in unknown))
        stamps, items = self._in_order(coll)
        low, high = 0, len(items)
        for key in LIST_FILTERS:  # createdAt bounds cut the ordered list; updatedAt ones filter what is left
            if key in req.query and key.startswith("createdAt"):
                bound, op = _parse_time(req.query[key]), key[9:]
                if op in ("Gt", "Ge"):
                    low = max(low, (bisect.bisect_right if op == "Gt" else bisect.bisect_left)(stamps, bound))
                else:
                    high = min(high, (bisect.bisect_left if op == "Lt" else bisect.bisect_right)(stamps, bound))
        newest = self.quirks["list_order"] == "newest"
        window = range(high - 1, low - 1, -1) if newest else range(low, high)
        wanted = [(key[9:], _parse_time(req.query[key])) for key in LIST_FILTERS
                  if key in req.query and key.startswith("updatedAt")]
        page: Objects = []
        for i in window:
            if len(page) >= limit:
                break
            if all(_cmp(_parse_time(items[i]["updatedAt"]), op, bound) for op, bound in wanted):
                page.append(items[i])
        return Response(200, [self._public(coll, o) for o in page])

    def _in_order(self, coll: str) -> Ordered:
        """The collection in (createdAt, id) order, with each createdAt parsed; sorted once per change."""
        cached = self._ordered.get(coll)
        if cached is None:
            items = sorted(self.store[coll].values(), key=lambda o: (_parse_time(o["createdAt"]), o["id"]))
            cached = ([_parse_time(o["createdAt"]) for o in items], items)
            self._ordered[coll] = cached
        return cached

    def list_v2(self, req: Request) -> Response:
        """GET /v2/phone-number: pages with `{results, metadata}` (PhoneNumberPaginatedResponse)."""
        page, limit = _count(req, "page", 1), _count(req, "limit", 100)
        if limit > 1000 or limit < 0 or page < 1:
            raise bad_request("limit must not be greater than 1000")
        order = req.query.get("sortOrder", "DESC")
        if req.query.get("sortBy", "createdAt") != "createdAt":
            raise bad_request("only sortBy=createdAt is emulated")
        items = self._in_order("phone-number")[1]
        search = req.query.get("search", "").lower()
        if search:
            items = [o for o in items if search in " ".join(str(o.get(k, "")) for k in ("name", "number", "sipUri"))
                     .lower()]
        total = len(items)
        if order == "DESC":  # the page from the end of the ascending order, reversed: no copy of the rest
            chunk = items[max(0, total - page * limit): max(0, total - (page - 1) * limit)][::-1] if limit else []
        else:
            chunk = items[(page - 1) * limit: page * limit] if limit else []
        pages = -(-total // limit) if limit else 0
        meta: dict[str, Any] = {"itemsPerPage": limit, "totalItems": total, "currentPage": page, "sortOrder": order}
        if self.quirks["total_pages"]:  # optional in PaginationMeta
            meta.update(totalPages=pages, hasNextPage=page < pages)
        return Response(200, {"results": [self._public("phone-number", o) for o in chunk], "metadata": meta})

    def get(self, coll: str, obj_id: str) -> Response:
        return Response(200, self._public(coll, self._find(coll, obj_id)))

    def create(self, coll: str, req: Request) -> Response:
        body = req.json()
        if not isinstance(body, dict):
            raise bad_request("body must be an object")
        obj = getattr(self, f"_validate_{coll.replace('-', '_')}")(copy.deepcopy(body), None)
        now = _now()
        obj.update(id=str(uuid.uuid4()), orgId=ORG_ID, createdAt=now, updatedAt=now)
        _unset_nulls(obj)
        self._keep_secrets(obj)
        self.store[coll][obj["id"]] = obj
        self._changed(coll, None, obj)
        return Response(201, self._public(coll, obj))

    def update(self, coll: str, obj_id: str, req: Request) -> Response:
        current = self._find(coll, obj_id)
        body = req.json()
        if not isinstance(body, dict):
            raise bad_request("body must be an object")
        kind_key = {"credential": "provider", "phone-number": "provider", "tool": "type"}.get(coll)
        if kind_key is not None and kind_key in body and body[kind_key] != current.get(kind_key):
            raise bad_request(f"{kind_key} cannot be changed: delete and create the {coll} again")
        server_set = [k for k in body if k in READ_ONLY]
        if server_set:
            raise bad_request(*(f"property {k} should not exist" for k in server_set))
        merged = {k: v for k, v in current.items() if k not in SERVER_SET}
        merged.update(copy.deepcopy(body))  # PATCH replaces each top-level key it receives
        obj = getattr(self, f"_validate_{coll.replace('-', '_')}")(merged, current)
        obj.update({k: current[k] for k in SERVER_SET})
        obj["updatedAt"] = max(_now(), current["updatedAt"])
        _unset_nulls(obj)
        self._keep_secrets(obj, replaced=set(body))
        self.store[coll][obj_id] = obj
        self._changed(coll, current, obj)
        return Response(200, self._public(coll, obj))

    def delete(self, coll: str, obj_id: str) -> Response:
        obj = self._find(coll, obj_id)
        del self.store[coll][obj_id]
        self._changed(coll, obj, None)
        for path in ("outboundAuthenticationPlan.authPassword", "authentication.password"):
            self.secrets.pop(f"{obj_id}:{path}", None)
        return Response(200, self._public(coll, obj))

    def _changed(self, coll: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
        """Keep the indexes in step with one write: a create lands at the end of the order (its createdAt is
        now), anything else sorts again on the next list."""
        if coll == "phone-number":
            if before is not None:
                self._index(before, remove=True)
            if after is not None:
                self._index(after)
        cached = self._ordered.get(coll)
        if cached is not None and before is None and after is not None:
            stamp = _parse_time(after["createdAt"])
            if not cached[0] or (stamp, after["id"]) > (cached[0][-1], cached[1][-1]["id"]):
                cached[0].append(stamp)
                cached[1].append(after)
                return
        self._ordered[coll] = None

    def _index(self, obj: dict[str, Any], remove: bool = False) -> None:
        for key, index in self._unique_ids.items():
            if obj.get(key):
                value = str(obj[key]).lower().lstrip("+")
                if not remove:
                    index[value] = obj["id"]
                elif index.get(value) == obj["id"]:
                    del index[value]

    # -- calls: placed through the emulated network (voxplan.sandbox.core.Network) ---------------------
    def create_call(self, req: Request) -> Response:
        """POST /call (and /call/phone, the seeds' path): a 201 with the call `queued`; the network carries
        it on a thread of its own (GET /call/{id} shows it ring, and end with the reason a real call gives)."""
        body = req.json()
        if not isinstance(body, dict):
            raise bad_request("body must be an object")
        errors = _unknown(body, CALL_FIELDS)
        customer = body.get("customer")
        if not isinstance(customer, dict) or not (customer.get("number") or customer.get("sipUri")):
            errors.append("customer.number or customer.sipUri should not be empty")
        elif customer.get("number") and customer.get("numberE164CheckEnabled", True) \
                and not E164.match(str(customer["number"])):
            errors.append("customer.number must be a valid phone number in the E.164 format")
        if not body.get("phoneNumberId"):
            errors.append("phoneNumberId should not be empty")
        if errors:
            raise bad_request(*errors)
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
        items = list(self.store["call"].values())
        for key in ("id", "assistantId", "phoneNumberId"):
            if req.query.get(key):
                items = [c for c in items if c.get(key) == req.query[key]]
        for key in LIST_FILTERS:
            if key in req.query:
                field, op = key[:9], key[9:]
                bound = _parse_time(req.query[key])
                items = [o for o in items if _cmp(_parse_time(o[field]), op, bound)]
        items.sort(key=lambda o: (o["createdAt"], o["id"]), reverse=True)
        return Response(200, [copy.deepcopy(c) for c in items[:limit]])

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
        credential = self.store["credential"].get(str(number.get("credentialId") or ""))
        if credential is None:
            return "call.start.error-get-transport", "the number's credential does not exist"
        out = [g for g in credential.get("gateways") or [] if g.get("outboundEnabled", True)]
        if not out:
            return "call.start.error-get-transport", "the credential has no outbound gateway"
        plan = credential.get("outboundAuthenticationPlan") or {}
        secret = self.secrets.get(f"{credential['id']}:outboundAuthenticationPlan.authPassword")
        auth = (str(plan.get("authUsername") or ""), secret or "") if plan.get("authUsername") else None
        dialled = "+" + str(customer["number"]).lstrip("+")
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
        if scheme == "tel" or not host.endswith("vapi.ai"):
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
    def _find(self, coll: str, obj_id: str) -> dict[str, Any]:
        obj = self.store[coll].get(obj_id)
        if obj is None:
            raise business_error(f"{coll.replace('-', ' ').title().replace(' ', '')} not found", 404)
        return obj

    WRITE_ONLY = (("outboundAuthenticationPlan", "authPassword"), ("authentication", "password"))

    def _keep_secrets(self, obj: dict[str, Any], replaced: set[str] | None = None) -> None:
        """Write-only values are kept as hashes beside the object, and dropped from the object itself."""
        for parent, key in self.WRITE_ONLY:
            block = obj.get(parent)
            ref = f"{obj['id']}:{parent}.{key}"
            if replaced is not None and parent in replaced:
                self.secrets.pop(ref, None)  # the block was replaced whole: a missing password is cleared
            if isinstance(block, dict) and key in block:
                value = str(block.pop(key))
                self.secrets[ref] = _hash(value)
                if self.quirks["echo_write_only"]:
                    self._clear[ref] = value

    def _public(self, coll: str, obj: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(obj)
        if self.quirks["echo_write_only"]:
            for parent, key in self.WRITE_ONLY:
                value = self._clear.get(f"{obj['id']}:{parent}.{key}")
                if value is not None and isinstance(out.get(parent), dict):
                    out[parent][key] = value
        return out

    # -- validation and server defaults, per collection ------------------------------------------
    def _validate_credential(self, body: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
        provider = body.get("provider")
        if provider != "byo-sip-trunk":
            raise bad_request("provider must be one of the following values: byo-sip-trunk, ... "
                              "(only byo-sip-trunk is emulated)")
        errors = _unknown(body, CREDENTIAL_FIELDS | set(SERVER_SET) if current else CREDENTIAL_FIELDS)
        gateways = body.get("gateways")
        if not isinstance(gateways, list):
            errors.append("gateways must be an array")
            gateways = []
        for i, gw in enumerate(gateways):
            if not isinstance(gw, dict):
                errors.append(f"gateways.{i} must be an object")
                continue
            errors += _unknown(gw, GATEWAY_FIELDS, f"gateways.{i}.")
            if not isinstance(gw.get("ip"), str) or not gw.get("ip"):
                errors.append(f"gateways.{i}.ip must be a string")
            port, netmask = gw.setdefault("port", 5060), gw.setdefault("netmask", 32)
            if not isinstance(port, int) or not 1 <= port <= 65535:
                errors.append(f"gateways.{i}.port must not be greater than 65535")
            if not isinstance(netmask, int) or not 24 <= netmask <= 32:
                errors.append(f"gateways.{i}.netmask must not be less than 24")
            gw.setdefault("inboundEnabled", True)
            gw.setdefault("outboundEnabled", True)
            gw.setdefault("outboundProtocol", "udp")
            gw.setdefault("optionsPingEnabled", False)
            if gw["outboundProtocol"] not in ("udp", "tcp", "tls", "tls/srtp"):
                errors.append(f"gateways.{i}.outboundProtocol must be one of the following values: udp, tcp, tls, "
                              "tls/srtp")
        plan = body.get("outboundAuthenticationPlan")
        if plan is not None:
            if not isinstance(plan, dict):
                errors.append("outboundAuthenticationPlan must be an object")
            else:
                errors += _unknown(plan, AUTH_PLAN_FIELDS, "outboundAuthenticationPlan.")
                if isinstance(plan.get("sipRegisterPlan"), dict):
                    errors += _unknown(plan["sipRegisterPlan"], REGISTER_FIELDS,
                                       "outboundAuthenticationPlan.sipRegisterPlan.")
        errors += _name(body)
        if errors:
            raise bad_request(*errors)
        for gw in gateways:
            if gw["inboundEnabled"] and not _is_ipv4(gw["ip"]):
                # the SBC refuses a hostname source for inbound matching (fact sheet §3, §11.12)
                raise business_error("Couldn't validate SIP trunk credential. SIP gateway creation failed.")
        body.setdefault("outboundLeadingPlusEnabled", False)
        return body

    def _validate_phone_number(self, body: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
        provider = body.get("provider")
        if provider not in NUMBER_FIELDS:
            raise bad_request("provider must be one of the following values: byo-phone-number, twilio, vonage, vapi, "
                              "telnyx (only byo-phone-number and vapi are emulated)")
        server_side = set(SERVER_SET) | {"status", "number"} if current else set()
        errors = _unknown(body, NUMBER_FIELDS[provider] | server_side)
        errors += _name(body)
        errors += _server(body)
        for key in ("assistantId", "squadId", "workflowId"):
            if body.get(key) is not None and not _is_uuid(body[key]):
                errors.append(f"{key} must be a UUID")
        if provider == "byo-phone-number":
            if not body.get("credentialId"):
                errors.append("credentialId should not be empty")
            number = body.get("number")
            body.setdefault("numberE164CheckEnabled", True)
            if number is not None:
                if not isinstance(number, str) or not 3 <= len(number) <= 40:
                    errors.append("number must be longer than or equal to 3 characters")
                elif body["numberE164CheckEnabled"] and not E164.match(number):
                    errors.append("number must be a valid phone number in the E.164 format. Hot tip, you may be "
                                  "missing the country code (Eg. US: +1).")
                elif not BYO_NUMBER.match(number):
                    errors.append("number must match ^\\+?[a-zA-Z0-9]+$ regular expression")
            if errors:
                raise bad_request(*errors)
            if body["credentialId"] not in self.store["credential"]:
                raise business_error(f"Credential with ID {body['credentialId']} not found")
            self._unique(body, current, "number")
        else:
            sip_uri = body.get("sipUri")
            if sip_uri is not None and not SIP_URI.match(str(sip_uri)):
                errors.append("sipUri must be a valid SIP URI of the form sip:username@sip.vapi.ai")
            auth = body.get("authentication")
            if isinstance(auth, dict):
                errors += _unknown(auth, {"username", "password", "realm"}, "authentication.")
                for key in ("username", "password"):
                    if key in auth and not 20 <= len(str(auth[key])) <= 40:
                        errors.append(f"authentication.{key} must be longer than or equal to 20 characters")
                if current is None or "authentication" in body:
                    if "username" not in auth or "password" not in auth:
                        errors.append("authentication.password should not be empty")
            if errors:
                raise bad_request(*errors)
            if sip_uri is not None:
                body["sipUri"] = str(sip_uri)
                self._unique(body, current, "sipUri")
        body.setdefault("status", "active")
        return body

    def _unique(self, body: dict[str, Any], current: dict[str, Any] | None, key: str) -> None:
        mine = str(body.get(key, "")).lower().lstrip("+")
        if not mine:
            return
        owner = self._number_index(key).get(mine)
        if owner is not None and (current is None or owner != current["id"]):
            raise business_error(f"Phone number {body[key]} already exists in this organization.")

    def _number_index(self, key: str) -> dict[str, str]:
        """number/sipUri -> id (the uniqueness check must not be O(n))."""
        return self._unique_ids[key]

    def _validate_assistant(self, body: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
        errors = _unknown(body, ASSISTANT_FIELDS | (set(SERVER_SET) | {"isServerUrlSecretSet", "latestVersion"}
                                                      if current else set()))
        errors += _name(body)
        errors += _server(body)
        model = body.get("model")
        if model is not None:
            if not isinstance(model, dict) or "provider" not in model or "model" not in model:
                errors.append("model.provider and model.model should not be empty")
            else:
                for tool_id in model.get("toolIds") or []:
                    if not _is_uuid(tool_id):
                        errors.append("model.each value in toolIds must be a UUID")
        if "silenceTimeoutSeconds" in body and (body["silenceTimeoutSeconds"] or 0) < 10:
            errors.append("silenceTimeoutSeconds must not be less than 10")
        if errors:
            raise bad_request(*errors)
        body.setdefault("isServerUrlSecretSet", False)
        body.setdefault("latestVersion", None)
        return body

    def _validate_tool(self, body: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
        kind = body.get("type")
        if kind not in TOOL_FIELDS:
            raise bad_request("type must be one of the following values: transferCall, handoff (others are not "
                              "emulated)")
        errors = _unknown(body, TOOL_FIELDS[kind] | (set(SERVER_SET) | {"latestVersion"} if current else set()))
        fn = body.get("function")
        if isinstance(fn, dict) and "name" in fn and not FUNCTION_NAME.match(str(fn["name"])):
            errors.append("function.name must match ^[a-zA-Z0-9_-]{1,64}$ regular expression")
        for i, dest in enumerate(body.get("destinations") or []):
            dtype = dest.get("type") if isinstance(dest, dict) else None
            allowed = DESTINATION_FIELDS.get(str(dtype))
            if allowed is None or (kind == "handoff") != (dtype == "assistant"):
                errors.append(f"destinations.{i}.type must be one of the allowed destination types")
                continue
            errors += _unknown(dest, allowed, f"destinations.{i}.")
            if dtype == "sip" and not str(dest.get("sipUri", "")).startswith(("sip:", "sips:")):
                errors.append(f"destinations.{i}.sipUri must be a valid SIP URI")
            if dtype == "number":
                dest.setdefault("numberE164CheckEnabled", True)
                if dest["numberE164CheckEnabled"] and not E164.match(str(dest.get("number", ""))):
                    errors.append(f"destinations.{i}.number must be a valid phone number in the E.164 format")
            plan = dest.get("transferPlan")
            if isinstance(plan, dict):
                errors += _unknown(plan, TRANSFER_PLAN_FIELDS, f"destinations.{i}.transferPlan.")
                plan["mode"] = LEGACY_MODES.get(plan.get("mode", ""), plan.get("mode"))
                if plan.get("mode") not in TRANSFER_MODES:
                    errors.append(f"destinations.{i}.transferPlan.mode must be one of the following values")
            if isinstance(dest.get("message"), str) and len(dest["message"]) > 1000:
                errors.append(f"destinations.{i}.message must be shorter than or equal to 1000 characters")
        if errors:
            raise bad_request(*errors)
        if current is None:
            # dashboard/API-materialised default the fact sheet reports in GET bodies (§6, §11.6)
            body.setdefault("messages", [{"type": "request-start", "blocking": False}])
        body.setdefault("latestVersion", None)
        return body


def _unset_nulls(obj: dict[str, Any]) -> None:
    """A top-level key PATCHed to null is cleared: answered absent, not as a null the spec does not allow
    (`latestVersion` alone is nullable there)."""
    for key in [k for k, v in obj.items() if v is None and k != "latestVersion"]:
        del obj[key]


def _name(body: dict[str, Any]) -> list[str]:
    name = body.get("name")
    if name is None:
        return []
    if not isinstance(name, str) or not name:
        return ["name must be longer than or equal to 1 characters"]
    if len(name) > 40:
        return ["name must be shorter than or equal to 40 characters"]
    return []


def _server(body: dict[str, Any]) -> list[str]:
    server = body.get("server")
    if server is None:
        return []
    if not isinstance(server, dict):
        return ["server must be an object"]
    errors = _unknown(server, SERVER_FIELDS, "server.")
    server.setdefault("timeoutSeconds", 20)
    if not 1 <= server["timeoutSeconds"] <= 300:
        errors.append("server.timeoutSeconds must not be greater than 300")
    return errors


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
        return True
    except ValueError:
        return False


def _is_uuid(text: object) -> bool:
    try:
        uuid.UUID(str(text))
        return True
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
