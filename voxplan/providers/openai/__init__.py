"""OpenAI Realtime SIP: a routing target only. There is no provisioning API for the SIP side; a project
id alone names the target (reference/openai-sip.md)."""

from __future__ import annotations

import re
from typing import Any

from voxplan.providers.base import Provider

HOSTS = {"us": "sip.api.openai.com", "eu": "sip-eu.api.openai.com"}
PROJECT = re.compile(r"^proj_[A-Za-z0-9]+$")


def sip_target(project: str, residency: str = "us") -> str:
    """The carrier destination, without `sip:`: TLS signalling is mandatory."""
    return f"{project}@{HOSTS[residency]};transport=tls"


def route_target(route: dict[str, Any]) -> str:
    return sip_target(route["openai"], route.get("residency", "us"))


PROVIDER = Provider(name="openai", route_targets={"openai": route_target})
