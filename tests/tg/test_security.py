"""Security: flood limits per sender and group, the token kept secret, bounded safe storage.

Refusal of admin commands lives with the other admin tests (tests/test_telegram_admin.py).
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import io
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from bot.tg import stats_store
from bot.tg.app import EXIT_TOKEN_REJECTED
from bot.tg.context import GroupCooldown, UserCooldown, bot_context_of
from bot.tg.log_redaction import PTB_BOT_LOGGERS, configure_logging
from bot.tg.stats_store import MAX_STORED_QUESTION_CHARS, StatsStore
from tests.conftest import (
    ADMIN_ID,
    ADMIN_USERNAME,
    CACHE_ENV,
    TEST_TOKEN,
    TOKEN_SECRET,
    LaunchBot,
    RunningBot,
)
from tests.fakes.telegram_server import FakeTelegram

REPO = Path(__file__).resolve().parents[2]
BOT = "@TalksTestBot"


class FrozenClock:
    """Monotonic time that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- flood control -------------------------------------------------------------------------


async def test_one_sender_flooding_a_private_chat_gets_a_burst_then_one_answer_per_interval(
    launch_bot: LaunchBot,
):
    clock = FrozenClock()
    bot = await launch_bot(user_cooldown=UserCooldown(clock=clock))
    server = bot.server
    burst = UserCooldown.burst
    spammer, chat = server.user(501), server.private_chat(501)
    for _ in range(burst + 5):
        server.send_text(chat, spammer, "black sea")
    await bot.settle()
    assert len(bot.sent_to(chat["id"])) == burst
    clock.now += UserCooldown.seconds_per_message  # one answer's worth comes back
    for _ in range(3):
        server.send_text(chat, spammer, "black sea")
    await bot.settle()
    assert len(bot.sent_to(chat["id"])) == burst + 1
    human = server.private_chat(502)  # everyone else is served as usual
    server.send_text(human, server.user(502), "black sea")
    await bot.replies(human["id"])


async def test_one_sender_cannot_multiply_the_flood_by_spreading_it_over_groups(
    launch_bot: LaunchBot,
):
    clock = FrozenClock()
    bot = await launch_bot(
        cooldown=GroupCooldown(clock=clock), user_cooldown=UserCooldown(burst=4, clock=clock)
    )
    server = bot.server
    spammer = server.user(503)
    groups = [server.group_chat(-503 - n, f"Group {n}") for n in range(4)]
    for group in groups:  # each group alone would allow 3 answers in a row
        for _ in range(3):
            server.send_text(group, spammer, f"{BOT} black sea")
    await bot.settle()
    assert sum(len(bot.sent_to(group["id"])) for group in groups) == 4


async def test_editing_a_question_over_and_over_is_bounded_by_the_sender_budget(
    launch_bot: LaunchBot,
):
    bot = await launch_bot(user_cooldown=UserCooldown(burst=3, clock=FrozenClock()))
    server = bot.server
    chat = server.private_chat(504)
    question = server.send_text(chat, server.user(504), "black sea")["message"]
    await bot.replies(chat["id"])
    for number in range(6):
        server.edit_text(question, f"the energy ceasefire {'?' * (number + 1)}")
    await bot.settle()
    assert len(server.calls_to("editMessageText")) == 2  # the answer took one of three


async def test_admins_are_not_held_back_by_the_sender_budget(launch_bot: LaunchBot):
    bot = await launch_bot(user_cooldown=UserCooldown(burst=1, clock=FrozenClock()))
    server = bot.server
    chat = server.private_chat(ADMIN_ID, "Boss", ADMIN_USERNAME)
    for _ in range(4):
        server.send_text(chat, server.user(ADMIN_ID, "Boss", ADMIN_USERNAME), "/test black sea")
    await bot.replies(chat["id"], 4)


# -- the token ---------------------------------------------------------------------------


# The settings' repr is checked in tests/test_boundaries.py.


async def test_bot_context_repr_never_shows_the_token(bot: RunningBot):
    assert TOKEN_SECRET not in repr(bot_context_of(bot.app.bot_data))


@contextlib.contextmanager
def logging_configured_like_run_bot(stream: io.StringIO) -> Iterator[None]:
    """configure_logging at DEBUG into `stream`; undone afterwards."""
    names = ("", "httpx", "httpcore")
    saved = {name: logging.getLogger(name).level for name in names}
    handler = configure_logging(logging.DEBUG, secrets=[TEST_TOKEN], stream=stream)
    try:
        yield
    finally:
        logging.getLogger().removeHandler(handler)
        for name in PTB_BOT_LOGGERS:
            ptb_logger = logging.getLogger(name)
            for installed in list(ptb_logger.filters):
                ptb_logger.removeFilter(installed)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


async def test_ptb_objects_that_show_the_token_are_redacted_if_ever_logged(bot: RunningBot):
    # PTB's repr of a Bot (and so of an Application) includes the token. The bot never logs
    # them; if anything did, the redacting filter is the second line of defence.
    assert TOKEN_SECRET in repr(bot.app)
    stream = io.StringIO()
    log = logging.getLogger("bot.anything")
    with logging_configured_like_run_bot(stream):
        log.error("app %s, bot %r", bot.app, bot.app.bot)
        try:
            raise RuntimeError(f"failed: {bot.app.bot!r}")
        except RuntimeError:
            log.exception("with a traceback")
    text = stream.getvalue()
    assert "RuntimeError: failed: ExtBot[token=[REDACTED]]" in text
    assert TOKEN_SECRET not in text


