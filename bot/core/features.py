"""Features of a question for the learned matcher: character and word n-grams, hashed.

Character n-grams (2 to 5 letters, inside each word padded with spaces) carry typos,
inflection and unseen word forms ("Путіним", "zelenski's", "rooter"); word unigrams and
bigrams carry phrases. A Cyrillic word also gives the n-grams of its Latin transliteration,
so a question typed in Latin letters ("koly tramp rozmovlyav z putinym") shares features with
the Cyrillic examples. Each feature is a stable 32-bit hash (crc32), so a trained model needs
no vocabulary: it stores the sorted hashes it has weights for.
"""

from __future__ import annotations

import itertools
import math
import re
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from bot.core.textnorm import normalise

# Changing how features are made changes every model: part of each model's cache key.
FEATURES_VERSION = "ngrams-2-5+words-1-2+translit/1"
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
    if _CYRILLIC.search(word):
        latin = transliterate(word)
        if latin != word:
            _char_grams(latin, grams)
    grams.append(f"w:{word}")
    return tuple(grams)


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


def hashed_counts(text: str) -> Counter[int]:
    """Feature hash -> how often it occurs in the text."""
    return Counter(feature_hash(g) for g in feature_strings(text))


@dataclass(frozen=True)
class SparseRows:
    """Rows of sparse feature counts (CSR): row r holds columns[indptr[r]:indptr[r+1]]."""

    indptr: npt.NDArray[np.int64]
    columns: npt.NDArray[np.int64]
    values: npt.NDArray[np.float32]

    @property
    def rows(self) -> int:
        return len(self.indptr) - 1


@dataclass(frozen=True)
class CountMatrix:
    """Raw feature counts of many texts over one column space (the sorted hashes seen)."""

    hashes: npt.NDArray[np.uint32]
    counts: SparseRows

    @classmethod
    def of(cls, texts: Sequence[str]) -> CountMatrix:
        per_text = [hashed_counts(t) for t in texts]
        hashes = np.array(sorted({h for c in per_text for h in c}), dtype=np.uint32)
        column = {int(h): i for i, h in enumerate(hashes)}
        indptr = np.zeros(len(texts) + 1, dtype=np.int64)
        cols: list[int] = []
        vals: list[float] = []
        for r, counts in enumerate(per_text):
            for h, n in sorted(counts.items()):
                cols.append(column[h])
                vals.append(n)
            indptr[r + 1] = len(cols)
        return cls(
            hashes,
            SparseRows(indptr, np.array(cols, dtype=np.int64), np.array(vals, dtype=np.float32)),
        )

    def select(self, rows: npt.NDArray[np.int64]) -> SparseRows:
        """The given rows only (in that order), same column space."""
        starts, ends = self.counts.indptr[rows], self.counts.indptr[rows + 1]
        lengths = ends - starts
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        positions = np.repeat(starts - indptr[:-1], lengths) + np.arange(indptr[-1])
        return SparseRows(indptr, self.counts.columns[positions], self.counts.values[positions])


def inverse_document_frequency(rows: SparseRows, columns: int) -> npt.NDArray[np.float32]:
    """Smoothed idf per column (0 for a column no row has: it carries nothing learnt)."""
    document_frequency = np.bincount(rows.columns, minlength=columns).astype(np.float64)
    idf = np.log((1.0 + rows.rows) / (1.0 + document_frequency)) + 1.0
    idf[document_frequency == 0] = 0.0
    return idf.astype(np.float32)


def tf_idf(rows: SparseRows, idf: npt.NDArray[np.float32]) -> SparseRows:
    """Sublinear tf times idf, each row scaled to unit length."""
    values = (1.0 + np.log(rows.values)) * idf[rows.columns]
    squares = np.add.reduceat(values * values, rows.indptr[:-1]) if len(values) else values
    lengths = np.diff(rows.indptr)
    norms = np.zeros(rows.rows, dtype=np.float32)
    norms[lengths > 0] = np.sqrt(squares[lengths > 0])
    scale = np.repeat(np.where(norms > 0, 1.0 / np.maximum(norms, 1e-12), 0.0), lengths)
    return SparseRows(rows.indptr, rows.columns, (values * scale).astype(np.float32))


def question_vector(
    text: str, hashes: npt.NDArray[np.uint32], idf: npt.NDArray[np.float32]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Columns and tf-idf values of one question over a model's column space."""
    counts = hashed_counts(text)
    if not counts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    keys = np.fromiter(counts.keys(), dtype=np.uint32, count=len(counts))
    tf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
    where = np.searchsorted(hashes, keys)
    where[where >= len(hashes)] = 0
    known = hashes[where] == keys
    columns = where[known]
    values = (1.0 + np.log(tf[known])) * idf[columns]
    norm = math.sqrt(float(values @ values))
    if norm == 0.0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    return columns.astype(np.int64), (values / norm).astype(np.float32)


def known_share(text: str, hashes: npt.NDArray[np.uint32]) -> float:
    """The share of the question's distinct features that the model has weights for."""
    counts = hashed_counts(text)
    if not counts or not len(hashes):
        return 0.0
    keys = np.fromiter(counts.keys(), dtype=np.uint32, count=len(counts))
    where = np.minimum(np.searchsorted(hashes, keys), len(hashes) - 1)
    return float(np.count_nonzero(hashes[where] == keys)) / len(keys)


def grams_of(texts: Iterable[str]) -> dict[int, str]:
    """Hash -> one feature string that has it (to show which features weighed most)."""
    return {feature_hash(g): g for t in texts for g in feature_strings(t)}
