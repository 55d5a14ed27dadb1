"""Arbitrary text through the whole Telegram path: every reply stays valid Telegram HTML.

Hypothesis runs each example as a plain function, and function-scoped fixtures would be
shared across examples anyway, so one bot serves every example: the fake server and the real
Application run on an event loop in a background thread, and each example hands it a
coroutine to run.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.answers import TELEGRAM_MESSAGE_LIMIT, clean_question
from bot.core.knowledge import DEFAULT_KNOWLEDGE_DIR
from bot.core.service import KnowledgeHolder, Snapshot
from tests.conftest import ADMIN_ID, ADMIN_USERNAME, TEST_TOKEN, RunningBot, start_bot
from tests.fakes.telegram_server import ApiCall, html_to_text, running_fake_telegram

T = TypeVar("T")

# The tags of Telegram's HTML dialect (Bot API, "HTML style").
TELEGRAM_TAGS = frozenset(
    "b strong i em u ins s strike del span tg-spoiler a code pre blockquote tg-emoji".split()
)
_TAG = re.compile(r"</?([a-zA-Z][a-zA-Z0-9-]*)")
# Longest text sent: Telegram's 4,096-character limit less the longest prefix added below.
MAX_FUZZ_CHARS = 4000
MAX_INLINE_QUERY_CHARS = 256  # Bot API, InlineQuery.query
EXAMPLE_TIMEOUT = 10.0
KINDS = ("private", "group", "admin /test", "inline")

_TRICKY = [
    "<b>", "</b>", "<blockquote>", "</i>", "<a href='https://x'>", "<br>", "&", "&amp;",
    "&lt;", "&#128512;", "&#xD800;", "&bogus;", "@TalksTestBot", "/start", "/ask", "/reload",
    "black sea", "\n", "\r\n", "\t", "\u200b", "\u202e", "\u2028", "\ufeff", "\x00", "\x1b",
    "🏳️‍🌈", "👍🏽", "ﷺ", "e\u0301", "ǅ", "İ", "ß", "\U0010fffd", " ", "'", '"', "`", "\\",
]  # fmt: skip
_ANY_CHARACTER = st.characters(exclude_categories=("Cs",))  # surrogates cannot be sent
QUESTIONS = (
    st.one_of(
        st.text(_ANY_CHARACTER, min_size=1, max_size=200),
        st.lists(st.sampled_from(_TRICKY), min_size=1, max_size=30).map("".join),
        st.text(_ANY_CHARACTER, min_size=1000, max_size=MAX_FUZZ_CHARS),
    )
    .map(str.strip)  # as Telegram clients send them
    .filter(bool)
)


class ErrorRecorder(logging.Handler):
    """Collects ERROR records from any thread: an exception that reached the error handler."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class ThreadedBot:
    """The bot polling the fake, both on `loop` in a background thread."""

    loop: asyncio.AbstractEventLoop
    running: RunningBot
    errors: ErrorRecorder
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(10_000))

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(EXAMPLE_TIMEOUT)

    async def ask(self, kind: str, text: str) -> tuple[list[ApiCall], str]:
        """Put `text` to the bot as `kind`; the calls answering it and the text as sent."""
        server, number = self.running.server, next(self.ids)
        before = len(server.calls)
        if kind == "inline":
            query = text[:MAX_INLINE_QUERY_CHARS]
            update = server.inline_query(server.user(number), query)
            await self.running.settle()
            query_id = update["inline_query"]["id"]
            calls = [c for c in server.calls[before:] if c.method == "answerInlineQuery"]
            return [c for c in calls if c.params["inline_query_id"] == query_id], query
        if kind == "private":
            chat, user, sent = server.private_chat(number), server.user(number), text
        elif kind == "group":
            chat, user = server.group_chat(-number, "Fuzz"), server.user(number)
            sent = f"@{server.bot_username} {text}"
        else:
            chat = server.private_chat(ADMIN_ID, "Boss", ADMIN_USERNAME)
            user, sent = server.user(ADMIN_ID, "Boss", ADMIN_USERNAME), f"/test {text}"
        server.send_text(chat, user, sent)
        await self.running.settle()
        calls = [c for c in server.calls[before:] if c.method == "sendMessage"]
        return [c for c in calls if c.params["chat_id"] == chat["id"]], sent


@pytest.fixture(scope="module")
def threaded_bot(
    shipped_snapshot: Snapshot, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ThreadedBot]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fuzzed-bot", daemon=True)
    thread.start()
    stack = contextlib.AsyncExitStack()
    data_dir: Path = tmp_path_factory.mktemp("fuzz") / "data"

    async def start() -> RunningBot:
        server = await stack.enter_async_context(running_fake_telegram(token=TEST_TOKEN))
        holder = KnowledgeHolder(DEFAULT_KNOWLEDGE_DIR, snapshot=shipped_snapshot)
        return await start_bot(stack, server, holder, data_dir)

    errors = ErrorRecorder()
    logging.getLogger().addHandler(errors)
    try:
        running = asyncio.run_coroutine_threadsafe(start(), loop).result(EXAMPLE_TIMEOUT)
        yield ThreadedBot(loop, running, errors)
    finally:
        logging.getLogger().removeHandler(errors)
        asyncio.run_coroutine_threadsafe(stack.aclose(), loop).result(EXAMPLE_TIMEOUT)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(EXAMPLE_TIMEOUT)
        loop.close()


def assert_valid_telegram_html(text: str) -> str:
    """The text a user sees of `text`; fails unless Telegram would accept it as it is."""
    assert len(text) <= TELEGRAM_MESSAGE_LIMIT
    assert {tag.lower() for tag in _TAG.findall(text)} <= TELEGRAM_TAGS, text
    return html_to_text(text)  # balanced, known tags, "<" and "&" escaped


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example],
)
@given(kind=st.sampled_from(KINDS), text=QUESTIONS)
def test_any_text_gets_replies_in_valid_telegram_html_within_the_limit(
    threaded_bot: ThreadedBot, kind: str, text: str
):
    threaded_bot.errors.records.clear()
    calls, sent = threaded_bot.run(threaded_bot.ask(kind, text))
    assert calls, f"no reply to {sent!r}"
    assert [call.status for call in calls] == [200] * len(calls)  # no plain-text fallback
    if kind == "inline":
        [answer] = calls
        results = answer.params["results"]
        assert 1 <= len(results) <= 5
        for result in results:
            content = result["input_message_content"]
            assert content["parse_mode"] == "HTML"
            assert_valid_telegram_html(content["message_text"])
    else:
        seen = []
        for call in calls:
            assert call.params["parse_mode"] == "HTML"
            seen.append(assert_valid_telegram_html(call.params["text"]))
        if kind == "admin /test":  # the one reply that shows the user's text: verbatim
            assert f"Question: “{clean_question(text)}”" in "\n".join(seen)
    assert threaded_bot.errors.records == []
    assert threaded_bot.running.server.violations == []
