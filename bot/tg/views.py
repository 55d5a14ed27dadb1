"""What the bot shows in Telegram: message chunks, keyboards, callback data and inline results."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final

from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    LinkPreviewOptions,
)
from telegram.constants import ParseMode

from bot.core.answers import (
    TELEGRAM_MESSAGE_LIMIT,
    Answer,
    clean_question,
    render_html,
    source_line,
)
from bot.core.knowledge import Knowledge, KnowledgeError
from bot.core.matcher import Candidate
from bot.core.service import ReloadReport, Snapshot
from bot.core.wording import ENGLISH
from bot.tg.stats_store import UnansweredGroup

# Telegram's limit for callback_data, in bytes (Bot API, InlineKeyboardButton).
MAX_CALLBACK_DATA_BYTES: Final = 64
# Phone clients cut button labels at about this many characters; cut them ourselves, cleanly.
MAX_BUTTON_LABEL: Final = 60
# Inline mode: up to this many answers per query (the issue asks for 5).
MAX_INLINE_ANSWERS: Final = 5
# Example questions on /start, one per topic, from the first topics.
EXAMPLE_QUESTIONS: Final = 3
# Ids, counts and problems listed in admin replies before "... and N more".
MAX_LISTED: Final = 25

CALLBACK_SUGGESTION: Final = "a"  # a:<entry id> - answer in place of the "did you mean" message
CALLBACK_SHOW: Final = "t"  # t:<entry id> - answer as a new message (topics, examples, related)
CALLBACK_NONE: Final = "n"  # "None of these"
# A button carries the language of the message it is under, so that the answer it brings is in
# the language of the question asked, whoever taps it: "a:<entry id>:uk", "n:uk". English adds
# nothing, which keeps the data of buttons sent before the bot spoke other languages valid.
CALLBACK_LANGUAGE: Final = re.compile(r"[a-z]{2}")
# The pattern of the "None of these" button's data, with its optional language.
CALLBACK_NONE_PATTERN: Final = rf"^{CALLBACK_NONE}(:[a-z]{{2}})?$"

_TAG: Final = re.compile(r"<[^>]+>")


def ui_text(messages: Mapping[str, str], key: str) -> str:
    """Interface wording from knowledge/messages.yaml (the loader guarantees every key)."""
    return messages[key]


@dataclass(frozen=True)
class Reply:
    """One reply as Telegram HTML chunks (each within the message limit) and an optional keyboard.

    The keyboard goes under the last chunk.
    """

    chunks: tuple[str, ...]
    keyboard: InlineKeyboardMarkup | None = None

    @classmethod
    def from_text(cls, text: str, keyboard: InlineKeyboardMarkup | None = None) -> Reply:
        """A reply of plain text (escaped here), split at line ends to fit."""
        return cls(tuple(html.escape(c, quote=False) for c in split_text(text)), keyboard)


def split_text(text: str, limit: int = TELEGRAM_MESSAGE_LIMIT) -> list[str]:
    """Split plain text into pieces of at most `limit` characters, at line ends when possible.

    The limit is checked after HTML escaping, so an escaped piece fits too.
    """
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(html.escape(line, quote=False)) > limit:  # one line longer than a message
            cut = limit
            while len(html.escape(line[:cut], quote=False)) > limit:
                cut -= 1
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:cut])
            line = line[cut:]
        joined = f"{current}\n{line}" if current else line
        if current and len(html.escape(joined, quote=False)) > limit:
            pieces.append(current)
            current = line
        else:
            current = joined
    if current.strip():
        pieces.append(current)
    return pieces or [text[:limit]]


def html_to_plain(chunk: str) -> str:
    """The text a user would see of one of our HTML chunks: the fallback when HTML is refused."""
    return html.unescape(_TAG.sub("", chunk))


@dataclass(frozen=True)
class Callback:
    """What a tapped button asks for: its kind, the entry it names and the reply's language."""

    kind: str
    entry_id: str
    language: str


