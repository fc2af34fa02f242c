"""One exception tree for voxplan.

    VoxplanError
    ├── StackErrors            one or more problems found in stack files (carries Diagnostics)
    ├── PlanError              the stack is valid but cannot be planned (ambiguous adoption, protect, ...)
    │   └── Owned              a remote object the plan touches is owned by another stack (or environment)
    ├── StateError             state is corrupt, locked, or written by a newer voxplan
    │   └── LockHeld
    └── ProviderError          an API call failed; raised at the adapter edge
        ├── AuthFailed         401/403
        ├── NotFound           404
        ├── Conflict           409
        ├── InvalidRequest     400/422
        ├── RateLimited        429 (retry_after)
        ├── ServerError        5xx
        ├── InvalidAnswer      a 2xx whose body does not parse
        └── TransportError     no HTTP answer (timeout, reset, refused)

Messages never carry request bodies, headers or secret values: provider errors are built from the
method, the path, the status and the vendor's own message only.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    file: str
    line: int  # 1-based
    col: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Diagnostic:
    """One problem in a stack: where, what, and how to fix it."""

    location: Location | None
    message: str
    hint: str = ""
    severity: str = "error"  # error | warning

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        hint = f" (hint: {self.hint})" if self.hint else ""
        label = "warning: " if self.severity == "warning" else ""
        return _one_line(f"{where}{label}{self.message}{hint}")


def _one_line(text: str) -> str:
    """A diagnostic is one line whatever a key or value in it held: line breaks are shown escaped."""
    return text.replace("\r", "\\r").replace("\n", "\\n") if "\n" in text or "\r" in text else text


class VoxplanError(Exception):
    """Base of every error voxplan raises on purpose."""


class StackErrors(VoxplanError):
    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = sorted(
            diagnostics,
            key=lambda d: (d.location.file, d.location.line, d.location.col) if d.location else ("", 0, 0),
        )
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class PlanError(VoxplanError):
    """`at`: the stack path the problem is written at, when it is one entry's (the plan names its line)."""

    def __init__(self, message: str, *, at: tuple[str | int, ...] = ()):
        super().__init__(message)
        self.at = at


class Owned(PlanError):
    """Another (stack, environment) claims an object this run would adopt, change or delete."""

    def __init__(self, message: str, *, owner: str = ""):
        super().__init__(message)
        self.owner = owner


class StateError(VoxplanError):
    pass


class LockHeld(StateError):
    pass


class LockLost(StateError):
    """The state lock went while it was held (its database session ended: a failover, a dropped
    connection, an administrator): another runner may hold it now, so nothing more may be sent."""


class ProviderError(VoxplanError):
    """An API call failed. `address` is filled in by the engine when it knows which resource."""

    def __init__(self, message: str, *, status: int | None = None, provider: str = "", address: str = ""):
        self.vendor_message = message
        self.status = status
        self.provider = provider
        self.address = address
        super().__init__(self._render())

    def _render(self) -> str:
        parts = []
        if self.address:
            parts.append(self.address)
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        elif self.provider:
            parts.append(self.provider)
        head = ": ".join(parts)
        return f"{head}: {self.vendor_message}" if head else self.vendor_message

    def at(self, address: str) -> ProviderError:
        """The same error, naming the resource address it happened to."""
        self.address = address
        self.args = (self._render(),)
        return self

    def __str__(self) -> str:
        return self._render()


class AuthFailed(ProviderError):
    pass


class NotFound(ProviderError):
    pass


class Conflict(ProviderError):
    pass


class InvalidRequest(ProviderError):
    pass


class RateLimited(ProviderError):
    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object):
        self.retry_after = retry_after
        super().__init__(message, **kw)  # type: ignore[arg-type]


class ServerError(ProviderError):
    pass


class InvalidAnswer(ProviderError):
    """The vendor said yes, in a form voxplan cannot read: nothing is recorded for that resource."""


class TransportError(ProviderError):
    """No HTTP answer. For a create, the object may or may not exist now."""
