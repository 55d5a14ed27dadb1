"""Languages: each reply speaks the question's language, or the client's when the question
does not tell; the article's quotes stay verbatim English."""

from __future__ import annotations

import logging
import re

import pytest

from bot.core.service import Snapshot
from bot.core.wording import Wording
from tests.conftest import ADMIN_ID, ADMIN_USERNAME, LaunchBot, RunningBot
from tests.fakes.telegram_server import FakeTelegram

BOT = "@TalksTestBot"
UKRAINIAN_QUESTION = "Коли Трамп говорив з Путіним?"  # -> trump-putin-call
RUSSIAN_QUESTION = "Что Путин потребовал от Украины?"  # -> putin-response
# Words that touch several entries, in each language; the matcher decides which of them are
# "did you mean" cases, so the tests take the first one that currently is.
_VAGUE_CANDIDATES = {
    "uk": ("переговори", "Трамп", "перемовини", "санкції", "Росія", "Путін", "розмова"),
    "ru": ("Трамп", "переговоры", "санкции", "Россия", "Путин", "разговор"),
}


def _keyboard(call) -> list[tuple[str, str]]:
    markup = call.params.get("reply_markup") or {"inline_keyboard": []}
    return [(b["text"], b["callback_data"]) for row in markup["inline_keyboard"] for b in row]


def _first_quote(snapshot: Snapshot, entry_id: str) -> str:
    entry = snapshot.knowledge.entry(entry_id)
    return snapshot.knowledge.facts[entry.facts[0]].quote


@pytest.fixture(scope="module")
def uk(shipped_snapshot: Snapshot) -> Wording:
    return shipped_snapshot.knowledge.wording("uk")


@pytest.fixture(scope="module")
def ru(shipped_snapshot: Snapshot) -> Wording:
    return shipped_snapshot.knowledge.wording("ru")


def _vague_question_in(snapshot: Snapshot, language: str) -> str:
    for question in _VAGUE_CANDIDATES[language]:
        answer = snapshot.answer(question, fallback_language=language)
        if answer.status == "suggest" and answer.suggestions and answer.language == language:
            return question
    raise AssertionError(f"none of {_VAGUE_CANDIDATES[language]} gets suggestions any more")


# -- questions ---------------------------------------------------------------------------


async def test_ukrainian_question_is_answered_in_ukrainian_with_the_english_quote(
    bot: RunningBot, shipped_snapshot: Snapshot, uk: Wording
):
    server = bot.server
    chat = server.private_chat(301)
    server.send_text(chat, server.user(301, language_code="uk"), UKRAINIAN_QUESTION)
    [call] = await bot.replies(chat["id"])
    html = call.params["text"]
    assert html.startswith(uk.answers["trump-putin-call"])
    assert f"<blockquote>{_first_quote(shipped_snapshot, 'trump-putin-call')}" in html
    [seen] = server.bot_texts(chat["id"])
    assert f"{uk.messages['source_label']}: Babel" in seen and "Source:" not in seen


async def test_russian_question_is_answered_in_russian(
    bot: RunningBot, shipped_snapshot: Snapshot, ru: Wording
):
    server = bot.server
    chat = server.private_chat(302)
    server.send_text(chat, server.user(302, language_code="ru"), RUSSIAN_QUESTION)
    [call] = await bot.replies(chat["id"])
    html = call.params["text"]
    assert html.startswith(ru.answers["putin-response"])
    assert f"<blockquote>{_first_quote(shipped_snapshot, 'putin-response')}" in html
    assert f"{ru.messages['source_label']}: Babel" in server.bot_texts(chat["id"])[0]


async def test_russian_question_from_a_ukrainian_client_is_answered_in_russian(
    bot: RunningBot, ru: Wording
):
    server = bot.server
    chat = server.private_chat(303)
    server.send_text(chat, server.user(303, language_code="uk"), RUSSIAN_QUESTION)
    await bot.replies(chat["id"])
    assert server.bot_texts(chat["id"])[0].startswith(ru.answers["putin-response"])


async def test_english_question_from_a_ukrainian_client_is_answered_in_english(bot: RunningBot):
    server = bot.server
    chat = server.private_chat(304)
    user = server.user(304, language_code="uk")
    server.send_text(chat, user, "What did Rutte say sustainable peace means?")
    await bot.replies(chat["id"])
    [seen] = server.bot_texts(chat["id"])
    assert seen.startswith("For NATO, permanent peace will have come to Ukraine")
    assert "Source: Babel" in seen


