"""A misbehaving vendor: an HTTP proxy in front of `voxplan sandbox serve` that breaks the vendor's
contract in the ways real APIs do, once or a set number of times, by rule. Written for the tests; it
forwards everything else unchanged (with httpx)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.conftest import loopback


@dataclass
class Rule:
    """`method` and `path` (a regex on the path) pick requests; `times` how many misbehave."""

    method: str
    path: str
    does: str  # drop-list-item | redirect | fail-503 | late-answer | malformed-200 | drop-key
    times: int = 1
    delay: float = 0.0  # late-answer: how long after the request the vendor does the work
    key: str = ""  # drop-key: the work is done, and the answer's object comes back without this key
    hits: int = 0


@dataclass
class Misbehaving:
    upstream: str
    rules: list[Rule] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def rule_for(self, method: str, path: str) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.method == method and re.search(rule.path, path) and rule.hits < rule.times:
                    rule.hits += 1
                    self.log.append(f"{rule.does} {method} {path}")
                    return rule
        return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _forward(self) -> None:
        box = self.server.box
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection")}
        rule = box.rule_for(self.command, self.path.partition("?")[0])
        if rule and rule.does == "redirect":
            return self._send(302, b"", {"Location": box.upstream + "/elsewhere"})
        if rule and rule.does == "fail-503":
            return self._send(503, json.dumps({"message": "upstream unavailable"}).encode())
        if rule and rule.does == "late-answer":
            # the client hears nothing; the vendor does the work after `delay` (after the client gave up)
            def later() -> None:
                time.sleep(rule.delay)
                loopback.request(self.command, box.upstream + self.path, content=body, headers=headers, timeout=30)

            threading.Thread(target=later, daemon=True).start()
            time.sleep(rule.delay + 1.0)  # longer than the client waits
            self.close_connection = True
            return None
        answer = loopback.request(self.command, box.upstream + self.path, content=body, headers=headers, timeout=30)
        content = answer.content
        if rule and rule.does == "malformed-200":
            return self._send(200, content[: max(1, len(content) // 2)])  # the work is done; the answer is cut
        if rule and rule.does == "drop-key":  # from the object (or a list's), or from those a wrapper holds
            data = answer.json()
            inner = data if isinstance(data, list) else [data, *data.values()]
            for obj in [o for v in inner for o in (v if isinstance(v, list) else [v]) if isinstance(o, dict)]:
                obj.pop(rule.key, None)
            content = json.dumps(data).encode()
        if rule and rule.does == "drop-list-item":
            data: Any = answer.json()
            items = data if isinstance(data, list) else data.get("results")
            if items:
                items.pop(0)
            content = json.dumps(data).encode()
        self._send(answer.status_code, content)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _forward  # noqa: N815

    def _send(self, status: int, content: bytes, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, box: Misbehaving):
        self.box = box
        super().__init__(("127.0.0.1", 0), _Handler)


@contextmanager
def misbehaving(upstream: str) -> Iterator[Misbehaving]:
    box = Misbehaving(upstream)
    server = _Server(box)
    box.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield box
    finally:
        server.shutdown()
        server.server_close()
