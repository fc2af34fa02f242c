"""The one HTTP layer every provider uses: timeouts, bounded retries with backoff and jitter,
`Retry-After`, and status codes turned into voxplan's own errors at the edge.

A POST is retried only when the server said it did nothing (429). After a timeout, a reset or a 5xx a
create may have happened: the HTTP layer raises `TransportError`/`ServerError` and the engine looks the
object up by its natural key before trying again.
"""

from __future__ import annotations

import functools
import json as _json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

from voxplan import __version__
from voxplan.core import errors
from voxplan.core.secret import redact
from voxplan.providers import pool
from voxplan.providers.pool import Answer

if TYPE_CHECKING:  # httpx is imported only where a caller hands in an httpx transport (tests, proxies)
    import ssl

    import httpx

log = logging.getLogger("voxplan.http")

RETRY_STATUSES = frozenset({429, 502, 503, 504})


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


@functools.lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context for every client (making one costs tens of milliseconds)."""
    import ssl

    return ssl.create_default_context()


def default_message(response: Answer) -> str:
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


class RateBudget:
    """At most `limit` requests per `window` seconds per key (e.g. per Cloudonix domain), client-side,
    so a plan stays under a vendor's limit instead of collecting 429s."""

    def __init__(self, limit: int, window: float, key: Callable[[str], str] = lambda _path: ""):
        self.limit = limit
        self.window = window * 1.05 + 0.05  # the server's clock starts later than ours: keep a margin
        self.key = key
        self._sent: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait(self, path: str) -> None:
        key = self.key(path)
        while True:
            with self._lock:
                now = time.monotonic()
                sent = self._sent.setdefault(key, deque())
                while sent and now - sent[0] >= self.window:
                    sent.popleft()
                if len(sent) < self.limit:
                    sent.append(now)
                    return
                pause = self.window - (now - sent[0]) + 0.01
            time.sleep(pause)


