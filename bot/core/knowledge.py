"""Load and validate the knowledge base in knowledge/: article, facts, Q&A entries, aliases."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from bot.core.textnorm import normalise, normalise_for_quote_check
from bot.core.wording import ENGLISH, NameForms, Wording, frozen, unfaithful

KNOWLEDGE_FILES = (
    "article.yaml",
    "facts.yaml",
    "qa.yaml",
    "topics.yaml",
    "aliases.yaml",
    "not_covered.yaml",
    "messages.yaml",
    "asked.yaml",
    "timeline.yaml",
)
# Other languages: i18n/<code>.yaml holds what the bot says in that language, and
# examples/<code>.yaml the questions people ask in it (training examples of the matcher).
I18N_DIR = "i18n"
EXAMPLES_DIR = "examples"
# The bot's own wording around answers; every key must be present (see messages.yaml).
MESSAGE_KEYS = frozenset(
    {
        "greeting",
        "help",
        "unknown",
        "suggest",
        "none_of_these",
        "none_of_these_recorded",
        "empty",
        "source_label",
        "paragraph_label",
        "not_given",
        "topics_intro",
        "related_label",
        "admin_only",
        "suggestion_gone",
        "inline_unknown_title",
        "test_usage",
        "cmd_start",
        "cmd_ask",
        "cmd_topics",
        "cmd_source",
        "cmd_help",
        "cmd_reload",
        "cmd_stats",
        "cmd_unanswered",
        "cmd_test",
        "source_by",
        "source_and",
        "language_name",
    }
)
DEFAULT_KNOWLEDGE_DIR = Path(__file__).resolve().parents[2] / "knowledge"

# Bounded so that a huge or hostile file cannot make a reload hang or exhaust memory.
MAX_FILE_BYTES = 2_000_000


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or worth a warning) in the knowledge base, with its place."""

    file: str
    entry: str | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.entry:
            where += f" [{self.entry}]"
        if self.field:
            where += f" {self.field}"
        return f"{where}: {self.message}"


class KnowledgeError(Exception):
    """The knowledge base is invalid; nothing of it was loaded."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class Article:
    """The source article: metadata plus its paragraphs (non-empty lines, numbered from 1)."""

    title: str
    authors: tuple[str, ...]
    outlet: str
    date: str | None
    url: str | None
    text: str
    paragraphs: tuple[str, ...]
    non_factual_paragraphs: Mapping[int, str]

    def paragraph(self, number: int) -> str:
        return self.paragraphs[number - 1]


@dataclass(frozen=True)
class Fact:
    """An atomic statement backed by a verbatim quote of one paragraph."""

    id: str
    statement: str
    quote: str
    paragraph: int
    tags: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class Entry:
    """A curated question with its phrasings, short answer and cited facts."""

    id: str
    topic: str
    questions: tuple[str, ...]
    answer: str
    facts: tuple[str, ...]
    related: tuple[str, ...]


@dataclass(frozen=True)
class Topic:
    """A group of entries, shown as one button; `lead` is the entry it answers."""

    id: str
    title: str
    lead: str


@dataclass(frozen=True)
class Knowledge:
    """One consistent, validated version of the whole knowledge base."""

    article: Article
    facts: Mapping[str, Fact]
    entries: tuple[Entry, ...]
    topics: tuple[Topic, ...]
    aliases: Mapping[str, tuple[str, ...]]
    not_covered: Mapping[str, tuple[str, ...]]
    messages: Mapping[str, str]
    version: str
    warnings: tuple[Problem, ...] = field(default=())
    # Who acts in the story (Russia, Ukraine, the US, NATO), each by the alias groups that
    # name it; lets the matcher notice a question about one actor reaching another's entry.
    actors: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    # Questions people asked (asked.yaml): per entry id, more ways of asking for that entry,
    # in users' own words; and questions the article does not answer, which the bot declines.
    asked: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    declined: tuple[str, ...] = ()
    # What the bot says, by language (English included); see `wording`.
    wordings: Mapping[str, Wording] = field(default_factory=lambda: MappingProxyType({}))
    # Questions in other languages: language -> entry id -> questions, and declined ones.
    examples: Mapping[str, Mapping[str, tuple[str, ...]]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    examples_declined: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    # The events in the article's order (timeline.yaml): each step's entries, the one a
    # "what happened next" question wants first.
    timeline: tuple[tuple[str, ...], ...] = ()

    @property
    def languages(self) -> tuple[str, ...]:
        """English first, then the other languages the knowledge base speaks."""
        return (ENGLISH, *sorted(lang for lang in self.wordings if lang != ENGLISH))

    def wording(self, language: str | None) -> Wording:
        """What the bot says in `language`; English for a language it does not speak."""
        found = self.wordings.get(language or ENGLISH) or self.wordings.get(ENGLISH)
        if found is None:  # a Knowledge built by hand, without wordings
            return Wording(
                ENGLISH,
                self.messages,
                frozen({t.id: t.title for t in self.topics}),
                frozen({e.id: e.questions[0] for e in self.entries}),
                frozen({e.id: e.answer for e in self.entries}),
            )
        return found

    def entry(self, entry_id: str) -> Entry:
        return self._entries_by_id[entry_id]

    def has_entry(self, entry_id: str) -> bool:
        return entry_id in self._entries_by_id

    def phrasings(self, entry: Entry) -> tuple[str, ...]:
        """Every way of asking for an entry: its curated questions, then users' (asked.yaml)."""
        return (*entry.questions, *self.asked.get(entry.id, ()))

    def topic(self, topic_id: str) -> Topic:
        return next(t for t in self.topics if t.id == topic_id)

    @property
    def _entries_by_id(self) -> Mapping[str, Entry]:
        # Built lazily and cached on the frozen instance.
        cached: Mapping[str, Entry] | None = self.__dict__.get("_by_id")
        if cached is None:
            cached = MappingProxyType({e.id: e for e in self.entries})
            object.__setattr__(self, "_by_id", cached)
        return cached


