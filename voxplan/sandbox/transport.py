from __future__ import annotations

import httpx

from voxplan.sandbox.core import Sandbox


class SandboxTransport(httpx.BaseTransport):
    """Plugs a Sandbox into an httpx.Client: the same handlers the HTTP server runs, without sockets."""

    def __init__(self, sandbox: Sandbox):
        self.sandbox = sandbox

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.sandbox.handle(
            request.method, request.url.path, request.url.query.decode(), dict(request.headers), request.read()
        )
        if response.reset:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)
        headers = {"content-type": "application/json", **response.headers} if response.body is not None else \
            response.headers
        return httpx.Response(response.status, headers=headers, content=response.encode(), request=request)
