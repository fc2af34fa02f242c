"""The keep-alive transport under the HTTP layer, against small real servers on loopback."""

from __future__ import annotations

import gzip
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from voxplan import errors
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
