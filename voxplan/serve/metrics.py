"""serve's Prometheus metrics (prometheus-client), on a registry of its own: /metrics serves it."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

OUTCOMES = ("accepted", "rejected", "duplicate", "busy", "invalid", "ignored", "failed")


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.deliveries = Counter("voxplan_serve_deliveries", "Webhook deliveries, by what serve answered",
                                  ["outcome"], registry=r)
        for outcome in OUTCOMES:
            self.deliveries.labels(outcome)
        self.decision = Histogram("voxplan_serve_decision_seconds", "From a delivery's arrival to its call "
                                  "accepted or rejected at OpenAI (and recorded)", registry=r,
                                  buckets=(.005, .01, .025, .05, .075, .1, .25, .5, 1, 2.5, 5, 10))
        self.in_progress = Gauge("voxplan_serve_calls_in_progress", "Calls being decided, and accepted calls whose "
                                 "sideband this replica follows", registry=r)
        self.serial = Gauge("voxplan_serve_published_serial", "The publication serial serve answers from",
                            registry=r)
        self.reattached = Counter("voxplan_serve_sidebands_reattached", "Sidebands taken over from a dead replica",
                                  registry=r)

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))
