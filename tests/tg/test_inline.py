"""Inline mode: "@BotName question" in any chat offers answers to share."""

from __future__ import annotations

from bot.core.service import Snapshot
from tests.conftest import RunningBot


async def _inline_results(bot: RunningBot, query: str) -> list[dict]:
    update = bot.server.inline_query(bot.server.user(51), query)
    query_id = update["inline_query"]["id"]
    await bot.server.wait_for_calls(
        "answerInlineQuery", predicate=lambda c: c.params["inline_query_id"] == query_id
    )
    return bot.server.inline_answers[query_id]["results"]


async def test_inline_question_offers_up_to_five_answers_with_a_quote(
    bot: RunningBot, shipped_snapshot: Snapshot, vague_question: str
):
    results = await _inline_results(bot, vague_question)
    assert 2 <= len(results) <= 5
    assert len({r["id"] for r in results}) == len(results)
    titles = [r["title"] for r in results]
    suggestions = shipped_snapshot.answer(vague_question).suggestions
    assert titles[: len(suggestions)] == [s.question for s in suggestions]
    for result in results:
        content = result["input_message_content"]
        assert result["type"] == "article"
        assert content["parse_mode"] == "HTML"
        assert content["message_text"].count("<blockquote>") == 1  # answer plus one quote
        assert len(content["message_text"]) <= 4096
        assert content["link_preview_options"] == {"is_disabled": True}


async def test_inline_clear_question_offers_its_answer_first(bot: RunningBot):
    results = await _inline_results(bot, "What did Rutte say sustainable peace means?")
    first = results[0]["input_message_content"]["message_text"]
    assert first.startswith("For NATO, permanent peace will have come to Ukraine")


async def test_empty_inline_query_offers_the_main_topics(
    bot: RunningBot, shipped_snapshot: Snapshot
):
    results = await _inline_results(bot, "")
    assert [r["title"] for r in results] == [t.title for t in shipped_snapshot.knowledge.topics]


async def test_off_topic_inline_query_offers_a_polite_decline(
    bot: RunningBot, shipped_snapshot: Snapshot
):
    [result] = await _inline_results(bot, "recipe for borscht")
    text = result["input_message_content"]["message_text"]
    assert text.startswith(shipped_snapshot.knowledge.messages["unknown"][:30])
