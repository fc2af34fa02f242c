"""OpenAI emulator, from reference/openai-sip.md and the OpenAPI fragment of Realtime SIP call control.

True to: Bearer auth with OpenAI's `{"error": {...}}` body; the four call-control endpoints
(`/v1/realtime/calls/{call_id}/{accept,reject,refer,hangup}`) answering 200 with an empty body; accept
needs `"type": "realtime"`; reject's optional `status_code` (default 603); refer's required `target_uri`;
the webhook-endpoint API (`/v1/webhook_endpoints`: create returns `signing_secret` once, list is a
newest-first cursor page with `signing_secret_hint` only, update is a POST replacing `event_types` whole,
`rotate_secret` with `keep_old_secret_active_for_24_hours`); `realtime.call.incoming` signed as Standard
Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>` of
`id.timestamp.body`, keyed by the base64-decoded `whsec_` secret), one signature per active secret; and
the sideband WebSocket `GET /v1/realtime?call_id=…` of an accepted call.

Unconfirmed, and kept here in one place (`_require`): the status of call control on an unknown or
finished call (404, as the fact sheet's emulator notes say) and of refer/hangup before accept (400).

Refused as the spec refuses (the SDK's types, where the fragment has no webhook-endpoint API): an event
type the create API does not list, `event_types: []`, a key the operation does not take, a name over
NAME_MAX; and a key reject or refer do not take.

Test hooks (not OpenAI's API), under `/_sandbox/openai`:
- `POST incoming {project, headers, timestamp?, script?, deliver?}`: mint `rtc_<32 hex>` and deliver a
  signed `realtime.call.incoming` to every endpoint subscribed to it; answers the call id and each delivery
  (URL, status, and the exact request, so a test can replay it). `headers` are SIP headers (a list of
  `{name, value}` or a mapping); `timestamp` signs as of another time (a stale capture); `script` lists
  tool calls the model makes once the sideband first connects: `[{"name": "transfer_call", "arguments":
  {...}}]`; `deliver: false` signs the deliveries without sending them (the test then plays OpenAI and a
  load balancer: sends each where it wants, and again while it gets no 2xx).
- `POST calls/{call_id}/tool {name, arguments}`: the model calls a tool now, on every open sideband.
- `GET calls/{call_id}`: the call's state and every call-control request it received, with its status.

Simplification: the emulated account is one project, so every endpoint hears every project's calls.
Deliveries are made outside the sandbox's lock: a receiver may accept the call before it answers.

Unconfirmed, and kept here: the longest webhook-endpoint name (NAME_MAX; the SDK documents none).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any, get_args, get_type_hints

from voxplan.core.hops import split_uri
from voxplan.sandbox.core import Answer, ApiError, Request, Response, Router, key_refused

CALL_INCOMING = "realtime.call.incoming"
DEFAULT_REJECT = 603
DELIVERY_TIMEOUT = 10.0  # seconds a receiver gets to answer a delivery
DECISION_TIMEOUT = 15.0  # seconds a call rings before the carrier gives up on it
HOSTS = ("sip.api.openai.com", "sip-eu.api.openai.com")
NAME_MAX = 256  # unconfirmed (see the module doc)
ENDPOINT_KEYS = frozenset({"url", "name", "event_types"})  # create and update (SDK: webhook_{create,update}_params)
ACTION_KEYS = {"reject": frozenset({"status_code"}), "refer": frozenset({"target_uri"})}  # the fragment's schemas


@functools.cache
def event_types() -> tuple[str, ...]:
    """The webhook event types the SDK's own WebhookCreateParams names. Read on first use: importing the SDK's
    types costs about a second of CPU, which every `voxplan sandbox serve` and `--sandbox` run paid at start
    whether or not it ever saw a webhook endpoint."""
    from openai.types.webhooks.webhook_create_params import WebhookCreateParams

    hint = get_type_hints(WebhookCreateParams)["event_types"]
    while not (args := get_args(hint)) or not all(isinstance(a, str) for a in args):
        hint = args[0]
    return tuple(args)


def fail(status: int, message: str, code: str | None = None) -> ApiError:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return ApiError(status, {"error": {"message": message, "type": kind, "param": None, "code": code}})


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,` signature of the Standard Webhooks scheme."""
    key = base64.b64decode(secret.removeprefix("whsec_")) if secret.startswith("whsec_") else secret.encode()
    content = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


