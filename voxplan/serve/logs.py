"""serve's one logging setup: every line on stderr is one JSON object with a timestamp, whoever logs it
(serve itself, uvicorn, asyncio, an uncaught exception in any thread). A traceback never reaches stderr:
an exception is logged as its class and first line, and the secrets filter runs on every record.

    event(log, "call", call_id=…, outcome=…)   one line: {"ts": …, "level": "info", "event": "call", …}
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from voxplan.core.secret import redact

LOGGERS = ("voxplan.serve", "uvicorn", "uvicorn.error", "uvicorn.access", "asyncio", "psycopg", "psycopg.pool",
           "httpx", "openai", "websockets")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                                "level": record.levelname.lower(), "logger": record.name}
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        else:
            line["event"] = "message"
            line["message"] = redact(record.getMessage())
        if record.exc_info and record.exc_info[1] is not None:
            line["error"] = describe(record.exc_info[1])
        return json.dumps(line, default=str, ensure_ascii=False)


def describe(exc: BaseException) -> str:
    """An exception's class and status, never its text: an SDK or driver message may quote a request."""
    status = getattr(exc, "status_code", None)
    return f"{type(exc).__name__}" + (f" (HTTP {status})" if status else "")


def event(log: logging.Logger, name: str, level: int = logging.INFO, **fields: Any) -> None:
    log.log(level, name, extra={"fields": {"event": name, **fields}})


def setup(level: int = logging.INFO) -> logging.Logger:
    """One stderr handler with the JSON formatter, on the root logger; every library logger propagates to
    it. Uncaught exceptions (main thread and others) become one JSON line too."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(level if name.startswith("voxplan") else logging.WARNING)
    log = logging.getLogger("voxplan.serve")

    def uncaught(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        event(log, "uncaught", logging.ERROR, error=describe(exc))

    def uncaught_thread(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            event(log, "uncaught", logging.ERROR, thread=args.thread.name if args.thread else None,
                  error=describe(args.exc_value))

    sys.excepthook = uncaught
    threading.excepthook = uncaught_thread
    return log
