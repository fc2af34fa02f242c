"""The HTTP layer (ApiClient over httpx.Client), against small real servers on loopback: connection reuse,
encodings, errors at the edge, retries that never repeat a POST, redirects and unreadable answers as
errors, pacing that adapts to 429s, TLS verification."""

from __future__ import annotations

import gzip
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypedDict

import httpx
import pytest

from voxplan.core import errors
from voxplan.providers.http import ApiClient, Pacer, RetryPolicy, retry_after


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
                    if answer.startswith(b"HTTP/1.0") or b"connection: close" in answer.lower() or _cut(answer):
                        break  # a cut answer: the server hangs up mid-body


def _cut(answer: bytes) -> bool:
    """An answer whose body is shorter than its Content-Length says."""
    head, _, body = answer.partition(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), len(body))
    return len(body) < length


def _json_answer(body: bytes, *extra: str, status: str = "200 OK") -> bytes:
    head = "".join(f"{h}\r\n" for h in extra)
    return f"HTTP/1.1 {status}\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode() + body




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
    # httpx checks a kept-alive connection before reuse; if the server's FIN is still in flight, the GET
    # fails on the dead connection and is retried on a new one (it is idempotent)
    client = ApiClient("t", url, retry=RetryPolicy(attempts=2, base_delay=0))
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


def test_proxies_come_from_the_environment_through_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "api.wavix.com")
    client = ApiClient("vapi", "https://api.vapi.ai")
    proxied = client.client._transport_for_url(httpx.URL("https://api.vapi.ai/assistant"))
    direct = client.client._transport_for_url(httpx.URL("https://api.wavix.com/v1/trunks"))
    assert proxied is not direct and proxied is not client.client._transport
    client.close()


def test_an_answer_cut_short_is_a_transport_error_and_the_connection_is_dropped() -> None:
    server = _Scripted([b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{\"short\"", _json_answer(b'{"ok": 1}')])
    client = ApiClient("t", server.url, retry=RetryPolicy(attempts=1))
    with pytest.raises(errors.TransportError, match="GET /cut: no answer"):
        client.request("GET", "/cut")
    assert client.request("GET", "/next") == {"ok": 1}  # on a new connection
    assert server.connections == 2
    client.close()


def test_a_post_on_a_connection_the_server_dropped_is_not_sent_twice_but_a_get_is() -> None:
    # the server reads the POST and hangs up: the create may have happened, so it must not be repeated
    server = _Scripted([_json_answer(b"{}"), None, None, _json_answer(b'{"again": 1}')])
    client = ApiClient("t", server.url, retry=RetryPolicy(attempts=3, base_delay=0))
    client.request("GET", "/warm")
    with pytest.raises(errors.TransportError, match="POST /create: no answer"):
        client.request("POST", "/create", json={"n": 1})
    assert client.request("GET", "/read") == {"again": 1}  # dropped once, asked again on a new connection
    assert [r.split(b" ")[:2] for r in server.received] == [[b"GET", b"/warm"], [b"POST", b"/create"],
                                                            [b"GET", b"/read"], [b"GET", b"/read"]]
    client.close()


def test_a_redirect_is_an_error_and_is_not_followed() -> None:
    moved = _json_answer(b"{}", "Location: http://127.0.0.1:9/elsewhere", status="302 Found")
    server = _Scripted([moved, moved])
    client = ApiClient("t", server.url, retry=RetryPolicy(attempts=1))
    with pytest.raises(errors.ProviderError, match=r"DELETE /v1/trunks/7: answered 302 \(a redirect\)"):
        client.request("DELETE", "/v1/trunks/7")
    with pytest.raises(errors.ProviderError, match="answered 302"):
        client.request("GET", "/v1/trunks")
    assert len(server.received) == 2  # nothing went to the Location
    client.close()


def test_a_2xx_whose_body_is_not_json_is_an_error_naming_the_request() -> None:
    server = _Scripted([b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{\"id\": \"a"])
    client = ApiClient("vapi", server.url, retry=RetryPolicy(attempts=1))
    with pytest.raises(errors.InvalidAnswer, match="POST /assistant: answered 200 with a body that is not JSON"):
        client.request("POST", "/assistant", json={"name": "x"})
    client.close()


class _Row(TypedDict, total=False):
    id: Any
    routes: list[str] | None


class _Page(TypedDict, total=False):
    items: list[_Row]


def test_a_shaped_answer_keeps_only_what_the_shape_names_and_any_other_shape_is_an_invalid_answer() -> None:
    bodies = iter([b'{"items": [{"id": 7, "fees": {"monthly": "1.00"}, "routes": ["a"]}, {"id": 8}], "doc_types": []}',
                   b'{"items": [{"id": 9, "routes": "sip:secret@host"}]}'])
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=next(bodies)))
    client = ApiClient("wavix", "http://wavix.test", transport=transport, retry=RetryPolicy(attempts=1))
    assert client.request("GET", "/v1/numbers", shape=_Page) == {"items": [{"id": 7, "routes": ["a"]}, {"id": 8}]}
    cannot_read = r"GET /v1/numbers: answered 200 with a body voxplan cannot read: Expected `array \| null`, got `str`"
    with pytest.raises(errors.InvalidAnswer, match=cannot_read + r" - at `\$.items\[0\].routes`") as info:
        client.request("GET", "/v1/numbers", shape=_Page)
    assert "secret" not in str(info.value)
    client.close()


