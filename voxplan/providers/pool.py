"""Keep-alive HTTP/1.1 connections under the HTTP layer: a lean wire, and an httpx transport over it.

Why: at 10 changes in flight, each a 20 ms round trip, an apply is bound by the client's CPU, not the
network. httpx's default transport (httpcore + h11) cost about 350 us of CPU a request on top of the
httpx client layer. The standard library's http.client did the exchange in about 150 us, most of it
parsing response headers through the email package; httpx's Request and Response objects (URL parsing,
header normalising) added as much again. `KeepAliveTransport.exchange` writes each request in one send
and reads the answer straight off a buffered socket: about 50 us. What HTTP/1.1 framing needs is here
and tested: Content-Length, chunked bodies, bodies delimited by the server closing, interim 1xx answers,
HEAD/204/304 without a body, `Connection: close`, gzip and deflate. Where the environment names a
proxy, httpx's own transport carries the requests instead.
"""

from __future__ import annotations

import json
import os
import select
import socket
import sys
import threading
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:  # httpx is imported only where its objects are really used: a plan never needs it
    import ssl

    import httpx

DEFAULT_PORTS = {"http": 80, "https": 443}
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"})
_MAX_LINE = 65536
_MAX_HEADERS = 100


class WireError(Exception):
    """No complete HTTP answer. `kind` names it as httpx names its own errors (ConnectError, ReadTimeout,
    RemoteProtocolError, ReadError, ...), whichever transport raised it."""

    def __init__(self, kind: str, detail: str = ""):
        super().__init__(f"{kind} ({detail})" if detail else kind)
        self.kind = kind


class ServerClosed(WireError):
    """The server closed the connection before any answer: on a kept-alive connection, nothing was done."""

    def __init__(self, detail: str = "the server closed the connection without answering"):
        super().__init__("RemoteProtocolError", detail)


_STALE = (ServerClosed, BrokenPipeError, ConnectionResetError)


def transport_for(base_url: str, *, ssl_context: Callable[[], ssl.SSLContext],
                  timeout: float) -> KeepAliveTransport | httpx.BaseTransport:
    """The lean transport for `base_url`; httpx's own through the proxy when the environment names one
    for it (HTTP(S)_PROXY / ALL_PROXY, minus NO_PROXY)."""
    url = urlsplit(base_url)
    # urllib.request (and the http.client and email packages under it) is imported only when a proxy
    # variable is set; on macOS and Windows the system settings may name one, so it is always asked there
    if sys.platform in ("darwin", "win32") or any(k.lower().endswith("_proxy") for k in os.environ):
        import urllib.request

        proxies = urllib.request.getproxies()
        proxy = proxies.get(url.scheme) or proxies.get("all")
        if proxy and not urllib.request.proxy_bypass(url.hostname or ""):
            import httpx

            return httpx.HTTPTransport(proxy=proxy, verify=ssl_context())
    return KeepAliveTransport(ssl_context=ssl_context, timeout=timeout)


class Answer:
    """An HTTP answer read whole, as the HTTP layer and vendors' message functions read it (names as
    httpx.Response's: `status_code`, `reason_phrase`, `headers` by lower-case name, `content`, `text`,
    `json()`)."""

    __slots__ = ("status_code", "reason_phrase", "headers", "content")

    def __init__(self, status_code: int, reason_phrase: str, headers: dict[str, str], content: bytes):
        self.status_code = status_code
        self.reason_phrase = reason_phrase
        self.headers = headers  # names in lower case; repeated headers joined with ", "
        self.content = content

    @property
    def text(self) -> str:
        _, _, params = self.headers.get("content-type", "").partition(";")
        charset = "utf-8"
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.lower() == "charset" and value:
                charset = value.strip("\"'")
        try:
            return self.content.decode(charset, errors="replace")
        except LookupError:
            return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


class _Connection:
    """One socket and its buffered reader."""

    __slots__ = ("sock", "rfile")

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.rfile = sock.makefile("rb", buffering=65536)

    def close(self) -> None:
        try:
            self.rfile.close()
        finally:
            self.sock.close()


