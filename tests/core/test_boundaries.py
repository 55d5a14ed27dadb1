"""Architecture: the pure core never imports Telegram, and settings never show the token."""

from __future__ import annotations

import subprocess
import sys

from bot.config import load_settings

PURE_MODULES = [
    "bot.core.knowledge",
    "bot.core.matcher",
    "bot.core.answers",
    "bot.core.service",
    "bot.core.textnorm",
    "bot.cli",
]


def test_core_modules_do_not_import_telegram() -> None:
    code = (
        "import sys\n"
        f"for name in {PURE_MODULES!r}: __import__(name)\n"
        "bad = sorted(m for m in sys.modules if m == 'telegram' or m.startswith('telegram.'))\n"
        "print(','.join(bad))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_settings_repr_hides_the_token() -> None:
    token = "123456789:AAAbbbCCCdddEEEfffGGGhhhIIIjjj"
    settings = load_settings({"TELEGRAM_BOT_TOKEN": token, "BOT_ADMIN_IDS": "1, 2"})
    assert settings.token == token
    assert token not in repr(settings)
    assert settings.admin_ids == frozenset({1, 2})
