"""The core stays pure: only the Telegram shell (telegram_app, tg_*) imports telegram."""

from __future__ import annotations

import ast
from pathlib import Path

BOT_DIR = Path(__file__).resolve().parents[1] / "bot"


def _top_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:  # module level only: cli imports the shell lazily, to run it
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_core_modules_do_not_import_telegram():
    core = [
        path
        for path in BOT_DIR.glob("*.py")
        if path.stem != "telegram_app" and not path.stem.startswith("tg_")
    ]
    assert core, "no core modules found"
    offenders = [path.name for path in core if "telegram" in _top_level_imports(path)]
    assert offenders == []


def test_healthcheck_needs_only_the_standard_library():
    imports = _top_level_imports(BOT_DIR / "tg_health.py")
    assert imports <= {"__future__", "os", "sys", "time", "collections", "pathlib", "typing"}
