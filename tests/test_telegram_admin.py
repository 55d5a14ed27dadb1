"""Admin commands: only numeric admin ids may use them; /reload never half-applies."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bot.service import Snapshot
from tests.conftest import ADMIN_ID, ADMIN_USERNAME, LaunchBot, RunningBot

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
    await bot.replies(chat["id"], count)
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
        black_sea = next(e for e in qa["entries"] if e["id"] == "black-sea")
        black_sea["answer"] = "Reloaded answer about the Black Sea."

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
        "1. 3 × “recipe for borscht” (2 similar wordings)",
        "2. 1 × “who won the football match”",
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


async def test_non_admin_with_an_admins_username_is_refused(bot: RunningBot):
    server = bot.server
    impostor = server.user(64, "Boss", ADMIN_USERNAME)
    chat = server.private_chat(64, "Boss", ADMIN_USERNAME)
    server.send_text(chat, impostor, "/stats")
    await bot.replies(chat["id"])
    assert server.bot_texts(chat["id"]) == [REFUSAL]


async def test_forwarded_admin_command_from_non_admin_is_refused(
    launch_bot: LaunchBot, knowledge_copy: Path
):
    bot = await launch_bot(knowledge_dir=knowledge_copy)
    version = bot.holder.current.version
    _edit_yaml(knowledge_copy / "qa.yaml", lambda qa: qa["entries"][0].update(answer="Changed."))
    server = bot.server
    admin = server.user(ADMIN_ID, "Boss", ADMIN_USERNAME)
    chat = server.private_chat(65)
    server.forward_text(chat, server.user(65), "/reload", original_sender=admin)
    await bot.replies(chat["id"])
    assert server.bot_texts(chat["id"]) == [REFUSAL]
    assert bot.holder.current.version == version


async def test_admin_commands_in_a_group_are_refused_for_members(bot: RunningBot):
    server = bot.server
    group = server.group_chat(-66, "Readers")
    server.send_text(group, server.user(66), "/stats@TalksTestBot")
    [call] = await bot.replies(group["id"])
    assert server.bot_texts(group["id"]) == [REFUSAL]
    assert "reply_parameters" in call.params


async def test_command_menus_are_set_for_private_chats_groups_and_admins(bot: RunningBot):
    server = bot.server
    private = [c["command"] for c in server.my_commands({"type": "all_private_chats"})]
    groups = [c["command"] for c in server.my_commands({"type": "all_group_chats"})]
    admin = [c["command"] for c in server.my_commands({"type": "chat", "chat_id": ADMIN_ID})]
    assert private == ["start", "ask", "topics", "source", "help"]
    assert groups == ["ask", "topics", "source", "help"]
    assert admin == [*private, "reload", "stats", "unanswered", "test"]
    assert server.my_commands() == []  # nothing admin-only leaks into the default menu
