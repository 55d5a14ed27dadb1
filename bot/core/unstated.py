"""Questions of a kind the article cannot answer, however close their subject: a sum of money,
a time of day or how long a call lasted ("how many billions of aid did the US resume?", "о
котрій годині дзвонили?"), a person's private details ("is Putin sick?", "скільки років
Рютте?"), who holds an office the article names nobody for ("who is the US secretary of
state?"), and the bot's own opinion ("is the Black Sea deal a good idea, in your opinion?").

The model matches such a question to the entry about its subject, and the bot would answer
with that entry, which says nothing of the kind. Figures and private details count only
while the article states none of their kind (their own pattern finds none in its text), so
an article that gave an amount or an age would turn that check off by itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Unanswerable"]

# The people of the article, in the three languages and as people misspell them ("рюте").
_PERSON = (
    r"(?:rutt\w*|root\w*|рют\w*|trump\w*|трамп\w*|putin\w*|путін\w*|путин\w*|zelensk\w*"
    r"|зеленськ\w*|зеленск\w*|he|him|his|він|його|он|его)"
)


class _Asked:
    """Phrases that ask on their own, and words that ask only in order ("how long ... call").

    Each ordered set is looked for one word after another from the first match on, so that
    a hostile message of 10,000 characters costs a few scans, not a backtracking search.
    """

    def __init__(self, alone: str, *in_order: tuple[str, ...]) -> None:
        self._alone = re.compile(alone)
        self._in_order = [tuple(re.compile(p) for p in o) for o in in_order]

    def search(self, text: str) -> bool:
        if self._alone.search(text):
            return True
        for patterns in self._in_order:
            at = 0
            for pattern in patterns:
                found = pattern.search(text, at)
                if found is None:
                    break
                at = found.end()
            else:
                return True
        return False


_AID = r"\b(?:aid|help|assistance|weapons|package|допомог\w*|пакет\w*|помощ\w*|помощь)"
_LARGE = r"\b(?:billions?|millions?|bn|мільярд\w*|мільйон\w*|миллиард\w*|миллион\w*)\b"
_MONEY_ASKED = _Asked(
    r"\b(?:dollars?|euros?|usd|monetary|сум[ауі]|сумм[ауы]|долар\w*|доллар\w*|євро|евро"
    r"|гро[шш]\w*|коштів|денег|деньги)\b|\$"
    rf"|\bhow much (?:military )?{_AID[2:]}"
    r"|\bhow many (?:billions?|millions?)\b"
    r"|\b(?:скільки|сколько) (?:мільярд|мільйон|миллиард|миллион)\w*",
    (_LARGE, _AID),
    (_AID, _LARGE),
)
_MONEY_STATED = re.compile(r"\$|€|\b(?:dollars?|euros?|billions?|millions?)\b", re.IGNORECASE)

_TALK = (
    r"(?:call|calls|conversation|talk|talks|talked|spoke|speak|meeting|press conference"
    r"|розмов\w*|дзвін\w*|дзвон\w*|говорил\w*|розмовлял\w*|разговор\w*|звон\w*|звонок|созвон\w*"
    r"|переговор\w*|зустріч\w*|встреч\w*)"
)
_PAUSE = r"\b(?:ceasefire|truce|pause|halt|ban|moratorium)\b"
_CLOCK_ASKED = _Asked(
    r"\bwhat time\b(?!\s+(?:period|frame|span))|\bhow many (?:minutes|hours)\b|\bo'?clock\b"
    r"|\bо котрій\b|\bкотрій годині\b|\bво сколько\b|\bв котором часу\b"
    r"|\bскільки (?:хвилин|годин)\b|\bсколько (?:минут|часов)\b"
    rf"|\b{_TALK}\s+(?:\w+\s+)?(?:lasted|last)\b"
    r"|\bactually (?:lasted|held)\b|\b(?:протрима|продержа)\w*",
    (r"\bhow long did\b", rf"\b{_TALK}"),
    (r"\bhow long\b", rf"\b{_TALK}\b", r"\b(?:last|go on|take)\b"),
    (r"\bскільки трива\w*", rf"\b{_TALK}"),
    (r"\bсколько (?:длил|продолжал)\w*", rf"\b{_TALK}"),
    # How long a pause really held: the article reports proposals, not how they held up.
    (r"\bhow long did\b", _PAUSE, r"\b(?:last|hold)\b"),
)
_CLOCK_STATED = re.compile(
    r"\b\d{1,2}[:.]\d{2}\b|\b(?:a\.m\.|p\.m\.|o'clock)|\b\w+\s+(?:hours?|minutes?)\b",
    re.IGNORECASE,
)


_PRIVATE = (
    r"(?:age|health|wife|husband|children|kids|family|salary|net worth|birthday|height"
    r"|religion|nationality|hometown|girlfriend|вік|віку|возраст\w*|здоров\w*|дружин\w*"
    r"|жена|жены|зарплат\w*|національн\w*|национальн\w*|діт\w*|дети|детей)"
)
_PRIVATE_ASKED = re.compile(
    rf"\b(?:is|was) {_PERSON} (?:sick|ill|healthy|dying|married|dutch|belgian|german|rich)\b"
    rf"|\b{_PERSON} (?:is|was) (?:sick|ill|married|dutch|belgian|german|rich)\b"
    rf"|\bhow old (?:is|was) (?:mark )?{_PERSON}\b"
    rf"|\b{_PERSON}'?s? {_PRIVATE}\b|\b{_PRIVATE} of (?:mark )?{_PERSON}\b"
    rf"|\bwhere (?:is|was) {_PERSON} (?:from|born)\b|\bwhen was {_PERSON} born\b"
    rf"|\b(?:скільки|сколько) (?:йому |ему )?(?:років|лет) (?:марку )?{_PERSON}"
    rf"|\b{_PERSON} (?:хвор\w*|болен|больн\w*|одружен\w*|женат\w*|нідерландець|голландец)"
    r"|\b(?:звідки|откуда) (?:він|он)\b|\b(?:де|где) (?:народився|родился)\b",
)
_PRIVATE_STATED = re.compile(
    r"\b(?:born|aged|years old|married|his wife|her husband)\b", re.IGNORECASE
)

# Counts of forces and arms: the article gives none (nor names any troops or weapons).
_FORCES = (
    r"troops|servicemen|peacekeepers|drones|missiles|tanks|jets|weapons"
    r"|військ\w*|військових|миротворц\w*|дрон\w*|ракет\w*|танк\w*|літак\w*|зброї"
    r"|войск\w*|миротворц\w*|самол[её]т\w*|оружия"
)
_FORCES_ASKED = re.compile(
    rf"\bhow many (?:\w+ )?(?:{_FORCES})\b"
    rf"|\b(?:скільки|сколько) (?:саме |именно )?(?:\w+ )?(?:{_FORCES})",
)
# ...unless they count the dead and wounded: the war's toll has its own entry.
_TOLL = re.compile(
    r"\b(?:killed|died|dead|deaths|wounded|injured|casualt\w*|загин\w*|поранен\w*|втрат\w*"
    r"|жертв\w*|погиб\w*|ранен\w*|потер\w*)",
)
_FORCES_STATED = re.compile(
    r"\b(?:troops|soldiers|peacekeepers|drones|missiles|tanks|jets|weapons)\b", re.IGNORECASE
)
# A length asked of a thing: answered only by an entry whose facts give one.
_LENGTH_ASKED = re.compile(
    r"\bhow long\b(?! ago)|\bhow many days\b|\bfor how many (?:days|weeks|months)\b"
    r"|\bна (?:який|якій) (?:строк|термін)\b|\bна скільки днів\b|\bскільки днів\b"
    r"|\b(?:скільки|як довго) (?:діятиме|триватиме|діє|триває)\b"
    r"|\bна какой срок\b|\bна сколько дней\b|\bсколько дней\b"
    r"|\b(?:сколько|как долго) (?:продлится|будет действовать|действует|длится)\b",
)
LENGTH_STATED = re.compile(r"\b\d+[- ]day\b|\b\d+ (?:days|weeks|months)\b", re.IGNORECASE)

_WHO = re.compile(r"\b(?:who|whos|хто|кто)\b|\bname of\b")
_OFFICE = re.compile(
    r"\b(?:ambassador|deputy|secretary of state|state secretary|prime minister|premier"
    r"|chancellor|spokes\w+|press secretary|defen[cs]e (?:minister|secretary)|minister of \w+"
    r"|foreign minister|envoy|chief of staff|vice[- ]president|security advis[eo]r|commander"
    r"|посол\w*|заступник\w*|держсекретар\w*|прем.єр\w*|канцлер\w*|речник\w*|прес.секретар\w*"
    r"|міністр \w+|посланц\w*|віце.президент\w*|командувач\w*|заместител\w*|госсекретар\w*"
    r"|премьер\w*|пресс.секретар\w*|министр \w+|посланник\w*|вице.президент\w*|командующ\w*)",
)
_NAMED = re.compile(rf"\b{_PERSON}\b")

# Asking the bot what it thinks: it has no view of its own, only the article's.
_OPINION_ASKED = re.compile(
    r"\bin your (?:opinion|view|assessment)\b|\byour (?:opinion|view|take|assessment|thoughts)\b"
    r"|\b(?:do|would) you (?:think|believe|reckon|agree|say)\b|\bwhat do you think\b"
    r"|\bна (?:твою|вашу) думку\b|\bяк (?:ти |ви )?(?:вважаєш|вважаєте|думаєш|думаєте)\b"
    r"|\b(?:твоя|ваша) думка\b|\bпо-(?:твоему|вашему)\b"
    r"|\bкак (?:ты |вы )?(?:считаешь|считаете|думаешь|думаете)\b"
    r"|\b(?:тв[оё]е|ваше) мнение\b|\b(?:ты|вы) (?:думаешь|думаете|считаешь|считаете)\b",
)


@dataclass(frozen=True)
class Unanswerable:
    """Which kinds of fact the article leaves out, and which one a question asks for."""

    money: bool
    clock: bool
    private: bool
    forces: bool = True

    @classmethod
    def of(cls, article_text: str) -> Unanswerable:
        return cls(
            money=not _MONEY_STATED.search(article_text),
            clock=not _CLOCK_STATED.search(article_text),
            private=not _PRIVATE_STATED.search(article_text),
            forces=not _FORCES_STATED.search(article_text),
        )

    def reason(self, question: str) -> str | None:
        """What the question asks that the article cannot give, or None."""
        # The patterns are lower case: one lower() is several times cheaper than IGNORECASE.
        question = question.lower()
        if self.money and _MONEY_ASKED.search(question):
            return "a sum of money, which the article never gives"
        if self.clock and _CLOCK_ASKED.search(question):
            return "a time of day or a length, which the article never gives"
        if self.forces and _FORCES_ASKED.search(question) and not _TOLL.search(question):
            return "a count of troops or arms, which the article never gives"
        if self.private and _PRIVATE_ASKED.search(question):
            return "a person's private details, which the article never gives"
        if _WHO.search(question) and _OFFICE.search(question) and not _NAMED.search(question):
            return "who holds an office the article names nobody for"
        if _OPINION_ASKED.search(question):
            return "the bot's own opinion: it has only the article's"
        return None

    @staticmethod
    def length_asked(question: str) -> bool:
        """Whether the question asks how long something lasts ("на какой срок?")."""
        return bool(_LENGTH_ASKED.search(question.lower()))

    def asked(self, question: str) -> bool:
        """Whether the question asks for something of a kind the article cannot give."""
        return self.reason(question) is not None
