"""What the bot shows: callback data within 64 bytes, messages within 4096 characters."""

from __future__ import annotations

import html

import pytest

from bot.core.service import Snapshot
from bot.tg.language import client_language
from bot.tg.views import (
    MAX_CALLBACK_DATA_BYTES,
    Callback,
    Reply,
    answer_reply,
    callback_data,
    html_to_plain,
    parse_callback,
    split_text,
    topics_keyboard,
)


def test_every_entry_fits_in_callback_data_in_every_language(shipped_snapshot: Snapshot):
    for language in shipped_snapshot.knowledge.languages:
        for entry in shipped_snapshot.knowledge.entries:
            data = callback_data("a", entry.id, language)
            assert data is not None and len(data.encode()) <= MAX_CALLBACK_DATA_BYTES
            assert parse_callback(data) == Callback("a", entry.id, language)


@pytest.mark.parametrize(
    ("data", "meaning"),
    [
        ("a:black-sea", Callback("a", "black-sea", "en")),  # as sent before other languages
        ("t:black-sea", Callback("t", "black-sea", "en")),
        ("n", Callback("n", "", "en")),
        ("a:black-sea:uk", Callback("a", "black-sea", "uk")),
        ("n:ru", Callback("n", "", "ru")),
    ],
)
def test_callback_data_says_the_entry_and_the_language_of_its_message(data: str, meaning: Callback):
    assert parse_callback(data) == meaning
    assert callback_data(meaning.kind, meaning.entry_id, meaning.language) == data


def test_an_id_with_a_colon_keeps_its_tail_apart_from_the_language():
    for language in ("en", "uk"):
        data = callback_data("a", "odd:uk", language)
        assert data is not None and parse_callback(data) == Callback("a", "odd:uk", language)


@pytest.mark.parametrize(
    ("code", "language"),
    [
        ("uk", "uk"),
        ("uk-UA", "uk"),
        ("ru", "ru"),
        ("en-US", "en"),
        ("EN_gb", "en"),
        ("de", None),
        ("", None),
        (None, None),
        ("ukr", None),
    ],
)
def test_client_language_is_the_primary_subtag_of_a_language_the_bot_speaks(
    code: str | None, language: str | None
):
    assert client_language(code, ("en", "ru", "uk")) == language


def test_an_id_too_long_for_callback_data_gets_no_button():
    assert callback_data("a", "ü" * 40) is None  # 80 bytes in UTF-8
    assert callback_data("a", "x" * 62) == "a:" + "x" * 62
    assert callback_data("a", "x" * 62, "uk") is None


def test_topics_keyboard_has_one_button_per_topic_in_each_language(shipped_snapshot: Snapshot):
    knowledge = shipped_snapshot.knowledge
    for language in knowledge.languages:
        rows = topics_keyboard(knowledge, language).inline_keyboard
        titles = knowledge.wording(language).topics
        assert [row[0].text for row in rows] == [titles[t.id] for t in knowledge.topics]


def test_plain_text_replies_are_escaped_and_split_within_the_limit():
    text = "\n".join(["<b>&" * 500] * 5)
    reply = Reply.from_text(text)
    assert len(reply.chunks) > 1
    assert all(len(chunk) <= 4096 for chunk in reply.chunks)
    assert "".join(html.unescape(c) for c in reply.chunks).replace("\n", "") == text.replace(
        "\n", ""
    )
    assert all(len(piece) <= 10 for piece in split_text("abcdefghijklmnopqrstuvwxyz", limit=10))


def test_plain_fallback_of_an_answer_keeps_its_words(shipped_snapshot: Snapshot):
    answer = shipped_snapshot.answer("black sea")
    [chunk] = answer_reply(answer, shipped_snapshot.knowledge).chunks
    plain = html_to_plain(chunk)
    assert "<" not in plain
    assert answer.citations[0].quote in plain
