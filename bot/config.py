"""Settings read once from environment variables and validated before any network call."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.core.knowledge import DEFAULT_KNOWLEDGE_DIR

DEFAULT_BASE_URL = "https://api.telegram.org/bot"
# BotFather tokens look like 123456789:AA...; checked before use so a typo fails fast.
_TOKEN_PATTERN = re.compile(r"^\d{3,20}:[A-Za-z0-9_-]{20,100}$")
_LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")


class ConfigError(ValueError):
    """One or more settings are wrong; the message lists each with how to fix it."""


@dataclass(frozen=True)
class Settings:
    """Everything configurable, from the environment. The token never appears in repr."""

    token: str | None = field(default=None, repr=False)
    base_url: str = DEFAULT_BASE_URL
    admin_ids: frozenset[int] = frozenset()
    knowledge_dir: Path = DEFAULT_KNOWLEDGE_DIR
    data_dir: Path = Path("data")
    # Trained models, one file per set of training examples (BOT_CACHE_DIR, else
    # <data dir>/models): derived from the YAML, safe to delete, never committed.
    cache_dir: Path | None = None
    log_level: str = "INFO"
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8443

    @property
    def model_cache_dir(self) -> Path:
        return self.cache_dir or self.data_dir / "models"

    @property
    def has_token(self) -> bool:
        return bool(self.token)

    def require_token(self) -> str:
        if not self.token:
            raise ConfigError(
                "TELEGRAM_BOT_TOKEN is not set: get one from @BotFather (see README)."
            )
        return self.token


def _int_list(name: str, raw: str, errors: list[str]) -> frozenset[int]:
    ids: set[int] = set()
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        if not re.fullmatch(r"-?\d{1,20}", part):
            errors.append(f"{name}: {part!r} is not a numeric user id (usernames are not accepted)")
            continue
        ids.add(int(part))
    return frozenset(ids)


def load_settings(env: Mapping[str, str]) -> Settings:
    """Read and validate settings from an environment mapping (pass os.environ)."""
    errors: list[str] = []
    token = env.get("TELEGRAM_BOT_TOKEN", "").strip() or None
    if token is not None and not _TOKEN_PATTERN.fullmatch(token):
        errors.append("TELEGRAM_BOT_TOKEN does not look like a BotFather token (digits:letters)")
    base_url = env.get("TELEGRAM_BASE_URL", "").strip() or DEFAULT_BASE_URL
    if not re.match(r"^https?://[^\s/]+", base_url):
        errors.append(f"TELEGRAM_BASE_URL must be an http(s) URL, got {base_url!r}")
    admin_ids = _int_list("BOT_ADMIN_IDS", env.get("BOT_ADMIN_IDS", ""), errors)
    knowledge_dir = Path(env.get("BOT_KNOWLEDGE_DIR", "").strip() or DEFAULT_KNOWLEDGE_DIR)
    if not knowledge_dir.is_dir():
        errors.append(f"BOT_KNOWLEDGE_DIR {str(knowledge_dir)!r} is not a directory")
    data_dir = Path(env.get("BOT_DATA_DIR", "").strip() or "data")
    log_level = (env.get("LOG_LEVEL", "").strip() or "INFO").upper()
    if log_level not in _LOG_LEVELS:
        errors.append(f"LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}, got {log_level!r}")
    webhook_url = env.get("BOT_WEBHOOK_URL", "").strip() or None
    webhook_secret = env.get("BOT_WEBHOOK_SECRET", "").strip() or None
    webhook_listen = env.get("BOT_WEBHOOK_LISTEN", "").strip() or "127.0.0.1"
    port_raw = env.get("BOT_WEBHOOK_PORT", "").strip() or "8443"
    webhook_port = 8443
    if not port_raw.isdigit() or not 1 <= int(port_raw) <= 65535:
        errors.append(f"BOT_WEBHOOK_PORT must be a port number, got {port_raw!r}")
    else:
        webhook_port = int(port_raw)
    if webhook_url is not None:
        if not webhook_url.startswith("https://"):
            errors.append("BOT_WEBHOOK_URL must start with https:// (Telegram requires TLS)")
        if webhook_secret is None or not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", webhook_secret):
            errors.append(
                "BOT_WEBHOOK_SECRET must be set with BOT_WEBHOOK_URL: 1-256 of A-Z a-z 0-9 _ -"
            )
    if errors:
        raise ConfigError("\n".join(errors))
    return Settings(
        token=token,
        base_url=base_url,
        admin_ids=admin_ids,
        knowledge_dir=knowledge_dir,
        data_dir=data_dir,
        cache_dir=Path(env.get("BOT_CACHE_DIR", "").strip() or data_dir / "models"),
        log_level=log_level,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        webhook_listen=webhook_listen,
        webhook_port=webhook_port,
    )


def logging_level(settings: Settings) -> int:
    level: int = getattr(logging, settings.log_level)
    return level