class OpenAIEmulator:
    """Calls (voxplan.sandbox.core.Network): a leg to `<project>@sip.api.openai.com;transport=tls` (or the EU
    host) becomes a pending call announced, signed, to every endpoint subscribed to `realtime.call.incoming`
    (as the `incoming` test hook does), with the leg's SIP headers (`x-number`, From, To); the leg is answered
    when the receiver accepts, refused with the status it rejects with, 480 when no endpoint hears of it or
    none decides within DECISION_TIMEOUT. A leg without TLS never reaches OpenAI (408)."""

    name = "openai"
    network: Any = None  # the sandbox's Network, set by the Sandbox
    shared_lock: Any = contextlib.nullcontext()  # the sandbox's lock, for the test hooks (set by the Sandbox)
    api_key: str | None = None  # set by Sandbox: the one key accepted, None for any

    def __init__(self) -> None:
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.calls: dict[str, dict[str, Any]] = {}
        self._watchers: dict[str, list[threading.Event]] = {}  # call id -> its open sidebands, set when it ends
        self._sockets: dict[str, list[Any]] = {}  # call id -> its open sideband connections
        r = self.router = Router()
        for action in ("accept", "reject", "refer", "hangup"):
            r.add("POST", f"/v1/realtime/calls/{{call_id}}/{action}", self._call_control(action))
        r.add("GET", "/v1/realtime", self.sideband)
        r.add("GET", "/v1/webhook_endpoints", self.list_endpoints)
        r.add("POST", "/v1/webhook_endpoints", self.create_endpoint)
        r.add("GET", "/v1/webhook_endpoints/{id}", lambda req, id: Response(200, self._public(self._endpoint(id))))
        r.add("POST", "/v1/webhook_endpoints/{id}", self.update_endpoint)
        r.add("DELETE", "/v1/webhook_endpoints/{id}", self.delete_endpoint)
        r.add("POST", "/v1/webhook_endpoints/{id}/rotate_secret", self.rotate_secret)

    def handle(self, request: Request) -> Response:
        if key_refused(request, self.api_key):
            raise fail(401, "Incorrect API key provided." if request.headers.get("authorization") else
                       "You didn't provide an API key.", "invalid_api_key")
        return self.router.handle(request, fail(404, f"Invalid URL ({request.method} /v1{request.path})"))

    @staticmethod
    def error_body(status: int, message: str) -> Any:
        return fail(status, message).body

    def dump(self) -> dict[str, Any]:
        return {"endpoints": self.endpoints, "calls": self.calls}

    def load(self, data: dict[str, Any]) -> None:
        self.endpoints = dict(data.get("endpoints") or {})
        self.calls = dict(data.get("calls") or {})
        for watchers in self._watchers.values():
            for event in watchers:
                event.set()
        self._watchers = {}

    # -- call control -----------------------------------------------------------------------------
    def _call_control(self, action: str) -> Callable[..., Response]:
        def handler(request: Request, call_id: str) -> Response:
            body = request.json() if request.body else None
            call = self.calls.get(call_id)
            entry = {"action": action, "body": body, "status": 200}
            if call is not None:
                call["log"].append(entry)
            try:
                self._require(call, action)
                self._refuse_unknown(action, body)
            except ApiError as exc:
                entry["status"] = exc.status
                raise
            assert call is not None
            if action == "accept":
                if not isinstance(body, dict) or body.get("type") != "realtime":
                    entry["status"] = 400
                    raise fail(400, "Missing required parameter: 'type'.", "missing_required_parameter")
                call.update(state="accepted", session=body)
            elif action == "reject":
                status = (body or {}).get("status_code", DEFAULT_REJECT)
                if not isinstance(status, int) or not 400 <= status <= 699:
                    raise fail(400, "Invalid 'status_code': expected a SIP status code.")
                call.update(state="rejected", status_code=status)
            elif action == "refer":
                target = (body or {}).get("target_uri")
                if not isinstance(target, str) or not target.startswith(("tel:", "sip:", "sips:")):
                    raise fail(400, "Invalid 'target_uri': expected a tel: or sip: URI.")
                call.update(state="ended", referred_to=target)
            else:
                call.update(state="ended")
            if call["state"] != "accepted":
                for event in self._watchers.pop(call_id, []):
                    event.set()
            return Response(200)

        return handler

    @staticmethod
    def _refuse_unknown(action: str, body: Any) -> None:
        allowed = ACTION_KEYS.get(action)
        if allowed is not None and isinstance(body, dict):
            unknown = sorted(set(body) - allowed)
            if unknown:
                raise fail(400, f"Unrecognized request argument supplied: {unknown[0]}", "unknown_parameter")

    @staticmethod
    def _require(call: dict[str, Any] | None, action: str) -> None:
        """The states each action needs. The statuses are the unconfirmed part (see the module doc)."""
        if call is None or call["state"] in ("ended", "rejected"):
            raise fail(404, "Call not found.", "call_not_found")
        wanted = "pending" if action in ("accept", "reject") else "accepted"
        if call["state"] != wanted:
            raise fail(400, f"Cannot {action} a call that is {call['state']}.", "invalid_call_state")

    # -- sideband WebSocket -----------------------------------------------------------------------
    def sideband(self, request: Request) -> Response:
        call_id = request.query.get("call_id", "")
        call = self.calls.get(call_id)
        if call is None or call["state"] != "accepted":
            raise fail(404, "Call not found.", "call_not_found")
        if request.headers.get("upgrade", "").lower() != "websocket":
            raise fail(400, "This endpoint only accepts WebSocket connections.")
        stop = threading.Event()
        self._watchers.setdefault(call_id, []).append(stop)
        call["sideband"] = call.get("sideband", 0) + 1
        script = list(call.get("script") or []) if call["sideband"] == 1 else []  # the model does not repeat itself
        session = dict(call.get("session") or {})
        sockets = self._sockets.setdefault(call_id, [])

        def run(ws: Any) -> None:
            sockets.append(ws)
            try:
                _play(ws, call_id, session, script, stop)
            finally:
                sockets.remove(ws)

        return Response(101, upgrade=run)

    # -- webhook endpoints ------------------------------------------------------------------------
    def create_endpoint(self, request: Request) -> Response:
        body = _object(request)
        _refuse_unknown_keys(body, ENDPOINT_KEYS)
        missing = [k for k in ("url", "name", "event_types") if k not in body]
        if missing:
            raise fail(400, f"Missing required parameter: '{missing[0]}'.", "missing_required_parameter")
        now = int(time.time())
        endpoint: dict[str, Any] = {"id": "we_" + secrets.token_hex(12), "object": "webhook_endpoint",
                                    "created_at": now, "updated_at": now, "secrets": []}
        self._write(endpoint, body)
        secret = self._new_secret(endpoint)
        self.endpoints[endpoint["id"]] = endpoint
        return Response(200, {**self._public(endpoint), "signing_secret": secret})

    def list_endpoints(self, request: Request) -> Response:
        ordered = sorted(self.endpoints.values(), key=lambda e: (e["created_at"], e["id"]), reverse=True)
        after = request.query.get("after")
        if after:
            ids = [e["id"] for e in ordered]
            ordered = ordered[ids.index(after) + 1:] if after in ids else []
        limit = max(1, min(100, int(request.query.get("limit") or 20)))
        page = [self._public(e) for e in ordered[:limit]]
        return Response(200, {"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
                              "last_id": page[-1]["id"] if page else None, "has_more": len(ordered) > limit})

    def update_endpoint(self, request: Request, id: str) -> Response:
        endpoint = self._endpoint(id)
        body = _object(request)
        _refuse_unknown_keys(body, ENDPOINT_KEYS)
        changed = {k: v for k, v in body.items() if endpoint.get(k) != v}
        self._write(endpoint, body)
        if changed:  # updated_at does not move on a no-op update (fact sheet, trap 4)
            endpoint["updated_at"] = int(time.time())
        return Response(200, self._public(endpoint))

    def delete_endpoint(self, request: Request, id: str) -> Response:
        self._endpoint(id)
        del self.endpoints[id]
        return Response(200, {"id": id, "object": "webhook_endpoint.deleted", "deleted": True})

    def rotate_secret(self, request: Request, id: str) -> Response:
        endpoint = self._endpoint(id)
        ask = request.json() if request.body else {}
        _refuse_unknown_keys(ask if isinstance(ask, dict) else {}, frozenset({"keep_old_secret_active_for_24_hours"}))
        keep = bool(ask.get("keep_old_secret_active_for_24_hours"))
        now = time.time()
        endpoint["secrets"] = [{**s, "expires": now + 86400} for s in endpoint["secrets"][-1:] if keep]
        secret = self._new_secret(endpoint)
        return Response(200, {**self._public(endpoint), "signing_secret": secret})

    def _endpoint(self, endpoint_id: str) -> dict[str, Any]:
        try:
            return self.endpoints[endpoint_id]
        except KeyError:
            raise fail(404, f"No webhook endpoint found with id '{endpoint_id}'.") from None

    @staticmethod
    def _write(endpoint: dict[str, Any], body: dict[str, Any]) -> None:
        for key in ("url", "name", "event_types"):
            if key not in body:
                continue
            value = body[key]
            if key == "url" and not _deliverable(value):
                raise fail(400, "Invalid 'url': expected an HTTPS URL.")
            if key == "event_types" and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
                raise fail(400, "Invalid 'event_types': expected an array of strings.")
            if key == "event_types" and not value:
                raise fail(400, "Invalid 'event_types': expected at least one event type.")
            if key == "event_types" and (unknown := [v for v in value if v not in event_types()]):
                raise fail(400, f"Invalid 'event_types': unknown event type '{unknown[0]}'.")
            if key == "name" and (not isinstance(value, str) or not 0 < len(value) <= NAME_MAX):
                raise fail(400, f"Invalid 'name': expected a string of 1 to {NAME_MAX} characters.")
        for key in ("url", "name", "event_types"):
            if key in body:
                endpoint[key] = body[key]

    @staticmethod
    def _new_secret(endpoint: dict[str, Any]) -> str:
        secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
        endpoint["secrets"].append({"value": secret, "expires": None})
        endpoint["signing_secret_hint"] = "whsec_…" + secret[-4:]
        return secret

    @staticmethod
    def _public(endpoint: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in endpoint.items() if k != "secrets"}

    # -- test hooks -------------------------------------------------------------------------------
    def control(self, method: str, path: str, body: bytes) -> Response:
        ask = json.loads(body or b"{}")
        if method == "POST" and path == "/incoming":
            return self.incoming(ask)
        if method == "POST" and path.startswith("/calls/") and path.endswith("/tool"):
            return self.tool(path.removeprefix("/calls/").removesuffix("/tool"), ask)
        if method == "GET" and path.startswith("/calls/"):
            with self.shared_lock:
                call = self.calls.get(path.removeprefix("/calls/"))
                if not call:
                    return Response(404, {"message": "no such call"})
                return Response(200, json.loads(json.dumps(call)))  # a copy, taken under the lock
        return Response(404, {"message": "unknown sandbox control path"})

    def tool(self, call_id: str, step: dict[str, Any]) -> Response:
        """The model calls a tool now: the events go out on every open sideband of the call."""
        sockets = list(self._sockets.get(call_id) or [])
        for ws in sockets:
            _tool_call(ws, step)
        return Response(200, {"sidebands": len(sockets)})

    def incoming(self, ask: dict[str, Any]) -> Response:
        project = str(ask.get("project") or "proj_sandbox")
        headers = ask.get("headers") or []
        if isinstance(headers, dict):
            headers = [{"name": k, "value": v} for k, v in headers.items()]
        if not any(h["name"].lower() == "to" for h in headers):
            headers.append({"name": "To", "value": f"sip:{project}@sip.api.openai.com;transport=tls"})
        call_id = "rtc_" + secrets.token_hex(16)
        with self.shared_lock:
            self.calls[call_id] = {"call_id": call_id, "project": project, "state": "pending", "log": [],
                                   "script": list(ask.get("script") or [])}
            endpoints = [dict(e, secrets=list(e["secrets"])) for e in self.endpoints.values()
                         if CALL_INCOMING in e.get("event_types", [])]
        now = int(time.time())
        event = {"object": "event", "id": "evt_" + secrets.token_hex(16), "type": CALL_INCOMING, "created_at": now,
                 "data": {"call_id": call_id, "sip_headers": headers}}
        body = json.dumps(event).encode()
        timestamp = int(ask.get("timestamp") or now)
        send = ask.get("deliver", True) is not False
        deliveries = [self._deliver(e, body, timestamp, send) for e in endpoints]
        return Response(200, {"call_id": call_id, "deliveries": deliveries})

    def ingress(self, leg: Any, network: Any) -> Any:
        scheme, user, host, params = split_uri(leg.to)
        if scheme == "tel" or host.lower() not in HOSTS:
            return None
        passed = f"openai: {user}"
        if params.get("transport", "").lower() != "tls":
            return Answer(408, "Request Timeout: OpenAI takes SIP over TLS only", via=[*leg.via, passed])
        headers = [{"name": "From", "value": _caller_header(leg)},
                   {"name": "To", "value": f"sip:{user}@{host};transport=tls"}]
        headers += [{"name": k, "value": v} for k, v in leg.headers.items()]
        answer = self.incoming({"project": user, "headers": headers}).body
        call_id = answer["call_id"]
        if not any(200 <= (d.get("status") or 0) < 300 for d in answer["deliveries"]):
            return Answer(480, "Temporarily Unavailable: no webhook endpoint took the call", via=[*leg.via, passed])
        deadline = time.monotonic() + DECISION_TIMEOUT
        while time.monotonic() < deadline:
            with network.lock:
                call = dict(self.calls.get(call_id) or {})
            if call.get("state") not in (None, "pending"):
                break
            time.sleep(0.02)
        state = call.get("state")
        if state == "accepted":  # a test call: the caller hangs up once answered, which ends the sideband
            with network.lock:
                self.calls[call_id].update(state="ended", ended_by="caller")
                for event in self._watchers.pop(call_id, []):
                    event.set()
        if state in ("accepted", "ended") and call.get("session") is not None:
            return Answer(200, "OK", {"vendor": "openai", "kind": "call", "id": call_id,
                                      "model": (call.get("session") or {}).get("model")}, [*leg.via, passed])
        if state == "rejected":
            return Answer(int(call.get("status_code") or DEFAULT_REJECT), "Decline", {"id": call_id},
                          [*leg.via, passed])
        return Answer(480, "Temporarily Unavailable: nothing accepted the call", {"id": call_id},
                      [*leg.via, passed])

    @staticmethod
    def _deliver(endpoint: dict[str, Any], body: bytes, timestamp: int, send: bool = True) -> dict[str, Any]:
        import httpx

        webhook_id = "wh_" + secrets.token_hex(16)
        live = [s["value"] for s in endpoint["secrets"] if s["expires"] is None or s["expires"] > time.time()]
        headers = {"content-type": "application/json",
                   "user-agent": "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)",
                   "webhook-id": webhook_id, "webhook-timestamp": str(timestamp),
                   "webhook-signature": " ".join(sign(s, webhook_id, timestamp, body) for s in live)}
        if not send:
            return {"url": endpoint["url"], "status": None, "request": {"headers": headers, "body": body.decode()}}
        try:
            status = httpx.post(endpoint["url"], content=body, headers=headers, timeout=DELIVERY_TIMEOUT).status_code
        except httpx.HTTPError as exc:
            status, headers = 0, {**headers, "x-sandbox-error": type(exc).__name__}
        return {"url": endpoint["url"], "status": status, "request": {"headers": headers, "body": body.decode()}}


