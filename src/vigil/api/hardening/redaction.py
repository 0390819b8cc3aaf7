"""Log redaction: tokens, capability links, webhook secrets and purpose reasons never reach a log
handler. Not a middleware: the request line reaches the logs through uvicorn's access logger (and a
route may log a URL), so the filter sits on the loggers and handlers instead."""

from __future__ import annotations

import logging
import re
from typing import Final

_REDACTIONS: Final = (
    (re.compile(r"(?i)(\btoken=)[^&\s\"'#]+"), r"\1[redacted]"),
    # A purpose's reason is free text that may name a person: it belongs in the audit trail only.
    (re.compile(r"(?i)(\breason=)[^&\s\"'#]+"), r"\1[redacted]"),
    (re.compile(r"(/osmand/t/)[^/?\s\"'#]+"), r"\1[redacted]"),
    (re.compile(r"(?i)(\bbearer\s+)[^\s\"',;]+"), r"\1[redacted]"),
    (re.compile(r"\b(whsec_|vgl_|inc_)[A-Za-z0-9_\-+/=]{6,}"), r"\1[redacted]"),
)

_ANY_SECRET: Final = re.compile(r"(?i)token=|reason=|osmand/t/|bearer|whsec_|vgl_|inc_")


def redact(text: str) -> str:
    """`text` with tokens, capability links, webhook secrets and purpose reasons replaced by [redacted]."""
    if _ANY_SECRET.search(text) is None:
        return text
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites a record's message and string arguments in place (keeping the arguments' shape:
    uvicorn's access formatter unpacks them), so no handler ever sees a token."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        args = record.args
        if isinstance(args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in args)
        elif isinstance(args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in args.items()}
        return True


_FILTER: Final = RedactingFilter()
REDACTED_LOGGERS: Final = ("uvicorn.access", "uvicorn.error", "uvicorn")


def install_log_redaction() -> None:
    """Put the filter on uvicorn's loggers (its access log prints the request line with the query)
    and on every handler of the root logger (where Vigil's own records end up). Idempotent."""
    for name in REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    for handler in logging.getLogger().handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
