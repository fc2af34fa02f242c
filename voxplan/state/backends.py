"""Every state backend, by the name `backend:` (or `--backend`, `VOXPLAN_BACKEND`) uses. A new backend is
one module with a store class and one line in BACKENDS."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

from voxplan.core.errors import StateError
from voxplan.state.store import StateStore

BACKENDS: dict[str, str] = {
    "local": "voxplan.state.local:LocalStore",
    "postgres": "voxplan.state.postgres:PostgresStore",
}
URL_SCHEMES: dict[str, str] = {"postgresql": "postgres", "postgres": "postgres"}  # a URL's scheme -> backend


def parse(spec: Any) -> tuple[str, dict[str, Any]]:
    """`local`, `{local: {}}`, `{postgres: {url: …}}`, or a URL (`postgresql://…`) → (backend, settings)."""
    if spec is None or spec == "":
        return "local", {}
    if isinstance(spec, str):
        scheme = spec.partition("://")[0] if "://" in spec else ""
        if scheme:
            if scheme not in URL_SCHEMES:
                known = ", ".join(sorted(URL_SCHEMES)) or "none"
                raise StateError(f"backend URL scheme {scheme!r} is not known (known: {known})")
            return URL_SCHEMES[scheme], {"url": spec}
        name, settings = spec, dict[str, Any]()
    elif isinstance(spec, dict) and len(spec) == 1:
        name, settings = next(iter(spec.items()))
        settings = dict(settings or {})
    else:
        raise StateError("backend: is one backend name, or a mapping of one name to its settings")
    if name not in BACKENDS:
        shown = repr(name) if re.fullmatch(r"[\w.-]{1,40}", str(name)) else "(not shown: it may hold a password)"
        raise StateError(f"backend {shown} is not known (known: {', '.join(sorted(BACKENDS))}; or a "
                         f"{'/'.join(f'{s}://' for s in URL_SCHEMES)} URL)")
    return name, settings


def open_store(spec: Any, *, stack_file: Path, stack: str, env: str) -> StateStore:
    name, settings = parse(spec)
    module, _, cls = BACKENDS[name].partition(":")
    store_class = getattr(importlib.import_module(module), cls)
    store: StateStore = store_class.open(settings, stack_file=stack_file, stack=stack, env=env)
    return store
