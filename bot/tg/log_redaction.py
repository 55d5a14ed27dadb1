"""Logging for the bot process: one stderr handler, quiet HTTP clients, secrets redacted."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Final, TextIO

REDACTED: Final = "[REDACTED]"
# httpx logs every request URL at INFO ("HTTP Request: POST .../bot<token>/getUpdates"), and
# httpcore logs connection details at DEBUG: kept at WARNING whatever LOG_LEVEL says.
URL_LOGGERS: Final = ("httpx", "httpcore")
# PTB itself logs the API URL, token included, at DEBUG when a bot is created ("Set Bot API
# URL: .../bot<token>"): those records are redacted at their logger, before any handler.
PTB_BOT_LOGGERS: Final = ("telegram.Bot", "telegram.ext.ExtBot")
LOG_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class SecretRedactingFilter(logging.Filter):
    """Replaces each secret (the bot token, the webhook secret) anywhere in a record.

    The second line of defence: nothing should log the token in the first place.
    """

    def __init__(self, secrets: Iterable[str | None]) -> None:
        super().__init__()
        # The token's part after the colon is the actual secret; redact it on its own too.
        found: set[str] = set()
        for secret in secrets:
            if secret:
                found.add(secret)
                _, _, tail = secret.partition(":")
                if len(tail) >= 16:
                    found.add(tail)
        self._secrets = tuple(sorted(found, key=len, reverse=True))

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: let the handler report it as usual
            return True
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def quiet_url_loggers() -> None:
    for name in URL_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def configure_logging(
    level: int, secrets: Iterable[str | None], stream: TextIO | None = None
) -> logging.Handler:
    """Log to stderr at `level`; returns the handler it added to the root logger."""
    root = logging.getLogger()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
    quiet_url_loggers()
    redacting = SecretRedactingFilter(secrets)
    for name in PTB_BOT_LOGGERS:
        logging.getLogger(name).addFilter(redacting)
    for existing in root.handlers:  # second line of defence, for whatever else logs it
        existing.addFilter(redacting)
    return handler
