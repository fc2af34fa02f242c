"""OpenAI Realtime SIP: a routing target only. There is no provisioning API for the SIP side; a project
id alone names the target (reference/openai-sip.md)."""

from __future__ import annotations

import re

HOSTS = {"us": "sip.api.openai.com", "eu": "sip-eu.api.openai.com"}
PROJECT = re.compile(r"^proj_[A-Za-z0-9]+$")


def sip_target(project: str, residency: str = "us") -> str:
    """The carrier destination, without `sip:`: TLS signalling is mandatory."""
    return f"{project}@{HOSTS[residency]};transport=tls"
