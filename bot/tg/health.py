"""Liveness heartbeat: the bot touches a file after each getUpdates round; a check reads its age.

Run as the container's HEALTHCHECK: ``python -m bot.tg.health`` exits 0 while the heartbeat is
fresh and 1 when it is missing or stale (a live process whose poller died shows unhealthy).
Standard library only, so the check starts fast and works even if the bot's imports break.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Final, TextIO

HEARTBEAT_FILE: Final = "heartbeat"
# A healthy poller finishes a getUpdates round at least every poll timeout (10 s, PTB's
# default) plus its read-timeout margin; after a network error PTB backs off for up to 30 s
# before retrying. 90 s is three of the longest gaps a working bot has: older means polling
# (or, with webhooks, the event loop) has stopped making progress.
MAX_HEARTBEAT_AGE_SECONDS: Final = 90.0
# BOT_HEALTH_MAX_AGE (seconds) sets another limit: a bot with a shorter poll timeout, or a test
# that needs to see unhealthy sooner.
MAX_AGE_ENV: Final = "BOT_HEALTH_MAX_AGE"


def heartbeat_path(data_dir: Path | str) -> Path:
    return Path(data_dir) / HEARTBEAT_FILE


def touch_heartbeat(path: Path) -> None:
    """Mark progress now; creates the file the first time."""
    path.touch(exist_ok=True)  # updates the modification time of an existing file


def heartbeat_age(path: Path, now: float | None = None) -> float | None:
    """Seconds since the last heartbeat, or None if there has been none."""
    try:
        modified = path.stat().st_mtime
    except FileNotFoundError:
        return None
    return (time.time() if now is None else now) - modified


def is_healthy(
    path: Path, now: float | None = None, max_age: float = MAX_HEARTBEAT_AGE_SECONDS
) -> bool:
    age = heartbeat_age(path, now)
    return age is not None and age <= max_age


def max_age(env: Mapping[str, str]) -> float | None:
    """The limit BOT_HEALTH_MAX_AGE sets (the default when unset), None when it is not a
    positive number of seconds."""
    raw = env.get(MAX_AGE_ENV, "").strip()
    if not raw:
        return MAX_HEARTBEAT_AGE_SECONDS
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if 0 < value < float("inf") else None


def main(env: Mapping[str, str] = os.environ, out: TextIO = sys.stdout) -> int:
    """Exit status for a container health check: 0 healthy, 1 unhealthy."""
    limit = max_age(env)
    if limit is None:
        # A typo must not make a dead bot look alive, nor a live one dead: say so, loudly.
        print(f"unhealthy: {MAX_AGE_ENV} must be a positive number of seconds", file=out)
        return 1
    path = heartbeat_path(env.get("BOT_DATA_DIR", "").strip() or "data")
    age = heartbeat_age(path)
    if age is None:
        print(f"unhealthy: no heartbeat at {path}", file=out)
        return 1
    if age > limit:
        print(f"unhealthy: last heartbeat {age:.0f}s ago", file=out)
        return 1
    print(f"healthy: last heartbeat {age:.0f}s ago", file=out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
