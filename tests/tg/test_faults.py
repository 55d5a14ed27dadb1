"""Telegram misbehaving: outages, timeouts, flood limits, refusals, a revoked token, restarts.

Each test runs the real Application (or `python -m bot run`) against the fake Bot API and
counts what a user would see: every question answered, and answered exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.tg.app import EXIT_OK, EXIT_TOKEN_REJECTED
from bot.tg.views import answer_reply
from tests.conftest import (
    ADMIN_ID,
    ADMIN_USERNAME,
    CACHE_ENV,
    FAST_RECOVERY,
    TEST_TOKEN,
    TOKEN_SECRET,
    LaunchBot,
    RunningBot,
    set_answer,
)
from tests.fakes.telegram_server import ApiCall, FakeTelegram

REPO = Path(__file__).resolve().parents[2]
# How long Telegram stays unreachable in the outage tests: long enough for several failed
# rounds and a grown back-off (FAST_RECOVERY), short enough to keep the suite quick.
OUTAGE_SECONDS = 2.0
PARSE_ERROR = "Bad Request: can't parse entities: Unsupported start tag at byte offset 0"
QUESTION = "black sea"
# Started as a subprocess, the bot imports and loads the knowledge in about a second.
PROCESS_TIMEOUT = 30.0


def ask_in_private_chats(server: FakeTelegram, first_user: int, count: int) -> list[int]:
    """`count` users each ask QUESTION in their private chat; their chat ids."""
    chat_ids = []
    for user_id in range(first_user, first_user + count):
        chat = server.private_chat(user_id)
        server.send_text(chat, server.user(user_id), QUESTION)
        chat_ids.append(chat["id"])
    return chat_ids


def delivered_per_chat(calls: Iterable[ApiCall]) -> Counter[int]:
    """How many messages Telegram accepted from the bot in each chat."""
    return Counter(call.params["chat_id"] for call in calls if call.ok)


async def assert_each_answered_exactly_once(bot: RunningBot, chat_ids: Sequence[int]) -> None:
    for chat_id in chat_ids:
        await bot.replies(chat_id, timeout=10)
    await bot.settle()  # every update confirmed and handled: no late duplicate can follow
    delivered = delivered_per_chat(bot.server.calls_to("sendMessage"))
    assert {chat_id: delivered[chat_id] for chat_id in chat_ids} == dict.fromkeys(chat_ids, 1)
    for chat_id in chat_ids:
        assert "Black Sea" in bot.server.bot_texts(chat_id)[0]


# -- getUpdates outages ------------------------------------------------------------------


async def test_questions_asked_while_get_updates_fails_with_5xx_are_answered_once(
    launch_bot: LaunchBot,
):
    bot = await launch_bot(**FAST_RECOVERY)
    server = bot.server
    # A proxy in front of Telegram answering with an HTML error page, not Telegram's JSON.
    server.inject_fault("getUpdates", status=502, body="<html>Bad Gateway</html>", times=None)
    await server.wait_for_calls("getUpdates", predicate=lambda call: call.status == 502)
    chat_ids = ask_in_private_chats(server, 100, 5)
    await asyncio.sleep(OUTAGE_SECONDS)
    server.clear_faults()
    failed = [call for call in server.calls_to("getUpdates") if call.status == 502]
    assert len(failed) >= 4
    await assert_each_answered_exactly_once(bot, chat_ids)


async def test_questions_asked_while_get_updates_times_out_are_answered_once(
    launch_bot: LaunchBot,
):
    bot = await launch_bot(**FAST_RECOVERY)
    server = bot.server
    # Telegram takes the calls but answers after the bot's read timeout (0.3 s) has passed;
    # the late answers then reach a closed connection.
    server.inject_fault("getUpdates", delay=1.0, times=None)
    chat_ids = ask_in_private_chats(server, 110, 5)
    await asyncio.sleep(OUTAGE_SECONDS)
    server.clear_faults()
    await assert_each_answered_exactly_once(bot, chat_ids)
    timed_out = [call for call in server.calls_to("getUpdates") if call.fault is not None]
    assert len(timed_out) >= 4


async def test_questions_asked_while_telegram_refuses_connections_are_answered_once(
    launch_bot: LaunchBot,
):
    bot = await launch_bot(**FAST_RECOVERY)
    server = bot.server
    await server.stop()  # nothing listens on the port: every connection is refused
    chat_ids = ask_in_private_chats(server, 120, 5)
    await asyncio.sleep(OUTAGE_SECONDS)
    await server.start()
    await assert_each_answered_exactly_once(bot, chat_ids)
    assert len(bot.polling_errors) >= 4
    assert all("connect" in str(error).lower() for error in bot.polling_errors)


# -- sendMessage refusals ----------------------------------------------------------------


def _with_long_black_sea_answer(knowledge_dir: Path) -> None:
    text = " ".join(f"Sentence {n} about the Black Sea deal." for n in range(300))
    set_answer(knowledge_dir, "black-sea", text)


async def test_chunk_refused_with_429_is_retried_and_every_chunk_arrives_once_in_order(
    launch_bot: LaunchBot, knowledge_copy: Path
):
    _with_long_black_sea_answer(knowledge_copy)
    bot = await launch_bot(knowledge_dir=knowledge_copy)
    server = bot.server
    expected = answer_reply(
        bot.holder.current.answer(QUESTION), bot.holder.current.knowledge
    ).chunks
    assert len(expected) >= 2
    server.inject_fault("sendMessage", delay=0.01)  # the first chunk goes through...
    server.inject_fault("sendMessage", retry_after=1)  # ...the second hits the flood limit
    [chat_id] = ask_in_private_chats(server, 130, 1)
    await bot.replies(chat_id, len(expected))
    await bot.settle()
    calls = bot.sent_to(chat_id)
    assert [call.status for call in calls] == [200, 429, *[200] * (len(expected) - 1)]
    assert [call.params["text"] for call in calls if call.ok] == list(expected)
    assert len(server.bot_messages(chat_id)) == len(expected)


async def test_html_refused_in_a_group_goes_out_as_plain_text_threaded_and_in_edits(
    bot: RunningBot,
):
    server = bot.server
    group = server.group_chat(-140, "Readers")
    server.inject_fault("sendMessage", status=400, description=PARSE_ERROR)
    question = server.send_text(group, server.user(140), f"@{server.bot_username} {QUESTION}")
    await bot.replies(group["id"])
    refused, plain = bot.sent_to(group["id"])
    assert refused.status == 400 and refused.params["parse_mode"] == "HTML"
    assert "parse_mode" not in plain.params
    assert plain.params["reply_parameters"]["message_id"] == question["message"]["message_id"]
    [answer] = server.bot_messages(group["id"])
    assert "Black Sea" in answer["text"] and "<" not in answer["text"]

    server.inject_fault("editMessageText", status=400, description=PARSE_ERROR)
    server.edit_text(question["message"], f"@{server.bot_username} the energy ceasefire")
    edits = await server.wait_for_calls("editMessageText", predicate=lambda call: call.ok)
    assert "parse_mode" not in edits[0].params
    [edited] = server.bot_messages(group["id"])
    assert "energy" in edited["text"] and "<" not in edited["text"]


async def test_user_who_blocked_the_bot_is_logged_quietly_and_the_next_chat_is_answered(
    bot: RunningBot, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, logger="bot")
    server = bot.server
    server.inject_fault("sendMessage", status=403)  # "Forbidden: bot was blocked by the user"
    [blocked] = ask_in_private_chats(server, 150, 1)
    await server.wait_for_calls("sendMessage", predicate=lambda call: call.status == 403)
    [next_chat] = ask_in_private_chats(server, 151, 1)
    await bot.replies(next_chat)
    await bot.settle()
    assert server.bot_messages(blocked) == []
    [refused] = [r for r in caplog.records if "does not accept messages" in r.getMessage()]
    assert refused.levelno == logging.INFO and str(blocked) in refused.getMessage()
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


# -- the process: a revoked token, SIGTERM and restart -------------------------------------


def _environment(server: FakeTelegram, data_dir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BOT_", "TELEGRAM_")) or k == CACHE_ENV
    }
    env.update(
        TELEGRAM_BOT_TOKEN=TEST_TOKEN,
        TELEGRAM_BASE_URL=server.base_url,
        BOT_DATA_DIR=str(data_dir),
        BOT_ADMIN_IDS=str(ADMIN_ID),
        LOG_LEVEL="DEBUG",
    )
    return env


@contextlib.asynccontextmanager
async def bot_process(server: FakeTelegram, data_dir: Path) -> AsyncIterator[Any]:
    """`python -m bot run` against the fake; killed at the end if it is still running."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run",
        cwd=REPO, env=_environment(server, data_dir),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()


