"""Figures the article never gives: asked for in any of the three languages, and only while
the article states none of their kind."""

from __future__ import annotations

import pytest

from bot.core.knowledge import load_knowledge
from bot.core.unstated import UnstatedFigures


@pytest.fixture(scope="module")
def unstated() -> UnstatedFigures:
    return UnstatedFigures.of(load_knowledge().article.text)


def test_the_article_gives_no_sum_of_money_and_no_time_of_day(unstated: UnstatedFigures) -> None:
    assert unstated == UnstatedFigures(money=True, clock=True)


@pytest.mark.parametrize(
    "question",
    [
        "how much military aid did the US turn back on, in dollars?",
        "how many billions are in the package?",
        "скільки мільярдів допомоги повернули?",
        "какую сумму помощи разморозили?",
        "what time did the two presidents talk?",
        "how long did Trump's conversation with Putin last?",
        "скільки тривала розмова Трампа з Путіним?",
        "во сколько начался звонок?",
    ],
)
def test_questions_for_such_a_figure(unstated: UnstatedFigures, question: str) -> None:
    assert unstated.asked(question)


@pytest.mark.parametrize(
    "question",
    [
        "what did the US give Ukraine in exchange?",
        "how long is the ceasefire supposed to last?",
        "what are the Europeans doing?",
        "we've argued about this for an hour: what did Rutte mean by peace?",
        "What time period does the story cover?",
        "someone says the article gives casualty figures, like a million, true?",
    ],
)
def test_other_questions(unstated: UnstatedFigures, question: str) -> None:
    assert not unstated.asked(question)


def test_an_article_that_states_an_amount_turns_the_check_off() -> None:
    stated = UnstatedFigures.of("The US resumed $2 billion of aid. The call lasted 90 minutes.")
    assert stated == UnstatedFigures(money=False, clock=False)
    assert not stated.asked("how many billions of aid?")