def callback_data(kind: str, entry_id: str = "", language: str = ENGLISH) -> str | None:
    """Callback data for a button, or None if it would exceed Telegram's 64 bytes."""
    parts = [kind, entry_id] if entry_id else [kind]
    # An id with a colon always names its language, so that its own tail is never read as one.
    if language != ENGLISH or ":" in entry_id:
        parts.append(language)
    data = ":".join(parts)
    return data if len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES else None


def parse_callback(data: str) -> Callback:
    """The kind, entry id and language of callback data made by `callback_data`."""
    kind, _, rest = data.partition(":")
    if kind == CALLBACK_NONE:
        return Callback(kind, "", rest or ENGLISH)
    entry_id, colon, language = rest.rpartition(":")
    if colon and CALLBACK_LANGUAGE.fullmatch(language):
        return Callback(kind, entry_id, language)
    return Callback(kind, rest, ENGLISH)


def _label(text: str) -> str:
    return text if len(text) <= MAX_BUTTON_LABEL else text[: MAX_BUTTON_LABEL - 1].rstrip() + "…"


def _entry_buttons(
    kind: str, items: Sequence[tuple[str, str]], language: str
) -> list[list[InlineKeyboardButton]]:
    rows = []
    for entry_id, label in items:
        data = callback_data(kind, entry_id, language)
        if data is not None:  # an id too long for callback_data gets no button
            rows.append([InlineKeyboardButton(_label(label), callback_data=data)])
    return rows


def answer_reply(answer: Answer, knowledge: Knowledge) -> Reply:
    """An answer in HTML (quotes as blockquotes) with its "did you mean" or related buttons.

    Everything around the quotes is in the answer's language, its buttons included.
    """
    chunks = render_html(
        answer, paragraph_label=answer.paragraph_label, source_label=answer.source_label
    )
    language = answer.language
    keyboard: InlineKeyboardMarkup | None = None
    if answer.status == "suggest" and answer.suggestions:
        suggestions = [(s.entry_id, s.question) for s in answer.suggestions[:3]]
        rows = _entry_buttons(CALLBACK_SUGGESTION, suggestions, language)
        none = knowledge.wording(language).messages["none_of_these"]
        none_data = callback_data(CALLBACK_NONE, language=language) or CALLBACK_NONE
        rows.append([InlineKeyboardButton(none, callback_data=none_data)])
        keyboard = InlineKeyboardMarkup(rows)
    elif answer.related:
        related = [(r.entry_id, r.question) for r in answer.related]
        rows = _entry_buttons(CALLBACK_SHOW, related, language)
        keyboard = InlineKeyboardMarkup(rows) if rows else None
    return Reply(tuple(chunks), keyboard)


def examples_keyboard(knowledge: Knowledge, language: str | None = None) -> InlineKeyboardMarkup:
    """A few example questions (the lead question of the first topics) as buttons."""
    wording = knowledge.wording(language)
    leads = [t.lead for t in knowledge.topics if knowledge.has_entry(t.lead)][:EXAMPLE_QUESTIONS]
    items = [(lead, wording.labels[lead]) for lead in leads]
    return InlineKeyboardMarkup(_entry_buttons(CALLBACK_SHOW, items, wording.language))


def topics_keyboard(knowledge: Knowledge, language: str | None = None) -> InlineKeyboardMarkup:
    """One button per topic; tapping it answers the topic's lead entry."""
    wording = knowledge.wording(language)
    items = [(t.lead, wording.topics[t.id]) for t in knowledge.topics]
    return InlineKeyboardMarkup(_entry_buttons(CALLBACK_SHOW, items, wording.language))


def greeting_reply(knowledge: Knowledge, language: str | None = None) -> Reply:
    messages = knowledge.wording(language).messages
    return Reply.from_text(messages["greeting"], examples_keyboard(knowledge, language))


def help_reply(knowledge: Knowledge, language: str | None = None) -> Reply:
    return Reply.from_text(knowledge.wording(language).messages["help"])


def topics_reply(knowledge: Knowledge, language: str | None = None) -> Reply:
    messages = knowledge.wording(language).messages
    return Reply.from_text(messages["topics_intro"], topics_keyboard(knowledge, language))


