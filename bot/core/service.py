"""One loaded knowledge version with its matcher, and atomic reloads that never half-apply."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from bot.core.answers import Answer, answer_entry, answer_question
from bot.core.knowledge import (
    DEFAULT_KNOWLEDGE_DIR,
    Knowledge,
    KnowledgeError,
    Problem,
    load_knowledge,
    load_knowledge_cached,
)
from bot.core.matcher import Matcher
from bot.core.model_cache import TrainingParams, load_model


@dataclass(frozen=True)
class Snapshot:
    """A validated knowledge base and the matcher prepared for it; never changes."""

    knowledge: Knowledge
    matcher: Matcher

    @cached_property
    def warnings(self) -> tuple[Problem, ...]:
        """The loader's warnings plus phrasings that collide with another entry.

        The collision check matches every curated example (about 5,000, a second or so); it
        never blocks a load (warnings cannot make one fail) and runs when asked for: by
        `check`, by /reload's report, and after the bot starts.
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
    """Curated examples the model sends to another entry: they collide and need rewording.

    qa.yaml's phrasings and examples/ are checked; asked.yaml holds real users' wording,
    where a miss is information about the model rather than a slip in the file.
    """
    problems = []
    curated = [
        ("qa.yaml", "questions", entry.id, question)
        for entry in knowledge.entries
        for question in entry.questions
    ]
    for language, by_entry in sorted(knowledge.examples.items()):
        curated.extend(
            (f"examples/{language}.yaml", "answered", entry_id, question)
            for entry_id, questions in by_entry.items()
            for question in questions
        )
    for file, field, entry_id, question in curated:
        ranked = matcher.rank(question, limit=1)
        if ranked and ranked[0].entry_id != entry_id:
            problems.append(
                Problem(file, entry_id, field, f"{question!r} is matched to {ranked[0].entry_id!r}")
            )
    return problems


def load_snapshot(
    directory: Path | str = DEFAULT_KNOWLEDGE_DIR,
    cache_dir: Path | None = None,
    *,
    validate: bool = False,
    light: bool = False,
    params: TrainingParams | None = None,
) -> Snapshot:
    """Load, validate and train (or take what `cache_dir` holds for this exact version).

    `validate` validates the files even when this version was validated before (`check`).
    `light` serves a cached model without numpy: quicker to start, slower per question (about
    a millisecond), the same answers; for the command line's answers, not for the bot.
    `params` are the training's (the shipped ones by default).
    Raises KnowledgeError and changes nothing if the files are invalid or training fails.
    """
    knowledge = (
        load_knowledge(directory) if validate else load_knowledge_cached(directory, cache_dir)
    )
    try:
        model = load_model(knowledge, cache_dir, params, light=light)
    except (ValueError, MemoryError, FloatingPointError) as error:
        raise KnowledgeError(
            [Problem("model", None, None, f"training failed: {type(error).__name__}: {error}")]
        ) from error
    return Snapshot(knowledge, Matcher(knowledge, model))


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

    def __init__(
        self,
        directory: Path | str,
        snapshot: Snapshot | None = None,
        cache_dir: Path | None = None,
        params: TrainingParams | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.cache_dir = cache_dir
        self.params = params
        self._snapshot = (
            snapshot
            if snapshot is not None
            else load_snapshot(self.directory, cache_dir, params=params)
        )
        self._reload_lock = threading.Lock()

    @property
    def current(self) -> Snapshot:
        return self._snapshot

    def reload(self) -> ReloadReport:
        """Re-read the directory; swap in the new version only if it is entirely valid."""
        with self._reload_lock:
            old = self._snapshot
            # Trains when the examples changed (seconds): the old version serves meanwhile,
            # and stays if this raises KnowledgeError.
            new = load_snapshot(self.directory, self.cache_dir, params=self.params)
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
