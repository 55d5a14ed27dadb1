"""Tell the language of a question: English, Ukrainian or Russian, in Cyrillic or Latin letters."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

COMMON_WORDS_FILE = Path(__file__).with_name("common_words.txt")

_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_LATIN = re.compile(r"[a-zA-Z]")
_WORD = re.compile(r"[^\W\d_]+")
# Letters only one of the two languages writes.
_UKRAINIAN_LETTERS = frozenset("іїєґ")
_RUSSIAN_LETTERS = frozenset("ыэъё")

# Words frequent in one language and absent from the other: they decide Cyrillic text without
# the telling letters ("коли був call", "что такое").
_UKRAINIAN_WORDS = frozenset(
    """
    що як коли хто де чи це та але або щоб від після про його йому якщо тому бо вже ще
    був була було були буде можна треба якою який яка яке які сказав сказала казав говорив
    розмовляв статтю статті стаття мир війну війни переговори перемиря вони він вона ми ви
    зараз тепер також тобто щодо між лише тільки дуже нема немає хочу знаю скажи розкажи
    поясни будь ласка дякую привіт бот ботe
    """.split()
)
_RUSSIAN_WORDS = frozenset(
    """
    что как когда кто где ли это но или чтобы от после про его ему если потому уже еще
    был была было были будет можно надо нужно какой какая какое какие сказал сказала
    говорил разговаривал статью статьи статья мир войну войны переговоры перемирие они он
    она мы вы сейчас теперь также то есть между только очень нет хочу знаю скажи расскажи
    объясни пожалуйста спасибо привет
    """.split()
)
# The same words as people type them in Latin letters without a Cyrillic keyboard.
_UKRAINIAN_LATIN = frozenset(
    """
    shcho scho sho shchо yak koly khto hto chy tse ale abo vid pislia pislya yoho
    yakshcho tomu vzhe shche buv bula bulo buly bude mozhna treba yakyi yaka yake yaki
    skazav kazav hovoryv govoryv rozmovlyav rozmovliav rozmovlyaly statti stattia stattya
    statyu viyna viyny viinu viyni perehovory peregovory peremyria peremyrya peremyr'ya
    myr vony vin vona zaraz teper takozh shchodo mizh lyshe tilky duzhe nemaie nema khochu
    skazhy rozkazhy poiasny poyasny bud laska diakuiu dyakuyu pryvit zelenskyi zelenskyy
    putinym trampom dzhiddi dzhydda dzhydi chornomu chorne mori ukraina ukrainy rosiia
    rosiya rosii zsu vidnovyty dopomohu dopomogu zapropnuvav zaproponuvaly
    """.split()
)
_RUSSIAN_LATIN = frozenset(
    """
    chto shto cho kak kogda kto gde eto ili chtoby posle ego yesli esli potomu uzhe
    eshche eshe byl byla bylo byli budet mozhno nado nuzhno kakoy kakoi kakaya kakie skazal
    skazala govoril razgovarival razgovarivali statyu stati statya statia voyna voiny voinu
    voynu peregovory peremirie peremiriye oni ona seychas teper takzhe mezhdu tolko
    ochen khochu hochu znayu skazhi rasskazhi obyasni pozhaluysta pozhaluista spasibo
    privet zelenskiy zelenskij zelenskim putinym trampom dzhidde dzhidda chernom chernoe
    ukraina ukrainy rossiya rossii vsu vozobnovit pomoshch pomosh predlozhil
    """.split()
)


CYRILLIC_LANGUAGES = ("uk", "ru")


def has_cyrillic(text: str) -> bool:
    return _CYRILLIC.search(text) is not None


@cache
def english_words() -> frozenset[str]:
    """Frequent English words that are not names (common_words.txt), read once."""
    # One word per line after the "#" header lines; split() keeps it fast on a cold start.
    text = COMMON_WORDS_FILE.read_text(encoding="utf-8")
    while text.startswith("#"):
        text = text.partition("\n")[2]
    return frozenset(text.split())


def detect_language(text: str) -> str | None:
    """ "en", "uk" or "ru", or None when the text does not tell (a bare name, "Jeddah?")."""
    cyrillic = len(_CYRILLIC.findall(text))
    latin = len(_LATIN.findall(text))
    if cyrillic == 0 and latin == 0:
        return None
    words = [w.casefold().replace("'", "") for w in _WORD.findall(text)]
    if cyrillic >= latin:
        letters = set(text.casefold())
        uk = len(letters & _UKRAINIAN_LETTERS) * 2 + sum(w in _UKRAINIAN_WORDS for w in words)
        ru = len(letters & _RUSSIAN_LETTERS) * 2 + sum(w in _RUSSIAN_WORDS for w in words)
        if uk == ru:
            return None
        return "uk" if uk > ru else "ru"
    latin_words = [w for w in words if w.isascii()]
    uk = sum(w in _UKRAINIAN_LATIN for w in latin_words)
    ru = sum(w in _RUSSIAN_LATIN for w in latin_words)
    common = english_words()
    en = sum(
        w in common and w not in _UKRAINIAN_LATIN and w not in _RUSSIAN_LATIN for w in latin_words
    )
    if cyrillic:  # Cyrillic words among English ones: the asker writes Ukrainian or Russian
        return detect_language(" ".join(_CYRILLIC_WORD.findall(text))) or (
            "uk" if uk >= ru else "ru"
        )
    best = max(en, uk, ru)
    if best == 0:
        return None
    if en == best and en > max(uk, ru):
        return "en"
    if uk == ru:
        return None
    return "uk" if uk > ru else "ru"


_CYRILLIC_WORD = re.compile(r"[\u0400-\u04ff\u02bc']+")
