"""Turn a match into an answer with verbatim citations, and render it as text or Telegram HTML."""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bot.core.knowledge import Knowledge
from bot.core.language import CYRILLIC_LANGUAGES, has_cyrillic
from bot.core.matcher import Explanation, Matcher, MatchResult, Status
from bot.core.textnorm import collapse_whitespace, strip_control_characters
from bot.core.wording import ENGLISH

# Telegram's limit for one message's text.
TELEGRAM_MESSAGE_LIMIT = 4096
# Longer questions are read only this far: no real question needs more, and it bounds the
# matcher's work on a hostile 10,000-character message (Telegram allows 4,096 anyway).
MAX_QUESTION_CHARS = 1000


@dataclass(frozen=True)
class Citation:
    """A verbatim passage of the article and the paragraph it stands in."""

    quote: str
    paragraph: int


@dataclass(frozen=True)
class Suggestion:
    """An entry offered as "did you mean", labelled with its main question."""

    entry_id: str
    question: str


@dataclass(frozen=True)
class Answer:
    """Everything the bot says in reply to one question, independent of the medium."""

    status: Status
    question: str
    entry_id: str | None
    score: float
    text: str
    citations: tuple[Citation, ...]
    suggestions: tuple[Suggestion, ...]
    related: tuple[Suggestion, ...]
    topics: tuple[Suggestion, ...]
    source: str | None
    knowledge_version: str
    language: str = ENGLISH
    source_label: str = "Source"
    paragraph_label: str = "¶"


def clean_question(text: str) -> str:
    """The question as the matcher reads it: no control characters, bounded length."""
    return collapse_whitespace(strip_control_characters(text))[:MAX_QUESTION_CHARS]


def source_line(knowledge: Knowledge, language: str = ENGLISH) -> str:
    """Outlet, title and authors of the article, and its date only if the article gives one.

    The title and names stay as the article prints them; only the joining words are translated.
    """
    article = knowledge.article
    messages = knowledge.wording(language).messages
    joiner = f" {messages.get('source_and', 'and')} "
    authors = (
        joiner.join(article.authors) if len(article.authors) <= 2 else ", ".join(article.authors)
    )
    line = f"{article.outlet}, “{article.title}”, {messages.get('source_by', 'by')} {authors}"
    if article.date:
        line += f", {article.date}"
    return line


def answer_language(
    knowledge: Knowledge, matcher: Matcher, question: str, fallback: str | None = None
) -> str:
    """The language to answer in: the question's own, else the asker's client's, else English.

    A Cyrillic question that does not tell is answered in Ukrainian or Russian, never English.
    """
    language = matcher.language_of(question)
    if language is None and has_cyrillic(question) and fallback not in CYRILLIC_LANGUAGES:
        language = matcher.cyrillic_language(question)
    for candidate in (language, fallback):
        if candidate is not None and candidate in knowledge.wordings:
            return candidate
    return ENGLISH


def _suggestion(knowledge: Knowledge, entry_id: str, language: str) -> Suggestion:
    return Suggestion(entry_id, knowledge.wording(language).labels[entry_id])


def _topic_suggestions(knowledge: Knowledge, language: str) -> tuple[Suggestion, ...]:
    titles = knowledge.wording(language).topics
    return tuple(Suggestion(t.lead, titles[t.id]) for t in knowledge.topics)


def _reply(knowledge: Knowledge, language: str, **fields: Any) -> Answer:
    messages = knowledge.wording(language).messages
    return Answer(
        knowledge_version=knowledge.version,
        language=language,
        source_label=messages["source_label"],
        paragraph_label=messages["paragraph_label"],
        **fields,
    )


def answer_entry(
    knowledge: Knowledge,
    entry_id: str,
    question: str,
    score: float = 100.0,
    language: str = ENGLISH,
) -> Answer:
    """The full answer of one entry (a match, a tapped suggestion or a topic button)."""
    entry = knowledge.entry(entry_id)
    citations = tuple(
        Citation(knowledge.facts[f].quote, knowledge.facts[f].paragraph) for f in entry.facts
    )
    return _reply(
        knowledge,
        language,
        status="answered",
        question=question,
        entry_id=entry.id,
        score=score,
        text=knowledge.wording(language).answers[entry.id],
        citations=citations,
        suggestions=(),
        related=tuple(_suggestion(knowledge, r, language) for r in entry.related),
        topics=(),
        source=source_line(knowledge, language),
    )


def build_answer(knowledge: Knowledge, match: MatchResult, language: str = ENGLISH) -> Answer:
    """Answer, suggestions or a polite decline, from the matcher's decision."""
    if match.status == "answered" and match.entry_id is not None:
        return answer_entry(knowledge, match.entry_id, match.question, match.score, language)
    if match.status == "suggest":
        return _reply(
            knowledge,
            language,
            status="suggest",
            question=match.question,
            entry_id=None,
            score=match.score,
            text=knowledge.wording(language).messages["suggest"],
            citations=(),
            suggestions=tuple(_suggestion(knowledge, e, language) for e in match.suggestions),
            related=(),
            topics=(),
            source=None,
        )
    return decline(knowledge, match.question, match.score, language=language)


def decline(
    knowledge: Knowledge,
    question: str,
    score: float = 0.0,
    *,
    empty: bool = False,
    language: str = ENGLISH,
) -> Answer:
    """The article does not cover this: say so and list what it does cover."""
    return _reply(
        knowledge,
        language,
        status="unknown",
        question=question,
        entry_id=None,
        score=score,
        text=knowledge.wording(language).messages["empty" if empty else "unknown"],
        citations=(),
        suggestions=(),
        related=(),
        topics=() if empty else _topic_suggestions(knowledge, language),
        source=None,
    )