@pytest.mark.parametrize("code", ["uk", "uk-UA"])
async def test_bare_name_from_a_ukrainian_client_is_answered_in_ukrainian(
    bot: RunningBot, uk: Wording, code: str
):
    server = bot.server
    chat = server.private_chat(305)
    server.send_text(chat, server.user(305, language_code=code), "Jeddah?")
    await bot.replies(chat["id"])
    assert server.bot_texts(chat["id"])[0].startswith(uk.answers["jeddah-talks"])


@pytest.mark.parametrize("code", ["en-US", "de", "", None])
async def test_bare_name_from_a_client_in_another_language_is_answered_in_english(
    bot: RunningBot, shipped_snapshot: Snapshot, code: str | None
):
    server = bot.server
    chat = server.private_chat(306)
    server.send_text(chat, server.user(306, language_code=code), "Jeddah?")
    await bot.replies(chat["id"])
    english = shipped_snapshot.knowledge.wording("en").answers["jeddah-talks"]
    assert server.bot_texts(chat["id"])[0].startswith(english)


async def test_declined_question_is_declined_in_ukrainian_listing_ukrainian_topics(
    bot: RunningBot, uk: Wording
):
    server = bot.server
    chat = server.private_chat(307)
    server.send_text(chat, server.user(307, language_code="uk"), "рецепт борщу")
    await bot.replies(chat["id"])
    [text] = server.bot_texts(chat["id"])
    assert text.startswith(uk.messages["unknown"])
    assert all(f"• {title}" in text for title in uk.topics.values())
    await bot.settle()
    [group] = bot.store.unanswered()
    assert (group.question, group.languages) == ("рецепт борщу", ("uk",))


async def test_group_mention_in_ukrainian_gets_a_threaded_ukrainian_answer(
    bot: RunningBot, uk: Wording
):
    server = bot.server
    group = server.group_chat(-301, "Читачі")
    asked = server.send_text(group, server.user(308, language_code="uk"), f"{BOT} Jeddah?")
    [call] = await bot.replies(group["id"])
    assert call.params["reply_parameters"]["message_id"] == asked["message"]["message_id"]
    assert server.bot_texts(group["id"])[0].startswith(uk.answers["jeddah-talks"])


async def test_ask_command_from_a_russian_client_answers_in_russian(bot: RunningBot, ru: Wording):
    server = bot.server
    group = server.group_chat(-302, "Читатели")
    server.send_text(group, server.user(309, language_code="ru"), "/ask Jeddah?")
    await bot.replies(group["id"])
    assert server.bot_texts(group["id"])[0].startswith(ru.answers["jeddah-talks"])


async def test_question_edited_into_ukrainian_is_re_answered_in_ukrainian(
    bot: RunningBot, uk: Wording
):
    server = bot.server
    chat = server.private_chat(310)
    question = server.send_text(chat, server.user(310), "black sea")["message"]
    await bot.replies(chat["id"])
    server.edit_text(question, UKRAINIAN_QUESTION)
    await server.wait_for_calls("editMessageText", predicate=lambda c: c.ok)
    assert server.bot_texts(chat["id"])[0].startswith(uk.answers["trump-putin-call"])


# -- buttons -----------------------------------------------------------------------------


async def test_tapped_suggestion_is_answered_in_the_language_of_the_question(
    bot: RunningBot, shipped_snapshot: Snapshot, uk: Wording
):
    question = _vague_question_in(shipped_snapshot, "uk")
    server = bot.server
    user, chat = server.user(311, language_code="uk"), server.private_chat(311)
    server.send_text(chat, user, question)
    [call] = await bot.replies(chat["id"])
    assert server.bot_texts(chat["id"])[0].startswith(uk.messages["suggest"])
    buttons = _keyboard(call)
    assert buttons[-1] == (uk.messages["none_of_these"], "n:uk")
    assert all(len(data.encode()) <= 64 for _, data in buttons)
    label, data = buttons[0]
    entry_id = data.removeprefix("a:").removesuffix(":uk")
    assert label == uk.labels[entry_id]
    server.press_button(server.bot_messages(chat["id"])[0], user, data)
    await server.wait_for_calls("editMessageText", predicate=lambda c: c.ok)
    [message] = server.bot_messages(chat["id"])
    assert message["text"].startswith(uk.answers[entry_id])