async def _exit_log(process: Any) -> str:
    _, stderr = await asyncio.wait_for(process.communicate(), PROCESS_TIMEOUT)
    return str(stderr.decode())


async def test_revoked_token_makes_the_running_bot_exit_with_a_clear_message(
    telegram: FakeTelegram, tmp_path: Path
):
    server = telegram
    async with bot_process(server, tmp_path / "data") as process:
        [first] = ask_in_private_chats(server, 160, 1)
        await server.wait_for_calls("sendMessage", timeout=PROCESS_TIMEOUT, predicate=_ok)
        server.inject_fault("getUpdates", status=401, times=None)  # revoked in @BotFather
        # Ends a poll that is waiting (it may return this question); the next one is refused.
        ask_in_private_chats(server, 161, 1)
        log = await _exit_log(process)
    assert process.returncode == EXIT_TOKEN_REJECTED, log
    last_line = log.strip().splitlines()[-1]
    assert "Stopped: Telegram rejected TELEGRAM_BOT_TOKEN (401 Unauthorized)" in last_line
    assert TOKEN_SECRET not in log
    assert delivered_per_chat(server.calls_to("sendMessage"))[first] == 1
    assert server.calls_to("getUpdates")[-1].status == 401


def _ok(call: ApiCall) -> bool:
    return call.ok