class KeepAliveTransport:
    """Idle connections per (scheme, host, port), reused while the server keeps them open. Also an httpx
    transport (`handle_request`), without being imported from httpx."""

    def __init__(self, *, ssl_context: Callable[[], ssl.SSLContext], timeout: float):
        self._ssl = ssl_context  # made on the first https connection (loading the CA store costs ~30 ms)
        self._timeout = timeout
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._lock = threading.Lock()

    def exchange(self, method: str, scheme: str, host: str, port: int, head: bytes, body: bytes,
                 *, decode: bool = True) -> Answer:
        """Send `head` (request line and headers, blank line included) and `body`; read the answer.
        Failures come out as WireError."""
        key = (scheme, host, port)
        conn, reused = self._checkout(key)
        while True:
            try:
                conn.sock.sendall(head + body if len(body) < 65536 else head)
                if len(body) >= 65536:
                    conn.sock.sendall(body)
                answer, keep = _read_answer(conn.rfile, method, decode)
                break
            except _STALE as exc:
                conn.close()
                if not (reused and method in _IDEMPOTENT):
                    raise _translate(exc, method, host) from exc
                # a kept-alive connection the server had already closed (the race the idle check can
                # lose): nothing was answered, so a GET/PUT/PATCH/DELETE goes again on a fresh one
                conn, reused = self._connect(key), False
            except WireError:
                conn.close()
                raise
            except Exception as exc:
                conn.close()
                raise _translate(exc, method, host) from exc
            except BaseException:
                conn.close()
                raise
        if keep:
            with self._lock:
                self._idle.setdefault(key, []).append(conn)
        else:
            conn.close()
        return answer

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """The httpx transport interface over the same wire (content decoding left to httpx)."""
        import httpx

        url = request.url
        lines = [f"{request.method} {url.raw_path.decode('ascii')} HTTP/1.1"]
        lines += [f"{name.decode('latin-1')}: {value.decode('latin-1')}" for name, value in request.headers.raw]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            answer = self.exchange(request.method, url.scheme, url.host,
                                   url.port or DEFAULT_PORTS.get(url.scheme, 80), head, request.read(), decode=False)
        except WireError as exc:
            raise getattr(httpx, exc.kind, httpx.TransportError)(str(exc), request=request) from exc
        return httpx.Response(answer.status_code, headers=list(answer.headers.items()), content=answer.content,
                              request=request, extensions={"http_version": b"HTTP/1.1",
                                                           "reason_phrase": answer.reason_phrase.encode("latin-1")})

    def _checkout(self, key: tuple[str, str, int]) -> tuple[_Connection, bool]:
        """An idle connection the server has not closed meanwhile (a readable idle socket means EOF or
        junk: httpcore's check too), else a new one; and whether it was reused."""
        while True:
            with self._lock:
                idle = self._idle.get(key)
                conn = idle.pop() if idle else None
            if conn is None:
                return self._connect(key), False
            if not _readable(conn.sock):
                return conn, True
            conn.close()

    def _connect(self, key: tuple[str, str, int]) -> _Connection:
        scheme, host, port = key
        try:
            sock = socket.create_connection((host, port), timeout=self._timeout)
            # the request leaves in one write, but a large body in two: without TCP_NODELAY Nagle would
            # hold the second for the peer's delayed ACK (40 ms on Linux)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                sock = self._ssl().wrap_socket(sock, server_hostname=host)
        except Exception as exc:
            raise _translate(exc, "CONNECT", host) from exc
        return _Connection(sock)

    def close(self) -> None:
        with self._lock:
            conns = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
        for conn in conns:
            conn.close()

    def __enter__(self) -> KeepAliveTransport:  # as httpx.Client expects of a transport
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def request_head(method: str, target: str, host_header: str, header_block: str, body: bytes,
                 content_type: str | None) -> bytes:
    """The request line and headers of one request, ready to send."""
    extra = f"Content-Type: {content_type}\r\n" if content_type else ""
    if body or method in ("POST", "PUT", "PATCH"):
        extra += f"Content-Length: {len(body)}\r\n"
    return f"{method} {target} HTTP/1.1\r\nHost: {host_header}\r\n{header_block}{extra}\r\n".encode("latin-1")


