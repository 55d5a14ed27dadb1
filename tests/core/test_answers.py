"""Answers: verbatim citations, faithful JSON, and Telegram HTML that is safe and bounded."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.answers import (
    TELEGRAM_MESSAGE_LIMIT,
    Answer,
    Citation,
    answer_to_json,
    render_html,
    render_plain,
)
from bot.core.service import Snapshot, load_snapshot
from bot.core.textnorm import normalise_for_quote_check

TELEGRAM_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre"}
TELEGRAM_TAGS |= {"blockquote", "tg-spoiler", "span", "tg-emoji"}


class _TelegramHtmlChecker(HTMLParser):
    """Fails on tags Telegram does not accept and on unbalanced tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in TELEGRAM_TAGS, tag
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, (self.stack, tag)
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def check_telegram_html(message: str) -> str:
    """Assert the message is well-formed Telegram HTML; return its visible text."""
    assert len(message) <= TELEGRAM_MESSAGE_LIMIT
    assert not re.search(r"&(?!(amp|lt|gt|quot|#\d+|#x[0-9a-fA-F]+);)", message), message
    checker = _TelegramHtmlChecker()
    checker.feed(message)
    checker.close()
    assert checker.stack == []
    return "".join(checker.text)


@pytest.fixture(scope="module")
def snapshot() -> Snapshot:
    return load_snapshot()


def test_answer_cites_verbatim_quotes_with_paragraphs(snapshot: Snapshot) -> None:
    answer = snapshot.answer("black sea sanctions")
    article = snapshot.knowledge.article
    assert answer.citations
    for citation in answer.citations:
        paragraph = article.paragraph(citation.paragraph)
        assert normalise_for_quote_check(citation.quote) in normalise_for_quote_check(paragraph)


def test_html_answer_has_blockquotes_and_source_line(snapshot: Snapshot) -> None:
    [message] = render_html(snapshot.answer("What did Putin demand?"))
    assert "<blockquote>Putin demanded that Ukraine stop the mobilization" in message
    assert "— ¶16</i></blockquote>" in message
    visible = check_telegram_html(message)
    assert "Source: Babel" in visible
    assert "Oksana Kovalenko and Oleksandra Opanasenko" in visible


def test_decline_says_not_covered_and_lists_topics(snapshot: Snapshot) -> None:
    answer = snapshot.answer("What did Rutte say about Georgia?")
    text = render_plain(answer)
    assert answer.status == "unknown"
    assert "doesn't cover" in text
    assert "The Black Sea deal" in text
    assert answer.citations == ()


def test_json_has_the_documented_fields(snapshot: Snapshot) -> None:
    data = answer_to_json(snapshot.answer("who wrote the article"))
    assert data["status"] == "answered"
    assert data["entry"] == "article-authors"
    assert 0 <= data["score"] <= 100
    assert data["citations"] == [
        {"quote": "Oksana Kovalenko, Oleksandra Opanasenko", "paragraph": 3}
    ]
    assert data["suggestions"] == []
    assert "Oksana Kovalenko" in data["answer"]


def _answer_with(text: str, quote: str) -> Answer:
    return Answer(
        status="answered",
        question="q",
        entry_id="e",
        score=100.0,
        text=text,
        citations=(Citation(quote, 1),),
        suggestions=(),
        related=(),
        topics=(),
        source="Babel <&>",
        knowledge_version="v",
    )


def test_knowledge_text_is_escaped_in_html() -> None:
    [message] = render_html(_answer_with("a < b & c > d <script>", "<i>not a tag</i>"))
    assert "&lt;script&gt;" in message
    assert "&lt;i&gt;not a tag&lt;/i&gt;" in message
    check_telegram_html(message)


def test_long_answers_are_split_between_blocks_within_the_limit() -> None:
    long_text = "word " * 1500  # 7,500 characters
    messages = render_html(_answer_with(long_text, "quote " * 900))
    assert len(messages) >= 3
    for message in messages:
        check_telegram_html(message)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=5000), st.text(max_size=5000))
def test_any_text_renders_to_valid_bounded_telegram_html(text: str, quote: str) -> None:
    for message in render_html(_answer_with(text or "x", quote or "y")):
        check_telegram_html(message)