def source_reply(knowledge: Knowledge, language: str | None = None) -> Reply:
    """The article the answers quote: outlet, title, authors (and date and link if known)."""
    wording = knowledge.wording(language)
    line = source_line(knowledge, wording.language)
    lines = [f"{wording.messages['source_label']}: {line}"]
    if knowledge.article.url:
        lines.append(knowledge.article.url)
    return Reply.from_text("\n".join(lines))


def refusal_reply(messages: Mapping[str, str]) -> Reply:
    return Reply.from_text(ui_text(messages, "admin_only"))


def none_of_these_reply(messages: Mapping[str, str]) -> Reply:
    """Replaces the suggestions once "None of these" is tapped (no buttons left)."""
    return Reply.from_text(messages["none_of_these_recorded"])


def matches_usage_reply(messages: Mapping[str, str]) -> Reply:
    return Reply.from_text(ui_text(messages, "test_usage"))


def _listing(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:MAX_LISTED])
    return shown + (f" … and {len(ids) - MAX_LISTED} more" if len(ids) > MAX_LISTED else "")


def reload_report_reply(report: ReloadReport) -> Reply:
    """What a successful /reload changed."""
    if report.unchanged:
        lines = [f"Reloaded: nothing changed (version {report.new_version})."]
    else:
        lines = [f"Reloaded: version {report.old_version} → {report.new_version}."]
        for label, ids in (
            ("Added", report.added),
            ("Removed", report.removed),
            ("Changed", report.changed),
        ):
            lines.append(f"{label} ({len(ids)}): {_listing(ids) if ids else '-'}")
    if report.warnings:
        lines.append(f"Warnings ({len(report.warnings)}):")
        lines.extend(f"• {w}" for w in report.warnings[:MAX_LISTED])
    return Reply.from_text("\n".join(lines))


def reload_failure_reply(error: KnowledgeError, serving_version: str) -> Reply:
    """Why /reload refused the new files; the old version keeps serving."""
    problems = error.problems
    lines = [
        f"Reload failed: {len(problems)} error(s). Still serving version {serving_version}.",
        *(f"• {problem}" for problem in problems[:MAX_LISTED]),
    ]
    if len(problems) > MAX_LISTED:
        lines.append(f"… and {len(problems) - MAX_LISTED} more (run `python -m bot check`).")
    return Reply.from_text("\n".join(lines))


def format_duration(seconds: float) -> str:
    """3725 -> "1h 2m 5s"; days shown when there are any."""
    total = int(seconds)
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d"] if days else []
    if days or hours:
        parts.append(f"{hours}h")
    if days or hours or minutes:
        parts.append(f"{minutes}m")
    parts.append(f"{secs}s")
    return " ".join(parts)


def stats_reply(
    uptime_seconds: float,
    snapshot: Snapshot,
    counts: Mapping[str, int],
    languages: Mapping[str, int] | None = None,
) -> Reply:
    """/stats: uptime, version, questions by outcome and by the language of their replies."""
    lines = [
        f"Uptime: {format_duration(uptime_seconds)}",
        f"Knowledge version: {snapshot.version} ({len(snapshot.knowledge.entries)} entries)",
        f"Answered: {counts.get('answered', 0)}",
        f"Suggested (did you mean): {counts.get('suggest', 0)}",
        f"Unknown: {counts.get('unknown', 0)}",
        f"“None of these” taps: {counts.get('none_of_these', 0)}",
    ]
    if languages:
        listed = ", ".join(f"{language} {count}" for language, count in languages.items())
        lines.append(f"Languages: {listed}")
    return Reply.from_text("\n".join(lines))


def unanswered_reply(groups: Sequence[UnansweredGroup]) -> Reply:
    if not groups:
        return Reply.from_text("No unanswered questions recorded yet.")
    lines = ["Most frequent unanswered questions:"]
    for number, group in enumerate(groups, 1):
        details = []
        if group.variants > 1:
            details.append(f"{group.variants} similar wordings")
        if group.none_of_these:
            details.append(f"{group.none_of_these} × none of these")
        extra = f" ({'; '.join(details)})" if details else ""
        tag = f" [{', '.join(group.languages)}]" if group.languages else ""
        lines.append(f"{number}. {group.count} × “{group.question}”{tag}{extra}")
    return Reply.from_text("\n".join(lines))