def split_paragraphs(text: str) -> tuple[str, ...]:
    """Paragraphs are the article's non-empty lines, in order."""
    return tuple(line.strip() for line in text.splitlines() if line.strip())


class _Collector:
    """Accumulates problems while reading raw YAML into typed values."""

    def __init__(self) -> None:
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []
        # Files that could not be read or parsed: cross-file checks would only add noise.
        self.unreadable: set[str] = set()

    def error(self, file: str, entry: str | None, fld: str | None, message: str) -> None:
        self.errors.append(Problem(file, entry, fld, message))

    def warn(self, file: str, entry: str | None, fld: str | None, message: str) -> None:
        self.warnings.append(Problem(file, entry, fld, message))

    def text(self, file: str, entry: str | None, obj: Mapping[str, Any], key: str) -> str:
        value = obj.get(key)
        if not isinstance(value, str) or not value.strip():
            self.error(file, entry, key, f"must be a non-empty string, got {_describe(value)}")
            return ""
        return value.strip()

    def text_list(
        self, file: str, entry: str | None, obj: Mapping[str, Any], key: str, *, min_len: int
    ) -> tuple[str, ...]:
        value = obj.get(key, [] if min_len == 0 else None)
        if not isinstance(value, list) or any(
            not isinstance(v, str) or not v.strip() for v in value
        ):
            self.error(
                file, entry, key, f"must be a list of non-empty strings, got {_describe(value)}"
            )
            return ()
        if len(value) < min_len:
            self.error(file, entry, key, f"needs at least {min_len} item(s), has {len(value)}")
        return tuple(v.strip() for v in value)

    def keys(
        self,
        file: str,
        entry: str | None,
        obj: Mapping[str, Any],
        required: set[str],
        optional: set[str] = frozenset(),  # type: ignore[assignment]
    ) -> None:
        for key in sorted(required - obj.keys()):
            self.error(file, entry, key, "is missing")
        for key in sorted(obj.keys() - required - optional):
            self.error(file, entry, str(key), "is not a known field (typo?)")


def _describe(value: object) -> str:
    if value is None:
        return "nothing"
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'…' if len(text) > 60 else ''}"


def _read_yaml(
    path: Path, out: _Collector, *, may_be_empty: bool = False, name: str | None = None
) -> Any:
    name = name or path.name
    try:
        raw = path.read_bytes()
    except OSError as exc:
        out.error(name, None, None, f"cannot be read: {exc.strerror or exc}")
        out.unreadable.add(name)
        return None
    if len(raw) > MAX_FILE_BYTES:
        out.error(name, None, None, f"is {len(raw)} bytes, more than the {MAX_FILE_BYTES} allowed")
        out.unreadable.add(name)
        return None
    # Imported here: a start from the validated cache reads no YAML and skips yaml's import.
    import yaml

    # libyaml's parser when the wheel has it (it does on the usual platforms): ~10x faster.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(raw.decode("utf-8"), Loader=loader)
        if data is None and not may_be_empty:
            # An empty file would otherwise load as "nothing to say" and fail much later.
            out.error(name, None, None, "is empty")
            out.unreadable.add(name)
        return data
    except UnicodeDecodeError as exc:
        out.error(name, None, None, f"is not UTF-8: {exc.reason} at byte {exc.start}")
        out.unreadable.add(name)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        out.error(name, None, None, f"is not valid YAML{where}: {problem}")
        out.unreadable.add(name)
    return None


def _section(data: Any, file: str, key: str, out: _Collector) -> list[Any]:
    if data is None:
        return []
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        out.error(file, None, key, f"the file must be a mapping with a list under '{key}'")
        return []
    extra = set(data) - {key}
    for name in sorted(map(str, extra)):
        out.error(file, None, name, "is not a known top-level field (typo?)")
    items: list[Any] = data[key]
    return items


def _item_id(file: str, index: int, item: Any, out: _Collector) -> str | None:
    if not isinstance(item, dict):
        out.error(file, f"#{index + 1}", None, f"must be a mapping, got {_describe(item)}")
        return None
    value = item.get("id")
    if not isinstance(value, str) or not value.strip():
        out.error(
            file, f"#{index + 1}", "id", f"must be a non-empty string, got {_describe(value)}"
        )
        return None
    return value.strip()


