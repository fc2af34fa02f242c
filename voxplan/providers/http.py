"""The one HTTP layer every provider uses, over `httpx.Client` (its pool, timeouts, proxies from the
environment, TLS verification): pacing, bounded retries with backoff and jitter, `Retry-After`, and status
codes turned into voxplan's own errors at the edge. Tests, `--sandbox` and production run this same code;
the sandbox plugs in as an httpx transport.

    Pacer       a per-vendor budget of requests per window (per key: a Cloudonix domain), on by default;
                a 429 halves it (multiplicative decrease) and honours Retry-After in seconds or as an HTTP
                date; each answer that is not a 429 grows it back by one (additive increase)
    ApiClient   one vendor's client: request() → parsed JSON, or a ProviderError subclass

A POST is retried here only after a 429 (the server said it did nothing). After a timeout, a reset or a 5xx
a create may have happened: `TransportError`/`ServerError` go up and the engine looks the object up by its
natural key before trying again. A 3xx is an error (voxplan never follows redirects: a write "answered"
by a redirect did not happen); a 2xx whose body is not JSON is an error naming the request.
"""

from __future__ import annotations

import contextlib
import email.utils
import functools
import json as _json
import logging
import os
import random
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec

from voxplan import __version__
from voxplan.core import errors
from voxplan.core.secret import RedactingFilter, redact

log = logging.getLogger("voxplan.http")
log.addFilter(RedactingFilter())  # on the logger: masked before any handler sees it (the CLI's, pytest's, a host's)

RETRY_STATUSES = frozenset({429, 502, 503, 504})
STATUS_ERRORS: dict[int, type[errors.ProviderError]] = {
    400: errors.InvalidRequest, 401: errors.AuthFailed, 403: errors.AuthFailed, 404: errors.NotFound,
    409: errors.Conflict, 422: errors.InvalidRequest, 429: errors.RateLimited,
}


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_delay: float = 0.2
    max_delay: float = 10.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_delay)
        backoff = min(self.max_delay, self.base_delay * 2**attempt)
        return backoff / 2 + random.uniform(0, backoff / 2)


# A 2xx body as msgspec decodes JSON: a 10,000-number refresh decodes 11.6 MB of pages (468,000 objects), and the
# whole plan took 10 % less CPU than with the json module (farm-bench, 5 pairs). Strict RFC 8259: NaN, Infinity,
# a byte order mark or a lone surrogate is "not JSON"; integers of any size stay exact (orjson makes big ones floats).
_decode = msgspec.json.Decoder().decode


@functools.cache
def _decoder(shape: Any) -> Callable[[bytes], Any]:
    """A decoder that keeps only what `shape` (TypedDicts) names of a body, as msgspec reads it: the rest is
    skipped as it is parsed, never built. A Wavix page of 100 numbers decodes in under half the CPU of in full."""
    return msgspec.json.Decoder(shape).decode


def default_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return (response.text or response.reason_phrase or "").strip()[:300]
    if isinstance(body, dict):
        message = body.get("message") or body.get("error") or body.get("detail") or ""
        if isinstance(message, list):
            return "; ".join(str(m) for m in message)
        return str(message)
    return str(body)[:300]


