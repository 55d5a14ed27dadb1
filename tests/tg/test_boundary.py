"""The core stays pure: only the Telegram shell (bot/tg/) imports telegram."""

from __future__ import annotations

import ast
from pathlib import Path

BOT_DIR = Path(__file__).resolve().parents[2] / "bot"


def _top_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:  # module level only: cli imports the shell lazily, to run it
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_core_and_command_line_do_not_import_telegram_at_module_level():
    outside_shell = [*BOT_DIR.glob("*.py"), *(BOT_DIR / "core").glob("*.py")]
    assert len(outside_shell) > 5, "no core modules found"
    offenders = [
        path.name
        for path in outside_shell
        if any(
            n == "telegram" or n.startswith(("telegram.", "bot.tg"))
            for n in _top_level_imports(path)
        )
    ]
    assert offenders == []


def test_core_imports_nothing_outside_the_core():
    for path in (BOT_DIR / "core").glob("*.py"):
        bot_imports = {n for n in _top_level_imports(path) if n.startswith("bot")}
        assert all(n.startswith("bot.core") for n in bot_imports), path.name


def test_healthcheck_needs_only_the_standard_library():
    imports = {n.split(".")[0] for n in _top_level_imports(BOT_DIR / "tg" / "health.py")}
    assert imports <= {"__future__", "os", "sys", "time", "collections", "pathlib", "typing"}
