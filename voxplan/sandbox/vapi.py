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

import copy
import hashlib
import ipaddress
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from voxplan.sandbox.core import ApiError, Request, Response, Router

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
    collections = ("credential", "phone-number", "assistant", "tool")
    QUIRKS: dict[str, Any] = {"list_order": "newest", "total_pages": True, "echo_write_only": False}

    def __init__(self) -> None:
        self.quirks = dict(self.QUIRKS)
        self._clear: dict[str, str] = {}  # write-only values in clear, kept only while echo_write_only is on
        self.store: dict[str, dict[str, dict[str, Any]]] = {c: {} for c in self.collections}
        self.secrets: dict[str, str] = {}  # "<id>:<path>" -> sha256 of the write-only value
        self._writes = 0  # bumped by every change, so derived indexes know when to rebuild
        self._indexes: dict[str, tuple[tuple[int, int], dict[str, str]]] = {}
        self.router = Router()
        self.router.add("GET", "/v2/phone-number", self.list_v2)
        for coll in self.collections:
            self.router.add("GET", f"/{coll}", lambda req, c=coll: self.list(c, req))
            self.router.add("POST", f"/{coll}", lambda req, c=coll: self.create(c, req))
            self.router.add("GET", f"/{coll}/{{id}}", lambda req, id, c=coll: self.get(c, id))
            self.router.add("PATCH", f"/{coll}/{{id}}", lambda req, id, c=coll: self.update(c, id, req))
            self.router.add("DELETE", f"/{coll}/{{id}}", lambda req, id, c=coll: self.delete(c, id))

    # -- Vendor protocol --------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            raise ApiError(401, {"message": "Invalid Key. Hot tip, you may be using the private key instead of "
                                 "the public key, or vice versa.", "error": "Unauthorized", "statusCode": 401})
        return self.router.handle(request, ApiError(404, {"message": f"Cannot {request.method} {request.path}",
                                                          "error": "Not Found", "statusCode": 404}))

    def dump(self) -> dict[str, Any]:
        return {"store": self.store, "secrets": self.secrets}

    def load(self, data: dict[str, Any]) -> None:
        self.store = {c: dict((data.get("store") or {}).get(c) or {}) for c in self.collections}
        self.secrets = dict(data.get("secrets") or {})
        self._writes += 1

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
        items = list(self.store[coll].values())
        for key in LIST_FILTERS:
            if key in req.query:
                field, op = key[:9], key[9:]
                bound = _parse_time(req.query[key])
                items = [o for o in items if _cmp(_parse_time(o[field]), op, bound)]
        items.sort(key=lambda o: (o["createdAt"], o["id"]), reverse=self.quirks["list_order"] == "newest")
        return Response(200, [self._public(coll, o) for o in items[:limit]])

    def list_v2(self, req: Request) -> Response:
        """GET /v2/phone-number: pages with `{results, metadata}` (PhoneNumberPaginatedResponse)."""
        page, limit = _count(req, "page", 1), _count(req, "limit", 100)
        if limit > 1000 or limit < 0 or page < 1:
            raise bad_request("limit must not be greater than 1000")
        order = req.query.get("sortOrder", "DESC")
        if req.query.get("sortBy", "createdAt") != "createdAt":
            raise bad_request("only sortBy=createdAt is emulated")
        items = sorted(self.store["phone-number"].values(), key=lambda o: (o["createdAt"], o["id"]),
                       reverse=order == "DESC")
        search = req.query.get("search", "").lower()
        if search:
            items = [o for o in items if search in " ".join(str(o.get(k, "")) for k in ("name", "number", "sipUri"))
                     .lower()]
        total = len(items)
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
        self._note_write(coll, obj)
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
        self._writes += 1
        return Response(200, self._public(coll, obj))

    def delete(self, coll: str, obj_id: str) -> Response:
        obj = self._find(coll, obj_id)
        del self.store[coll][obj_id]
        self._writes += 1
        for path in ("outboundAuthenticationPlan.authPassword", "authentication.password"):
            self.secrets.pop(f"{obj_id}:{path}", None)
        return Response(200, self._public(coll, obj))

    def _note_write(self, coll: str, obj: dict[str, Any]) -> None:
        """A create adds to the indexes in place instead of invalidating them."""
        if coll == "phone-number":
            for key, (version, index) in list(self._indexes.items()):
                if version != (len(self.store[coll]) - 1, self._writes):
                    del self._indexes[key]  # stale already: the next check rebuilds it
                    continue
                if obj.get(key):
                    index[str(obj[key]).lower().lstrip("+")] = obj["id"]
                self._indexes[key] = ((len(self.store[coll]), self._writes), index)

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
        """number/sipUri -> id, kept in step with the store (the uniqueness check must not be O(n))."""
        version = (len(self.store["phone-number"]), self._writes)
        cached = self._indexes.get(key)
        if cached is None or cached[0] != version:
            index = {str(o.get(key, "")).lower().lstrip("+"): o["id"] for o in self.store["phone-number"].values()
                     if o.get(key)}
            cached = (version, index)
            self._indexes[key] = cached
        return cached[1]

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
