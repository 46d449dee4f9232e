"""Structured JSON logs. Secrets are never formatted: settings hold them as ``SecretStr`` and
URLs are logged through ``db.redact``. A logged exception is described safely
(``messaging.errors.safe_traceback``): frames and error classes, never the input values, SQL
parameters or row data that exception texts carry."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from messaging import logcontext, tracing
from messaging.errors import safe_traceback

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()) | {"message", "asctime"}


def _safe_exception(ei: object) -> str:
    exc = ei[1] if isinstance(ei, tuple) and len(ei) == 3 else None
    return safe_traceback(exc).rstrip("\n") if isinstance(exc, BaseException) else ""


class TextFormatter(logging.Formatter):
    def formatException(self, ei: object) -> str:
        return _safe_exception(ei)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        trace_id = tracing.trace_id_of(tracing.current())
        if trace_id:
            doc["trace_id"] = trace_id
        doc.update(logcontext.fields())
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                doc[key] = value
        if record.exc_info:
            doc["exc"] = _safe_exception(record.exc_info)
        return json.dumps(doc, default=str)


def configure(service: str, level: str = "INFO", json_logs: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_logs:
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(
            TextFormatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiokafka", "faust", "mode", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
