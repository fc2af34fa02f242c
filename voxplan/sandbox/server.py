"""`voxplan sandbox serve`: the emulators behind the standard library's threaded HTTP/1.1 server
(`ThreadingHTTPServer`, keep-alive, loopback by default). HTTP parsing is http.server's; this module only
hands each request to `Sandbox.handle` and writes its answer. The listen backlog is 128: a plan opens a
burst of connections at once, and a backlog of 5 lost SYNs that then waited a second to be resent.
"""

from __future__ import annotations

import socket
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from voxplan.sandbox.core import Response, Sandbox

BACKLOG = 128


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = BACKLOG

    def __init__(self, address: tuple[str, int], sandbox: Sandbox):
        self.sandbox = sandbox
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: SandboxServer

    def _serve(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():  # no vendor client sends one
            return self._answer(Response(501, {"message": "chunked request bodies are not supported"}), close=True)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return self._answer(Response(400, {"message": "bad Content-Length"}), close=True)
        body = self.rfile.read(length) if length > 0 else b""
        if len(body) < length:  # the client went away mid-body (a kill -9): no server acts on half a request
            self.close_connection = True
            return None
        path, _, query = self.path.partition("?")
        try:
            response = self.server.sandbox.handle(self.command, path, query, dict(self.headers.items()), body)
        except Exception:  # an emulator bug: say so, as a vendor's 500, and show it where the server runs
            traceback.print_exc()
            return self._answer(Response(500, {"message": "sandbox error (traceback on its stderr)"}), close=True)
        if response.upgrade is not None:  # a WebSocket: the library takes the connection from here
            from voxplan.sandbox.websocket import serve_upgrade

            self.close_connection = True
            serve_upgrade(self.connection, self.path, dict(self.headers.items()), response.upgrade)
            return None
        if response.reset:  # an injected fault: drop the connection without a word
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return None
        return self._answer(response)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve  # noqa: N815

    def _answer(self, response: Response, *, close: bool = False) -> None:
        payload = response.encode()
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass  # one line per request on stderr would drown the server's own messages


def make_server(sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0) -> SandboxServer:
    return SandboxServer((host, port), sandbox)