def _fetched_chats(server: FakeTelegram) -> dict[int, int]:
    """Update id -> chat id of each question a polling round handed to the bot so far.

    Rounds only: the last getUpdates of a stopping bot (timeout 0) only confirms what it
    fetched before; PTB drops whatever that call returns, and Telegram delivers it again.
    """
    return {
        update["update_id"]: update["message"]["chat"]["id"]
        for call in server.calls_to("getUpdates")
        if call.ok and call.params.get("timeout")
        for update in call.result
    }


@pytest.mark.parametrize("confirming_poll_fails", [False, True], ids=["confirmed", "unconfirmed"])
async def test_sigterm_mid_burst_then_restart_answers_every_question_duplicates_bounded(
    telegram: FakeTelegram, tmp_path: Path, confirming_poll_fails: bool
):
    server = telegram
    data_dir = tmp_path / "data"
    server.inject_fault("sendMessage", delay=0.1, times=None)  # answers take a while to go out
    async with bot_process(server, data_dir) as first:
        opening = server.send_text(server.private_chat(200), server.user(200), QUESTION)
        burst = [200, *ask_in_private_chats(server, 201, 29)]
        if confirming_poll_fails:
            # Telegram hands over the burst, then becomes unreachable until the bot has
            # exited: no getUpdates confirming the burst gets through.
            server.inject_fault(
                "getUpdates",
                status=502,
                times=None,
                when=lambda params: params.get("offset", 0) > opening["update_id"],
            )
        await server.wait_for_calls("sendMessage", 5, timeout=PROCESS_TIMEOUT, predicate=_ok)
        in_flight = set(_fetched_chats(server).values()) - set(
            delivered_per_chat(server.calls_to("sendMessage"))
        )
        first.send_signal(signal.SIGTERM)
        late = ask_in_private_chats(server, 300, 5)  # asked while the bot shuts down
        first_log = await _exit_log(first)
    assert first.returncode == EXIT_OK, first_log
    assert in_flight  # fetched but not yet answered when the signal came
    fetched_by_first = _fetched_chats(server)
    confirmed_below = max(
        call.params.get("offset", 0) for call in server.calls_to("getUpdates") if call.ok
    )
    confirmed = {chat for update, chat in fetched_by_first.items() if update < confirmed_below}
    # Handed over but never confirmed: Telegram delivers these again, so they are the only
    # possible duplicates.
    unconfirmed = {fetched_by_first[u] for u in fetched_by_first if u >= confirmed_below}
    answered_by_first = set(delivered_per_chat(server.calls_to("sendMessage")))
    assert confirmed <= answered_by_first <= confirmed | unconfirmed  # nothing taken on lost

    server.clear_faults()
    down = ask_in_private_chats(server, 400, 5)  # asked while no bot runs
    async with bot_process(server, data_dir) as second:
        everyone = {*burst, *late, *down}
        await server.wait_for_calls(
            "sendMessage",
            len(everyone),
            timeout=PROCESS_TIMEOUT,
            predicate=lambda call: call.ok and call.params["chat_id"] in everyone,
        )
        await server.wait_until_confirmed()
        second.send_signal(signal.SIGTERM)
        second_log = await _exit_log(second)
    assert second.returncode == EXIT_OK, second_log

    delivered = delivered_per_chat(server.calls_to("sendMessage"))
    assert set(delivered) == {*burst, *late, *down}  # none lost
    duplicates = sum(count - 1 for count in delivered.values())
    # On SIGTERM run_polling stops fetching, confirms everything fetched with one last
    # getUpdates (its offset), then answers all of it before exiting. A duplicate needs an
    # update answered but left unconfirmed, which takes that last getUpdates failing; then
    # Telegram re-delivers what was fetched since the last good round - at most one batch of
    # getUpdates, at most 100 updates. (A SIGKILL would also lose what was confirmed but not
    # yet answered: PTB confirms updates when it fetches them, not when it has answered them.)
    assert duplicates == len(answered_by_first & unconfirmed) <= len(unconfirmed)
    assert duplicates == (len(burst) if confirming_poll_fails else 0)
    assert TOKEN_SECRET not in first_log + second_log