class ApiClient:
    """A provider's HTTP client. Holds no secrets in anything it prints."""

    def __init__(self, provider: str, base_url: str, *, headers: dict[str, str] | None = None,
                 transport: httpx.BaseTransport | pool.KeepAliveTransport | None = None, timeout: float = 30.0,
                 retry: RetryPolicy | None = None, concurrency: int = 10, budget: RateBudget | None = None,
                 message: Callable[[Answer], str] = default_message):
        self.provider = provider
        self.retry = retry or RetryPolicy()
        self.budget = budget
        self._message = message
        self.slots = threading.BoundedSemaphore(concurrency)
        self.base_url = base_url.rstrip("/")
        self.headers = {"User-Agent": f"voxplan/{__version__}", "Accept": "application/json",
                        "Accept-Encoding": "gzip, deflate", **(headers or {})}
        for name, value in self.headers.items():
            if any(c in value for c in "\r\n\0"):  # http.client used to put the value in its error text
                raise errors.PlanError(f"{provider}: the {name} header contains a line break or NUL character "
                                       "(a stray newline at the end of the API key?)")
        # the transport is called directly: httpx's Client layer (URL merging, cookies, auth and redirect
        # machinery voxplan never uses) cost more CPU per request than the wire itself
        self.transport = transport or pool.transport_for(self.base_url, ssl_context=_tls_context, timeout=timeout)
        self._timeout = timeout
        # the lean wire: requests written from parts prepared once here, answers read without httpx objects
        self._wire = self.transport if isinstance(self.transport, pool.KeepAliveTransport) else None
        base = urlsplit(self.base_url)
        self._scheme, self._host = base.scheme, base.hostname or ""
        default_port = pool.DEFAULT_PORTS.get(base.scheme, 80)
        self._port = base.port or default_port
        self._base_path = base.path
        host = f"[{self._host}]" if ":" in self._host else self._host
        self._host_header = host if base.port in (None, default_port) else f"{host}:{base.port}"
        self._header_block = "".join(f"{name}: {value}\r\n" for name, value in self.headers.items())
        self.requests = 0

    def close(self) -> None:
        self.transport.close()

    def request(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
                data: dict[str, Any] | None = None, expect_404_empty: bool = False) -> Any:
        """One call, retried as the module says. `expect_404_empty`: a list endpoint that answers 404 for
        "none" (Cloudonix) returns [] instead of raising."""
        idempotent = method.upper() != "POST"
        attempt = 0
        while True:
            if self.budget:
                self.budget.wait(path)
            try:
                with self.slots:
                    self.requests += 1
                    response = self._send(method, path, params, json, data)
            except pool.WireError as exc:
                if idempotent and attempt + 1 < self.retry.attempts:
                    attempt += 1
                    time.sleep(self.retry.delay(attempt, None))
                    continue
                raise errors.TransportError(f"{method} {path}: no answer ({exc.kind})",
                                            provider=self.provider) from None
            if response.status_code in RETRY_STATUSES and attempt + 1 < self.retry.attempts and (
                idempotent or response.status_code == 429
            ):
                attempt += 1
                wait = self.retry.delay(attempt, _retry_after(response))
                log.debug("%s %s %s -> %s, retry %d in %.2fs", self.provider, method, path,
                          response.status_code, attempt, wait)
                time.sleep(wait)
                continue
            if log.isEnabledFor(logging.DEBUG):  # the preview costs a JSON encode: only when someone listens
                log.debug("%s %s %s%s -> %s %s", self.provider, method, path, f" {params}" if params else "",
                          response.status_code, _body_preview(json if json is not None else data))
            if expect_404_empty and response.status_code == 404:
                return []
            return self._result(method, path, response)

    def _send(self, method: str, path: str, params: dict[str, Any] | None, json: Any,
              data: dict[str, Any] | None) -> Answer:
        target = self._target(path, params)
        if self._wire is not None:
            if json is not None:
                body, content_type = _encode_json(json), "application/json"
            elif data is not None:
                body, content_type = _encode_form(data), "application/x-www-form-urlencoded"
            else:
                body, content_type = b"", None
            head = pool.request_head(method, target, self._host_header, self._header_block, body, content_type)
            return self._wire.exchange(method, self._scheme, self._host, self._port, head, body)
        import httpx

        assert not isinstance(self.transport, pool.KeepAliveTransport)
        request = httpx.Request(method, f"{self._scheme}://{self._host_header}{target}", headers=self.headers,
                                json=json, data=data, extensions={"timeout": httpx.Timeout(self._timeout).as_dict()})
        try:
            response = self.transport.handle_request(request)
            try:
                response.read()
            finally:
                response.close()
        except httpx.TransportError as exc:
            raise pool.WireError(type(exc).__name__) from None
        # one kind of answer from here on (httpx joins a repeated header with ", ", as the wire does)
        return Answer(response.status_code, response.reason_phrase, dict(response.headers), response.content)

    def _target(self, path: str, params: dict[str, Any] | None) -> str:
        """The request target (path and query), built here: httpx merging a relative path and params into
        a base URL cost 240 us of CPU a request, a third of its whole client cost (20,000 changes: 5 s).
        Characters a path may not carry are percent-encoded; existing escapes are kept, as httpx does."""
        target = quote(self._base_path + path, safe="/%:@!$&'()*+,;=~")
        if not params:
            return target
        return f"{target}?{urlencode({k: _param(v) for k, v in params.items() if v is not None})}"

    def _result(self, method: str, path: str, response: Answer) -> Any:
        status = response.status_code
        if status < 400:
            if not response.content:
                return None
            try:
                return response.json()
            except ValueError:
                return response.text
        # a vendor that echoes a submitted value back must not carry a secret into an error line
        message = redact(f"{method} {path}: {self._message(response) or response.reason_phrase}")
        cls: type[errors.ProviderError] = {
            400: errors.InvalidRequest, 401: errors.AuthFailed, 403: errors.AuthFailed, 404: errors.NotFound,
            409: errors.Conflict, 422: errors.InvalidRequest, 429: errors.RateLimited,
        }.get(status, errors.ServerError if status >= 500 else errors.ProviderError)
        if cls is errors.RateLimited:
            raise errors.RateLimited(message, retry_after=_retry_after(response), status=status,
                                     provider=self.provider)
        raise cls(message, status=status, provider=self.provider)


def _encode_json(value: Any) -> bytes:
    """As httpx encodes a json= body."""
    return _json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def _encode_form(data: dict[str, Any]) -> bytes:
    """As httpx encodes a data= body: lists repeat the key; True/False/None as true/false/empty."""
    pairs = [(k, _form_value(item)) for k, v in data.items() for item in (v if isinstance(v, list | tuple) else [v])]
    return urlencode(pairs).encode("utf-8")


def _form_value(value: Any) -> str:
    if value is None:
        return ""
    return _param(value)


def _param(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _retry_after(response: Answer) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _body_preview(body: Any) -> str:
    """A short view of a request body for --debug; secret fields are masked by the log filter."""
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
