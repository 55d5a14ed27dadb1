"""Questions on the order of events: "what happened after the Trump–Putin call?".

Such a question names one event and wants another, so a model of its words finds the event it
names. This module tells these questions apart and returns the direction and the words that
name the event; the matcher finds that event in the knowledge base's timeline and answers
with its neighbour. Only the plain "what came next" kind counts ("what happened / came /
followed after X", "що було після X", "что произошло после X"): "what did Zelensky say after
the call" asks about Zelensky and is left to the model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from bot.core.textnorm import normalise

Direction = Literal["after", "before"]

__all__ = ["Direction", "Relation", "relation_of"]

# The event a reference may name is found in at most this many words; longer messages are
# not this kind of question (and the patterns stay linear on hostile input).
MAX_REFERENCE_WORDS = 10
MAX_QUESTION_WORDS = 30

_ASK = {
    "en": r"what|which|whats",
    "uk": r"що|шо|яка|який|яке|які|чим",
    "ru": r"что|чё|че|шо|какая|какой|какое|какие|чем",
}
_EVENT_VERB = {
    "en": r"happened|happen|came|come|occurred|took place|was|were|is",
    "uk": (
        r"було|була|був|сталося|сталось|відбулося|відбулось|трапилося|трапилось|настало"
        r"|пішло|йшло|зявилося|зявилось|зявилась|зявилася|зявився"
    ),
    "ru": (
        r"было|была|был|произошло|случилось|состоялось|стало|настало|пошло|шло"
        r"|появилось|появилась|появился"
    ),
}
# Words between the verb and "after" that keep the question about the next event.
_FILLER = {
    "en": r"next|then|right|just|immediately|soon|shortly|straight|the next step|the next thing"
    r"|the next event|the next move|next step|the day|the week|a day|one day|days|a week",
    "uk": r"далі|потім|одразу|відразу|зразу|уже|вже|згодом|наступного дня|наступним",
    "ru": r"дальше|потом|затем|сразу|уже|вскоре|на следующий день|следующим",
}
_AFTER = {
    "en": r"after|following|since",
    "uk": r"після|слідом за|услід за",
    "ru": r"после|вслед за|следом за",
}
_BEFORE = {
    "en": r"before|prior to|ahead of",
    "uk": r"перед|до",
    "ru": r"перед|до",
}
# "After the 30 days ran out": the end of a period the article does not reach.
_PERIOD_END = re.compile(
    r"\b(?:expired?|expires|expiry|lapsed?|ran out|runs out|run out|(?:was|were|is|are) up"
    r"|сплив\w*|минув|минули|минуло|закінчи\w* строк|вичерпа\w*"
    r"|исте[кч]\w*|истёк\w*|закончи\w* срок|кончи\w* срок)\b"
)
# One verb holds both the ask and the direction: "what followed the Jeddah talks?"
_AFTER_VERB = {"en": r"followed", "uk": r"слідувало за", "ru": r"последовало за"}
_BEFORE_VERB = {"en": r"preceded", "uk": r"передувало", "ru": r"предшествовало"}


def _joined(table: dict[str, str]) -> str:
    return "|".join(table.values())


def _patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    ask, verb, filler = _joined(_ASK), _joined(_EVENT_VERB), _joined(_FILLER)
    after, before = _joined(_AFTER), _joined(_BEFORE)
    combined = f"{_joined(_AFTER_VERB)}|{_joined(_BEFORE_VERB)}"
    # "what (else) happened (next) after X", "яка домовленість зʼявилась після X": the question
    # word, at most two words, the verb, fillers, the direction; or a verb that holds it.
    asked = rf"\b(?:{ask})(?:\s+\S+){{0,2}}?\s+"
    lead = (
        rf"{asked}(?:(?:{verb})(?:\s+(?:{filler}))*\s+(?P<direction>{after}|{before})"
        rf"|(?P<combined>{combined}))\s+(?P<reference>[^,]+)"
    )
    # "after the Jeddah talks, what happened (next)?"
    trail = (
        rf"^(?:\S+\s+){{0,2}}?(?P<direction>{after}|{before})\s+(?P<reference>[^,]+?)"
        rf"(?:\s+,)?\s+{asked}(?:{verb})(?:\s+(?:{filler}))*$"
    )
    return re.compile(lead), re.compile(trail)


_LEAD, _TRAIL = _patterns()
_SENTENCES = re.compile(r"[.?!;:\n]+")
# "після того, як ..." / "после того, как ...": the comma opens the event's words.
_THAT_CLAUSE = re.compile(r"\bтого\s*,\s*(?=(?:як|как)\b)", re.IGNORECASE)
_AFTER_WORDS = re.compile(rf"^(?:{_joined(_AFTER)}|{_joined(_AFTER_VERB)})$")


@dataclass(frozen=True)
class Relation:
    """A question on what came `direction` the event that `reference` names."""

    direction: Direction
    reference: str


def relation_of(question: str) -> Relation | None:
    """The direction and the event's words of a "what came after/before X" question."""
    for sentence in _SENTENCES.split(_THAT_CLAUSE.sub("того ", question)):
        # Normalised clause by clause, commas kept: the event's words end at a comma.
        text = " , ".join(filter(None, map(normalise, sentence.split(","))))
        if not text or len(text.split()) > MAX_QUESTION_WORDS:
            continue
        for pattern in (_LEAD, _TRAIL):
            found = pattern.search(text)
            if found is None or _PERIOD_END.search(found.group("reference")):
                continue
            marker = found.groupdict().get("combined") or found.group("direction")
            words = found.group("reference").split()[:MAX_REFERENCE_WORDS]
            direction: Direction = "after" if _AFTER_WORDS.match(marker) else "before"
            return Relation(direction, " ".join(words))
    return None
