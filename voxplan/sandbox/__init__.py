"""Emulators of the vendor APIs, written from the fact sheets (never from voxplan's adapters).

One implementation, two faces: `SandboxTransport` (an httpx transport, in-process) and
`serve()` (a real HTTP server, `voxplan sandbox serve`). Each vendor lives under its own path prefix:
`/vapi/...`.
"""

from voxplan.sandbox.core import Request, Response, Sandbox
from voxplan.sandbox.transport import SandboxTransport

__all__ = ["Request", "Response", "Sandbox", "SandboxTransport"]