class Pacer:
    """At most `limit` requests per `window` seconds per key, client-side, so a run stays under a vendor's
    limit instead of collecting 429s. The server counts a request when it arrives, which is somewhere
    between our send and its answer; so a request holds its slot from before it is sent (`slot()`) until
    one window after its answer. Then no window on the server's clock holds more than `limit`, however long
    a request waited for a connection or a CPU on our side. The limit adapts (AIMD): `refused()` halves it
    and pauses the key until the server's Retry-After; `answered()` adds one back, up to the configured
    limit."""

    def __init__(self, limit: int, window: float, key: Callable[[str], str] = lambda _path: ""):
        self.max_limit = max(1, int(limit))
        self.window = window
        self.key = key
        self._limit: dict[str, int] = {}
        self._flying: dict[str, int] = {}  # requests sent (or about to be) and not yet answered
        self._answers: dict[str, deque[float]] = {}  # when each answer of the last window came
        self._paused: dict[str, float] = {}
        self._changed = threading.Condition()
        self.refusals = 0

    def limit(self, path: str = "") -> int:
        return self._limit.get(self.key(path), self.max_limit)

    @contextlib.contextmanager
    def slot(self, path: str) -> Iterator[None]:
        """Wait for a slot of the key of `path`, and hold it for the request made inside."""
        key = self.key(path)
        with self._changed:
            while (pause := self._wait_for(key)) != 0.0:
                self._changed.wait(pause)
            self._flying[key] = self._flying.get(key, 0) + 1
        try:
            yield
        finally:
            with self._changed:
                self._flying[key] -= 1
                self._answers.setdefault(key, deque()).append(time.monotonic())
                self._changed.notify_all()

    def _wait_for(self, key: str) -> float | None:
        """0.0: a slot is free now; else how long until one may be (None: until an answer comes)."""
        now = time.monotonic()
        answers = self._answers.setdefault(key, deque())
        while answers and now - answers[0] >= self.window:
            answers.popleft()
        pause = self._paused.get(key, 0.0) - now
        if pause > 0:
            return pause
        over = len(answers) + self._flying.get(key, 0) - self._limit.get(key, self.max_limit)
        if over < 0:
            return 0.0
        return self.window - (now - answers[over]) if over < len(answers) else None

    def refused(self, path: str, retry_after: float | None) -> None:
        key = self.key(path)
        with self._changed:
            self.refusals += 1
            self._limit[key] = max(1, self._limit.get(key, self.max_limit) // 2)
            pause = retry_after if retry_after is not None else self.window
            self._paused[key] = max(self._paused.get(key, 0.0), time.monotonic() + pause)

    def answered(self, path: str) -> None:
        key = self.key(path)
        if key in self._limit:
            with self._changed:
                grown = self._limit.get(key, self.max_limit) + 1
                if grown >= self.max_limit:
                    self._limit.pop(key, None)
                else:
                    self._limit[key] = grown
                self._changed.notify_all()


class ApiClient:
    """A provider's HTTP client. Holds no secrets in anything it prints."""

    def __init__(self, provider: str, base_url: str, *, headers: dict[str, str] | None = None,
                 transport: httpx.BaseTransport | None = None, timeout: float = 30.0,
                 retry: RetryPolicy | None = None, concurrency: int = 10, pacer: Pacer | None = None,
                 message: Callable[[httpx.Response], str] = default_message, verify: Any = True):
        self.provider = provider
        self.retry = retry or RetryPolicy()
        self.pacer = pacer
        self._message = message
        self.slots = threading.BoundedSemaphore(concurrency)
        self.timeout = timeout  # seconds a request may take before it counts as unanswered
        self.base_url = base_url.rstrip("/")
        headers = {"User-Agent": f"voxplan/{__version__}", "Accept": "application/json", **(headers or {})}
        for name, value in headers.items():
            if any(c in value for c in "\r\n\0"):  # h11 would put the value in its error text
                raise errors.PlanError(f"{provider}: the {name} header contains a line break or NUL character "
                                       "(a stray newline at the end of the API key?)")
        self.client = httpx.Client(base_url=self.base_url, headers=headers, transport=transport, timeout=timeout,
                                   follow_redirects=False, verify=_trust() if verify is True else verify,
                                   limits=httpx.Limits(max_connections=max(concurrency, 10),
                                                       max_keepalive_connections=max(concurrency, 10)))
        self.requests = 0
        self._answered = threading.local()  # the status of the last answer each thread got

    @property
    def last_status(self) -> int | None:
        """The HTTP status of the last answer this thread received (for an answer judged after it arrived)."""
        return getattr(self._answered, "status", None)

    def close(self) -> None:
        self.client.close()

    def request(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
                data: dict[str, Any] | None = None, expect_404_empty: bool = False, shape: Any = None) -> Any:
        """One call, paced and retried as the module says. `expect_404_empty`: a list endpoint that answers
        404 for "none" (Cloudonix) returns [] instead of raising. `shape`: the part of a 2xx body the caller
        reads (a TypedDict, msgspec's type-directed decoding); an answer not of that shape is an InvalidAnswer."""
        idempotent = method.upper() != "POST"
        params = {k: _param(v) for k, v in params.items() if v is not None} if params else None
        data = _form(data) if data is not None else None
        attempt = 0
        while True:
            try:
                with self.pacer.slot(path) if self.pacer else contextlib.nullcontext(), self.slots:
                    self.requests += 1
                    response = self.client.request(method, path, json=json, params=params, data=data)
            except httpx.TransportError as exc:
                if idempotent and attempt + 1 < self.retry.attempts:
                    attempt += 1
                    time.sleep(self.retry.delay(attempt, None))
                    continue
                raise errors.TransportError(f"{method} {path}: no answer ({type(exc).__name__})",
                                            provider=self.provider) from None
            status = response.status_code
            if self.pacer:
                if status == 429:
                    self.pacer.refused(path, retry_after(response))
                else:
                    self.pacer.answered(path)
            if status in RETRY_STATUSES and attempt + 1 < self.retry.attempts and (idempotent or status == 429):
                attempt += 1
                # paced, a 429's pause is the pacer's; unpaced, wait as the server asked or back off
                wait = 0.0 if (self.pacer and status == 429) else self.retry.delay(attempt, retry_after(response))
                log.debug("%s %s %s -> %s, retry %d in %.2fs", self.provider, method, path, status, attempt, wait)
                time.sleep(wait)
                continue
            if log.isEnabledFor(logging.DEBUG):  # the preview costs a JSON encode: only when someone listens
                log.debug("%s %s %s%s -> %s %s", self.provider, method, path, f" {params}" if params else "",
                          status, _body_preview(json if json is not None else data))
            if expect_404_empty and status == 404:
                return []
            return self._result(method, path, response, shape)

    def _result(self, method: str, path: str, response: httpx.Response, shape: Any = None) -> Any:
        status = response.status_code
        self._answered.status = status
        if 200 <= status < 300:
            if not response.content:
                return None
            try:
                return (_decode if shape is None else _decoder(shape))(response.content)
            except msgspec.ValidationError as exc:  # JSON, but not what the caller reads (the message names where)
                raise errors.InvalidAnswer(f"{method} {path}: answered {status} with a body voxplan cannot read: "
                                           f"{exc}", status=status, provider=self.provider) from None
            except ValueError:  # msgspec.DecodeError is one
                raise errors.InvalidAnswer(f"{method} {path}: answered {status} with a body that is not JSON",
                                           status=status, provider=self.provider) from None
        if 300 <= status < 400:
            raise errors.ProviderError(f"{method} {path}: answered {status} (a redirect); voxplan follows no "
                                       "redirects, so nothing was done", status=status, provider=self.provider)
        # a vendor that echoes a submitted value back must not carry a secret into an error line
        message = redact(f"{method} {path}: {self._message(response) or response.reason_phrase}")
        cls = STATUS_ERRORS.get(status, errors.ServerError if status >= 500 else errors.ProviderError)
        if cls is errors.RateLimited:
            raise errors.RateLimited(message, retry_after=retry_after(response), status=status,
                                     provider=self.provider)
        raise cls(message, status=status, provider=self.provider)


def _form(data: dict[str, Any]) -> dict[str, Any]:
    """Form fields as vendors read them: lists repeat the key; True/False as true/false; None empty."""
    return {k: [_form_value(i) for i in v] if isinstance(v, list | tuple) else _form_value(v) for k, v in data.items()}


def _form_value(value: Any) -> str:
    return "" if value is None else _param(value)


def _param(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds, either form (delta-seconds or an HTTP date)."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _body_preview(body: Any) -> str:
    """A short view of a request body for --debug; secret values are masked by the log filter."""
    if body is None:
        return ""
    text = _json.dumps(body, default=str, sort_keys=True)
    return text if len(text) <= 400 else text[:399] + "…"


def remaining_pages(total_pages: int, fetch: Callable[[int], list[Any]], workers: int = 8) -> list[Any]:
    """Pages 2..total_pages, fetched concurrently once page 1 has told how many there are; items in
    page order. Refresh then costs about two round trips, not one per page."""
    if total_pages <= 1:
        return []
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, min(workers, total_pages - 1))) as pool:
        return [item for page in pool.map(fetch, range(2, total_pages + 1)) for item in page]


def _trust() -> ssl.SSLContext:
    """One verifying TLS context for every vendor's client (httpx's own default, SSL_CERT_FILE and
    SSL_CERT_DIR honoured as it honours them): loading the CA bundle costs ~80 ms of CPU per context,
    which each client made again."""
    return _context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.cache
def _context(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    return httpx.create_ssl_context()
