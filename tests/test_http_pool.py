"""The keep-alive transport under the HTTP layer, against small real servers on loopback."""

from __future__ import annotations

import gzip
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from voxplan.core import errors
from voxplan.providers import pool
from voxplan.providers.http import ApiClient, RetryPolicy


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[dict[str, Any]] = []
    close_after: bool = False

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        type(self).seen.append({"path": self.path, "headers": dict(self.headers.items()),
                                "peer": self.client_address[1]})
        payload = json.dumps({"path": self.path}).encode()
        if "gzip" in self.path:
            payload = gzip.compress(payload)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if "gzip" in self.path:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        if type(self).close_after:  # an idle timeout on the server: it hangs up without saying so
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture()
def server() -> Iterator[tuple[str, type[_Handler]]]:
    handler = type("H", (_Handler,), {"seen": [], "close_after": False})
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", handler
    srv.shutdown()
    srv.server_close()


def test_connections_are_reused_and_headers_sent(server: tuple[str, type[_Handler]]) -> None:
    url, handler = server
    client = ApiClient("t", url, headers={"Authorization": "Bearer k"})
    for i in range(5):
        assert client.request("GET", "/x", params={"page": i, "flag": True}) == {"path": f"/x?page={i}&flag=true"}
    assert len({r["peer"] for r in handler.seen}) == 1  # one connection for five sequential requests
    headers = {k.lower(): v for k, v in handler.seen[0]["headers"].items()}
    assert headers["authorization"] == "Bearer k" and headers["user-agent"].startswith("voxplan/")
    assert headers["host"] == url.removeprefix("http://")
    client.close()


def test_a_connection_the_server_closed_while_idle_is_replaced_not_failed(server: tuple[str, type[_Handler]]) -> None:
    url, handler = server
    handler.close_after = True
    client = ApiClient("t", url, retry=RetryPolicy(attempts=1))  # no retries: the pool alone must cope
    for _ in range(3):
        assert client.request("GET", "/y") == {"path": "/y"}
    client.close()
    assert len({r["peer"] for r in handler.seen}) == 3


def test_gzip_bodies_are_decoded(server: tuple[str, type[_Handler]]) -> None:
    url, _ = server
    client = ApiClient("t", url)
    assert client.request("GET", "/gzip") == {"path": "/gzip"}
    client.close()


def test_refused_connection_is_a_transport_error_naming_the_provider() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    client = ApiClient("wavix", f"http://127.0.0.1:{port}", retry=RetryPolicy(attempts=2, base_delay=0))
    with pytest.raises(errors.TransportError) as info:
        client.request("GET", "/v1/trunks")
    assert "GET /v1/trunks" in str(info.value) and info.value.provider == "wavix"


def test_environment_proxies_keep_httpx_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    def ctx() -> ssl.SSLContext:
        return ssl.create_default_context()

    for var in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    assert isinstance(pool.transport_for("https://api.vapi.ai", ssl_context=ctx, timeout=5), pool.KeepAliveTransport)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert isinstance(pool.transport_for("https://api.vapi.ai", ssl_context=ctx, timeout=5), httpx.HTTPTransport)
    monkeypatch.setenv("NO_PROXY", "api.vapi.ai")
    assert isinstance(pool.transport_for("https://api.vapi.ai", ssl_context=ctx, timeout=5), pool.KeepAliveTransport)


# -- the wire's framing, against a server that answers with exact bytes --------------------------------

class _Scripted:
    """A loopback server that reads one request per answer in `answers` (bytes to send, or None to hang
    up without answering) and records what it received."""

    def __init__(self, answers: list[bytes | None]):
        self.answers = answers
        self.received: list[bytes] = []
        self.connections = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with self.sock:
            self._answer_all()

    def _answer_all(self) -> None:
        while self.answers:
            conn, _ = self.sock.accept()
            self.connections += 1
            with conn:
                buffer = b""
                while self.answers:
                    while b"\r\n\r\n" not in buffer:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        buffer += chunk
                    if b"\r\n\r\n" not in buffer:
                        break  # the client went away: wait for its next connection
                    head, _, buffer = buffer.partition(b"\r\n\r\n")
                    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                                   if line.lower().startswith(b"content-length:")), 0)
                    while len(buffer) < length:
                        buffer += conn.recv(65536)
                    self.received.append(head + b"\r\n\r\n" + buffer[:length])
                    buffer = buffer[length:]
                    answer = self.answers.pop(0)
                    if answer is None:
                        break
                    conn.sendall(answer)
                    if answer.startswith(b"HTTP/1.0") or b"connection: close" in answer.lower():
                        break


