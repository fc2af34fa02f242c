"""Call control at run time, through the official `openai` SDK: verify a `realtime.call.incoming`
delivery, accept or reject the call, watch its sideband WebSocket for the agent's tool calls, refer and
hang up. `voxplan serve` drives this; nothing here decides which agent answers.

Quirks handled here: the dialled number is no field of the event: it is read from the carrier's own SIP
header (`x-number` on Wavix), else from the user part of `To` (which is the project id when the carrier
does not put the number there, so it matches no route and the call is rejected, never misrouted). A
function call counts only in a completed `response.done` (an interrupted response also emits
`response.function_call_arguments.done`). The signing secret is configuration: `verify` tries each
secret it is given (two while a rotation overlaps); `rotate` (for `voxplan webhooks rotate`) makes a new
one, keeping the old one valid for 24 hours, and hands it back once.

Unconfirmed, and where one change fixes it: the status OpenAI answers call control on a call that is no
longer pending (the emulator: 400 invalid_call_state, 404 once ended). `settled` treats any 400, 404 or
409 as "this step is no longer possible"; serve then tries the other decision once before it takes the
call as decided elsewhere, so either answer is safe.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import openai
from openai.resources.realtime.calls import Calls

from voxplan.core import errors
from voxplan.providers.openai import API_URL
from voxplan.providers.openai.webhooks import CALL_INCOMING
from voxplan.stack import telephony

TOLERANCE = 300  # seconds, the SDK's and OpenAI's replay window
_NUMBER = re.compile(r"^\+?[1-9]\d{6,14}$")


class InvalidDelivery(errors.VoxplanError):
    """A webhook delivery that is not OpenAI's: bad or missing signature, or a timestamp out of window."""


@dataclass(frozen=True)
class Incoming:
    event_id: str
    call_id: str
    sip_headers: tuple[tuple[str, str], ...]


def dialled_number(sip_headers: Iterable[tuple[str, str]], number_headers: Iterable[str]) -> str | None:
    """The E.164 number the caller dialled: the first carrier header that holds one (`x-number` on
    Wavix), else the user part of `To`'s URI, parsed as RFC 3261 name-addr: the display name never
    counts, however it is quoted. Only the first `To` is read (a second is a malformed INVITE)."""
    headers = [(name.lower(), value) for name, value in sip_headers]
    for wanted in [h.lower() for h in number_headers] + ["to"]:
        for name, value in headers:
            if name != wanted:
                continue
            if wanted == "to":
                uri = telephony.name_addr_uri(value)
                text = telephony.uri_user(uri) if uri else ""
            else:
                text = value.strip()
            if _NUMBER.match(text):
                return "+" + text.lstrip("+")
            if wanted == "to":
                return None
    return None


def caller_number(sip_headers: Iterable[tuple[str, str]]) -> str | None:
    """The caller's number, from the user part of `From`'s URI (name-addr: the display name never counts)."""
    for name, value in sip_headers:
        if name.lower() == "from":
            uri = telephony.name_addr_uri(value)
            text = telephony.uri_user(uri) if uri else ""
            return "+" + text.lstrip("+") if _NUMBER.match(text) else text or None
    return None


def witness_token(api_key: str) -> str:
    """What `voxplan test` shows `serve` to read its recent decisions: a keyed hash of the OpenAI API key both
    hold (the key itself never travels)."""
    return hmac.new(api_key.encode(), b"voxplan serve: recent calls", hashlib.sha256).hexdigest()


def sdk_base_url(api_root: str) -> str:
    """The SDK's base URL for an API root (`VOXPLAN_OPENAI_BASE_URL` names the root, as for every vendor:
    `http://127.0.0.1:8787/openai` for the sandbox). A root given with its `/v1` is taken as it is."""
    return api_root.rstrip("/").removesuffix("/v1") + "/v1"


class CallControl:
    """One OpenAI project's call control, on the API at `api_root`; the SDK derives the sideband's URL
    from it (ws:// for http://, wss:// for https://)."""

    def __init__(self, api_key: str, api_root: str = API_URL, *, webhook_secrets: tuple[str, ...] = (),
                 timeout: float = 10.0, max_retries: int = 2):
        self.webhook_secrets = webhook_secrets
        self.client = openai.OpenAI(api_key=api_key, base_url=sdk_base_url(api_root), timeout=timeout,
                                    max_retries=max_retries)

    def close(self) -> None:
        self.client.close()

    def verify(self, body: bytes, headers: Mapping[str, str]) -> Incoming | None:
        """The call a delivery announces, or None for another event type. Raises InvalidDelivery."""
        event = None
        for secret in self.webhook_secrets:
            try:
                event = self.client.webhooks.unwrap(body, dict(headers), secret=secret)
                break
            except (openai.InvalidWebhookSignatureError, ValueError) as exc:  # ValueError: a header is missing
                problem = str(exc)
        if event is None:
            raise InvalidDelivery(problem if self.webhook_secrets else "no signing secret configured")
        if getattr(event, "type", None) != CALL_INCOMING:
            return None
        data: Any = event.data  # type: ignore[union-attr]
        return Incoming(event.id, data.call_id, tuple((h.name, h.value) for h in data.sip_headers))

    def accept(self, call_id: str, body: Mapping[str, Any]) -> None:
        known = _ACCEPT_PARAMS & set(body)
        self.client.realtime.calls.accept(call_id, **{k: body[k] for k in known},
                                          extra_body={k: v for k, v in body.items() if k not in known} or None)

    def reject(self, call_id: str, status_code: int) -> None:
        self.client.realtime.calls.reject(call_id, status_code=status_code)

    def refer(self, call_id: str, target_uri: str) -> None:
        self.client.realtime.calls.refer(call_id, target_uri=target_uri)

    def hangup(self, call_id: str) -> None:
        self.client.realtime.calls.hangup(call_id)

    def watch(self, call_id: str, on_tool: Callable[[str, str], bool],
              on_open: Callable[[Any], None] = lambda _c: None) -> None:
        """Follow the call's sideband until it closes or `on_tool(name, arguments)` says the call is done.
        `on_open(connection)` gets the connection (its `close()` stops the watch from another thread)."""
        with self.client.realtime.connect(call_id=call_id) as connection:
            on_open(connection)
            for event in connection:
                if event.type != "response.done" or event.response.status != "completed":
                    continue
                for item in event.response.output or []:
                    if item.type == "function_call" and on_tool(str(item.name), str(item.arguments or "")):
                        return

    def rotate(self, endpoint_id: str) -> str:
        """A new signing secret for the endpoint; the old one stays valid for 24 hours."""
        rotated = self.client.webhooks.rotate_secret(endpoint_id, keep_old_secret_active_for_24_hours=True)
        return str(rotated.signing_secret)


def settled(exc: BaseException) -> bool:
    """Whether a call-control error says the call is past this step (decided, or gone), not that the
    request failed: retrying would not help (see the module doc)."""
    return isinstance(exc, openai.APIStatusError) and exc.status_code in (400, 404, 409)


_ACCEPT_PARAMS = frozenset(inspect.signature(Calls.accept).parameters) - {
    "self", "call_id", "extra_headers", "extra_query", "extra_body", "timeout"}

ERRORS: tuple[type[Exception], ...] = (openai.OpenAIError, OSError)  # what a call-control step may raise
