"""What the bot shows: callback data within 64 bytes, messages within 4096 characters."""

from __future__ import annotations

import html

from bot.core.service import Snapshot
from bot.tg.views import (
    MAX_CALLBACK_DATA_BYTES,
    Reply,
    answer_reply,
    callback_data,
    html_to_plain,
    split_text,
    topics_keyboard,
)


def test_every_entry_fits_in_callback_data(shipped_snapshot: Snapshot):
    for entry in shipped_snapshot.knowledge.entries:
        data = callback_data("a", entry.id)
        assert data is not None and len(data.encode()) <= MAX_CALLBACK_DATA_BYTES


def test_an_id_too_long_for_callback_data_gets_no_button():
    assert callback_data("a", "ü" * 40) is None  # 80 bytes in UTF-8
    assert callback_data("a", "x" * 62) == "a:" + "x" * 62


def test_topics_keyboard_has_one_button_per_topic(shipped_snapshot: Snapshot):
    rows = topics_keyboard(shipped_snapshot.knowledge).inline_keyboard
    assert len(rows) == len(shipped_snapshot.knowledge.topics)


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
    [chunk] = answer_reply(answer, shipped_snapshot.knowledge.messages).chunks
    plain = html_to_plain(chunk)
    assert "<" not in plain
    assert answer.citations[0].quote in plain