def _json_answer(body: bytes, *extra: str, status: str = "200 OK") -> bytes:
    head = "".join(f"{h}\r\n" for h in extra)
    return f"HTTP/1.1 {status}\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


def test_the_wire_reads_every_framing_an_answer_may_use() -> None:
    import zlib

    raw_deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    deflated = raw_deflate.compress(b'{"f": "raw deflate"}') + raw_deflate.flush()
    server = _Scripted([
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\n{\"a\"\r\n4\r\n: 1}\r\n0\r\nX-T: 1\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\n" + _json_answer(b'{"b": 2}'),
        b"HTTP/1.1 204 No Content\r\n\r\n",
        _json_answer(gzip.compress(b'{"c": 3}'), "Content-Encoding: gzip"),
        _json_answer(zlib.compress(b'{"d": 4}'), "Content-Encoding: deflate"),
        _json_answer(deflated, "Content-Encoding: deflate"),
        _json_answer(b'{"e": 5}', "Set-Cookie: a=1", "set-cookie: b=2"),
        b"HTTP/1.0 200 OK\r\n\r\n{\"until\": \"close\"}",
    ])
    client = ApiClient("t", server.url, retry=RetryPolicy(attempts=1))
    assert client.request("GET", "/chunked") == {"a": 1}
    assert client.request("POST", "/interim", json={"x": 1}) == {"b": 2}
    assert client.request("DELETE", "/empty") is None
    assert client.request("GET", "/gzip") == {"c": 3}
    assert client.request("GET", "/deflate") == {"d": 4}
    assert client.request("GET", "/raw-deflate") == {"f": "raw deflate"}
    assert client.request("GET", "/cookies") == {"e": 5}
    assert client.request("GET", "/until-close") == {"until": "close"}
    assert server.connections == 1  # everything but the last answer kept the connection open
    client.close()


def test_the_wire_writes_what_httpx_would_send() -> None:
    server = _Scripted([_json_answer(b"{}") for _ in range(4)])
    client = ApiClient("t", server.url + "/base", headers={"Authorization": "Bearer k"})
    item, fields = {"name": "Café", "n": 1}, {"a[b]": "x y", "on": True, "many": ["1", "2"], "none": None}
    client.request("POST", "/v1/items", json=item)
    client.request("PUT", "/v1/form", data=fields)
    client.request("GET", "/v1/numbers/+1 555/x%2Fy", params={"q": "a&b", "flag": False, "skip": None})
    client.request("PATCH", "/v1/empty")
    post, form, get, patch = server.received
    head, _, body = post.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /base/v1/items HTTP/1.1"
    assert f"Host: {server.url.removeprefix('http://')}" in lines and "Authorization: Bearer k" in lines
    assert "Content-Type: application/json" in lines
    assert body == httpx.Request("POST", "http://x", json=item).read() == '{"name":"Café","n":1}'.encode()
    assert f"Content-Length: {len(body)}" in lines
    form_head, _, form_body = form.partition(b"\r\n\r\n")
    assert b"Content-Type: application/x-www-form-urlencoded" in form_head
    assert form_body == httpx.Request("PUT", "http://x", data=fields).read()
    assert form_body == b"a%5Bb%5D=x+y&on=true&many=1&many=2&none="
    assert get.split(b"\r\n")[0] == b"GET /base/v1/numbers/+1%20555/x%2Fy?q=a%26b&flag=false HTTP/1.1"
    assert httpx.URL("http://x/base/v1/numbers/+1 555/x%2Fy").raw_path == b"/base/v1/numbers/+1%20555/x%2Fy"
    assert b"Content-Length: 0" in patch  # a body-carrying method says it carries none
    client.close()


def test_an_answer_cut_short_is_a_transport_error_and_the_connection_is_dropped() -> None:
    server = _Scripted([b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{\"short\"", _json_answer(b'{"ok": 1}')])
    client = ApiClient("t", server.url, retry=RetryPolicy(attempts=1))
    with pytest.raises(errors.TransportError, match="GET /cut: no answer"):
        client.request("GET", "/cut")
    assert client.request("GET", "/next") == {"ok": 1}  # on a new connection
    assert server.connections == 2
    client.close()


def test_a_post_on_a_connection_the_server_dropped_is_not_sent_twice() -> None:
    # the server reads the POST and hangs up: the create may have happened, so it must not be repeated
    server = _Scripted([_json_answer(b"{}"), None, _json_answer(b'{"after": 1}')])
    client = ApiClient("t", server.url, retry=RetryPolicy(attempts=3, base_delay=0))
    client.request("GET", "/warm")
    with pytest.raises(errors.TransportError, match="POST /create: no answer"):
        client.request("POST", "/create", json={"n": 1})
    assert [r.split(b" ")[0] for r in server.received] == [b"GET", b"POST"]
    assert client.request("GET", "/after") == {"after": 1}
    client.close()


def test_a_header_with_a_line_break_is_refused_without_showing_it() -> None:
    with pytest.raises(errors.PlanError) as info:
        ApiClient("vapi", "http://127.0.0.1:9", headers={"Authorization": "Bearer sk-canary-123\n"})
    assert "canary" not in str(info.value) and "Authorization" in str(info.value)


def test_the_transport_also_serves_httpx(server: tuple[str, type[_Handler]]) -> None:
    url, handler = server
    transport = pool.KeepAliveTransport(ssl_context=ssl.create_default_context, timeout=5)
    with httpx.Client(transport=transport, base_url=url) as client:
        answer = client.get("/gzip", params={"a": "b"})
        assert answer.json() == {"path": "/gzip?a=b"} and answer.headers["content-encoding"] == "gzip"
        assert client.get("/again").json() == {"path": "/again"}
    assert len({r["peer"] for r in handler.seen}) == 1


def test_a_get_on_a_connection_the_server_dropped_goes_again_on_a_new_one() -> None:
    # the race the idle check can lose: the server hangs up as the request arrives, having answered nothing
    server = _Scripted([_json_answer(b"{}"), None, _json_answer(b'{"again": 1}')])
    client = ApiClient("t", server.url, retry=RetryPolicy(attempts=1))  # no retries above the pool
    client.request("GET", "/warm")
    assert client.request("GET", "/read") == {"again": 1}
    assert server.connections == 2 and [r.split(b" ")[1] for r in server.received] == [b"/warm", b"/read", b"/read"]
    client.close()


# -- TLS: a server with a certificate from a test CA (tests/tls: CA and localhost certificate, to 2126) ------

TLS = Path(__file__).resolve().parent / "tls"


@pytest.fixture()
def tls_server() -> Iterator[tuple[int, type[_Handler]]]:
    handler = type("H", (_Handler,), {"seen": [], "close_after": False})
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(TLS / "server.pem", TLS / "server.key")
    srv.socket = context.wrap_socket(srv.socket, server_side=True)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address[1], handler
    srv.shutdown()
    srv.server_close()


def _trusting_test_ca() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(TLS / "ca.pem"))


def test_https_verifies_the_server_and_keeps_the_connection(tls_server: tuple[int, type[_Handler]]) -> None:
    port, handler = tls_server
    wire = pool.KeepAliveTransport(ssl_context=_trusting_test_ca, timeout=5)
    client = ApiClient("t", f"https://localhost:{port}", transport=wire)
    assert client.request("GET", "/a") == {"path": "/a"} and client.request("GET", "/gzip") == {"path": "/gzip"}
    assert len({r["peer"] for r in handler.seen}) == 1
    assert handler.seen[0]["headers"]["Host"] == f"localhost:{port}"
    client.close()


def test_https_refuses_an_untrusted_or_misnamed_certificate(tls_server: tuple[int, type[_Handler]]) -> None:
    port, handler = tls_server
    untrusted = ApiClient("t", f"https://localhost:{port}", retry=RetryPolicy(attempts=1))  # the system's CAs
    with pytest.raises(errors.TransportError, match=r"GET /a: no answer \(ConnectError\)"):
        untrusted.request("GET", "/a")
    wire = pool.KeepAliveTransport(ssl_context=_trusting_test_ca, timeout=5)
    misnamed = ApiClient("t", f"https://127.0.0.1:{port}", transport=wire, retry=RetryPolicy(attempts=1))
    with pytest.raises(errors.TransportError, match=r"ConnectError"):  # the certificate names localhost only
        misnamed.request("GET", "/a")
    assert handler.seen == []  # nothing reached the handler