async def test_tapped_suggestion_to_an_english_question_stays_english_for_a_ukrainian_client(
    bot: RunningBot, shipped_snapshot: Snapshot
):
    server = bot.server
    user, chat = server.user(312, language_code="uk"), server.private_chat(312)
    server.send_text(chat, user, "talks")
    [call] = await bot.replies(chat["id"])
    assert server.bot_texts(chat["id"])[0].startswith("I'm not sure what you mean")
    _, data = _keyboard(call)[0]
    server.press_button(server.bot_messages(chat["id"])[0], user, data)
    await server.wait_for_calls("editMessageText", predicate=lambda c: c.ok)
    english = shipped_snapshot.knowledge.wording("en").answers[data.removeprefix("a:")]
    assert server.bot_messages(chat["id"])[0]["text"].startswith(english)


async def test_none_of_these_thanks_in_the_question_language_and_records_it(
    bot: RunningBot, shipped_snapshot: Snapshot, ru: Wording
):
    question = _vague_question_in(shipped_snapshot, "ru")
    server = bot.server
    chat = server.private_chat(313)
    server.send_text(chat, server.user(313, language_code="ru"), question)
    await bot.replies(chat["id"])
    # Whoever taps, the thanks are in the language of the question.
    server.press_button(server.bot_messages(chat["id"])[0], server.user(313), "n:ru")
    await server.wait_for_calls("editMessageText", predicate=lambda c: c.ok)
    await bot.settle()
    [message] = server.bot_messages(chat["id"])
    assert message["text"] == ru.messages["none_of_these_recorded"]
    [group] = bot.store.unanswered()
    assert (group.question, group.none_of_these, group.languages) == (question, 1, ("ru",))


async def test_related_buttons_answer_in_the_language_of_the_answer(bot: RunningBot, uk: Wording):
    server = bot.server
    user, chat = server.user(314, language_code="uk"), server.private_chat(314)
    server.send_text(chat, user, UKRAINIAN_QUESTION)
    [call] = await bot.replies(chat["id"])
    buttons = _keyboard(call)
    assert buttons and all(data.startswith("t:") and data.endswith(":uk") for _, data in buttons)
    label, data = buttons[0]
    entry_id = data.removeprefix("t:").removesuffix(":uk")
    assert label == uk.labels[entry_id]
    server.press_button(
        server.bot_messages(chat["id"])[0], server.user(314, language_code="en"), data
    )
    await bot.replies(chat["id"], 2)
    assert server.bot_texts(chat["id"])[1].startswith(uk.answers[entry_id])


# -- commands ----------------------------------------------------------------------------


async def test_start_greets_in_ukrainian_with_ukrainian_example_buttons(
    bot: RunningBot, shipped_snapshot: Snapshot, uk: Wording
):
    server = bot.server
    user, chat = server.user(315, language_code="uk"), server.private_chat(315)
    server.send_text(chat, user, "/start")
    [call] = await bot.replies(chat["id"])
    assert server.bot_texts(chat["id"])[0] == uk.messages["greeting"]
    buttons = _keyboard(call)
    leads = [t.lead for t in shipped_snapshot.knowledge.topics][:3]
    assert buttons == [(uk.labels[lead], f"t:{lead}:uk") for lead in leads]
    server.press_button(server.bot_messages(chat["id"])[0], user, buttons[1][1])
    await bot.replies(chat["id"], 2)
    assert server.bot_texts(chat["id"])[1].startswith(uk.answers[leads[1]])


async def test_help_topics_and_source_follow_the_client_language(
    bot: RunningBot, shipped_snapshot: Snapshot, ru: Wording
):
    server = bot.server
    user, chat = server.user(316, language_code="ru"), server.private_chat(316)
    for command in ("/help", "/topics", "/source"):
        server.send_text(chat, user, command)
    calls = await bot.replies(chat["id"], 3)
    help_text, topics_text, source_text = server.bot_texts(chat["id"])
    assert help_text == ru.messages["help"]
    assert topics_text == ru.messages["topics_intro"]
    topics = shipped_snapshot.knowledge.topics
    assert _keyboard(calls[1]) == [(ru.topics[t.id], f"t:{t.lead}:ru") for t in topics]
    assert source_text.startswith(f"{ru.messages['source_label']}: Babel, “NATO Secretary")
    assert ru.messages["source_by"] in source_text