# -- /reload while answering ---------------------------------------------------------------


def _knowledge_variant(source: Path, target: Path, tag: str) -> Path:
    """A copy of the knowledge whose answers and labels all carry `tag`."""
    shutil.copytree(source, target)
    qa_path = target / "qa.yaml"
    qa = yaml.safe_load(qa_path.read_text(encoding="utf-8"))
    for entry in qa["entries"]:
        entry["answer"] = f"[{tag}] {entry['answer']}"
    qa_path.write_text(yaml.safe_dump(qa, allow_unicode=True, sort_keys=False), encoding="utf-8")
    messages_path = target / "messages.yaml"
    messages = yaml.safe_load(messages_path.read_text(encoding="utf-8"))
    messages["messages"]["source_label"] = f"Source {tag}"
    messages["messages"]["unknown"] = f"[{tag}] {messages['messages']['unknown']}"
    messages_path.write_text(
        yaml.safe_dump(messages, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    return target


def _install(variant: Path, live: Path) -> None:
    """Make `live` hold `variant`'s files (no reload is reading it meanwhile)."""
    shutil.copytree(variant, live, dirs_exist_ok=True)


RELOAD_QUESTIONS = (
    "black sea",
    "the energy ceasefire",
    "What did Rutte say sustainable peace means?",
    "recipe for borscht",
)


async def test_replies_during_repeated_reloads_each_come_from_one_whole_version(
    launch_bot: LaunchBot, knowledge_copy: Path, tmp_path: Path
):
    versions = {tag: _knowledge_variant(knowledge_copy, tmp_path / tag, tag) for tag in "AB"}
    live = knowledge_copy
    _install(versions["A"], live)
    bot = await launch_bot(knowledge_dir=live)
    snapshots = {"A": bot.holder.current}
    server = bot.server
    admin = server.user(ADMIN_ID, "Boss", ADMIN_USERNAME)
    admin_chat = server.private_chat(ADMIN_ID, "Boss", ADMIN_USERNAME)
    asked: dict[int, str] = {}
    user_id = 400
    for number, tag in enumerate("BAB", 1):
        _install(versions[tag], live)
        server.send_text(admin_chat, admin, "/reload")
        for _ in range(3):  # questions keep coming while the reload runs
            for question in RELOAD_QUESTIONS:
                chat = server.private_chat(user_id)
                server.send_text(chat, server.user(user_id), question)
                asked[chat["id"]] = question
                user_id += 1
            await asyncio.sleep(0.05)
        await bot.replies(admin_chat["id"], number, timeout=10)
        snapshots.setdefault(tag, bot.holder.current)
    for chat_id in asked:
        await bot.replies(chat_id)
    await bot.settle()

    assert all(text.startswith("Reloaded: version") for text in server.bot_texts(ADMIN_ID))
    expected = {
        tag: {
            question: answer_reply(snapshot.answer(question), snapshot.knowledge).chunks
            for question in RELOAD_QUESTIONS
        }
        for tag, snapshot in snapshots.items()
    }
    assert expected["A"]["black sea"] != expected["B"]["black sea"]
    seen_versions: Counter[str] = Counter()
    for chat_id, question in asked.items():
        sent = tuple(call.params["text"] for call in bot.sent_to(chat_id))
        matches = [tag for tag in expected if sent == expected[tag][question]]
        assert len(matches) == 1, (question, sent)
        seen_versions[matches[0]] += 1
    assert set(seen_versions) == {"A", "B"}  # the replies did straddle the reloads
