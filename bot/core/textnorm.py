"""Text normalisation shared by the knowledge loader, the matcher and the validators."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Apostrophes and quotes people (and the article, which writes U+02BC) use interchangeably.
_APOSTROPHES = "\u02bc\u2019\u2018\u0060\u00b4\u2032\u02b9\u02bb\u02bd\uff07"
_QUOTES = "\u201c\u201d\u201e\u201f\u00ab\u00bb\u2033\uff02"
_QUOTE_TABLE = str.maketrans({**{c: "'" for c in _APOSTROPHES}, **{c: '"' for c in _QUOTES}})

_WHITESPACE = re.compile(r"\s+")
# A number glued to a word ("30day", "march11") is two words; ordinals (1st, 2nd) stay whole.
_GLUED_NUMBER = re.compile(r"(?<=\d)(?=[^\W\d_]{3})|(?<=[^\W\d_]{3})(?=\d)")
_has_digit = re.compile(r"\d").search
_POSSESSIVE = re.compile(r"(?<=\w)'s\b")
_NON_WORD = re.compile(r"[^\w]+|_+")
# What _NON_WORD removes from ASCII text: everything but letters and digits.
_ASCII_SEPARATORS = str.maketrans({chr(c): " " for c in range(128) if not chr(c).isalnum()})


def collapse_whitespace(text: str) -> str:
    """Fold every run of whitespace into one space and strip the ends."""
    return _WHITESPACE.sub(" ", text).strip()


def unify_quotes(text: str) -> str:
    """Map typographic apostrophes and quotes to their ASCII forms."""
    return text.translate(_QUOTE_TABLE)


def normalise_for_quote_check(text: str) -> str:
    """The only normalisation allowed between a cited quote and the article: whitespace."""
    return collapse_whitespace(unicodedata.normalize("NFC", text))


def strip_control_characters(text: str) -> str:
    """Replace control and format characters (zero-width joiners, bidi marks...) by spaces."""
    if text.isprintable():  # the usual case, checked in C
        return text
    return "".join(" " if unicodedata.category(ch) in {"Cc", "Cf"} else ch for ch in text)


@lru_cache(maxsize=1 << 15)
def normalise(text: str) -> str:
    """Lower-cased words only: NFKC, unified quotes, no possessive 's, no punctuation.

    Cached: a knowledge load normalises many texts more than once (validation, vocabulary,
    phrasings), and a reload normalises mostly the same texts again.
    """
    if text.isascii():
        # Plain ASCII (most phrasings and questions): no NFKC, no typographic quotes, and
        # every character that is not a letter or digit is a separator.
        text = text.lower().replace("`", "'")  # the backtick is an apostrophe (_APOSTROPHES)
        if "'" in text:
            text = _POSSESSIVE.sub("", text).replace("'", "")
        text = text.translate(_ASCII_SEPARATORS)
        if _has_digit(text):
            text = _GLUED_NUMBER.sub(" ", text)
        return " ".join(text.split())
    if not unicodedata.is_normalized("NFKC", text):  # the check is much cheaper than the work
        text = unicodedata.normalize("NFKC", text)
    text = strip_control_characters(text).casefold()
    text = unify_quotes(text)
    if "'" in text:
        text = _POSSESSIVE.sub("", text).replace("'", "")
    text = _NON_WORD.sub(" ", text)
    if _has_digit(text):
        text = _GLUED_NUMBER.sub(" ", text)
    return " ".join(text.split())


def tokenize(text: str) -> list[str]:
    """Split normalised text into word tokens."""
    return normalise(text).split()


_WORD = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"[.!?:;\n]\s*$")


def capitalised_words(text: str) -> frozenset[str]:
    """Normalised words written like names: capitalised mid-sentence, or in capitals (EU)."""
    text = unicodedata.normalize("NFKC", text)
    found: set[str] = set()
    previous_end = 0
    for match in _WORD.finditer(text):
        # A sentence starts at the first word and after . ! ? : ; or a line break; only the
        # gap since the previous word can hold one (linear, not a search of the whole prefix).
        gap = text[previous_end : match.start()]
        sentence_start = match.start() == 0 or _SENTENCE_END.search(gap) is not None
        previous_end = match.end()
        word = match.group()
        if word[0].isupper() and (not sentence_start or (len(word) >= 2 and word.isupper())):
            found.add(normalise(word))
    return frozenset(found)


def uses_capitals(text: str) -> bool:
    """Whether the writer capitalises at all (many people type in lower case only)."""
    return any(ch.isupper() for ch in text)
