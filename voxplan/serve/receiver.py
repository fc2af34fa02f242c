"""Verify, dedupe, decide, and control each call. No HTTP here: `http.py` hands in bodies and headers.

A delivery is answered before any OpenAI call is made (OpenAI wants a fast 2xx; acknowledging does not
accept the call): the decision and the call control run on a worker pool, and a call with tools keeps
a thread on its sideband until the call ends.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from voxplan.providers.openai import agents as agent_body
from voxplan.providers.openai.calls import (
    TOLERANCE,
    CallControl,
    Incoming,
    InvalidDelivery,
    caller_number,
    dialled_number,
)
from voxplan.serve.config import Config

log = logging.getLogger("voxplan.serve")
RECENT = 256  # decisions kept for GET /calls


@dataclass
class Stats:
    calls: int = 0  # calls done with: decided, and their sideband (if any) closed
    in_flight: int = 0
    rejected_deliveries: int = 0
    duplicates: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def view(self) -> dict[str, int]:
        with self.lock:
            return {"calls": self.calls, "in_flight": self.in_flight, "rejected_deliveries": self.rejected_deliveries,
                    "duplicates": self.duplicates}


class Receiver:
    def __init__(self, config: Config, control: CallControl, *, workers: int = 16,
                 clock: Callable[[], float] = time.time):
        self.config = config
        self.control = control
        self.stats = Stats()
        self.generation = 1  # bumped by every reload
        self._clock = clock
        self._seen: dict[str, float] = {}  # webhook-id -> when it was verified
        self._seen_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="voxplan-call")
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT)  # decisions, for `voxplan test` (GET /calls)

    def reload(self, config: Config) -> None:
        self.config = config  # one reference swap: a call in progress keeps the config it started with
        self.generation += 1

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.control.close()

    # -- one delivery ---------------------------------------------------------------------------------
    def deliver(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """The HTTP answer to one webhook delivery; the call itself is handled after it."""
        received = time.monotonic()
        try:
            incoming = self.control.verify(body, headers)
        except InvalidDelivery as exc:
            with self.stats.lock:
                self.stats.rejected_deliveries += 1
            log.warning(json.dumps({"event": "delivery_refused", "reason": str(exc)}))
            return 400, {"error": "invalid webhook signature or timestamp"}
        webhook_id = {k.lower(): v for k, v in headers.items()}.get("webhook-id", "")
        if not self._first_time(webhook_id):
            with self.stats.lock:
                self.stats.duplicates += 1
            return 200, {"status": "duplicate"}
        if incoming is None:
            return 200, {"status": "ignored"}  # another event type: acknowledged so it is not retried
        with self.stats.lock:
            self.stats.in_flight += 1
        self._pool.submit(self._call, incoming, self.config, received)
        return 200, {"status": "received"}

    def _first_time(self, webhook_id: str) -> bool:
        """Whether this verified delivery is new. Ids are kept for twice the signature window: older
        deliveries fail verification anyway, so memory stays bounded by the call rate."""
        now = self._clock()
        with self._seen_lock:
            if webhook_id in self._seen:
                return False
            self._seen[webhook_id] = now
            if len(self._seen) > 1024:
                self._seen = {k: t for k, t in self._seen.items() if now - t < 2 * TOLERANCE}
            return True

    # -- one call -------------------------------------------------------------------------------------
    def _call(self, incoming: Incoming, config: Config, received: float) -> None:
        """Accept or reject, on a pool worker. A call with tools is then followed on a thread of its own,
        so long calls never hold up the accepting of new ones."""
        line: dict[str, Any] = {"event": "call", "call_id": incoming.call_id}
        agent: Mapping[str, Any] | None = None
        caller = caller_number(incoming.sip_headers)
        try:
            number = dialled_number(incoming.sip_headers, config.number_headers)
            agent_name = config.routes.get(number, "") if number else ""
            line.update(number=number, agent=agent_name or None)
            agent = config.agents.get(agent_name) if agent_name else None
            if agent is None:
                self.control.reject(incoming.call_id, config.reject_status)
                line.update(outcome="rejected", status=config.reject_status)
            else:
                self.control.accept(incoming.call_id, agent_body.accept_body(agent))
                line.update(outcome="accepted")
        except Exception as exc:  # a worker's boundary: every call gets its line, whatever went wrong
            line.update(outcome="failed", error=_error(exc))
        line["latency_ms"] = round((time.monotonic() - received) * 1000, 1)
        self.recent.append({"call_id": incoming.call_id, "number": line.get("number"), "caller": caller,
                            "agent": line.get("agent"), "outcome": line.get("outcome"), "at": self._clock()})
        if agent is not None and line["outcome"] == "accepted" and agent_body.tools_of(agent):
            threading.Thread(target=self._follow, args=(incoming.call_id, agent, line), daemon=True,
                             name=f"voxplan-sideband-{incoming.call_id}").start()
        else:
            self._done(line)

    def _done(self, line: dict[str, Any]) -> None:
        with self.stats.lock:
            self.stats.in_flight -= 1
            self.stats.calls += 1
        log.info(json.dumps(line))

    def _follow(self, call_id: str, agent: Mapping[str, Any], line: dict[str, Any]) -> None:
        """Watch the sideband until the call ends or a tool ends it; then the call's log line."""
        line["action"] = None

        def on_tool(name: str, arguments: str) -> bool:
            step = agent_body.tool_action(agent, name, arguments)
            if step is None:
                return False
            action, target = step
            if action == "refer":
                assert target is not None
                self.control.refer(call_id, target)
                line.update(action="refer", target=target)
            else:
                self.control.hangup(call_id)
                line.update(action="hangup")
            return True

        try:
            self.control.watch(call_id, on_tool)
        except Exception as exc:  # the sideband thread's boundary, as in _call
            line["error"] = _error(exc)
        finally:
            self._done(line)


def _error(exc: BaseException) -> str:
    """The error's class and status, never its text (an SDK message may quote a request)."""
    status = getattr(exc, "status_code", None)
    return f"{type(exc).__name__}" + (f" (HTTP {status})" if status else "")
