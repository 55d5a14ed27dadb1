"""Admin commands: only numeric admin ids may use them; /reload never half-applies."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bot.core.service import Snapshot
from tests.conftest import ADMIN_ID, ADMIN_USERNAME, LaunchBot, RunningBot, set_answer

ADMIN_COMMANDS = ["/reload", "/stats", "/unanswered", "/test black sea"]
REFUSAL = "Sorry, only the bot's admins can use that command."


def _edit_yaml(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


async def _admin_says(bot: RunningBot, text: str, count: int = 1) -> str:
    server = bot.server
    chat = server.private_chat(ADMIN_ID, "Boss", ADMIN_USERNAME)
    server.send_text(chat, server.user(ADMIN_ID, "Boss", ADMIN_USERNAME), text)
    # A /reload whose examples changed trains a new model first (several seconds).
    await bot.replies(chat["id"], count, timeout=60.0 if text == "/reload" else 5.0)
    return server.bot_texts(chat["id"])[-1]


async def test_reload_swaps_in_new_knowledge_and_reports_what_changed(
    launch_bot: LaunchBot, knowledge_copy: Path
):
    bot = await launch_bot(knowledge_dir=knowledge_copy)
    old_version = bot.holder.current.version
    knowledge = bot.holder.current.knowledge
    referenced = {r for e in knowledge.entries for r in e.related} | {
        t.lead for t in knowledge.topics
    }
    removable = next(e.id for e in knowledge.entries if e.id not in referenced)

    def change(qa):
        qa["entries"] = [e for e in qa["entries"] if e["id"] != removable]

    set_answer(knowledge_copy, "black-sea", "Reloaded answer about the Black Sea.")
    _edit_yaml(knowledge_copy / "qa.yaml", change)
    report = await _admin_says(bot, "/reload")
    new_version = bot.holder.current.version
    assert new_version != old_version
    assert f"version {old_version} → {new_version}" in report
    assert "Added (0): -" in report
    assert f"Removed (1): {removable}" in report
    assert "Changed (1): black-sea" in report
    answer = await _admin_says(bot, "black sea", count=2)
    assert answer.startswith("Reloaded answer about the Black Sea.")


async def test_reload_of_broken_knowledge_reports_errors_and_keeps_the_old_one_serving(
    launch_bot: LaunchBot, knowledge_copy: Path
):
    bot = await launch_bot(knowledge_dir=knowledge_copy)
    old_version = bot.holder.current.version

    def break_quote(facts):
        fact = next(f for f in facts["facts"] if f["id"] == "babel-correspondent")
        fact["quote"] = "a sentence the article never contained"

    _edit_yaml(knowledge_copy / "facts.yaml", break_quote)
    _edit_yaml(
        knowledge_copy / "qa.yaml",
        lambda qa: next(e for e in qa["entries"] if e["id"] == "black-sea").update(answr="typo"),
    )
    report = await _admin_says(bot, "/reload")
    assert report.startswith(f"Reload failed: 2 error(s). Still serving version {old_version}.")
    assert "• facts.yaml [babel-correspondent] quote: is not a verbatim passage" in report
    assert "• qa.yaml [black-sea] answr: is not a known field (typo?)" in report
    assert bot.holder.current.version == old_version
    answer = await _admin_says(bot, "black sea", count=2)
    assert "The US subsequently agreed with Ukraine and Russia" in answer


async def test_stats_shows_uptime_version_and_question_counts(bot: RunningBot, vague_question: str):
    server = bot.server
    chat = server.private_chat(61)
    for question in ("black sea", "energy", vague_question, "recipe for borscht"):
        server.send_text(chat, server.user(61), question)
    await bot.replies(chat["id"], 4)
    await bot.settle()
    stats = await _admin_says(bot, "/stats")
    assert re.search(r"^Uptime: \d+s$", stats, re.MULTILINE)
    assert f"Knowledge version: {bot.holder.current.version}" in stats
    assert "Answered: 2\nSuggested (did you mean): 1\nUnknown: 1" in stats


async def test_unanswered_lists_frequent_questions_with_similar_ones_grouped(bot: RunningBot):
    server = bot.server
    chat = server.private_chat(62)
    questions = [
        "recipe for borscht",
        "Recipe for borscht?",
        "borscht recipe for",
        "who won the football match",
    ]
    for question in questions:
        server.send_text(chat, server.user(62), question)
    await bot.replies(chat["id"], len(questions))
    await bot.settle()
    listing = await _admin_says(bot, "/unanswered")
    assert listing.splitlines() == [
        "Most frequent unanswered questions:",
        "1. 3 × “recipe for borscht” [en] (2 similar wordings)",
        "2. 1 × “who won the football match” [en]",
    ]


async def test_test_command_shows_top_matches_with_scores(
    bot: RunningBot, shipped_snapshot: Snapshot, vague_question: str
):
    listing = await _admin_says(bot, f"/test {vague_question}")
    lines = listing.splitlines()
    ranked = shipped_snapshot.matcher.rank(vague_question, limit=5)
    assert lines[0] == f"Question: “{vague_question}”"
    assert lines[1].startswith("Decision: suggest (score ")
    assert lines[2] == "Top matches:"
    assert (
        lines[3]
        == f"1. {ranked[0].score:5.1f}  {ranked[0].entry_id} — "
        + (shipped_snapshot.knowledge.entry(ranked[0].entry_id).questions[0])
    )
    assert len(lines) == 3 + len(ranked)


@pytest.mark.parametrize("command", ADMIN_COMMANDS)
async def test_admin_command_from_non_admin_is_refused_and_changes_nothing(
    launch_bot: LaunchBot, knowledge_copy: Path, command: str
):
    bot = await launch_bot(knowledge_dir=knowledge_copy)
    version = bot.holder.current.version
    _edit_yaml(knowledge_copy / "qa.yaml", lambda qa: qa["entries"][0].update(answer="Changed."))
    server = bot.server
    chat = server.private_chat(63)
    server.send_text(chat, server.user(63), command)
    await bot.replies(chat["id"])
    assert server.bot_texts(chat["id"]) == [REFUSAL]
    assert bot.holder.current.version == version


CHAT_TYPES = ["private", "group", "supergroup"]
# Telegram's sender of messages that anonymous group admins send on behalf of the group.
ANONYMOUS_ADMIN_BOT_ID = 1087968824


def _chat(server, chat_type: str, user_id: int, username: str | None = None):
    if chat_type == "private":
        return server.private_chat(user_id, "Boss", username)
    return server.group_chat(-1000 - user_id, "Readers", chat_type)


async def _assert_refused(bot: RunningBot, chat, unchanged: Snapshot) -> None:
    [call] = await bot.replies(chat["id"])
    await bot.settle()
    assert bot.server.bot_texts(chat["id"]) == [REFUSAL]
    assert bot.holder.current is unchanged  # not even reloaded to the same version
    assert ("reply_parameters" in call.params) == (chat["type"] != "private")


@pytest.mark.parametrize("chat_type", CHAT_TYPES)
async def test_non_admin_with_an_admins_username_is_refused(bot: RunningBot, chat_type: str):
    server = bot.server
    before = bot.holder.current
    impostor = server.user(64, "Boss", ADMIN_USERNAME)
    chat = _chat(server, chat_type, 64, ADMIN_USERNAME)
    server.send_text(chat, impostor, "/reload")
    await _assert_refused(bot, chat, before)


@pytest.mark.parametrize("chat_type", CHAT_TYPES)
async def test_forwarded_admin_command_from_non_admin_is_refused(bot: RunningBot, chat_type: str):
    server = bot.server
    before = bot.holder.current
    admin = server.user(ADMIN_ID, "Boss", ADMIN_USERNAME)
    chat = _chat(server, chat_type, 65)
    server.forward_text(chat, server.user(65), "/reload", original_sender=admin)
    await _assert_refused(bot, chat, before)


@pytest.mark.parametrize("chat_type", ["group", "supergroup"])
@pytest.mark.parametrize("command", ADMIN_COMMANDS)
async def test_admin_commands_in_groups_are_refused_for_members(
    bot: RunningBot, chat_type: str, command: str
):
    server = bot.server
    before = bot.holder.current
    group = _chat(server, chat_type, 66)
    name, _, argument = command.partition(" ")
    server.send_text(group, server.user(66), f"{name}@TalksTestBot {argument}".strip())
    await _assert_refused(bot, group, before)


async def test_admin_command_sent_anonymously_on_behalf_of_a_group_is_refused(bot: RunningBot):
    # Anonymous admins all appear as one Telegram bot account: nobody can be told apart.
    server = bot.server
    before = bot.holder.current
    group = _chat(server, "supergroup", 67)
    anonymous = {"id": ANONYMOUS_ADMIN_BOT_ID, "is_bot": True, "first_name": "Group"}
    server.enqueue_update(
        "message",
        {"message_id": 1, "date": 0, "chat": group, "from": anonymous, "sender_chat": group,
         "text": "/reload", "entities": [{"type": "bot_command", "offset": 0, "length": 7}]},
    )  # fmt: skip
    await _assert_refused(bot, group, before)


@pytest.mark.parametrize("chat_type", CHAT_TYPES)
async def test_admin_commands_work_for_the_admin_in_every_chat_type(
    bot: RunningBot, chat_type: str
):
    server = bot.server
    chat = _chat(server, chat_type, ADMIN_ID)
    server.send_text(chat, server.user(ADMIN_ID, "Boss", ADMIN_USERNAME), "/stats")
    await bot.replies(chat["id"])
    assert server.bot_texts(chat["id"])[0].startswith("Uptime: ")


async def test_command_menus_are_set_for_private_chats_groups_and_admins(bot: RunningBot):
    server = bot.server
    private = [c["command"] for c in server.my_commands({"type": "all_private_chats"})]
    groups = [c["command"] for c in server.my_commands({"type": "all_group_chats"})]
    admin = [c["command"] for c in server.my_commands({"type": "chat", "chat_id": ADMIN_ID})]
    assert private == ["start", "ask", "topics", "source", "help"]
    assert groups == ["ask", "topics", "source", "help"]
    assert admin == [*private, "reload", "stats", "unanswered", "test"]
    assert server.my_commands() == []  # nothing admin-only leaks into the default menu