def _caller_header(leg: Any) -> str:
    caller = leg.caller or "anonymous"
    return f'"{caller}" <sip:{caller}@{leg.source or "0.0.0.0"}>;tag={secrets.token_hex(4)}'
def _refuse_unknown_keys(body: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise fail(400, f"Unrecognized request argument supplied: {unknown[0]}", "unknown_parameter")


def _object(request: Request) -> dict[str, Any]:
    body = request.json() if request.body else None
    if not isinstance(body, dict):
        raise fail(400, "We could not parse the JSON body of your request.")
    return body


def _deliverable(url: object) -> bool:
    """OpenAI delivers to HTTPS. The sandbox also takes http:// on loopback, where a local receiver listens
    (more lenient than the vendor, never stricter)."""
    if not isinstance(url, str):
        return False
    return url.startswith("https://") or url.startswith(("http://127.0.0.1", "http://localhost", "http://[::1]"))


def _play(ws: Any, call_id: str, session: dict[str, Any], script: list[dict[str, Any]],
          stop: threading.Event) -> None:
    """The sideband of one call: `session.created`, then the scripted tool calls as the model would make
    them (arguments done, then the completed response), then quiet until the call ends (`stop` is set)
    or the client goes away."""
    threading.Thread(target=_drain, args=(ws, stop), daemon=True).start()
    ws.send(json.dumps({"type": "session.created", "event_id": _id("event"),
                        "session": {"id": call_id, "object": "realtime.session", **session}}))
    for step in script:
        _tool_call(ws, step)
    stop.wait()
    ws.close()


def _tool_call(ws: Any, step: dict[str, Any]) -> None:
    """A function call as the model makes it: its arguments done, then the completed response."""
    from websockets.exceptions import ConnectionClosed

    response_id, item_id, fc_id = _id("resp"), _id("item"), _id("call")
    arguments = json.dumps(step.get("arguments") or {})
    item = {"id": item_id, "object": "realtime.item", "type": "function_call", "status": "completed",
            "name": step["name"], "call_id": fc_id, "arguments": arguments}
    try:
        ws.send(json.dumps({"type": "response.function_call_arguments.done", "event_id": _id("event"),
                            "response_id": response_id, "item_id": item_id, "output_index": 0, "call_id": fc_id,
                            "name": step["name"], "arguments": arguments}))
        ws.send(json.dumps({"type": "response.done", "event_id": _id("event"),
                            "response": {"id": response_id, "object": "realtime.response", "status": "completed",
                                         "output": [item]}}))
    except ConnectionClosed:
        pass  # the client went away meanwhile


def _drain(ws: Any, stop: threading.Event) -> None:
    """Read what the client sends (function outputs, response.create) until the socket closes."""
    from websockets.exceptions import ConnectionClosed

    try:
        for _ in ws:
            pass
    except ConnectionClosed:
        pass
    finally:
        stop.set()


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


EMULATOR = OpenAIEmulator  # found by voxplan.sandbox.core.emulators()