def matches_reply(
    question: str, answer: Answer, ranked: Sequence[Candidate], knowledge: Knowledge
) -> Reply:
    """/test: the matcher's decision and its top candidates with scores."""
    decision = f"Decision: {answer.status}"
    if answer.entry_id:
        decision += f" → {answer.entry_id}"
    lines = [
        f"Question: “{clean_question(question)}”",
        f"{decision} (score {answer.score:.1f}, answered in {answer.language})",
    ]
    if ranked:
        lines.append("Top matches:")
        for number, candidate in enumerate(ranked, 1):
            main = knowledge.entry(candidate.entry_id).questions[0]
            lines.append(f"{number}. {candidate.score:5.1f}  {candidate.entry_id} — {main}")
    else:
        lines.append("No candidates (no content words).")
    return Reply.from_text("\n".join(lines))


def user_commands(messages: Mapping[str, str], *, private: bool) -> list[BotCommand]:
    names = (
        ("start", "ask", "topics", "source", "help")
        if private
        else ("ask", "topics", "source", "help")
    )
    return [BotCommand(name, ui_text(messages, f"cmd_{name}")) for name in names]


def admin_commands(messages: Mapping[str, str]) -> list[BotCommand]:
    admin = [
        BotCommand(name, ui_text(messages, f"cmd_{name}"))
        for name in ("reload", "stats", "unanswered", "test")
    ]
    return [*user_commands(messages, private=True), *admin]


def inline_entry_ids(snapshot: Snapshot, answer: Answer) -> list[str]:
    """Entries to offer for an inline query: the answer first, then other good matches."""
    threshold = snapshot.matcher.params.suggest_threshold
    ids = [answer.entry_id] if answer.entry_id else []
    ids.extend(s.entry_id for s in answer.suggestions)
    ranked = snapshot.matcher.rank(answer.question, limit=MAX_INLINE_ANSWERS)
    ids.extend(c.entry_id for c in ranked if c.score >= threshold)
    return list(dict.fromkeys(ids))[:MAX_INLINE_ANSWERS]


def _inline_article(result_id: str, title: str, answer: Answer) -> InlineQueryResultArticle:
    # One quote keeps the shared message short; the bot's chat gives the full answer.
    short = replace(answer, citations=answer.citations[:1], related=(), suggestions=())
    chunks = render_html(
        short, paragraph_label=answer.paragraph_label, source_label=answer.source_label
    )
    return InlineQueryResultArticle(
        id=result_id,
        title=_label(title),
        description=answer.text[:200],
        input_message_content=InputTextMessageContent(
            chunks[0],
            parse_mode=ParseMode.HTML,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        ),
    )


def inline_results(
    snapshot: Snapshot, query: str, client_language: str | None = None
) -> list[InlineQueryResultArticle]:
    """Up to 5 answers as articles; the main topics for an empty query; a decline if none fit.

    They are in the query's language, or the client's when the query does not tell.
    """
    knowledge = snapshot.knowledge
    if not query.strip():
        wording = knowledge.wording(client_language)
        results = []
        for number, topic in enumerate(knowledge.topics):
            answer = snapshot.answer_entry(topic.lead, language=wording.language)
            if answer is not None:
                title = wording.topics[topic.id]
                results.append(_inline_article(f"topic-{number}", title, answer))
        return results
    asked = snapshot.answer(query, fallback_language=client_language)
    wording = knowledge.wording(asked.language)
    results = []
    for number, entry_id in enumerate(inline_entry_ids(snapshot, asked)):
        answer = snapshot.answer_entry(entry_id, query, language=wording.language)
        if answer is not None:
            results.append(_inline_article(f"answer-{number}", wording.labels[entry_id], answer))
    if not results:
        title = ui_text(wording.messages, "inline_unknown_title")
        results.append(_inline_article("unknown", title, asked))
    return results
