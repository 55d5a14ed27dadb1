"""Match a question to a knowledge-base entry with the learned model: answer, suggest or decline.

The pipeline: normalise -> features (bot/core/features.py) -> model probabilities
(bot/core/scoring.py: the numpy model, or its cached file read in place) -> decision. The
decision answers when the best entry is likely enough and clearly ahead of the next class
(the declined questions are one of the classes), offers "did you mean" when entries are
plausible but not clear, and declines otherwise. A message that holds more than one sentence
or question is also decided part by part, so that chatter or a second question beside an
answerable one does not drown it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from bot.core.knowledge import Knowledge
from bot.core.language import CYRILLIC_LANGUAGES, detect_language, has_cyrillic
from bot.core.scoring import DECLINED, Scorer
from bot.core.sequence import relation_of
from bot.core.textnorm import normalise
from bot.core.unstated import LENGTH_STATED, Unanswerable

Status = Literal["answered", "suggest", "unknown"]

__all__ = ["DECLINED", "Candidate", "Explanation", "MatchParams", "MatchResult", "Matcher"]


# How sure the language head must be of a question in Latin letters.
LANGUAGE_CONFIDENCE = 0.8
UNTELLING_WORDS = 2
# ...unless the language head is this sure that one or two Latin words are Ukrainian or Russian.
SHORT_LATIN_CONFIDENCE = 0.85
# Classes ranked for a decision: the answer, its runner-up, suggestions and explanations.
TOP_CLASSES = 12


@dataclass(frozen=True)
class MatchParams:
    """Decision thresholds, in percent of probability; chosen leave-one-batch-out.

    Measured on the seven hardest tuning batches (specialist words, half-remembered news,
    group-chat claims, phone typing, busy groups, Ukrainian, Russian), each left out of
    training in turn (right / wrong / declined): 40 with a lead of 15 gave 95.4 / 0.84 /
    95.7; no lead required 96.1 / 1.22 / 94.2; 30 with 15, 95.4 / 0.94 / 95.2; 50 with 15,
    93.5 / 0.8 / 95; a lead of 30, 94.5 / 0.56 / 96.2.
    """

    answer_threshold: float = 40.0
    answer_margin: float = 15.0
    # An entry this likely is offered as "did you mean" when nothing is answered outright.
    suggest_threshold: float = 15.0
    # ...unless under this share of its features were ever seen: "zqxv zqxv" is no question
    # to offer choices for. Typed questions, typos and all, have 0.7 or more.
    suggest_min_known: float = 0.5
    max_suggestions: int = 3
    # A part of a longer message needs this many words to be decided on its own.
    part_min_words: int = 3


@dataclass(frozen=True)
class Candidate:
    """An entry with its score (probability in percent) for one question."""

    entry_id: str
    score: float


@dataclass(frozen=True)
class MatchResult:
    """What the matcher decided for one question."""

    status: Status
    question: str
    entry_id: str | None
    score: float
    candidates: tuple[Candidate, ...] = field(default=())

    @property
    def suggestions(self) -> tuple[str, ...]:
        if self.status != "suggest":
            return ()
        return tuple(c.entry_id for c in self.candidates)


@dataclass(frozen=True)
class Explanation:
    """Why the matcher decided what it did: for /test and `ask --explain`."""

    result: MatchResult
    part: str  # the part of the message that decided (the whole message if none did)
    ranked: tuple[Candidate, ...]  # every class, the declined questions included
    nearest: tuple[tuple[str, str, float], ...]  # (entry id, example, similarity 0-100)
    features: tuple[tuple[str, float], ...]  # (feature, weight towards the top class)
    # A rule beside the model that decided: the order of events, or a figure never given.
    rule: str | None = None


# Sentence ends, and the joints where people put a second question in one message.
_PARTS = re.compile(
    r"(?<=[.!?;:])\s+|\n+|\s+(?:and also|also|plus|btw|and then|another question|"
    r"second question|і ще|а ще|ещё|еще|и еще|и ещё)\s+|\s*[?]\s*",
    re.IGNORECASE,
)


def message_parts(question: str, min_words: int) -> list[str]:
    """The sentences or questions of a longer message with at least `min_words` words."""
    parts = [p.strip() for p in _PARTS.split(question) if p and p.strip()]
    if len(parts) < 2:
        return []
    return [p for p in parts if len(p.split()) >= min_words]


class Matcher:
    """The learned matcher for one knowledge version and its model."""

    def __init__(
        self, knowledge: Knowledge, model: Scorer, params: MatchParams | None = None
    ) -> None:
        self.knowledge = knowledge
        self.model = model
        self.params = params or MatchParams()
        self._classes = model.classes
        self._declined = model.classes.index(DECLINED) if DECLINED in model.classes else -1
        self._known = {e.id for e in knowledge.entries}
        self._examples_by_entry: dict[str, list[str]] | None = None
        self._step_of = {e: i for i, step in enumerate(knowledge.timeline) for e in step}
        self._unanswerable = Unanswerable.of(knowledge.article.text)
        # Entries whose facts give no length ("30-day"): "how long?" is not theirs to answer.
        self._no_length = {
            e.id
            for e in knowledge.entries
            if not any(
                f in knowledge.facts and LENGTH_STATED.search(knowledge.facts[f].quote)
                for f in e.facts
            )
        }

    def _probabilities(self, text: str, top: int = TOP_CLASSES) -> list[Candidate]:
        """The `top` likeliest classes, best first: a decision needs no more."""
        return [
            Candidate(self._classes[i], probability * 100.0)
            for i, probability in self.model.ranked(text, top)
        ]

    def rank(self, question: str, limit: int = 5) -> list[Candidate]:
        """The most likely entries for the question, best first (declined questions left out)."""
        ranked = self._probabilities(question, max(TOP_CLASSES, limit + 1))
        return [c for c in ranked if c.entry_id in self._known][:limit]

    def _decide(self, question: str, ranked: Sequence[Candidate]) -> MatchResult:
        p = self.params
        entries = [c for c in ranked if c.entry_id in self._known]
        if not entries:
            return MatchResult("unknown", question, None, 0.0)
        top = entries[0]
        runner_up = next((c.score for c in ranked if c is not top), 0.0)
        clear = top.score >= p.answer_threshold and top.score - runner_up >= p.answer_margin
        if ranked[0] is top and clear:
            return MatchResult("answered", question, top.entry_id, top.score, tuple(entries))
        plausible = tuple(c for c in entries if c.score >= p.suggest_threshold)
        if (
            ranked[0].entry_id == DECLINED
            or not plausible
            or self.model.known_share(question) < p.suggest_min_known
        ):
            # Closest to the questions the article does not answer, or to nothing at all.
            return MatchResult(
                "unknown", question, None, top.score, tuple(entries[: p.max_suggestions])
            )
        return MatchResult(
            "suggest", question, top.entry_id, top.score, plausible[: p.max_suggestions]
        )

    def _neighbour(self, question: str) -> tuple[MatchResult, str, list[Candidate], str] | None:
        """ "What happened after X?": the step next to the event X names, from the timeline.

        The words naming X are matched alone; the steps they reach (at least half as likely
        as the likeliest, so "after the calls with Putin and Zelensky" names both) decide,
        the latest of them for "after", the earliest for "before".
        """
        if not self._step_of:
            return None
        relation = relation_of(question)
        if relation is None:
            return None
        ranked = self._probabilities(relation.reference)
        top = ranked[0]
        if top.entry_id not in self._step_of or top.score < self.params.answer_threshold:
            return None
        named = [
            self._step_of[c.entry_id]
            for c in ranked
            if c.entry_id in self._step_of and c.score >= top.score / 2
        ]
        after = relation.direction == "after"
        named_step = max(named) if after else min(named)
        step = named_step + 1 if after else named_step - 1
        if not 0 <= step < len(self.knowledge.timeline):
            return None  # nothing the article reports comes after (or before) it
        target = self.knowledge.timeline[step][0]
        result = MatchResult(
            "answered", question, target, top.score, (Candidate(target, top.score),)
        )
        named_entry = self.knowledge.timeline[named_step][0]
        rule = f"the order of events: {relation.direction} {named_entry}, from the timeline"
        return result, relation.reference, ranked, rule

    def _unanswered_by(self, question: str, result: MatchResult) -> str | None:
        """Why an answered question still is not this entry's to answer, if it is not."""
        if result.entry_id in self._no_length and self._unanswerable.length_asked(question):
            return f"a length, which the article does not give for {result.entry_id}"
        return None

    def _match_with_part(
        self, question: str
    ) -> tuple[MatchResult, str, list[Candidate], str | None]:
        # What the article cannot answer by its kind (a sum, a time of day, the bot's opinion)
        # is declined, unless another part of the message asks something that is answered.
        unanswerable = self._unanswerable.reason(question)
        neighbour = None if unanswerable else self._neighbour(question)
        if neighbour is not None:
            return neighbour
        ranked = self._probabilities(question)
        whole = self._decide(question, ranked)
        if whole.status == "answered" and not unanswerable:
            unanswerable = self._unanswered_by(question, whole)
            if unanswerable is None:
                return whole, question, ranked, None
        parts = message_parts(question, self.params.part_min_words)
        asking = [bool(unanswerable) and self._unanswerable.asked(p) for p in parts]
        # "Did the Saudis promise anything? money, guarantees?": what the article cannot give
        # is in a fragment that says what the question before it means, not a question apart.
        if unanswerable and not any(asking):
            parts = []
        for part, asks in zip(parts, asking, strict=False):
            if asks:
                continue
            part_ranked = self._probabilities(part)
            decided = self._decide(part, part_ranked)
            if decided.status == "answered" and self._unanswered_by(part, decided) is None:
                result = MatchResult(
                    "answered", question, decided.entry_id, decided.score, decided.candidates
                )
                return result, part, part_ranked, None
        if unanswerable:
            declined = MatchResult("unknown", question, None, whole.score, ())
            return declined, question, ranked, f"a question for {unanswerable}"
        return whole, question, ranked, None

    def language_of(self, question: str) -> str | None:
        """The question's language, or None when it does not tell (a bare "Jeddah?").

        Cyrillic is never English: the letters only one language writes decide, else the
        model's language head between Ukrainian and Russian. Latin letters may be English or
        transliterated Ukrainian or Russian: the head decides when it is sure (80 %), else
        the word lists of bot/core/language.py, else (three or more words) the head's guess.
        One or two words with no telling letter or word tell nothing (names, mostly: the
        client's language then decides) unless the head is sure they are transliterated.
        """
        told = detect_language(question)
        cyrillic = has_cyrillic(question)
        short = told is None and len(question.split()) <= UNTELLING_WORDS
        if short and cyrillic:
            return None
        probabilities = self.model.language_probabilities(question)
        if not probabilities:
            return None if short else told
        if cyrillic:
            return told if told in CYRILLIC_LANGUAGES else _likelier_cyrillic(probabilities)
        best = max(probabilities, key=probabilities.__getitem__)
        if short:
            # A short Latin question tells only when it is transliterated ("skolko pogibshih",
            # "retsept borshchu"); names and English words leave it to the client.
            sure = best in CYRILLIC_LANGUAGES and probabilities[best] >= SHORT_LATIN_CONFIDENCE
            return best if sure else None
        if told is None:
            # Three or more words, none of them English or a known transliterated word
            # ("kudy rukhalas liniya frontu"): the head's guess is all there is.
            return best
        return best if probabilities[best] >= LANGUAGE_CONFIDENCE else told

    def cyrillic_language(self, question: str) -> str:
        """Ukrainian or Russian, whichever the language head finds likelier."""
        return _likelier_cyrillic(self.model.language_probabilities(question))

    def match(self, question: str) -> MatchResult:
        """Decide whether to answer, suggest or decline."""
        return self._match_with_part(question)[0]

    def explain(self, question: str, limit: int = 5) -> Explanation:
        """The decision with the top classes, the nearest examples and the weightiest features."""
        from rapidfuzz import fuzz, process  # only for explanations, off the cold path

        result, part, ranked, rule = self._match_with_part(question)
        examples = self._examples()
        nearest: list[tuple[str, str, float]] = []
        for candidate in [c for c in ranked if c.entry_id in examples][:3]:
            found = process.extractOne(
                part,
                examples[candidate.entry_id],
                scorer=fuzz.token_sort_ratio,
                processor=normalise,
            )
            if found is not None:
                nearest.append((candidate.entry_id, found[0], float(found[1])))
        top_index = self._classes.index(ranked[0].entry_id)
        return Explanation(
            result=result,
            part=part,
            ranked=tuple(ranked[:limit]),
            nearest=tuple(nearest),
            features=tuple(self.model.contributions(part, top_index, 8)),
            rule=rule,
        )

    def _examples(self) -> dict[str, list[str]]:
        if self._examples_by_entry is None:
            from bot.core.training import training_examples  # for explanations only

            by_entry: dict[str, list[str]] = {}
            for example in training_examples(self.knowledge):
                by_entry.setdefault(example.label, []).append(example.text)
            self._examples_by_entry = by_entry
        return self._examples_by_entry


def _likelier_cyrillic(probabilities: Mapping[str, float]) -> str:
    return max(CYRILLIC_LANGUAGES, key=lambda lang: probabilities.get(lang, 0.0))
