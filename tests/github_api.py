"""A small stand-in for api.github.com: the REST endpoints the voxplan Action calls, over real HTTP, keeping
pull-request comments and issues in memory so a test can read what the Action left. Written from GitHub's
REST documentation (issues, issue comments, commits/{sha}/pulls), paging by per_page/page as GitHub does."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class GitHub:
    repo: str
    token: str
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)  # id -> {id, issue, body}
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)  # number -> {number, title, body, state, labels}
    pulls_by_commit: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    next_id: int = 9000
    next_number: int = 100  # issue and pull request numbers share one sequence, as on GitHub
    lock: threading.Lock = field(default_factory=threading.Lock)

    def thread(self, issue: int) -> list[dict[str, Any]]:
        return [c for c in sorted(self.comments.values(), key=lambda c: c["id"]) if c["issue"] == issue]

    # -- the endpoints --------------------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        prefix = f"/repos/{self.repo}"
        if not path.startswith(prefix + "/"):
            return 404, {"message": "Not Found"}
        rest = path[len(prefix):]
        with self.lock:
            self.next_id += 1
            if m := re.fullmatch(r"/issues/(\d+)/comments", rest):
                issue = int(m.group(1))
                if method == "GET":
                    return 200, self._page(self.thread(issue), query)
                if method == "POST":
                    comment = {"id": self.next_id, "issue": issue, "body": _text(body, "body")}
                    self.comments[comment["id"]] = comment
                    return 201, comment
            if m := re.fullmatch(r"/issues/comments/(\d+)", rest):
                comment = self.comments.get(int(m.group(1)))
                if comment is None:
                    return 404, {"message": "Not Found"}
                if method == "PATCH":
                    comment["body"] = _text(body, "body")
                return 200, comment
            if rest == "/issues":
                if method == "POST":
                    self.next_number += 1
                    issue = {"number": self.next_number, "title": _text(body, "title"), "body": body.get("body", ""),
                             "state": "open", "labels": [{"name": n} for n in body.get("labels") or []]}
                    self.issues[issue["number"]] = issue
                    return 201, issue
                if method == "GET":
                    wanted = set(filter(None, query.get("labels", "").split(",")))
                    state = query.get("state", "open")
                    found = [i for _, i in sorted(self.issues.items()) if (state == "all" or i["state"] == state)
                             and wanted <= {lab["name"] for lab in i["labels"]}]
                    return 200, self._page(found, query)
            if m := re.fullmatch(r"/issues/(\d+)", rest):
                issue = self.issues.get(int(m.group(1)))
                if issue is None:
                    return 404, {"message": "Not Found"}
                if method == "PATCH":
                    for key in ("title", "body", "state"):
                        if key in body:
                            issue[key] = body[key]
                    if "labels" in body:
                        issue["labels"] = [{"name": n} for n in body["labels"]]
                return 200, issue
            if m := re.fullmatch(r"/commits/([0-9a-f]{40})/pulls", rest):
                return 200, self.pulls_by_commit.get(m.group(1), [])
        return 404, {"message": "Not Found"}

    @staticmethod
    def _page(items: list[dict[str, Any]], query: dict[str, str]) -> list[dict[str, Any]]:
        per_page = min(int(query.get("per_page", 30)), 100)
        page = int(query.get("page", 1))
        return items[(page - 1) * per_page: page * per_page]


def _text(body: Any, key: str) -> str:
    if not isinstance(body, dict) or not isinstance(body.get(key), str):
        raise ValueError(f"{key} must be a string")
    if len(body[key]) > 65536:
        raise ValueError(f"{key} is too long (maximum is 65536 characters)")
    return str(body[key])


def serve(github: GitHub) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            url = urlsplit(self.path)
            github.requests.append(f"{self.command} {url.path}")
            if self.headers.get("Authorization") != f"Bearer {github.token}":
                return self._send(401, {"message": "Bad credentials"})
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length)) if length else None
                status, answer = github.handle(self.command, url.path, {k: v[-1] for k, v in
                                                                        parse_qs(url.query).items()}, body)
            except ValueError as exc:
                status, answer = 422, {"message": "Validation Failed", "errors": [str(exc)]}
            self._send(status, answer)

        do_GET = do_POST = do_PATCH = _any  # noqa: N815 - http.server's names

        def _send(self, status: int, answer: Any) -> None:
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"
