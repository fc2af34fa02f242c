"""The HTTP face of the receiver: the standard library's threaded server, as the sandbox's."""

from __future__ import annotations

import hmac
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from voxplan.providers.openai.calls import witness_token
from voxplan.serve.receiver import Receiver

WEBHOOK_PATH = "/openai/webhook"
CALLS_PATH = "/calls"
MAX_BODY = 1 << 20  # a call event is a few kB; refuse anything that could tie up memory


class ServeServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], receiver: Receiver):
        self.receiver = receiver
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: ServeServer
    server_version = "voxplan-serve"
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path, _, query = self.path.partition("?")
        if path == CALLS_PATH:
            return self._calls(query)
        if path != "/healthz":
            return self._answer(404, {"error": "not found"})
        receiver = self.server.receiver
        self._answer(200, {"ok": True, "generation": receiver.generation, **receiver.stats.view()})

    def do_POST(self) -> None:  # noqa: N802
        if self.path.split("?", 1)[0] != WEBHOOK_PATH:
            return self._answer(404, {"error": "not found"})
        try:
            length = int(self.headers.get("content-length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            return self._answer(413, {"error": "body too large or without a length"})
        body = self.rfile.read(length)
        status, answer = self.server.receiver.deliver(body, {k: v for k, v in self.headers.items()})
        self._answer(status, answer)

    def _calls(self, query: str) -> None:
        """The recent decisions about calls to one number since a time, for `voxplan test`, to whoever shows the
        keyed hash of the OpenAI API key (`witness_token`): numbers and callers are nobody else's business."""
        receiver = self.server.receiver
        given = self.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given, witness_token(receiver.config.api_key)):
            return self._answer(401, {"error": "unauthorized"})
        ask = dict(parse_qsl(query))
        since = float(ask.get("since") or 0)
        found = [d for d in list(receiver.recent) if d["at"] >= since and d["number"] == ask.get("number")]
        self._answer(200, {"calls": found})

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Request lines are not logged: the per-call line says what happened."""


def make_server(receiver: Receiver, host: str = "127.0.0.1", port: int = 0) -> ServeServer:
    return ServeServer((host, port), receiver)
