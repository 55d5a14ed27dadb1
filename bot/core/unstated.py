"""Questions for a figure the article never gives: a sum of money, a time of day, how long a
call lasted ("how many billions of aid did the US resume?", "о котрій годині дзвонили?").

The model matches such a question to the entry about its subject, and the bot would answer
with that entry, which has no such figure. Each kind of figure counts only while the article
states none of that kind (its own pattern finds none in the text), so an article that gave
an amount would turn the check off by itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["UnstatedFigures"]

_AID = r"(?:aid|help|assistance|weapons|package|допомог\w*|пакет\w*|помощ\w*|помощь)"
_MONEY_ASKED = re.compile(
    r"(?:\b(?:dollars?|euros?|usd|monetary|сум[ауі]|сумм[ауы]|долар\w*|доллар\w*|євро|евро"
    r"|гро[шш]\w*|коштів|денег|деньги)\b|\$"
    rf"|\b(?:billions?|millions?|bn|мільярд\w*|мільйон\w*|миллиард\w*|миллион\w*)\b.*\b{_AID}"
    rf"|\b{_AID}.*\b(?:billions?|millions?|bn|мільярд\w*|мільйон\w*|миллиард\w*|миллион\w*)\b"
    rf"|\bhow much (?:military )?{_AID}"
    r"|\bhow many (?:billions?|millions?)\b"
    r"|\b(?:скільки|сколько) (?:мільярд|мільйон|миллиард|миллион)\w*)",
    re.IGNORECASE,
)
_MONEY_STATED = re.compile(r"\$|€|\b(?:dollars?|euros?|billions?|millions?)\b", re.IGNORECASE)

_TALK = (
    r"(?:call|calls|conversation|talk|talks|talked|spoke|speak|meeting|press conference"
    r"|розмов\w*|дзвін\w*|дзвон\w*|говорил\w*|розмовлял\w*|разговор\w*|звон\w*|звонок|созвон\w*"
    r"|переговор\w*|зустріч\w*|встреч\w*)"
)
_CLOCK_ASKED = re.compile(
    r"\bwhat time\b(?!\s+(?:period|frame|span))|\bhow many (?:minutes|hours)\b|\bo'?clock\b"
    r"|\bо котрій\b|\bкотрій годині\b|\bво сколько\b|\bв котором часу\b"
    r"|\bскільки (?:хвилин|годин)\b|\bсколько (?:минут|часов)\b"
    rf"|\bhow long did\b.*\b{_TALK}|\bhow long\b.*\b{_TALK}\b.*\b(?:last|go on|take)\b"
    rf"|\bскільки трива\w*\b.*\b{_TALK}|\bсколько (?:длил|продолжал)\w*\b.*\b{_TALK}"
    rf"|\b{_TALK}\s+(?:\w+\s+)?(?:lasted|last)\b",
    re.IGNORECASE,
)
_CLOCK_STATED = re.compile(
    r"\b\d{1,2}[:.]\d{2}\b|\b(?:a\.m\.|p\.m\.|o'clock)|\b\w+\s+(?:hours?|minutes?)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class UnstatedFigures:
    """Which kinds of figure the article leaves out, and whether a question asks for one."""

    money: bool
    clock: bool

    @classmethod
    def of(cls, article_text: str) -> UnstatedFigures:
        return cls(
            money=not _MONEY_STATED.search(article_text),
            clock=not _CLOCK_STATED.search(article_text),
        )

    def asked(self, question: str) -> bool:
        """Whether the question asks for a figure of a kind the article never states."""
        return bool(
            (self.money and _MONEY_ASKED.search(question))
            or (self.clock and _CLOCK_ASKED.search(question))
        )
