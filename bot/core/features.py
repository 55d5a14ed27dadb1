"""Features of a question for the learned matcher: character and word n-grams, hashed.

Character n-grams (2 to 5 letters, inside each word padded with spaces) carry typos,
inflection and unseen word forms ("Путіним", "zelenski's", "rooter"); word unigrams and
bigrams carry phrases. A Cyrillic word also gives the n-grams of its Latin transliteration,
so a question typed in Latin letters ("koly tramp rozmovlyav z putinym") shares features with
the Cyrillic examples. Each feature is a stable 32-bit hash (crc32), so a trained model needs
no vocabulary: it stores the sorted hashes it has weights for. Pure Python: a one-shot answer
imports no numpy (bot/core/scoring.py); the arrays for training are in bot/core/vectors.py.
"""

from __future__ import annotations

import itertools
import re
import zlib
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache

from bot.core.textnorm import normalise

# Changing how features are made changes every model: part of each model's cache key.
FEATURES_VERSION = "ngrams-2-5+words-1-2+translit+consonants/2"
CHAR_MIN, CHAR_MAX = 2, 5
# Longer words are cut: no real word needs more, and it bounds the work on hostile input.
MAX_WORD = 24
MAX_WORDS = 200

_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
# One Latin spelling for Ukrainian and Russian letters, close to how people type without a
# Cyrillic keyboard; г is h as in Ukrainian (Russian speakers' g is learnt from examples).
_TRANSLIT = str.maketrans(
    {
        "а": "a", "б": "b", "в": "v", "г": "h", "ґ": "g", "д": "d", "е": "e", "є": "ie",
        "ё": "e", "ж": "zh", "з": "z", "и": "y", "і": "i", "ї": "i", "й": "i", "к": "k",
        "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t",
        "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch",
        "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "iu", "я": "ia",
    }
)  # fmt: skip


def transliterate(word: str) -> str:
    """The Latin spelling of a (lower-case) Cyrillic word."""
    return word.translate(_TRANSLIT)


def _char_grams(word: str, out: list[str]) -> None:
    padded = f" {word[:MAX_WORD]} "
    length = len(padded)
    for n in range(CHAR_MIN, CHAR_MAX + 1):
        for i in range(length - n + 1):
            out.append(padded[i : i + n])


@lru_cache(maxsize=1 << 14)
def _word_grams(word: str) -> tuple[str, ...]:
    grams: list[str] = []
    _char_grams(word, grams)
    latin = word
    if _CYRILLIC.search(word):
        latin = transliterate(word)
        if latin != word:
            _char_grams(latin, grams)
    grams.append(f"w:{word}")
    skeleton = _skeleton(latin if _CYRILLIC.search(word) else word)
    if len(skeleton) >= 2:
        grams.append(f"c:{skeleton}")
    return tuple(grams)


_VOWELS = re.compile(r"[aeiouy]+")


def _skeleton(word: str) -> str:
    """The consonants of a Latin word: "wht dd ptn dmnd" typed for "what did putin demand"."""
    return _VOWELS.sub("", word)


def feature_strings(text: str) -> list[str]:
    """Every feature of the text, as strings, with repeats (term frequency)."""
    words = normalise(text).split()[:MAX_WORDS]
    grams: list[str] = []
    for word in words:
        grams.extend(_word_grams(word))
    grams.extend(f"b:{a} {b}" for a, b in itertools.pairwise(words))
    return grams


@lru_cache(maxsize=1 << 16)
def feature_hash(gram: str) -> int:
    return zlib.crc32(gram.encode("utf-8"))


@lru_cache(maxsize=1 << 14)
def _word_hashes(word: str) -> tuple[int, ...]:
    return tuple(zlib.crc32(g.encode("utf-8")) for g in _word_grams(word))


def hashed_counts(text: str) -> Counter[int]:
    """Feature hash -> how often it occurs in the text (in the order of feature_strings)."""
    words = normalise(text).split()[:MAX_WORDS]
    counts: Counter[int] = Counter()
    # Hashed a word at a time, cached: training counts about two million grams.
    for word in words:
        counts.update(_word_hashes(word))
    counts.update(feature_hash(f"b:{a} {b}") for a, b in itertools.pairwise(words))
    return counts


def grams_of(texts: Iterable[str]) -> dict[int, str]:
    """Hash -> one feature string that has it (to show which features weighed most)."""
    return {feature_hash(g): g for t in texts for g in feature_strings(t)}
