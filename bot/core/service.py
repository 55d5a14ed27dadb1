"""One loaded knowledge version with its matcher, and atomic reloads that never half-apply."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from bot.core.answers import Answer, answer_entry, answer_question
from bot.core.knowledge import DEFAULT_KNOWLEDGE_DIR, Knowledge, Problem, load_knowledge
from bot.core.matcher import Matcher


@dataclass(frozen=True)
class Snapshot:
    """A validated knowledge base and the matcher prepared for it; never changes."""

    knowledge: Knowledge
    matcher: Matcher

    @cached_property
    def warnings(self) -> tuple[Problem, ...]:
        """The loader's warnings plus phrasings that collide with another entry.

        The collision check matches every phrasing (about 1,000), so it costs several
        times the load itself; it never blocks a load (warnings cannot make one fail) and
        runs when asked for: by `check`, by /reload's report, and after the bot starts.
        """
        return (*self.knowledge.warnings, *routing_warnings(self.knowledge, self.matcher))

    @property
    def version(self) -> str:
        return self.knowledge.version

    def answer(
        self,
        question: str,
        *,
        language: str | None = None,
        fallback_language: str | None = None,
    ) -> Answer:
        """Answer in `language` if given, else in the question's language or the fallback's."""
        return answer_question(
            self.knowledge,
            self.matcher,
            question,
            language=language,
            fallback_language=fallback_language,
        )

    def answer_entry(
        self, entry_id: str, question: str | None = None, language: str | None = None
    ) -> Answer | None:
        """The answer of one entry by id, or None if this version has no such entry."""
        if not self.knowledge.has_entry(entry_id):
            return None
        wording = self.knowledge.wording(language)
        label = wording.labels[entry_id]
        return answer_entry(self.knowledge, entry_id, question or label, language=wording.language)


def routing_warnings(knowledge: Knowledge, matcher: Matcher) -> list[Problem]:
    """Phrasings the matcher would send to another entry: they collide and need rewording."""
    problems = [
        Problem(
            "qa.yaml",
            entry_id,
            "questions",
            f"a phrasing names {subject!r}, which not_covered.yaml says the article does not cover",
        )
        for entry_id, subject in matcher.not_covered_in_phrasings()
    ]
    for entry in knowledge.entries:
        curated = [("qa.yaml", "questions", q) for q in entry.questions]
        asked = [("asked.yaml", "answered", q) for q in knowledge.asked.get(entry.id, ())]
        for file, field, question in (*curated, *asked):
            ranked = matcher.rank(question, limit=2)
            if ranked and ranked[0].entry_id != entry.id:
                own = next((c.score for c in ranked if c.entry_id == entry.id), None)
                if own is None or ranked[0].score > own:
                    problems.append(
                        Problem(
                            file,
                            entry.id,
                            field,
                            f"{question!r} is matched to {ranked[0].entry_id!r} instead",
                        )
                    )
    for question in knowledge.declined:
        result = matcher.match(question)
        if result.status == "answered":
            problems.append(
                Problem(
                    "asked.yaml",
                    None,
                    "declined",
                    f"{question!r} is answered with {result.entry_id!r}",
                )
            )
    return problems


def load_snapshot(directory: Path | str = DEFAULT_KNOWLEDGE_DIR) -> Snapshot:
    """Load, validate and prepare; raise KnowledgeError and change nothing if invalid."""
    knowledge = load_knowledge(directory)
    return Snapshot(knowledge, Matcher(knowledge))


@dataclass(frozen=True)
class ReloadReport:
    """What a successful reload changed."""

    old_version: str
    new_version: str
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]
    warnings: tuple[Problem, ...]

    @property
    def unchanged(self) -> bool:
        return self.old_version == self.new_version


class KnowledgeHolder:
    """Holds the current snapshot; readers take one reference and keep a consistent view."""

    def __init__(self, directory: Path | str, snapshot: Snapshot | None = None) -> None:
        self.directory = Path(directory)
        self._snapshot = snapshot if snapshot is not None else load_snapshot(self.directory)
        self._reload_lock = threading.Lock()

    @property
    def current(self) -> Snapshot:
        return self._snapshot

    def reload(self) -> ReloadReport:
        """Re-read the directory; swap in the new version only if it is entirely valid."""
        with self._reload_lock:
            old = self._snapshot
            new = load_snapshot(self.directory)  # raises KnowledgeError: old keeps serving
            self._snapshot = new  # one reference assignment: readers see old or new, whole
        return diff_snapshots(old, new)


def diff_snapshots(old: Snapshot, new: Snapshot) -> ReloadReport:
    """Entries added, removed and changed between two versions."""
    before = {e.id: e for e in old.knowledge.entries}
    after = {e.id: e for e in new.knowledge.entries}

    def cited(knowledge: Knowledge, entry_id: str) -> tuple[object, ...]:
        entry = knowledge.entry(entry_id)
        return (entry, tuple(knowledge.facts.get(f) for f in entry.facts))

    changed = tuple(
        sorted(
            eid
            for eid in before.keys() & after.keys()
            if cited(old.knowledge, eid) != cited(new.knowledge, eid)
        )
    )
    return ReloadReport(
        old_version=old.version,
        new_version=new.version,
        added=tuple(sorted(after.keys() - before.keys())),
        removed=tuple(sorted(before.keys() - after.keys())),
        changed=changed,
        warnings=new.warnings,
    )
