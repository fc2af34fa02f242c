"""One delivery, start to finish, and the sidebands of accepted calls. No HTTP here (app.py hands in
bodies and headers); every blocking step (the database, OpenAI) runs on the caller's worker thread.

No acknowledged call is lost: a `realtime.call.incoming` is answered 2xx only once its decision is
carried out at OpenAI and recorded (or found already recorded). Anything that fails half-way answers
non-2xx, so OpenAI delivers again, to any replica, and the call record (see coordination.py) makes the
retry either finish the same decision or find it done.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from voxplan.core.errors import StateError
from voxplan.providers.openai import agents as agent_body
from voxplan.providers.openai.calls import ERRORS, CallControl, InvalidDelivery, settled
from voxplan.serve.answers import Answers, Decision
from voxplan.serve.coordination import Claim, Coordinator
from voxplan.serve.logs import describe, event
from voxplan.serve.metrics import Metrics

log = logging.getLogger("voxplan.serve")
Answer = tuple[int, dict[str, Any], dict[str, str]]  # status, JSON body, extra headers


class Receiver:
    def __init__(self, control: CallControl, coordinator: Coordinator, answers: Callable[[], Answers], *,
                 caller_secret: str | None, metrics: Metrics):
        self.control = control
        self.coordinator = coordinator
        self.answers = answers
        self.caller_secret = caller_secret
        self.metrics = metrics
        self.deciding = 0
        self.draining = threading.Event()
        self._lock = threading.Lock()
        self._sidebands: dict[str, Any] = {}  # call id -> its open connection (None while connecting)
        self._threads: dict[str, threading.Thread] = {}

    # -- one delivery ---------------------------------------------------------------------------------
    def deliver(self, body: bytes, headers: Mapping[str, str]) -> Answer:
        received = time.monotonic()
        try:
            incoming = self.control.verify(body, headers)
        except InvalidDelivery as exc:
            self.metrics.deliveries.labels("invalid").inc()
            event(log, "delivery_refused", logging.WARNING, reason=str(exc)[:200])
            return 400, {"error": "invalid webhook signature or timestamp"}, {}
        if incoming is None:
            self.metrics.deliveries.labels("ignored").inc()
            return 200, {"status": "ignored"}, {}  # another event type: acknowledged so it is not retried
        webhook_id = {k.lower(): v for k, v in headers.items()}.get("webhook-id", "")
        answers = self.answers()  # one snapshot for the whole call: one consistent version
        intended = answers.decide(incoming, self.caller_secret)
        with self._lock:
            self.deciding += 1
        self.metrics.in_progress.inc()
        try:
            return self._decide(incoming.call_id, webhook_id, intended, answers, received)
        finally:
            with self._lock:
                self.deciding -= 1
            self.metrics.in_progress.dec()

    def _decide(self, call_id: str, webhook_id: str, intended: Decision, answers: Answers, received: float) -> Answer:
        line: dict[str, Any] = {"call_id": call_id, "webhook_id": webhook_id, "replica": self.coordinator.replica}
        try:
            claim, carried = self.coordinator.claim(call_id, webhook_id, intended.to_json())
        except StateError as exc:
            self.metrics.deliveries.labels("failed").inc()
            event(log, "call", logging.ERROR, **line, outcome="failed", step="claim", error=str(exc)[:200])
            return 503, {"error": "the call record is unreachable; retry"}, {"Retry-After": "1"}
        if claim is Claim.DONE:
            self.metrics.deliveries.labels("duplicate").inc()
            event(log, "delivery_duplicate", **line)
            return 200, {"status": "duplicate"}, {}
        if claim is Claim.BUSY:
            self.metrics.deliveries.labels("busy").inc()
            event(log, "delivery_busy", **line)
            return 503, {"error": "another replica is deciding this call; retry"}, {"Retry-After": "1"}
        decision = Decision.from_json(carried or intended.to_json())
        line.update(number=decision.number, agent=decision.agent, version=decision.version, reason=decision.reason,
                    serial=answers.serial, taken_over=carried != intended.to_json())
        try:
            state = self._carry_out(call_id, decision)
            self.coordinator.decided(call_id, state, decision.follow if state == "accepted" else None)
        except (*ERRORS, StateError) as exc:  # type: ignore[misc]
            try:
                self.coordinator.release(call_id)
            except StateError:
                pass  # its owner's lease runs out instead
            self.metrics.deliveries.labels("failed").inc()
            event(log, "call", logging.ERROR, **line, outcome="failed", error=describe(exc),
                  latency_ms=_ms(received))
            return 503, {"error": "the call could not be decided; retry"}, {"Retry-After": "1"}
        outcome = "accepted" if state == "accepted" else "rejected"
        self.metrics.deliveries.labels(outcome).inc()
        self.metrics.decision.observe(time.monotonic() - received)
        event(log, "call", **line, outcome=state, status=decision.status if state != "accepted" else None,
              latency_ms=_ms(received))
        if state == "accepted" and decision.follow is not None:
            self.follow(call_id, decision.follow)
        return 200, {"status": outcome}, {}

    def _carry_out(self, call_id: str, decision: Decision) -> str:
        """Send the decision; the call's state after it. A call past this step (a takeover of a decision
        its dead owner had sent, or decided by another handler) is taken as it is: an accept refused is
        followed by a reject, which, refused too, means the call was already answered."""
        if decision.action == "accept":
            assert decision.body is not None
            try:
                self.control.accept(call_id, decision.body)
                return "accepted"
            except ERRORS as exc:
                if not settled(exc):
                    raise
            try:
                self.control.reject(call_id, int(decision.status or 603))
                return "rejected"
            except ERRORS as exc:
                if not settled(exc):
                    raise
                return "accepted"  # it was accepted before: by this decision, sent by a replica that died
        try:
            self.control.reject(call_id, int(decision.status or 603))
        except ERRORS as exc:
            if not settled(exc):
                raise
        return "rejected"

    # -- sidebands --------------------------------------------------------------------------------------
    def follow(self, call_id: str, agent: dict[str, Any], *, reattached: bool = False) -> None:
        """Watch an accepted call's sideband on a thread of its own, until the call ends."""
        with self._lock:
            if call_id in self._threads or self.draining.is_set():
                return
            thread = threading.Thread(target=self._follow, args=(call_id, agent, reattached), daemon=True,
                                      name=f"voxplan-sideband-{call_id}")
            self._threads[call_id] = thread
            self._sidebands[call_id] = None
        self.metrics.in_progress.inc()
        thread.start()

    def _follow(self, call_id: str, agent: dict[str, Any], reattached: bool) -> None:
        line: dict[str, Any] = {"call_id": call_id, "replica": self.coordinator.replica, "reattached": reattached,
                                "action": None}

        def on_open(connection: Any) -> None:
            with self._lock:
                self._sidebands[call_id] = connection
            if self.draining.is_set():
                connection.close()

        def on_tool(name: str, arguments: str) -> bool:
            step = agent_body.tool_action(agent, name, arguments)
            if step is None:
                return False
            if not self.coordinator.owns(call_id):  # this replica was slow, not dead: another follows it now
                line.update(action="lost_lease")
                return True
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
            self.control.watch(call_id, on_tool, on_open)
        except Exception as exc:  # the sideband thread's boundary: the call gets its line, whatever went wrong
            line["error"] = describe(exc)
        finally:
            with self._lock:
                self._sidebands.pop(call_id, None)
                self._threads.pop(call_id, None)
            self.metrics.in_progress.dec()
        if (self.draining.is_set() and line["action"] is None) or line["action"] == "lost_lease":
            event(log, "sideband_handed_back", **line)
            return
        try:
            self.coordinator.ended(call_id)
        except StateError as exc:
            line["record_error"] = str(exc)[:200]
        event(log, "call_ended", **line)

    def reattach_orphans(self) -> int:
        """Take over the sidebands of calls whose replica died."""
        taken = self.coordinator.orphans()
        for call_id, agent in taken:
            self.metrics.reattached.inc()
            event(log, "sideband_reattached", call_id=call_id, replica=self.coordinator.replica)
            self.follow(call_id, agent, reattached=True)
        return len(taken)

    def drain(self) -> dict[str, int]:
        """After the last delivery is answered: hand every followed sideband to the other replicas."""
        self.draining.set()
        handed = 0
        try:
            handed = self.coordinator.hand_back()
        except StateError as exc:
            event(log, "hand_back_failed", logging.ERROR, error=str(exc)[:200])
        with self._lock:
            open_now = [c for c in self._sidebands.values() if c is not None]
            threads = list(self._threads.values())
        for connection in open_now:
            try:
                connection.close()
            except Exception as exc:  # noqa: BLE001 - closing a socket the peer may have closed
                event(log, "sideband_close_failed", logging.WARNING, error=describe(exc))
        for thread in threads:
            thread.join(timeout=5)
        return {"sidebands_handed_back": handed, "decisions_in_flight": self.deciding}


def _ms(since: float) -> float:
    return round((time.monotonic() - since) * 1000, 1)