async def test_command_menus_are_set_in_ukrainian_and_russian_for_every_scope(
    bot: RunningBot, uk: Wording, ru: Wording
):
    server = bot.server
    scopes = (
        ({"type": "all_private_chats"}, ["start", "ask", "topics", "source", "help"]),
        ({"type": "all_group_chats"}, ["ask", "topics", "source", "help"]),
        (
            {"type": "chat", "chat_id": ADMIN_ID},
            ["start", "ask", "topics", "source", "help", "reload", "stats", "unanswered", "test"],
        ),
    )
    for wording in (uk, ru):
        for scope, names in scopes:
            menu = server.my_commands(scope, wording.language)
            assert [(c["command"], c["description"]) for c in menu] == [
                (name, wording.messages[f"cmd_{name}"]) for name in names
            ]
    english = server.my_commands({"type": "all_private_chats"})
    assert english[0]["description"] == "What this bot covers, with example questions"
    calls = server.calls_to("setMyCommands")
    assert all(call.ok for call in calls)
    assert {call.params.get("language_code") for call in calls} == {None, "uk", "ru"}


async def test_an_admin_whose_menu_is_refused_costs_one_call_and_one_warning(
    launch_bot: LaunchBot, telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.WARNING, logger="bot")
    telegram.inject_fault(
        "setMyCommands",
        status=400,
        description="Bad Request: chat not found",
        times=None,
        when=lambda params: (params.get("scope") or {}).get("chat_id") == 999,
    )
    await launch_bot(admin_ids=frozenset({999, ADMIN_ID}))
    refused = [c for c in telegram.calls_to("setMyCommands") if not c.ok]
    assert len(refused) == 1
    [warning] = [r for r in caplog.records if "admin menu" in r.getMessage()]
    assert "999" in warning.getMessage()
    assert telegram.my_commands({"type": "chat", "chat_id": ADMIN_ID}, "ru")  # the others go on


# -- inline mode -------------------------------------------------------------------------


async def _inline_results(bot: RunningBot, user: dict, query: str) -> list[dict]:
    update = bot.server.inline_query(user, query)
    query_id = update["inline_query"]["id"]
    await bot.server.wait_for_calls(
        "answerInlineQuery", predicate=lambda c: c.params["inline_query_id"] == query_id
    )
    return bot.server.inline_answers[query_id]["results"]


async def test_inline_query_in_russian_is_answered_in_russian(bot: RunningBot, ru: Wording):
    results = await _inline_results(bot, bot.server.user(317, language_code="en"), RUSSIAN_QUESTION)
    first = results[0]
    assert first["title"] == ru.labels["putin-response"]
    text = first["input_message_content"]["message_text"]
    assert text.startswith(ru.answers["putin-response"])
    assert text.count("<blockquote>") == 1
    assert f"{ru.messages['source_label']}: Babel" in text


async def test_empty_inline_query_offers_the_topics_in_the_client_language(
    bot: RunningBot, shipped_snapshot: Snapshot, uk: Wording
):
    results = await _inline_results(bot, bot.server.user(318, language_code="uk"), "")
    assert [r["title"] for r in results] == [
        uk.topics[t.id] for t in shipped_snapshot.knowledge.topics
    ]


async def test_off_topic_inline_query_is_declined_in_its_language(bot: RunningBot, uk: Wording):
    [result] = await _inline_results(bot, bot.server.user(319, language_code="uk"), "рецепт борщу")
    assert result["title"] == uk.messages["inline_unknown_title"]
    assert result["input_message_content"]["message_text"].startswith(uk.messages["unknown"][:30])


# -- admins ------------------------------------------------------------------------------


async def test_unanswered_and_stats_show_the_language_of_the_questions(bot: RunningBot):
    server = bot.server
    chat = server.private_chat(320)
    asked = [("рецепт борщу", "uk"), ("рецепт борща", "ru"), ("recipe for borscht", None)]
    for question, code in asked:
        server.send_text(chat, server.user(320, language_code=code), question)
    server.send_text(chat, server.user(320, language_code="uk"), "Jeddah?")
    await bot.replies(chat["id"], 4)
    await bot.settle()
    admin_chat = server.private_chat(ADMIN_ID, "Boss", ADMIN_USERNAME)
    admin = server.user(ADMIN_ID, "Boss", ADMIN_USERNAME)
    server.send_text(admin_chat, admin, "/unanswered")
    server.send_text(admin_chat, admin, "/stats")
    await bot.replies(ADMIN_ID, 2)
    listing, stats = server.bot_texts(ADMIN_ID)
    assert "1 × “recipe for borscht” [en]" in listing
    # One group of the two wordings, under either (they were asked in the same instant).
    assert re.search(r"2 × “рецепт борщ[уа]” \[ru, uk\] \(2 similar wordings\)", listing)
    assert "Languages: uk 2, en 1, ru 1" in stats
