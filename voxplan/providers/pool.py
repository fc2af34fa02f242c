"""A lean httpx transport: HTTP/1.1 keep-alive connections from the standard library's http.client.

Why: at 10 changes in flight, each a 20 ms round trip, an apply is bound by the client's CPU, not the
network. httpx's default transport (httpcore + h11) cost about 350 us of CPU a request on top of the
httpx client layer; http.client does the same exchange in about 150 us. httpx stays the interface
(requests, responses, errors, content decoding, test transports): only the wire changes. Where the
environment names a proxy, httpx's own transport carries the requests through it.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
import urllib.request
from collections.abc import Callable
from typing import Any

import httpx

_DEFAULT_PORTS = {"http": 80, "https": 443}
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"})
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


def transport_for(base_url: str, *, ssl_context: Callable[[], ssl.SSLContext],
                  timeout: float) -> httpx.BaseTransport:
    """The lean transport for `base_url`; httpx's own through the proxy when the environment names one
    for it (HTTP(S)_PROXY / ALL_PROXY, minus NO_PROXY)."""
    url = httpx.URL(base_url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(url.scheme) or proxies.get("all")
    if proxy and not urllib.request.proxy_bypass(url.host):
        return httpx.HTTPTransport(proxy=proxy, verify=ssl_context())
    return KeepAliveTransport(ssl_context=ssl_context, timeout=timeout)


class KeepAliveTransport(httpx.BaseTransport):
    def __init__(self, *, ssl_context: Callable[[], ssl.SSLContext], timeout: float):
        self._ssl = ssl_context  # made on the first https connection (loading the CA store costs ~30 ms)
        self._timeout = timeout
        self._idle: dict[tuple[str, str, int], list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        key = (url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme, 80))
        body = request.read()
        target = url.raw_path.decode("ascii")
        conn, reused = self._checkout(key)
        while True:
            try:
                response = self._exchange(conn, request, target, body)
                break
            except _STALE as exc:
                conn.close()
                if not (reused and request.method in _IDEMPOTENT):
                    raise _translate(exc, request) from exc
                # a kept-alive connection the server had already closed (the race the idle check can
                # lose): nothing was answered, so a GET/PUT/PATCH/DELETE goes again on a fresh one
                conn, reused = self._connect(key), False
            except Exception as exc:
                conn.close()
                raise _translate(exc, request) from exc
            except BaseException:
                conn.close()
                raise
        content = response.read()
        if response.will_close:
            conn.close()
        else:
            with self._lock:
                self._idle.setdefault(key, []).append(conn)
        return httpx.Response(response.status, headers=response.getheaders(), content=content, request=request,
                              extensions={"http_version": b"HTTP/1.1",
                                          "reason_phrase": response.reason.encode("latin-1")})

    @staticmethod
    def _exchange(conn: http.client.HTTPConnection, request: httpx.Request, target: str,
                  body: bytes) -> http.client.HTTPResponse:
        conn.putrequest(request.method, target, skip_host=True, skip_accept_encoding=True)
        for name, value in request.headers.raw:
            conn.putheader(name.decode("latin-1"), value.decode("latin-1"))
        conn.endheaders(body or None)
        return conn.getresponse()

    def _checkout(self, key: tuple[str, str, int]) -> tuple[http.client.HTTPConnection, bool]:
        """An idle connection the server has not closed meanwhile (a readable idle socket means EOF or
        junk: httpcore's check too), else a new one; and whether it was reused."""
        while True:
            with self._lock:
                idle = self._idle.get(key)
                conn = idle.pop() if idle else None
            if conn is None:
                return self._connect(key), False
            if conn.sock is not None and not _readable(conn.sock):
                return conn, True
            conn.close()

    def _connect(self, key: tuple[str, str, int]) -> http.client.HTTPConnection:
        scheme, host, port = key
        if scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=self._timeout, context=self._ssl())
        return _NoDelayConnection(host, port, timeout=self._timeout)

    def close(self) -> None:
        with self._lock:
            conns = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
        for conn in conns:
            conn.close()


class _NoDelayConnection(http.client.HTTPConnection):
    """Headers and body may leave in separate writes: without TCP_NODELAY, Nagle holds the second one
    for the peer's delayed ACK (40 ms on Linux). HTTPSConnection's TLS records make this moot there."""

    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _readable(sock: socket.socket) -> bool:
    try:
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


def _translate(exc: Exception, request: httpx.Request) -> Exception:
    """http.client and socket errors as the httpx errors the rest of voxplan handles."""
    mapped: Any
    if isinstance(exc, TimeoutError | socket.timeout):
        mapped = httpx.ReadTimeout
    elif isinstance(exc, ConnectionRefusedError | socket.gaierror | ssl.SSLError):
        mapped = httpx.ConnectError
    elif isinstance(exc, http.client.RemoteDisconnected | http.client.IncompleteRead | http.client.BadStatusLine):
        mapped = httpx.RemoteProtocolError
    elif isinstance(exc, OSError | http.client.HTTPException):
        mapped = httpx.ReadError
    else:
        return exc
    return mapped(f"{type(exc).__name__}: {exc}", request=request)
