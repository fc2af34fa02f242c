"""`voxplan sandbox serve`: the emulators behind a real HTTP/1.1 server (threaded, loopback by default).

The request path is written out here rather than taken from http.server: BaseHTTPRequestHandler parses
every request's headers through the email package and writes each header line separately, about half a
millisecond of CPU a request. At ten requests in flight that was the emulator's own share of an apply's
wall time, which the scale benchmark would then have charged to voxplan. What a client of the emulators
sends is read: Content-Length bodies, `Expect: 100-continue`, keep-alive and `Connection: close`, HTTP/1.0.
A chunked request body is answered 501 (no vendor client sends one).
"""

from __future__ import annotations

import socket
import socketserver
import traceback
from http import HTTPStatus

from voxplan.sandbox.core import Response, Sandbox

_MAX_LINE = 65536
_MAX_HEADERS = 100


class SandboxServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sandbox: Sandbox):
        self.sandbox = sandbox
        super().__init__(address, _Handler)


class _Handler(socketserver.StreamRequestHandler):
    disable_nagle_algorithm = True  # an answer goes out in one write, but do not let Nagle hold a straggler
    server: SandboxServer

    def handle(self) -> None:
        while self._one():
            pass

    def _one(self) -> bool:
        """Serve one request; whether the connection stays open for another."""
        line = self.rfile.readline(_MAX_LINE + 1)
        if not line:
            return False
        parts = line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            return self._send(Response(400, {"message": "malformed request line"}), "HTTP/1.1", close=True)
        method, target, version = parts
        headers: dict[str, str] = {}
        for _ in range(_MAX_HEADERS + 1):
            line = self.rfile.readline(_MAX_LINE + 1)
            if line in (b"\r\n", b"\n"):
                break
            if not line or len(line) > _MAX_LINE:
                return False
            name, sep, value = line.decode("latin-1").partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        else:
            return self._send(Response(431, {"message": "too many headers"}), version, close=True)
        connection = headers.get("connection", "").lower()
        close = "close" in connection if version == "HTTP/1.1" else "keep-alive" not in connection
        if "transfer-encoding" in headers:
            return self._send(Response(501, {"message": "chunked request bodies are not supported"}), version,
                              close=True)
        if headers.get("expect", "").lower() == "100-continue":
            self.wfile.write(f"{version} 100 Continue\r\n\r\n".encode("latin-1"))
        try:
            length = int(headers.get("content-length") or 0)
        except ValueError:
            return self._send(Response(400, {"message": "bad Content-Length"}), version, close=True)
        body = self.rfile.read(length) if length > 0 else b""
        path, _, query = target.partition("?")
        try:
            response = self.server.sandbox.handle(method, path, query, headers, body)
        except Exception:  # an emulator bug: say so, as a vendor's 500, and show it where the server runs
            traceback.print_exc()
            return self._send(Response(500, {"message": "sandbox error (traceback on its stderr)"}), version,
                              close=True)
        if response.reset:  # an injected fault: drop the connection without a word
            self.connection.shutdown(socket.SHUT_RDWR)
            return False
        return self._send(response, version, close=close, head=method == "HEAD")

    def _send(self, response: Response, version: str, *, close: bool, head: bool = False) -> bool:
        payload = response.encode()
        try:
            reason = HTTPStatus(response.status).phrase
        except ValueError:
            reason = "Unknown"
        lines = [f"{version} {response.status} {reason}"]
        lines += [f"{name}: {value}" for name, value in response.headers.items()]
        if response.body is not None:
            lines.append("Content-Type: application/json")
        lines.append(f"Content-Length: {len(payload)}")
        if close:
            lines.append("Connection: close")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"" if head else payload))
        return not close


def make_server(sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0) -> SandboxServer:
    return SandboxServer((host, port), sandbox)