def _read_answer(rfile: Any, method: str, decode: bool) -> tuple[Answer, bool]:
    """One answer off the connection, and whether the connection can carry another."""
    while True:
        line = rfile.readline(_MAX_LINE + 1)
        if not line:
            raise ServerClosed()
        version, _, rest = line.decode("latin-1").rstrip("\r\n").partition(" ")
        code, _, reason = rest.partition(" ")
        if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
            raise WireError("RemoteProtocolError", "not an HTTP status line")
        status = int(code)
        headers = _read_headers(rfile)
        if 100 <= status < 200 and status != 101:
            continue  # an interim answer (100 Continue, 103 Early Hints): the real one follows
        break
    connection = headers.get("connection", "").lower()
    keep = ("close" not in connection) if version == "HTTP/1.1" else ("keep-alive" in connection)
    if method == "HEAD" or status in (204, 304) or status < 200:
        content = b""
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        content = _read_chunked(rfile)
    elif "content-length" in headers:
        try:
            length = int(headers["content-length"].split(",")[0])
        except ValueError:
            raise WireError("RemoteProtocolError", "bad Content-Length") from None
        content = rfile.read(length)
        if len(content) < length:
            raise WireError("RemoteProtocolError", f"answer cut short: {len(content)} of {length} bytes")
    else:  # the body runs until the server closes
        content = rfile.read()
        keep = False
    if decode:
        encoding = headers.get("content-encoding", "").lower().strip()
        if encoding in ("gzip", "x-gzip"):
            content = zlib.decompress(content, 16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            try:
                content = zlib.decompress(content)
            except zlib.error:  # raw deflate without the zlib wrapper, as some servers send it
                content = zlib.decompress(content, -zlib.MAX_WBITS)
    return Answer(status, reason, headers, content), keep


def _read_headers(rfile: Any) -> dict[str, str]:
    headers: dict[str, str] = {}
    for _ in range(_MAX_HEADERS + 1):
        line = rfile.readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE:
            raise WireError("RemoteProtocolError", "header line too long")
        if line in (b"\r\n", b"\n", b""):
            if not line:
                raise WireError("RemoteProtocolError", "the server closed the connection inside the headers")
            return headers
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep:
            continue  # not a header (obsolete line folding, junk): ignored, as http.client does
        name = name.strip().lower()
        value = value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    raise WireError("RemoteProtocolError", f"more than {_MAX_HEADERS} headers")


def _read_chunked(rfile: Any) -> bytes:
    parts: list[bytes] = []
    while True:
        line = rfile.readline(_MAX_LINE + 1)
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise WireError("RemoteProtocolError", "bad chunk size") from None
        if size == 0:
            break
        chunk = rfile.read(size)
        if len(chunk) < size:
            raise WireError("RemoteProtocolError", "chunk cut short")
        parts.append(chunk)
        rfile.readline(_MAX_LINE + 1)  # the CRLF after the chunk
    while rfile.readline(_MAX_LINE + 1) not in (b"\r\n", b"\n", b""):
        pass  # trailers: none of voxplan's vendors send any worth reading
    return b"".join(parts)


def _readable(sock: socket.socket) -> bool:
    try:
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


def _translate(exc: Exception, method: str, host: str) -> Exception:
    """Socket, TLS and decoding errors as WireError. The text names the error's class and the host only:
    nothing of the request travels with it."""
    if isinstance(exc, WireError):
        return exc
    ssl_module = sys.modules.get("ssl")  # loaded by then if the connection is TLS
    if isinstance(exc, TimeoutError | socket.timeout):
        kind = "ReadTimeout"
    elif isinstance(exc, ConnectionRefusedError | socket.gaierror) or (
            ssl_module is not None and isinstance(exc, ssl_module.SSLError)):
        kind = "ConnectError"
    elif isinstance(exc, zlib.error):
        kind = "DecodingError"
    elif isinstance(exc, OSError):
        kind = "ReadError"
    else:
        return exc
    return WireError(kind, f"{type(exc).__name__}, {method} to {host}")