def _load_article(directory: Path, out: _Collector) -> Article | None:
    data = _read_yaml(directory / "article.yaml", out)
    if data is None:
        return None
    file = "article.yaml"
    if not isinstance(data, dict):
        out.error(file, None, None, "must be a mapping")
        return None
    out.keys(
        file,
        None,
        data,
        {"title", "authors", "outlet", "text_file"},
        {"date", "url", "non_factual_paragraphs"},
    )
    title = out.text(file, None, data, "title")
    authors = out.text_list(file, None, data, "authors", min_len=1)
    outlet = out.text(file, None, data, "outlet")
    text_file = out.text(file, None, data, "text_file")
    date, url = data.get("date"), data.get("url")
    for key, value in (("date", date), ("url", url)):
        if value is not None and not isinstance(value, str):
            out.error(file, None, key, f"must be a string or null, got {_describe(value)}")
    if not text_file or "/" in text_file or "\\" in text_file:
        out.error(file, None, "text_file", "must name a file beside article.yaml")
        return None
    try:
        text = (directory / text_file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        out.error(text_file, None, None, f"cannot be read as UTF-8 text: {exc}")
        return None
    paragraphs = split_paragraphs(text)
    raw_nf = data.get("non_factual_paragraphs", {})
    if raw_nf is None:  # written out empty: no paragraph is exempt
        raw_nf = {}
    non_factual: dict[int, str] = {}
    if not isinstance(raw_nf, dict):
        out.error(file, None, "non_factual_paragraphs", "must map paragraph numbers to reasons")
    else:
        for number, reason in raw_nf.items():
            if not isinstance(number, int) or not 1 <= number <= len(paragraphs):
                out.error(
                    file,
                    None,
                    "non_factual_paragraphs",
                    f"{number!r} is not a paragraph number (1..{len(paragraphs)})",
                )
            else:
                non_factual[number] = str(reason)
    if title and paragraphs and normalise(title) != normalise(paragraphs[0]):
        out.error(
            file, None, "title", f"does not match the article's first line: {paragraphs[0]!r}"
        )
    return Article(
        title=title,
        authors=authors,
        outlet=outlet,
        date=date if isinstance(date, str) else None,
        url=url if isinstance(url, str) else None,
        text=text,
        paragraphs=paragraphs,
        non_factual_paragraphs=MappingProxyType(non_factual),
    )


def _load_facts(directory: Path, article: Article | None, out: _Collector) -> dict[str, Fact]:
    file = "facts.yaml"
    items = _section(_read_yaml(directory / file, out), file, "facts", out)
    facts: dict[str, Fact] = {}
    for index, item in enumerate(items):
        fid = _item_id(file, index, item, out)
        if fid is None:
            continue
        out.keys(file, fid, item, {"id", "statement", "quote", "paragraph"}, {"tags"})
        statement = out.text(file, fid, item, "statement")
        quote = out.text(file, fid, item, "quote")
        paragraph = item.get("paragraph")
        tags = _read_tags(file, fid, item.get("tags"), out)
        if fid in facts:
            out.error(file, fid, "id", "is used by another fact")
            continue
        if not isinstance(paragraph, int) or isinstance(paragraph, bool):
            out.error(file, fid, "paragraph", f"must be a whole number, got {_describe(paragraph)}")
            continue
        if article is not None and quote:
            _check_quote(file, fid, quote, paragraph, article, out)
        facts[fid] = Fact(fid, statement, quote, paragraph, MappingProxyType(tags))
    return facts


def _read_tags(file: str, fid: str, raw: Any, out: _Collector) -> dict[str, tuple[str, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        out.error(file, fid, "tags", f"must be a mapping, got {_describe(raw)}")
        return {}
    tags: dict[str, tuple[str, ...]] = {}
    for key, value in raw.items():
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(v, str | int) for v in values):
            out.error(file, fid, f"tags.{key}", "must be a string or a list of strings")
            continue
        tags[str(key)] = tuple(str(v) for v in values)
    return tags


def _check_quote(
    file: str, fid: str, quote: str, paragraph: int, article: Article, out: _Collector
) -> None:
    wanted = normalise_for_quote_check(quote)
    if not 1 <= paragraph <= len(article.paragraphs):
        out.error(file, fid, "paragraph", f"{paragraph} is not in 1..{len(article.paragraphs)}")
        return
    if wanted in normalise_for_quote_check(article.paragraph(paragraph)):
        return
    elsewhere = [
        n
        for n, text in enumerate(article.paragraphs, 1)
        if wanted in normalise_for_quote_check(text)
    ]
    if elsewhere:
        out.error(
            file, fid, "paragraph", f"the quote stands in paragraph {elsewhere[0]}, not {paragraph}"
        )
    else:
        out.error(file, fid, "quote", "is not a verbatim passage of the article")


def _load_topics(directory: Path, out: _Collector) -> list[Topic]:
    file = "topics.yaml"
    items = _section(_read_yaml(directory / file, out), file, "topics", out)
    topics: list[Topic] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        tid = _item_id(file, index, item, out)
        if tid is None:
            continue
        out.keys(file, tid, item, {"id", "title", "lead"})
        if tid in seen:
            out.error(file, tid, "id", "is used by another topic")
            continue
        seen.add(tid)
        topics.append(
            Topic(tid, out.text(file, tid, item, "title"), out.text(file, tid, item, "lead"))
        )
    return topics


def _load_entries(directory: Path, out: _Collector) -> list[Entry]:
    file = "qa.yaml"
    items = _section(_read_yaml(directory / file, out), file, "entries", out)
    entries: list[Entry] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        eid = _item_id(file, index, item, out)
        if eid is None:
            continue
        out.keys(file, eid, item, {"id", "topic", "questions", "answer", "facts"}, {"related"})
        entry = Entry(
            id=eid,
            topic=out.text(file, eid, item, "topic"),
            questions=out.text_list(file, eid, item, "questions", min_len=1),
            answer=out.text(file, eid, item, "answer"),
            facts=out.text_list(file, eid, item, "facts", min_len=1),
            related=out.text_list(file, eid, item, "related", min_len=0),
        )
        if eid in seen:
            out.error(file, eid, "id", "is used by another entry")
            continue
        seen.add(eid)
        entries.append(entry)
    return entries


def _load_phrase_groups(
    directory: Path, file: str, key: str, out: _Collector, owner: dict[str, str]
) -> tuple[dict[str, tuple[str, ...]], dict[Any, Any]]:
    """Groups of `name: [phrases]`; a phrase may belong to one group across all such files.

    Also returns the whole file's mapping, for the other keys it may hold.
    """
    data = _read_yaml(directory / file, out, may_be_empty=True)
    if data is None:
        return {}, {}
    if not isinstance(data, dict) or not isinstance(data.get(key), dict):
        out.error(file, None, key, f"the file must be a mapping with a mapping under '{key}'")
        return {}, {}
    groups: dict[str, tuple[str, ...]] = {}
    for canonical, variants in data[key].items():
        name = str(canonical)
        if not normalise(name):
            out.error(file, name, None, "the group's name is empty after normalisation")
            continue
        if not isinstance(variants, list) or not all(isinstance(v, str) for v in variants):
            out.error(file, name, None, "must list the words people type for it")
            continue
        for variant in (name, *variants):
            phrase = normalise(variant)
            if not phrase:
                out.error(file, name, None, f"{variant!r} is empty after normalisation")
            elif owner.get(phrase, name) != name:
                out.error(file, name, None, f"{variant!r} already belongs to {owner[phrase]!r}")
            owner[phrase] = name
        groups[name] = tuple(variants)
    return groups, data


def _load_actors(
    data: dict[Any, Any], aliases: Mapping[str, tuple[str, ...]], out: _Collector
) -> dict[str, tuple[str, ...]]:
    """`actors` in aliases.yaml: each actor names the alias groups that stand for it."""
    raw = data.get("actors")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        out.error("aliases.yaml", None, "actors", "must map each actor to a list of alias groups")
        return {}
    actors: dict[str, tuple[str, ...]] = {}
    claimed: dict[str, str] = {}
    for actor, groups in raw.items():
        name = str(actor)
        if (
            not isinstance(groups, list)
            or not groups
            or not all(isinstance(g, str) for g in groups)
        ):
            out.error("aliases.yaml", name, "actors", "must list the alias groups that name it")
            continue
        for group in groups:
            if group not in aliases:
                out.error("aliases.yaml", name, "actors", f"{group!r} is not an alias group")
            elif claimed.setdefault(group, name) != name:
                out.error(
                    "aliases.yaml", name, "actors", f"{group!r} already names {claimed[group]!r}"
                )
        actors[name] = tuple(groups)
    return actors


def _load_asked(
    directory: Path, out: _Collector
) -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
    """asked.yaml (optional): `answered: {entry id: [questions]}` and `declined: [questions]`."""
    file = "asked.yaml"
    if not (directory / file).is_file():
        return {}, ()
    data = _read_yaml(directory / file, out, may_be_empty=True)
    if data is None:
        return {}, ()
    if not isinstance(data, dict):
        out.error(file, None, None, "must be a mapping with 'answered' and 'declined'")
        return {}, ()
    out.keys(file, None, data, set(), {"answered", "declined"})
    raw = data.get("answered") or {}
    asked: dict[str, tuple[str, ...]] = {}
    if not isinstance(raw, dict):
        out.error(file, None, "answered", "must map entry ids to lists of questions")
    else:
        for entry_id in raw:
            asked[str(entry_id)] = out.text_list(file, str(entry_id), raw, entry_id, min_len=1)
    declined = out.text_list(
        file, None, {"declined": data.get("declined") or []}, "declined", min_len=0
    )
    return asked, declined


def _load_timeline(
    directory: Path, paragraph_of: Mapping[str, int], out: _Collector
) -> tuple[tuple[str, ...], ...]:
    """timeline.yaml (optional): `steps`, each an `entry` and the entries it `includes`.

    `paragraph_of` gives each entry's first cited paragraph: the steps must keep the
    article's order, since the bot answers "what came next" from them.
    """
    file = "timeline.yaml"
    if not (directory / file).is_file():
        return ()
    items = _section(_read_yaml(directory / file, out), file, "steps", out)
    steps: list[tuple[str, ...]] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            out.error(file, f"#{index + 1}", None, f"must be a mapping, got {_describe(item)}")
            continue
        where = f"#{index + 1}"
        out.keys(file, where, item, {"entry"}, {"includes"})
        named = [("entry", out.text(file, where, item, "entry"))]
        named += [("includes", e) for e in out.text_list(file, where, item, "includes", min_len=0)]
        for fld, entry_id in named:
            if not entry_id:
                continue
            if entry_id not in paragraph_of:
                out.error(file, where, fld, f"{entry_id!r} is not an entry id")
            elif entry_id in seen:
                out.error(file, where, fld, f"{entry_id!r} is in another step too")
            seen.add(entry_id)
        step = tuple(entry_id for _, entry_id in named)
        previous = steps[-1][0] if steps else ""
        if step[0] in paragraph_of and paragraph_of[step[0]] < paragraph_of.get(previous, 0):
            out.error(file, where, "entry", f"{step[0]!r} comes before {previous!r} in the article")
        steps.append(step)
    return tuple(steps)


def _check_asked(
    entries: Sequence[Entry],
    asked: dict[str, tuple[str, ...]],
    declined: Sequence[str],
    out: _Collector,
) -> None:
    """Asked questions name real entries, and no text is asked for two things at once."""
    file = "asked.yaml"
    owner: dict[str, str] = {}
    for entry in entries:
        for question in entry.questions:
            owner.setdefault(normalise(question), entry.id)
    known = {e.id for e in entries}
    for entry_id in [e for e in asked if e not in known]:
        # An entry removed from qa.yaml takes its asked questions with it; say so.
        out.warn(file, entry_id, "answered", f"{entry_id!r} is not an entry id; ignored")
        del asked[entry_id]
    for entry_id, questions in asked.items():
        for question in questions:
            text = normalise(question)
            first = owner.setdefault(text, entry_id)
            if first != entry_id:
                out.error(file, entry_id, "answered", f"{question!r} is also asked for {first!r}")
    for question in declined:
        owned = owner.get(normalise(question))
        if owned is not None:
            out.error(file, None, "declined", f"{question!r} is also asked for {owned!r}")


def _load_messages(directory: Path, out: _Collector) -> dict[str, str]:
    file = "messages.yaml"
    data = _read_yaml(directory / file, out)
    if data is None:
        return {}
    if not isinstance(data, dict) or not isinstance(data.get("messages"), dict):
        out.error(
            file, None, "messages", "the file must be a mapping with a mapping under 'messages'"
        )
        return {}
    raw = data["messages"]
    out.keys(file, None, raw, set(MESSAGE_KEYS))
    return {key: out.text(file, None, raw, key) for key in MESSAGE_KEYS if key in raw}


def _cross_check(
    article: Article | None,
    facts: Mapping[str, Fact],
    entries: Sequence[Entry],
    topics: Sequence[Topic],
    out: _Collector,
) -> None:
    entry_ids = {e.id for e in entries}
    topic_ids = {t.id for t in topics}
    for entry in entries:
        if entry.topic and entry.topic not in topic_ids:
            out.error(
                "qa.yaml", entry.id, "topic", f"{entry.topic!r} is not a topic in topics.yaml"
            )
        for fid in entry.facts:
            if fid not in facts:
                out.error("qa.yaml", entry.id, "facts", f"{fid!r} is not a fact id in facts.yaml")
        for rid in entry.related:
            if rid not in entry_ids:
                out.error("qa.yaml", entry.id, "related", f"{rid!r} is not an entry id")
            elif rid == entry.id:
                out.error("qa.yaml", entry.id, "related", "an entry cannot be related to itself")
    for topic in topics:
        if topic.lead and topic.lead not in entry_ids:
            out.error("topics.yaml", topic.id, "lead", f"{topic.lead!r} is not an entry id")
    used = {t for t in (e.topic for e in entries)}
    for topic in topics:
        if topic.id not in used:
            out.warn("topics.yaml", topic.id, None, "no entry belongs to this topic")
    cited = {f.id for f in facts.values()}
    for fid in sorted(cited - {f for e in entries for f in e.facts}):
        out.warn("facts.yaml", fid, None, "no entry cites this fact")
    if article is not None and facts:
        covered = {f.paragraph for f in facts.values()}
        for number in range(1, len(article.paragraphs) + 1):
            if number not in covered and number not in article.non_factual_paragraphs:
                out.error(
                    "facts.yaml",
                    None,
                    None,
                    f"paragraph {number} ({article.paragraph(number)[:50]!r}…) has no fact; "
                    "add one or list it under non_factual_paragraphs in article.yaml",
                )
    _check_duplicate_questions(entries, out)


def _check_duplicate_questions(entries: Sequence[Entry], out: _Collector) -> None:
    texts: list[str] = []
    owners: list[str] = []
    for entry in entries:
        for question in entry.questions:
            texts.append(normalise(question))
            owners.append(entry.id)
    exact: dict[str, str] = {}
    for text, owner in zip(texts, owners, strict=True):
        first = exact.setdefault(text, owner)
        if first != owner:
            out.error("qa.yaml", owner, "questions", f"{text!r} is also a question of {first!r}")


def _language_files(directory: Path, folder: str) -> list[str]:
    return sorted(f"{folder}/{p.name}" for p in (directory / folder).glob("*.yaml") if p.is_file())


def knowledge_version(directory: Path, article_file: str = "article.txt") -> str:
    """A short content hash of every file of the knowledge base."""
    digest = hashlib.sha256()
    names = (
        *KNOWLEDGE_FILES,
        *_language_files(directory, I18N_DIR),
        *_language_files(directory, EXAMPLES_DIR),
        article_file,
    )
    for name in names:
        path = directory / name
        digest.update(name.encode())
        digest.update(path.read_bytes() if path.is_file() else b"<missing>")
    return digest.hexdigest()[:12]


def _english_wording(
    entries: Sequence[Entry], topics: Sequence[Topic], messages: Mapping[str, str]
) -> Wording:
    return Wording(
        ENGLISH,
        frozen(messages),
        frozen({t.id: t.title for t in topics}),
        frozen({e.id: e.questions[0] for e in entries if e.questions}),
        frozen({e.id: e.answer for e in entries}),
    )


def _load_wordings(directory: Path, english: Wording, out: _Collector) -> dict[str, Wording]:
    """i18n/<lang>.yaml: every message, topic and entry of English, faithful to it."""
    wordings = {ENGLISH: english}
    for file in _language_files(directory, I18N_DIR):
        language = Path(file).stem
        data = _read_yaml(directory / file, out, name=file)
        if data is None:
            continue
        if not isinstance(data, dict):
            out.error(file, None, None, "must be a mapping with messages, topics and entries")
            continue
        out.keys(file, None, data, {"language", "messages", "topics", "entries"}, {"names"})
        if data.get("language") != language:
            out.error(file, None, "language", f"must be {language!r}, as the file is named")
        names = _read_names(file, data.get("names") or {}, out)
        messages = _translated(
            file,
            "messages",
            data.get("messages"),
            english.messages,
            names,
            out,
            language,
            keys=sorted(MESSAGE_KEYS),
        )
        topics = _translated(
            file, "topics", data.get("topics"), english.topics, names, out, language
        )
        raw_entries = data.get("entries")
        labels: dict[str, str] = {}
        answers: dict[str, str] = {}
        if not isinstance(raw_entries, dict):
            out.error(file, None, "entries", "must map every entry id to its question and answer")
        else:
            for entry_id in english.answers:
                item = raw_entries.get(entry_id)
                if not isinstance(item, dict):
                    problem = "is missing" if item is None else "must be a mapping"
                    out.error(file, entry_id, None, f"{problem} (language {language!r})")
                    continue
                out.keys(file, entry_id, item, {"question", "answer"})
                for key, target, source in (
                    ("question", labels, english.labels),
                    ("answer", answers, english.answers),
                ):
                    text = out.text(file, entry_id, item, key)
                    target[entry_id] = text
                    for problem in unfaithful(source.get(entry_id, ""), text, names):
                        out.error(file, entry_id, key, f"{problem} (language {language!r})")
            for entry_id in sorted(map(str, set(raw_entries) - set(english.answers))):
                # An entry removed from qa.yaml takes its translations with it; say so.
                out.warn(file, entry_id, None, "is not an entry id of qa.yaml; ignored")
        wordings[language] = Wording(
            language, frozen(messages), frozen(topics), frozen(labels), frozen(answers)
        )
    return wordings


def _read_names(file: str, raw: Any, out: _Collector) -> NameForms:
    forms: dict[str, tuple[str, ...]] = {}
    if not isinstance(raw, dict):
        out.error(file, None, "names", "must map English names to lists of local word stems")
        return NameForms({})
    for english in raw:
        forms[str(english)] = out.text_list(file, str(english), raw, english, min_len=1)
    return NameForms(MappingProxyType(forms))


def _translated(
    file: str,
    section: str,
    raw: Any,
    english: Mapping[str, str],
    names: NameForms,
    out: _Collector,
    language: str,
    keys: Sequence[str] | None = None,
) -> dict[str, str]:
    """One section (messages or topics): every key, each faithful to its English."""
    if not isinstance(raw, dict):
        out.error(file, None, section, f"must be a mapping of every {section} key")
        return {}
    wanted_keys = list(english) if keys is None else list(keys)
    result: dict[str, str] = {}
    for key in wanted_keys:
        if key not in raw:
            out.error(file, key, section, f"is missing (language {language!r})")
            continue
        text = out.text(file, key, raw, key)
        result[key] = text
        if key not in english:  # the English is broken: its own file reports it
            continue
        # A language's own name ("Українська") is no statement about the article.
        for problem in () if key == "language_name" else unfaithful(english[key], text, names):
            out.error(file, key, section, f"{problem} (language {language!r})")
        wanted = set(re.findall(r"{\w+}", english[key]))
        if set(re.findall(r"{\w+}", text)) != wanted:
            out.error(file, key, section, f"must keep the placeholders {sorted(wanted)}")
    for key in sorted(map(str, set(raw) - set(wanted_keys))):
        out.warn(file, key, section, "is not a key of the English text; ignored")
    return result


def _load_examples(
    directory: Path, entry_ids: set[str], out: _Collector
) -> tuple[dict[str, Mapping[str, tuple[str, ...]]], dict[str, tuple[str, ...]]]:
    """examples/<lang>.yaml: `answered: {entry id: [questions]}`, `declined: [questions]`."""
    examples: dict[str, Mapping[str, tuple[str, ...]]] = {}
    declined: dict[str, tuple[str, ...]] = {}
    for file in _language_files(directory, EXAMPLES_DIR):
        # <lang>.yaml holds curated examples, <lang>-asked.yaml real users' questions.
        language = Path(file).stem.split("-")[0]
        data = _read_yaml(directory / file, out, name=file)
        if data is None:
            continue
        if not isinstance(data, dict):
            out.error(file, None, None, "must be a mapping with 'answered' and 'declined'")
            continue
        out.keys(file, None, data, {"language", "answered"}, {"declined"})
        if data.get("language") != language:
            out.error(file, None, "language", f"must be {language!r}, as the file is named")
        raw = data.get("answered") or {}
        by_entry: dict[str, tuple[str, ...]] = {}
        if not isinstance(raw, dict):
            out.error(file, None, "answered", "must map entry ids to lists of questions")
        else:
            for entry_id in raw:
                if str(entry_id) not in entry_ids:
                    out.warn(
                        file, str(entry_id), "answered", "is not an entry id of qa.yaml; ignored"
                    )
                    continue
                by_entry[str(entry_id)] = out.text_list(
                    file, str(entry_id), raw, entry_id, min_len=1
                )
        merged = dict(examples.get(language, {}))
        for entry_id, questions in by_entry.items():
            merged[entry_id] = (*merged.get(entry_id, ()), *questions)
        examples[language] = MappingProxyType(merged)
        file_declined = out.text_list(
            file, None, {"declined": data.get("declined") or []}, "declined", min_len=0
        )
        declined[language] = (*declined.get(language, ()), *file_declined)
        owner: dict[str, str] = {}
        for entry_id, questions in (
            *by_entry.items(),
            *(("declined", q) for q in [declined[language]]),
        ):
            for question in questions:
                first = owner.setdefault(normalise(question), entry_id)
                if first != entry_id:
                    out.error(
                        file, entry_id, "answered", f"{question!r} is also asked for {first!r}"
                    )
    return examples, declined


def load_knowledge(directory: Path | str = DEFAULT_KNOWLEDGE_DIR) -> Knowledge:
    """Read and fully validate the knowledge base; raise KnowledgeError listing every problem."""
    directory = Path(directory)
    out = _Collector()
    if not directory.is_dir():
        raise KnowledgeError([Problem(str(directory), None, None, "is not a directory")])
    article = _load_article(directory, out)
    facts = _load_facts(directory, article, out)
    entries = _load_entries(directory, out)
    topics = _load_topics(directory, out)
    phrase_owner: dict[str, str] = {}
    aliases, alias_file = _load_phrase_groups(
        directory, "aliases.yaml", "aliases", out, phrase_owner
    )
    actors = _load_actors(alias_file, aliases, out)
    not_covered, _ = _load_phrase_groups(
        directory, "not_covered.yaml", "not_covered", out, phrase_owner
    )
    messages = _load_messages(directory, out)
    asked, declined = _load_asked(directory, out)
    wordings: dict[str, Wording] = {}
    examples: dict[str, Mapping[str, tuple[str, ...]]] = {}
    examples_declined: dict[str, tuple[str, ...]] = {}
    if not out.unreadable:  # translations are checked against English, which must be whole
        wordings = _load_wordings(directory, _english_wording(entries, topics, messages), out)
        examples, examples_declined = _load_examples(directory, {e.id for e in entries}, out)
    first_paragraph = {
        e.id: min((facts[f].paragraph for f in e.facts if f in facts), default=0) for e in entries
    }
    timeline = _load_timeline(directory, first_paragraph, out)
    if not entries and not any(p.file == "qa.yaml" for p in out.errors):
        out.error("qa.yaml", None, "entries", "the knowledge base has no entries")
    if not out.unreadable:
        _cross_check(article, facts, entries, topics, out)
        _check_asked(entries, asked, declined, out)
    if out.errors or article is None:
        raise KnowledgeError(out.errors or [Problem("article.yaml", None, None, "missing")])
    text_file = "article.txt"
    return Knowledge(
        article=article,
        facts=MappingProxyType(facts),
        entries=tuple(entries),
        topics=tuple(topics),
        aliases=MappingProxyType(aliases),
        not_covered=MappingProxyType(not_covered),
        messages=MappingProxyType(messages),
        actors=MappingProxyType(actors),
        asked=MappingProxyType(asked),
        declined=declined,
        wordings=MappingProxyType(wordings),
        examples=MappingProxyType(examples),
        examples_declined=MappingProxyType(examples_declined),
        timeline=timeline,
        version=knowledge_version(directory, text_file),
        warnings=tuple(out.warnings),
    )


# -- a validated version, cached --------------------------------------------------------------
# Parsing and validating the YAML takes most of a cold start (a tenth of a second or more);
# a version already validated is read back from JSON instead. The key covers the files'
# bytes and the loader's own source, so a changed file or changed rules validate anew.
_LOADER_SOURCES = ("knowledge.py", "wording.py", "textnorm.py")
_WORDING_PARTS = ("messages", "topics", "labels", "answers")


def _cache_key(version: str) -> str:
    digest = hashlib.sha256(version.encode())
    for name in _LOADER_SOURCES:
        digest.update((Path(__file__).with_name(name)).read_bytes())
    return digest.hexdigest()[:20]


def _frozen_lists(mapping: Mapping[str, Any]) -> Mapping[str, tuple[str, ...]]:
    return MappingProxyType({k: tuple(v) for k, v in mapping.items()})


def knowledge_to_json(knowledge: Knowledge) -> dict[str, Any]:
    """Everything of a validated Knowledge, as JSON-ready data."""
    a = knowledge.article
    return {
        "article": {
            "title": a.title,
            "authors": list(a.authors),
            "outlet": a.outlet,
            "date": a.date,
            "url": a.url,
            "text": a.text,
            "paragraphs": list(a.paragraphs),
            "non_factual_paragraphs": {str(k): v for k, v in a.non_factual_paragraphs.items()},
        },
        "facts": [
            {**vars(f), "tags": {k: list(v) for k, v in f.tags.items()}}
            for f in knowledge.facts.values()
        ],
        "entries": [vars(e) for e in knowledge.entries],
        "topics": [vars(t) for t in knowledge.topics],
        "aliases": dict(knowledge.aliases),
        "not_covered": dict(knowledge.not_covered),
        "messages": dict(knowledge.messages),
        "version": knowledge.version,
        "warnings": [vars(p) for p in knowledge.warnings],
        "actors": dict(knowledge.actors),
        "asked": dict(knowledge.asked),
        "declined": list(knowledge.declined),
        "wordings": {
            lang: {k: dict(getattr(w, k)) for k in _WORDING_PARTS}
            for lang, w in knowledge.wordings.items()
        },
        "examples": {lang: dict(by_entry) for lang, by_entry in knowledge.examples.items()},
        "examples_declined": dict(knowledge.examples_declined),
        "timeline": [list(step) for step in knowledge.timeline],
    }


def knowledge_from_json(data: Mapping[str, Any]) -> Knowledge:
    a = data["article"]
    article = Article(
        title=a["title"],
        authors=tuple(a["authors"]),
        outlet=a["outlet"],
        date=a["date"],
        url=a["url"],
        text=a["text"],
        paragraphs=tuple(a["paragraphs"]),
        non_factual_paragraphs=MappingProxyType(
            {int(k): v for k, v in a["non_factual_paragraphs"].items()}
        ),
    )
    facts = {
        f["id"]: Fact(f["id"], f["statement"], f["quote"], f["paragraph"], _frozen_lists(f["tags"]))
        for f in data["facts"]
    }
    entries = tuple(
        Entry(
            e["id"],
            e["topic"],
            tuple(e["questions"]),
            e["answer"],
            tuple(e["facts"]),
            tuple(e["related"]),
        )
        for e in data["entries"]
    )
    return Knowledge(
        article=article,
        facts=MappingProxyType(facts),
        entries=entries,
        topics=tuple(Topic(t["id"], t["title"], t["lead"]) for t in data["topics"]),
        aliases=_frozen_lists(data["aliases"]),
        not_covered=_frozen_lists(data["not_covered"]),
        messages=MappingProxyType(dict(data["messages"])),
        version=data["version"],
        warnings=tuple(Problem(**p) for p in data["warnings"]),
        actors=_frozen_lists(data["actors"]),
        asked=_frozen_lists(data["asked"]),
        declined=tuple(data["declined"]),
        wordings=MappingProxyType(
            {
                lang: Wording(
                    lang, *(frozen(w[k]) for k in ("messages", "topics", "labels", "answers"))
                )
                for lang, w in data["wordings"].items()
            }
        ),
        examples=MappingProxyType(
            {lang: _frozen_lists(by_entry) for lang, by_entry in data["examples"].items()}
        ),
        examples_declined=_frozen_lists(data["examples_declined"]),
        timeline=tuple(tuple(step) for step in data["timeline"]),
    )


def load_knowledge_cached(directory: Path | str, cache_dir: Path | None) -> Knowledge:
    """load_knowledge, or the same version read back from `cache_dir` when validated before."""
    directory = Path(directory)
    if cache_dir is None or not directory.is_dir():
        return load_knowledge(directory)
    path = cache_dir / f"knowledge-{_cache_key(knowledge_version(directory))}.json"
    try:
        return knowledge_from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        pass  # not cached yet (or unreadable): validate it now
    knowledge = load_knowledge(directory)
    import tempfile  # only to write the cache, off the cold path

    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=cache_dir, suffix=".tmp", delete=False
        ) as tmp:
            json.dump(knowledge_to_json(knowledge), tmp, ensure_ascii=False)
        os.replace(tmp.name, path)
    except OSError:
        pass  # a read-only cache only costs the validation next time
    return knowledge
