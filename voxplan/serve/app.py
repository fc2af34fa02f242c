"""serve's HTTP face (Starlette): POST /openai/webhook, GET /healthz, /readyz, /metrics and /calls.

Every error at the handler boundary is a JSON answer and one log line: a body too large, too slow or
cut off by its client, an unknown path or method, and any bug (500). The webhook's work runs on a worker
thread (the database and the OpenAI SDK block), so the event loop keeps answering health checks.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from voxplan.providers.openai.calls import witness_token
from voxplan.serve.logs import describe, event

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    from voxplan.serve.service import Service

log = logging.getLogger("voxplan.serve")
WEBHOOK_PATH = "/openai/webhook"
MAX_BODY = 1 << 20  # a call event is a few kB; refuse anything that could tie up memory
BODY_TIMEOUT = 10.0  # seconds for a whole request body once its head arrived


Handler = Callable[[Request], Awaitable[Response]]


def boundary(handler: Handler) -> Handler:
    """A handler's errors as one JSON 500 and one log line. Inside the route, not as Starlette's
    `Exception` handler, which answers and then raises again for the server to log a second time."""

    async def guarded(request: Request) -> Response:
        try:
            return await handler(request)
        except Exception as exc:  # noqa: BLE001 - the boundary: every bug becomes an answer and a line
            return _answer(500, {"error": "internal error"}, "handler_error", logging.ERROR, path=request.url.path,
                           error=describe(exc))

    return guarded


def make_app(service: Service, lifespan: Callable[[Starlette], AbstractAsyncContextManager[None]]) -> Starlette:
    async def webhook(request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared is None or not declared.isdigit() or int(declared) > MAX_BODY:
            return _answer(413 if declared and declared.isdigit() else 411,
                           {"error": "a body with a Content-Length of at most 1 MiB is required"}, "body_refused")
        try:
            body = await asyncio.wait_for(request.body(), BODY_TIMEOUT)
        except TimeoutError:
            return _answer(408, {"error": "the body did not arrive in time"}, "body_timeout")
        except ClientDisconnect:
            event(log, "client_disconnected", path=WEBHOOK_PATH)
            return Response(status_code=499)  # nobody reads it
        headers = {k: v for k, v in request.headers.items()}
        status, answer, extra = await run_in_threadpool(service.receiver.deliver, body, headers)
        return JSONResponse(answer, status_code=status, headers=extra)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True, "replica": service.coordinator.replica, "serial": service.answers().serial})

    async def readyz(request: Request) -> Response:
        problems = service.problems()
        return JSONResponse({"ready": not problems, "problems": problems, "replica": service.coordinator.replica,
                             "serial": service.answers().serial, "agents": service.answers().versions()},
                            status_code=503 if problems else 200)

    async def calls(request: Request) -> Response:
        """The decided calls to one number since a time, for `voxplan test` (from the call records, so any
        replica answers for all), to whoever shows the keyed hash of the OpenAI API key (`witness_token`):
        numbers and callers are nobody else's business."""
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given, witness_token(service.config.api_key)):
            return _answer(401, {"error": "unauthorized"}, "calls_refused")
        number = request.query_params.get("number", "")
        try:
            since = float(request.query_params.get("since") or 0)
        except ValueError:
            return _answer(400, {"error": "since is a Unix time"}, "calls_refused")
        found = await run_in_threadpool(service.coordinator.recent, number, since)
        return JSONResponse({"calls": found})

    async def metrics(request: Request) -> Response:
        return Response(service.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    async def http_error(request: Request, exc: Exception) -> Response:  # the router's 404 and 405
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
        return _answer(status, {"error": str(detail)}, "http_error", path=request.url.path, method=request.method)

    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {HTTPException: http_error}
    return Starlette(routes=[Route(WEBHOOK_PATH, boundary(webhook), methods=["POST"]),
                             Route("/healthz", boundary(healthz)), Route("/readyz", boundary(readyz)),
                             Route("/metrics", boundary(metrics)), Route("/calls", boundary(calls))],
                     exception_handlers=handlers, lifespan=lifespan)


def _answer(status: int, body: dict[str, Any], name: str, level: int = logging.WARNING, **fields: Any) -> Response:
    event(log, name, level, status=status, **fields)
    return JSONResponse(body, status_code=status)