async def test_nothing_the_bot_sends_contains_the_token_even_when_things_fail(
    launch_bot: LaunchBot, knowledge_copy: Path, vague_question: str
):
    bot = await launch_bot(knowledge_dir=knowledge_copy)
    server = bot.server
    user, chat = server.user(510), server.private_chat(510)
    admin = server.user(ADMIN_ID, "Boss", ADMIN_USERNAME)
    admin_chat = server.private_chat(ADMIN_ID, "Boss", ADMIN_USERNAME)
    server.inject_fault("sendMessage", status=500)  # a handler fails
    server.send_text(chat, user, "black sea")
    server.inject_fault("sendMessage", status=400, description="Bad Request: can't parse entities")
    server.send_text(chat, user, vague_question)
    server.inline_query(user, "black sea")
    (knowledge_copy / "qa.yaml").write_text("entries: [", encoding="utf-8")  # broken YAML
    for command in ("/reload", "/stats", "/unanswered", "/test black sea"):
        server.send_text(admin_chat, admin, command)
    await bot.replies(ADMIN_ID, 4)
    await bot.settle()
    assert any(text.startswith("Reload failed") for text in server.bot_texts(ADMIN_ID))
    sent = [json.dumps(call.params, ensure_ascii=False) for call in server.calls]
    assert [text for text in sent if TOKEN_SECRET in text] == []


async def test_token_refused_at_start_exits_with_a_distinct_code_and_is_never_printed(
    telegram: FakeTelegram, tmp_path: Path
):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BOT_", "TELEGRAM_")) or k == CACHE_ENV
    }
    wrong = "987654321:AAHanotherTokenTelegramDoesNotKnow_xyz"
    env.update(
        TELEGRAM_BOT_TOKEN=wrong,
        TELEGRAM_BASE_URL=telegram.base_url,
        BOT_DATA_DIR=str(tmp_path),
        LOG_LEVEL="DEBUG",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run",
        cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    log = (stdout + stderr).decode()
    assert process.returncode == EXIT_TOKEN_REJECTED, log
    assert "Telegram rejected TELEGRAM_BOT_TOKEN (401 Unauthorized)" in log.splitlines()[-1]
    assert wrong.split(":", 1)[1] not in log


# -- storage -----------------------------------------------------------------------------


def _sql_calls(tree: ast.AST) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"execute", "executemany", "executescript"}
    ]


def test_every_sql_statement_is_a_constant_and_values_are_bound_as_parameters():
    tree = ast.parse(Path(stats_store.__file__).read_text(encoding="utf-8"))
    calls = _sql_calls(tree)
    assert len(calls) >= 10
    for call in calls:
        statement = call.args[0]
        if isinstance(statement, ast.Name):  # a module constant, e.g. _SCHEMA
            value = getattr(stats_store, statement.id)
            assert statement.id.isupper() and isinstance(value, str), ast.unparse(call)
        else:  # a literal, possibly split over lines (implicitly joined)
            assert isinstance(statement, ast.Constant), ast.unparse(call)
            assert isinstance(statement.value, str), ast.unparse(call)
        if "?" in (statement.value if isinstance(statement, ast.Constant) else ""):
            assert len(call.args) == 2, ast.unparse(call)  # the values, bound


# SQL, HTML tags and an entity around a question the article plainly does not answer: it is
# declined, so it goes to the unanswered log (a "did you mean" would not).
HOSTILE = "x'); DROP TABLE unanswered; -- <b>&amp; recipe for borscht?"


async def test_hostile_question_is_stored_and_shown_to_admins_literally(bot: RunningBot):
    server = bot.server
    chat = server.private_chat(520)
    server.send_text(chat, server.user(520), HOSTILE)
    await bot.replies(chat["id"])
    await bot.settle()
    admin_chat = server.private_chat(ADMIN_ID, "Boss", ADMIN_USERNAME)
    server.send_text(admin_chat, server.user(ADMIN_ID, "Boss", ADMIN_USERNAME), "/unanswered")
    await bot.replies(ADMIN_ID)
    assert f"1. 1 × “{HOSTILE}”" in server.bot_texts(ADMIN_ID)[0]  # as typed, tags and all


async def test_a_question_as_long_as_telegram_allows_is_stored_bounded(bot: RunningBot):
    server = bot.server
    chat = server.private_chat(521)
    server.send_text(chat, server.user(521), "zqxv " * 819)  # 4,095 characters
    await bot.replies(chat["id"])
    await bot.settle()
    [group] = bot.store.unanswered()
    assert len(group.question) == MAX_STORED_QUESTION_CHARS


def test_unanswered_questions_are_forgotten_after_the_retention_period(tmp_path: Path):
    now = [0.0]
    day = 24 * 3600.0
    store = StatsStore(tmp_path / "stats.sqlite3", max_age=90 * day, clock=lambda: now[0])
    store.record_answer("unknown", "an old question")
    now[0] += 60 * day
    store.record_answer("unknown", "a newer question")
    now[0] += 31 * day  # the first is 91 days old, the second 31
    assert [g.question for g in store.unanswered()] == ["a newer question"]
    assert store.counts()["unknown"] == 2  # bare counts stay
    store.close()
    now[0] += 60 * day  # also when the bot restarts after a quiet spell
    reopened = StatsStore(tmp_path / "stats.sqlite3", max_age=90 * day, clock=lambda: now[0])
    assert reopened.unanswered_rows() == 0
    reopened.close()