def answer_question(
    knowledge: Knowledge,
    matcher: Matcher,
    question: str,
    *,
    language: str | None = None,
    fallback_language: str | None = None,
) -> Answer:
    """The one entry point every interface uses: clean, match, build.

    `language` forces the reply's language; otherwise it is the question's own, or
    `fallback_language` (the client's language_code) when the question does not tell.
    """
    cleaned = clean_question(question)
    if language is None or language not in knowledge.wordings:
        language = answer_language(knowledge, matcher, cleaned, fallback_language)
    if not any(ch.isalnum() for ch in cleaned):
        return decline(knowledge, cleaned, empty=True, language=language)
    return build_answer(knowledge, matcher.match(cleaned), language)


def answer_to_json(answer: Answer) -> dict[str, Any]:
    """The JSON shape of `python -m bot ask --json`."""
    return {
        "question": answer.question,
        "status": answer.status,
        "entry": answer.entry_id,
        "score": round(min(max(answer.score, 0.0), 100.0), 1),
        "answer": render_plain(answer),
        "citations": [{"quote": c.quote, "paragraph": c.paragraph} for c in answer.citations],
        "suggestions": [{"entry": s.entry_id, "question": s.question} for s in answer.suggestions],
        "knowledge_version": answer.knowledge_version,
        "language": answer.language,
    }


def render_plain(answer: Answer, *, numbered: bool = True) -> str:
    """Plain text for the console and the JSON interface."""
    parts = [answer.text]
    if answer.suggestions:
        parts.append(
            "\n".join(
                f"  {i}. {s.question}" if numbered else f"  - {s.question}"
                for i, s in enumerate(answer.suggestions, 1)
            )
        )
    if answer.topics:
        parts.append("\n".join(f"  - {t.question}" for t in answer.topics))
    for citation in answer.citations:
        parts.append(f"  > {citation.quote} (¶{citation.paragraph})")
    if answer.source:
        parts.append(f"{answer.source_label}: {answer.source}")
    return "\n\n".join(parts)


@dataclass(frozen=True)
class _Block:
    open_tag: str
    close_tag: str
    text: str
    suffix_html: str = ""

    def html(self, text: str | None = None) -> str:
        body = html.escape(self.text if text is None else text, quote=False)
        return f"{self.open_tag}{body}{self.suffix_html}{self.close_tag}"


def _html_blocks(answer: Answer, paragraph_label: str, source_label: str) -> list[_Block]:
    blocks = [_Block("", "", answer.text)]
    if answer.suggestions:
        lines = "\n".join(f"{i}. {s.question}" for i, s in enumerate(answer.suggestions, 1))
        blocks.append(_Block("", "", lines))
    if answer.topics:
        blocks.append(_Block("", "", "\n".join(f"• {t.question}" for t in answer.topics)))
    for citation in answer.citations:
        marker = f"\n<i>— {html.escape(paragraph_label)}{citation.paragraph}</i>"
        blocks.append(_Block("<blockquote>", "</blockquote>", citation.quote, marker))
    if answer.source:
        blocks.append(_Block("<i>", "</i>", f"{source_label}: {answer.source}"))
    return blocks


def _split_text(block: _Block, limit: int) -> Iterable[str]:
    """Split one oversized block at spaces so each piece, escaped and tagged, fits."""
    words = block.text.split(" ")
    piece: list[str] = []
    for word in words:
        candidate = " ".join([*piece, word])
        if piece and len(block.html(candidate)) > limit:
            yield block.html(" ".join(piece))
            piece = [word]
        else:
            piece.append(word)
        while len(block.html(" ".join(piece))) > limit:  # one "word" longer than a message
            text = " ".join(piece)
            cut = limit - len(block.html(""))
            while len(block.html(text[:cut])) > limit:
                cut -= 1
            yield block.html(text[:cut])
            piece = [text[cut:]]
    if piece and " ".join(piece):
        yield block.html(" ".join(piece))


def render_html(
    answer: Answer,
    *,
    paragraph_label: str = "¶",
    source_label: str = "Source",
    limit: int = TELEGRAM_MESSAGE_LIMIT,
) -> list[str]:
    """Telegram HTML messages, each at most `limit` characters, split between blocks."""
    messages: list[str] = []
    current = ""
    for block in _html_blocks(answer, paragraph_label, source_label):
        rendered = block.html()
        pieces = [rendered] if len(rendered) <= limit else list(_split_text(block, limit))
        for piece in pieces:
            joined = f"{current}\n\n{piece}" if current else piece
            if len(joined) <= limit:
                current = joined
            else:
                messages.append(current)
                current = piece
    if current:
        messages.append(current)
    return messages


def render_explanation(explanation: Explanation) -> str:
    """Plain text of why the matcher decided what it did (`ask --explain`, /test)."""
    result = explanation.result
    lines = [f"{result.question!r}: {result.status} {result.entry_id or ''}".rstrip()]
    if explanation.rule is not None:
        lines.append(f"  decided by {explanation.rule}")
    if explanation.part != result.question:
        lines.append(f"  decided on the part {explanation.part!r}")
    lines.append("  top classes (probability %):")
    lines += [f"    {c.entry_id:26} {c.score:5.1f}" for c in explanation.ranked]
    lines.append("  nearest examples:")
    lines += [
        f"    {entry:26} {score:5.1f}  {text!r}" for entry, text, score in explanation.nearest
    ]
    lines.append(f"  features weighing most for {explanation.ranked[0].entry_id}:")
    lines += [f"    {weight:+.3f}  {feature!r}" for feature, weight in explanation.features]
    return "\n".join(lines)
