"""Vapi: the voice-AI platform. Credentials, phone numbers, assistants, tools."""

from __future__ import annotations

from typing import TYPE_CHECKING

from voxplan.providers.http import ApiClient
from voxplan.providers.vapi.adapters import KINDS, VapiAdapter
from voxplan.providers.vapi.platform import API_URLS, VapiPlatform, VapiSipCarrier, region

if TYPE_CHECKING:
    import httpx

__all__ = ["API_URLS", "KINDS", "VapiPlatform", "VapiSipCarrier", "adapters", "client", "region"]


def client(base_url: str, api_key: str, transport: httpx.BaseTransport | None = None) -> ApiClient:
    return ApiClient("vapi", base_url, headers={"Authorization": f"Bearer {api_key}"}, transport=transport)


def adapters(api: ApiClient) -> dict[str, VapiAdapter]:
    return {cls.kind: cls(api) for cls in KINDS}
