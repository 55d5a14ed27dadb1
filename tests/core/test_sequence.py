"""Questions on the order of events: told apart from questions about an event itself."""

from __future__ import annotations

import pytest

from bot.core.sequence import Relation, relation_of


@pytest.mark.parametrize(
    ("question", "relation"),
    [
        ("what happened after the Jeddah talks?", Relation("after", "the jeddah talks")),
        ("What came before the Trump-Putin call?", Relation("before", "the trump putin call")),
        ("what followed the Black Sea deal?", Relation("after", "the black sea deal")),
        ("After the March 18 call, what happened next?", Relation("after", "the march 18 call")),
        ("ok so: what was the next step after Jeddah", Relation("after", "jeddah")),
        ("що було після Джидди?", Relation("after", "джидди")),
        (
            "яка домовленість зʼявилась уже після розмови Трампа із Зеленським?",
            Relation("after", "розмови трампа із зеленським"),
        ),
        (
            "что произошло после того, как Трамп позвонил Путину?",
            Relation("after", "того как трамп позвонил путину"),
        ),
        # The event's words end at a comma: a second question does not join them.
        ("what happened after the call, and why", Relation("after", "the call")),
    ],
)
def test_what_came_before_or_after_an_event(question: str, relation: Relation) -> None:
    assert relation_of(question) == relation


@pytest.mark.parametrize(
    "question",
    [
        # About the event itself, or about someone in it.
        "what did Zelensky say after the Jeddah talks?",
        "what happened to the aid after Jeddah?",
        "will Russia still be a threat after the war ends?",
        # A prediction, not an order of events the article reports.
        "when's the next round of talks after Jeddah?",
        "що буде після перемирʼя?",
        # After a period ran out: beyond what the article reports.
        "what happened after the 30-day truce expired?",
        "что было после того как истек срок перемирия?",
        "what happened after " + "the call " * 40,
    ],
)
def test_other_questions_with_after_or_before_are_left_to_the_model(question: str) -> None:
    assert relation_of(question) is None