def test_a_header_with_a_line_break_is_refused_without_showing_it() -> None:
    with pytest.raises(errors.PlanError) as info:
        ApiClient("vapi", "http://127.0.0.1:9", headers={"Authorization": "Bearer sk-canary-123\n"})
    assert "canary" not in str(info.value) and "Authorization" in str(info.value)


def test_retry_after_in_seconds_and_as_an_http_date() -> None:
    def answer(value: str) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": value})

    assert retry_after(answer("3")) == 3.0 and retry_after(answer("0.5")) == 0.5
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 < (retry_after(answer(later)) or 0) <= 30
    assert retry_after(answer(format_datetime(datetime(2020, 1, 1, tzinfo=UTC), usegmt=True))) == 0.0
    assert retry_after(answer("soon")) is None and retry_after(httpx.Response(429)) is None


def test_the_pacer_halves_on_a_refusal_and_grows_back_by_one_per_answer() -> None:
    pacer = Pacer(8, 1.0, key=lambda path: path.split("/")[1])
    pacer.refused("/a/x", retry_after=0)
    assert pacer.limit("/a/y") == 4 and pacer.limit("/b/y") == 8 and pacer.refusals == 1  # per key
    pacer.refused("/a/x", retry_after=0)
    assert pacer.limit("/a/x") == 2
    for expected in (3, 4, 5, 6, 7, 8, 8):
        pacer.answered("/a/x")
        assert pacer.limit("/a/x") == expected


def test_a_request_held_up_before_it_arrives_still_counts_in_the_servers_window() -> None:
    """The server counts a request when it arrives, anywhere between our send and its answer. The hard case:
    one request is held up on our side (a busy CPU, a connection being opened) and arrives late, while the
    next ones go at once: stamped when it was sent, the late one and the next window's requests land in one
    of the server's windows, over the limit (the flake CI met at load 16). Held until one window after its
    answer, no window of arrivals ever holds more than the limit."""
    limit, window = 3, 0.3
    pacer = Pacer(limit, window)
    arrivals: list[float] = []
    lock = threading.Lock()

    def request(late: float) -> None:
        with pacer.slot("/x"):
            time.sleep(late)
            with lock:
                arrivals.append(time.monotonic())  # the worst case: it arrives as it is answered

    threads = [threading.Thread(target=request, args=(0.2 if i == 0 else 0.0,)) for i in range(9)]
    for thread in threads:
        thread.start()
        time.sleep(0.001)  # the late one takes the first slot
    for thread in threads:
        thread.join()
    arrivals.sort()
    assert len(arrivals) == 9
    crowded = [(a, b) for a, b in zip(arrivals, arrivals[limit:], strict=False) if b - a < window]
    assert not crowded, f"{limit + 1} arrivals within {window} s: {crowded}"


def test_a_paced_client_waits_out_retry_after_and_never_resends_a_refused_post_blindly() -> None:
    refused = _json_answer(b'{"message": "slow down"}', "Retry-After: 1", status="429 Too Many Requests")
    server = _Scripted([refused, _json_answer(b'{"id": "n1"}')])
    client = ApiClient("t", server.url, pacer=Pacer(100, 1.0), retry=RetryPolicy(attempts=3, base_delay=0))
    started = time.monotonic()
    assert client.request("POST", "/numbers", json={"n": 1}) == {"id": "n1"}  # a 429 means nothing was done
    assert time.monotonic() - started >= 0.95 and client.pacer is not None and client.pacer.refusals == 1
    assert [r.split(b" ")[0] for r in server.received] == [b"POST", b"POST"]
    client.close()


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


def test_https_verifies_the_server_and_keeps_the_connection(tls_server: tuple[int, type[_Handler]]) -> None:
    port, handler = tls_server
    client = ApiClient("t", f"https://localhost:{port}", verify=ssl.create_default_context(cafile=str(TLS / "ca.pem")))
    assert client.request("GET", "/a") == {"path": "/a"} and client.request("GET", "/gzip") == {"path": "/gzip"}
    assert len({r["peer"] for r in handler.seen}) == 1
    assert handler.seen[0]["headers"]["Host"] == f"localhost:{port}"
    client.close()


def test_https_refuses_an_untrusted_or_misnamed_certificate(tls_server: tuple[int, type[_Handler]]) -> None:
    port, handler = tls_server
    untrusted = ApiClient("t", f"https://localhost:{port}", retry=RetryPolicy(attempts=1))  # the system's CAs
    with pytest.raises(errors.TransportError, match=r"GET /a: no answer \(ConnectError\)"):
        untrusted.request("GET", "/a")
    misnamed = ApiClient("t", f"https://127.0.0.1:{port}", retry=RetryPolicy(attempts=1),
                         verify=ssl.create_default_context(cafile=str(TLS / "ca.pem")))
    with pytest.raises(errors.TransportError, match=r"ConnectError"):  # the certificate names localhost only
        misnamed.request("GET", "/a")
    assert handler.seen == []  # nothing reached the handler
