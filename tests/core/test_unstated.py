"""Questions of a kind the article cannot answer: asked in any of the three languages, and
figures and private details only while the article states none of their kind."""

from __future__ import annotations

import pytest

from bot.core.knowledge import load_knowledge
from bot.core.unstated import Unanswerable


@pytest.fixture(scope="module")
def unstated() -> Unanswerable:
    return Unanswerable.of(load_knowledge().article.text)


def test_the_article_gives_no_sum_time_of_day_or_private_detail(unstated: Unanswerable) -> None:
    assert unstated == Unanswerable(money=True, clock=True, private=True)


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
        "so is putin ill or what",
        "how old is Mark Rutte?",
        "скільки років Зеленському?",
        "Рютте женат?",
        "who's the American defence secretary?",
        "хто зараз посол США в Україні?",
        "would you say the Jeddah deal was a win for Kyiv?",
        "как ты считаешь, Путин согласится?",
        "на твою думку, це гарна угода?",
        "how many peacekeepers would the Brits send?",
        "сколько именно войск предлагают ввести?",
        "how long did the energy truce actually hold?",
        "скільки днів протрималось перемирʼя на морі?",
    ],
)
def test_questions_of_such_a_kind(unstated: Unanswerable, question: str) -> None:
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
        "how old is this news?",
        "Rutte was the Dutch prime minister, wasn't he? who is he in the article?",
        "рюте разве не премьер нидерландов? кто он в статье",
        "what does Rutte think of Trump's plan?",
        "how many soldiers have died, does it say?",
    ],
)
def test_other_questions(unstated: Unanswerable, question: str) -> None:
    assert not unstated.asked(question)


def test_an_article_that_states_an_amount_turns_the_check_off() -> None:
    stated = Unanswerable.of(
        "The US resumed $2 billion of aid. The call lasted 90 minutes. Rutte, 58, is married."
    )
    assert stated == Unanswerable(money=False, clock=False, private=False, forces=True)
    assert not stated.asked("how many billions of aid?")


@pytest.mark.parametrize(
    ("question", "asked"),
    [
        ("how long is the Black Sea ban in force?", True),
        ("на який термін діє заборона ударів у морі?", True),
        ("на какой срок договорились?", True),
        ("how long ago did the talks happen?", False),
        ("what figures for how many people died does it give?", False),
    ],
)
def test_questions_for_a_length(question: str, asked: bool) -> None:
    assert Unanswerable.length_asked(question) is asked
