"""A 429 means the server did nothing: a refused create is tried again without looking it up first."""

from __future__ import annotations

from pathlib import Path

import httpx

from voxplan import workflow
from voxplan.core.context import RunContext
from voxplan.sandbox import Sandbox, SandboxTransport


class RefusingFirstPosts(httpx.BaseTransport):
    """The sandbox, but the first `refuse` POSTs are answered 429 (Retry-After: 0) before reaching it."""

    def __init__(self, refuse: int):
        self.inner = SandboxTransport(Sandbox())
        self.refuse = refuse
        self.log: list[tuple[str, str, int]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and self.refuse > 0:
            self.refuse -= 1
            self.log.append((request.method, request.url.path, 429))
            return httpx.Response(429, headers={"Retry-After": "0"}, json={"message": "Too Many Requests"},
                                  request=request)
        response = self.inner.handle_request(request)
        self.log.append((request.method, request.url.path, response.status_code))
        return response


def test_a_create_refused_with_429_is_retried_without_a_lookup(tmp_path: Path) -> None:
    stack = tmp_path / "one.yaml"
    stack.write_text("version: 1\nstack: one\nassistants:\n  a: {name: Agent, first_message: Hi.}\n")
    transport = RefusingFirstPosts(refuse=7)  # more than the HTTP layer's own 5 attempts at one request
    loaded = workflow.load(stack, RunContext(transport=transport, env={"VAPI_API_KEY": "k"}))
    with workflow.connect(loaded) as provs:
        _, result = workflow.apply(loaded, provs, confirm=lambda _plan: True)
        applied = list(transport.log)
        again = workflow.plan(loaded, provs, workflow.load_state(loaded))
    assert not again.has_changes
    assert result is not None and result.ok, result and result.errors
    first_post = next(i for i, entry in enumerate(applied) if entry[0] == "POST")
    after = applied[first_post:]
    assert [e for e in after if e[0] == "GET"] == []  # no lookup: the server said it did nothing
    assert after[-1] == ("POST", "/vapi/assistant", 201)
