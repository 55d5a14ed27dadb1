"""Private chats: answers with quotes, commands, "did you mean" buttons, edits and fallbacks."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.core.service import Snapshot
from bot.tg.context import bot_context_of
from tests.conftest import LaunchBot, RunningBot, set_answer


def _keyboard(call) -> list[tuple[str, str]]:
    markup = call.params.get("reply_markup") or {"inline_keyboard": []}
    return [(b["text"], b["callback_data"]) for row in markup["inline_keyboard"] for b in row]


async def test_private_question_gets_html_answer_with_quotes_as_blockquotes(bot: RunningBot):
    server = bot.server
    chat = server.private_chat(7, "Ann")
    server.send_text(chat, server.user(7, "Ann"), "What did Rutte say sustainable peace means?")
    [call] = await bot.replies(chat["id"])
    assert call.params["parse_mode"] == "HTML"
    assert (
        "<blockquote>“The shortest answer to your question is a peace in which Putin"
        in (call.params["text"])
    )
    assert call.params["link_preview_options"] == {"is_disabled": True}
    assert "reply_parameters" not in call.params  # private answers are not threaded
    [seen] = server.bot_texts(chat["id"])
    assert "Source: Babel" in seen and "<" not in seen


async def test_start_greets_and_offers_example_questions_as_buttons(
    bot: RunningBot, shipped_snapshot: Snapshot
):
    server = bot.server
    user, chat = server.user(8), server.private_chat(8)
    server.send_text(chat, user, "/start")
    [call] = await bot.replies(chat["id"])
    assert shipped_snapshot.knowledge.messages["greeting"][:40] in server.bot_texts(chat["id"])[0]
    buttons = _keyboard(call)
    assert [label for label, _ in buttons] == [
        "What does sustainable peace mean for Ukraine?",
        "What is the 30-day ceasefire?",
        "What happened in Jeddah?",
    ]
    server.press_button(server.bot_messages(chat["id"])[0], user, buttons[1][1])
    await bot.replies(chat["id"], 2)
    assert "30-day ceasefire" in server.bot_texts(chat["id"])[1]
    assert server.calls_to("answerCallbackQuery")[0].ok


async def test_help_explains_how_to_ask_in_private_chats_and_groups(bot: RunningBot):
    server = bot.server
    chat = server.private_chat(9)
    server.send_text(chat, server.user(9), "/help")
    await bot.replies(chat["id"])
    [text] = server.bot_texts(chat["id"])
    assert "mention me" in text and "/topics" in text


async def test_unknown_command_in_private_chat_gets_the_help(bot: RunningBot):
    server = bot.server
    chat = server.private_chat(10)
    server.send_text(chat, server.user(10), "/frobnicate")
    await bot.replies(chat["id"])
    assert "/topics" in server.bot_texts(chat["id"])[0]


async def test_topics_lists_topics_as_buttons_and_tapping_one_answers_it(
    bot: RunningBot, shipped_snapshot: Snapshot
):
    server = bot.server
    user, chat = server.user(11), server.private_chat(11)
    server.send_text(chat, user, "/topics")
    [call] = await bot.replies(chat["id"])
    titles = [label for label, _ in _keyboard(call)]
    assert titles == [t.title for t in shipped_snapshot.knowledge.topics]
    black_sea = dict(_keyboard(call))["The Black Sea deal"]
    server.press_button(server.bot_messages(chat["id"])[0], user, black_sea)
    calls = await bot.replies(chat["id"], 2)
    assert "Black Sea" in calls[1].params["text"] and "<blockquote>" in calls[1].params["text"]


async def test_source_cites_the_article(bot: RunningBot):
    server = bot.server
    chat = server.private_chat(12)
    server.send_text(chat, server.user(12), "/source")
    await bot.replies(chat["id"])
    [text] = server.bot_texts(chat["id"])
    assert text.startswith("Source: Babel, “NATO Secretary General explained")
    assert "Oksana Kovalenko" in text


async def test_ask_command_answers_its_argument_and_prompts_when_empty(
    bot: RunningBot, shipped_snapshot: Snapshot
):
    server = bot.server
    user, chat = server.user(13), server.private_chat(13)
    server.send_text(chat, user, "/ask what about the black sea?")
    await bot.replies(chat["id"])
    server.send_text(chat, user, "/ask")
    await bot.replies(chat["id"], 2)
    answer, prompt = server.bot_texts(chat["id"])
    assert "Black Sea" in answer
    assert prompt == shipped_snapshot.knowledge.messages["empty"]


async def test_unknown_question_is_declined_listing_topics_and_recorded(
    bot: RunningBot, shipped_snapshot: Snapshot
):
    server = bot.server
    chat = server.private_chat(14)
    server.send_text(chat, server.user(14), "recipe for borscht")
    await bot.replies(chat["id"])
    [text] = server.bot_texts(chat["id"])
    messages = shipped_snapshot.knowledge.messages
    assert text.startswith(messages["unknown"])
    assert all(topic.title in text for topic in shipped_snapshot.knowledge.topics)
    await bot.settle()
    assert bot.store.counts()["unknown"] == 1
    [group] = bot.store.unanswered()
    assert (group.question, group.count, group.unknown) == ("recipe for borscht", 1, 1)


async def test_vague_question_offers_up_to_three_suggestions_and_none_of_these(
    bot: RunningBot, shipped_snapshot: Snapshot, vague_question: str
):
    server = bot.server
    chat = server.private_chat(15)
    server.send_text(chat, server.user(15), vague_question)
    [call] = await bot.replies(chat["id"])
    buttons = _keyboard(call)
    suggestions = shipped_snapshot.answer(vague_question).suggestions
    assert [label for label, _ in buttons[:-1]] == [s.question for s in suggestions]
    assert 3 <= len(buttons) <= 4
    assert buttons[-1] == (shipped_snapshot.knowledge.messages["none_of_these"], "n")
    assert all(len(data.encode()) <= 64 for _, data in buttons)
    assert server.bot_texts(chat["id"])[0].startswith("I'm not sure what you mean")


async def test_tapping_a_suggestion_answers_the_callback_and_edits_in_the_answer(
    bot: RunningBot, shipped_snapshot: Snapshot, vague_question: str
):
    server = bot.server
    user, chat = server.user(16), server.private_chat(16)
    server.send_text(chat, user, vague_question)
    [call] = await bot.replies(chat["id"])
    _, data = _keyboard(call)[1]
    expected = shipped_snapshot.answer_entry(data.removeprefix("a:"))
    assert expected is not None
    server.press_button(server.bot_messages(chat["id"])[0], user, data)
    [edit] = await server.wait_for_calls("editMessageText", predicate=lambda c: c.ok)
    assert "<blockquote>" in edit.params["text"]
    [answered] = server.callback_answers.values()
    assert "text" not in answered  # the spinner just stops
    [message] = server.bot_messages(chat["id"])  # edited in place, nothing new sent
    assert message["text"].startswith(expected.text) and "not sure" not in message["text"]
    assert all(button[1] != "n" for button in _keyboard(edit))


async def test_none_of_these_records_the_question_as_unanswered(
    bot: RunningBot, shipped_snapshot: Snapshot, vague_question: str
):
    server = bot.server
    user, chat = server.user(17), server.private_chat(17)
    server.send_text(chat, user, vague_question)
    await bot.replies(chat["id"])
    server.press_button(server.bot_messages(chat["id"])[0], user, "n")
    await server.wait_for_calls("editMessageText", predicate=lambda c: c.ok)
    await bot.settle()
    [message] = server.bot_messages(chat["id"])
    assert message["text"] == shipped_snapshot.knowledge.messages["none_of_these_recorded"]
    assert "reply_markup" not in message
    [group] = bot.store.unanswered()
    assert (group.question, group.none_of_these) == (vague_question, 1)
    assert bot.store.counts()["none_of_these"] == 1


async def test_editing_an_answered_question_edits_the_answer(bot: RunningBot):
    server = bot.server
    user, chat = server.user(18), server.private_chat(18)
    question = server.send_text(chat, user, "black sea")["message"]
    await bot.replies(chat["id"])
    server.edit_text(question, "the energy ceasefire")
    await server.wait_for_calls("editMessageText", predicate=lambda c: c.ok)
    [answer] = server.bot_texts(chat["id"])
    assert "energy" in answer and "Black Sea" not in answer.split("\n")[0]


async def test_html_refused_by_telegram_is_resent_as_plain_text(bot: RunningBot):
    server = bot.server
    chat = server.private_chat(19)
    server.inject_fault(
        "sendMessage",
        status=400,
        description="Bad Request: can't parse entities: Unsupported start tag at byte offset 0",
    )
    server.send_text(chat, server.user(19), "black sea")
    [call] = await bot.replies(chat["id"])
    assert "parse_mode" not in call.params
    assert "<blockquote>" not in call.params["text"]
    assert "The US subsequently agreed with Ukraine and Russia" in call.params["text"]


async def test_long_answer_is_split_into_messages_of_at_most_4096_characters(
    launch_bot: LaunchBot, knowledge_copy: Path
):
    set_answer(
        knowledge_copy, "black-sea", " ".join(["The Black Sea ceasefire & <its> conditions."] * 200)
    )
    bot = await launch_bot(knowledge_dir=knowledge_copy)
    server = bot.server
    chat = server.private_chat(20)
    server.send_text(chat, server.user(20), "black sea")
    await bot.replies(chat["id"], 2)
    await bot.settle()
    calls = bot.sent_to(chat["id"])
    assert len(calls) >= 2 and all(call.ok for call in calls)
    assert all(len(call.params["text"]) <= 4096 for call in calls)
    assert "&lt;its&gt;" in calls[0].params["text"]  # user text stays escaped across the split


async def test_quick_answer_shows_no_typing_indicator(bot: RunningBot):
    server = bot.server
    chat = server.private_chat(21)
    server.send_text(chat, server.user(21), "black sea")
    await bot.replies(chat["id"])
    await asyncio.sleep(0.05)
    assert server.calls_to("sendChatAction") == []


async def test_slow_answer_shows_typing_while_the_user_waits(launch_bot: LaunchBot):
    bot = await launch_bot(typing_delay=0.1)
    server = bot.server
    chat = server.private_chat(22)
    server.inject_fault("sendMessage", delay=0.5)  # Telegram is slow to take the answer
    server.send_text(chat, server.user(22), "black sea")
    await bot.replies(chat["id"])
    [typing] = server.calls_to("sendChatAction")
    assert typing.params == {"chat_id": chat["id"], "action": "typing"}


async def test_answers_in_a_chat_keep_the_order_of_its_questions(bot: RunningBot):
    # Updates are handled concurrently; a slow first answer must not be overtaken by the
    # answers to the questions sent after it in the same chat.
    server = bot.server
    chat, user = server.private_chat(11), server.user(11)
    server.inject_fault("sendMessage", delay=0.5)
    questions = [
        "Who wrote the article?",
        "What happened in Jeddah?",
        "What is the Black Sea deal?",
    ]
    for question in questions:
        server.send_text(chat, user, question)
    await bot.replies(chat["id"], 3)
    first, second, third = server.bot_texts(chat["id"])
    assert "Kovalenko" in first
    assert "Jeddah" in second
    assert "Black Sea" in third
    assert len(bot_context_of(bot.app.bot_data).chat_locks) == 0  # nothing kept per chat
