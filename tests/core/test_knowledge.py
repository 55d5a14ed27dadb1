"""The knowledge base: the shipped one is valid, and every kind of breakage is reported."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.core.knowledge import DEFAULT_KNOWLEDGE_DIR, KnowledgeError, load_knowledge
from bot.core.service import KnowledgeHolder
from bot.core.textnorm import normalise_for_quote_check

SHARED_ARTICLE = Path(__file__).resolve().parents[3] / "shared" / "source" / "article.txt"


@pytest.fixture
def kb_copy(tmp_path: Path) -> Path:
    target = tmp_path / "knowledge"
    shutil.copytree(DEFAULT_KNOWLEDGE_DIR, target)
    return target


def _problems(directory: Path) -> list[str]:
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(directory)
    return [str(p) for p in caught.value.problems]


def test_shipped_knowledge_loads_without_warnings() -> None:
    knowledge = load_knowledge()
    assert len(knowledge.entries) >= 25
    assert knowledge.warnings == ()


@pytest.mark.skipif(not SHARED_ARTICLE.is_file(), reason="shared/ not beside the checkout")
def test_shipped_article_is_the_shared_source_verbatim() -> None:
    shipped = (DEFAULT_KNOWLEDGE_DIR / "article.txt").read_bytes()
    assert shipped == SHARED_ARTICLE.read_bytes()


def test_every_quote_is_a_verbatim_passage_of_its_paragraph() -> None:
    knowledge = load_knowledge()
    for fact in knowledge.facts.values():
        paragraph = normalise_for_quote_check(knowledge.article.paragraph(fact.paragraph))
        assert normalise_for_quote_check(fact.quote) in paragraph, fact.id


def test_every_factual_paragraph_is_cited_by_a_fact() -> None:
    knowledge = load_knowledge()
    cited = {f.paragraph for f in knowledge.facts.values()}
    for number in range(1, len(knowledge.article.paragraphs) + 1):
        if number not in knowledge.article.non_factual_paragraphs:
            assert number in cited, knowledge.article.paragraph(number)


def test_metadata_the_article_lacks_stays_unset() -> None:
    article = load_knowledge().article
    assert article.date is None
    assert article.url is None
    assert article.outlet == "Babel"
    assert article.authors == ("Oksana Kovalenko", "Oleksandra Opanasenko")


def test_altered_quote_is_reported_with_file_fact_and_field(kb_copy: Path) -> None:
    facts = kb_copy / "facts.yaml"
    facts.write_text(
        facts.read_text(encoding="utf-8").replace(
            "Putin demanded that Ukraine stop the mobilization",
            "Putin demanded that Ukraine halt the mobilization",
        ),
        encoding="utf-8",
    )
    assert _problems(kb_copy) == [
        "facts.yaml [putin-demands] quote: is not a verbatim passage of the article"
    ]


def test_quote_given_the_wrong_paragraph_names_the_right_one(kb_copy: Path) -> None:
    facts = kb_copy / "facts.yaml"
    text = facts.read_text(encoding="utf-8")
    start = text.index("  - id: black-sea-ban")
    fixed = text[:start] + text[start:].replace("paragraph: 18", "paragraph: 17", 1)
    facts.write_text(fixed, encoding="utf-8")
    assert _problems(kb_copy) == [
        "facts.yaml [black-sea-ban] paragraph: the quote stands in paragraph 18, not 17"
    ]


def test_quote_whitespace_differences_are_accepted(kb_copy: Path) -> None:
    facts = kb_copy / "facts.yaml"
    facts.write_text(
        facts.read_text(encoding="utf-8").replace(
            "quote: Meanwhile, Russia continues massive attacks",
            "quote: Meanwhile,   Russia continues  massive attacks",
        ),
        encoding="utf-8",
    )
    assert load_knowledge(kb_copy).facts["russia-attacks-continue"].paragraph == 19


def test_unknown_fact_reference_and_duplicate_id_are_reported(kb_copy: Path) -> None:
    qa = kb_copy / "qa.yaml"
    text = qa.read_text(encoding="utf-8")
    text = text.replace("facts: [black-sea-ban, black-sea-sanctions]", "facts: [black-sea-bam]")
    text = text.replace("  - id: war-toll\n", "  - id: war-situation\n")
    qa.write_text(text, encoding="utf-8")
    problems = _problems(kb_copy)
    assert "qa.yaml [black-sea] facts: 'black-sea-bam' is not a fact id in facts.yaml" in problems
    assert "qa.yaml [war-situation] id: is used by another entry" in problems


def test_missing_field_and_unknown_field_are_reported(kb_copy: Path) -> None:
    qa = kb_copy / "qa.yaml"
    text = qa.read_text(encoding="utf-8")
    start = text.index("  - id: black-sea\n")
    end = text.index("  - id:", start + 5)
    block = text[start:end].replace("    topic: black-sea\n", "    topik: black-sea\n")
    qa.write_text(text[:start] + block + text[end:], encoding="utf-8")
    problems = _problems(kb_copy)
    assert "qa.yaml [black-sea] topic: is missing" in problems
    assert "qa.yaml [black-sea] topik: is not a known field (typo?)" in problems


def test_invalid_yaml_names_file_and_line(kb_copy: Path) -> None:
    (kb_copy / "topics.yaml").write_text("topics:\n  - id: [unclosed\n", encoding="utf-8")
    [problem] = _problems(kb_copy)
    assert problem.startswith("topics.yaml: is not valid YAML at line")


def test_uncovered_paragraph_is_reported(kb_copy: Path) -> None:
    facts = kb_copy / "facts.yaml"
    text = facts.read_text(encoding="utf-8")
    start = text.index("  - id: russia-attacks-continue")
    facts.write_text(text[:start], encoding="utf-8")
    problems = _problems(kb_copy)
    assert any("paragraph 19" in p and "has no fact" in p for p in problems)


def test_actors_must_name_alias_groups_once_each(kb_copy: Path) -> None:
    aliases = kb_copy / "aliases.yaml"
    text = aliases.read_text(encoding="utf-8")
    text = text.replace("  us: [trump, us]\n", "  us: [trump, usa, putin]\n")
    aliases.write_text(text, encoding="utf-8")
    problems = _problems(kb_copy)
    assert "aliases.yaml [us] actors: 'usa' is not an alias group" in problems
    assert "aliases.yaml [us] actors: 'putin' already names 'russia'" in problems


def test_shipped_actors_are_loaded(kb_copy: Path) -> None:
    actors = load_knowledge(kb_copy).actors
    assert actors["russia"] == ("putin", "russia")
    assert set(actors) == {"russia", "ukraine", "us", "nato"}


def test_broken_reload_keeps_the_previous_version_serving(kb_copy: Path) -> None:
    holder = KnowledgeHolder(kb_copy)
    before = holder.current
    (kb_copy / "qa.yaml").write_text("entries: [", encoding="utf-8")
    with pytest.raises(KnowledgeError):
        holder.reload()
    assert holder.current is before
    assert holder.current.answer("black sea sanctions").entry_id == "black-sea"


def test_reload_reports_added_removed_and_changed_entries(kb_copy: Path) -> None:
    holder = KnowledgeHolder(kb_copy)
    qa = kb_copy / "qa.yaml"
    text = qa.read_text(encoding="utf-8")
    start = text.index("  - id: article-url\n")
    end = text.index("  - id:", start + 5)
    text = text[:start] + text[end:]
    text = text.replace(
        "related: [article-outlet, article-url]", "related: [article-outlet]"
    ).replace("related: [article-authors, article-url]", "related: [article-authors]")
    text = text.replace(
        "The article was written by Oksana Kovalenko and Oleksandra Opanasenko.",
        "Oksana Kovalenko and Oleksandra Opanasenko wrote the article.",
    )
    qa.write_text(text, encoding="utf-8")
    report = holder.reload()
    assert report.removed == ("article-url",)
    assert report.added == ()
    assert "article-authors" in report.changed
    assert report.old_version != report.new_version


def test_asked_questions_must_name_entries_and_ask_for_one_thing(kb_copy: Path) -> None:
    (kb_copy / "asked.yaml").write_text(
        "answered:\n"
        "  no-such-entry: ['what about it?']\n"
        "  article-authors: ['who penned it?', 'What is the source?']\n"
        "  article-outlet: ['Who penned it?']\n"
        "declined:\n"
        "  - 'who penned it'\n",
        encoding="utf-8",
    )
    problems = "\n".join(_problems(kb_copy))
    # "What is the source?" is a curated question of article-outlet.
    assert "'What is the source?' is also asked for 'article-outlet'" in problems
    assert "asked.yaml [article-outlet] answered: 'Who penned it?' is also asked for" in problems
    assert "asked.yaml declined: 'who penned it' is also asked for 'article-authors'" in problems
    (kb_copy / "asked.yaml").write_text("declined: ['ok?', '']\n", encoding="utf-8")
    assert _problems(kb_copy) == [
        "asked.yaml declined: must be a list of non-empty strings, got list ['ok?', '']"
    ]


def test_asked_file_is_optional_and_feeds_the_phrasings(kb_copy: Path) -> None:
    shipped = load_knowledge(kb_copy)
    entry = shipped.entry("article-authors")
    assert shipped.phrasings(entry)[: len(entry.questions)] == entry.questions
    (kb_copy / "asked.yaml").unlink()
    bare = load_knowledge(kb_copy)
    assert bare.asked == {} and bare.declined == ()
    assert bare.phrasings(bare.entry("article-authors")) == entry.questions
    # Questions for an entry that is gone are dropped with a warning, not a failed load.
    (kb_copy / "asked.yaml").write_text("answered:\n  gone: ['what about it?']\n")
    left = load_knowledge(kb_copy)
    assert left.asked == {}
    assert [str(w) for w in left.warnings] == [
        "asked.yaml [gone] answered: 'gone' is not an entry id; ignored"
    ]


def test_the_timeline_names_entries_once_each_in_the_article_order(kb_copy: Path) -> None:
    assert load_knowledge(kb_copy).timeline[:2] == (
        ("jeddah-talks", "us-aid-resumed", "ceasefire-30-day"),
        ("trump-putin-call", "putin-response", "energy-ceasefire"),
    )
    (kb_copy / "timeline.yaml").write_text(
        "steps:\n  - entry: trump-putin-call\n  - entry: jeddah-talks\n"
        "    includes: [trump-putin-call, no-such-entry]\n",
        encoding="utf-8",
    )
    assert _problems(kb_copy) == [
        "timeline.yaml [#2] includes: 'trump-putin-call' is in another step too",
        "timeline.yaml [#2] includes: 'no-such-entry' is not an entry id",
        "timeline.yaml [#2] entry: 'jeddah-talks' comes before 'trump-putin-call' in the article",
    ]
