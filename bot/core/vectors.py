"""Feature counts and tf-idf as numpy arrays: the training side of bot/core/features.py."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bot.core.features import hashed_counts


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
        lengths = np.fromiter(map(len, per_text), dtype=np.int64, count=len(per_text))
        total = int(lengths.sum())
        keys = np.fromiter(itertools.chain.from_iterable(per_text), dtype=np.uint32, count=total)
        values = np.fromiter(
            itertools.chain.from_iterable(c.values() for c in per_text),
            dtype=np.float32,
            count=total,
        )
        hashes, columns = np.unique(keys, return_inverse=True)
        # Each row's non-zeros by column, as a row of CSR wants them.
        order = np.lexsort((columns, np.repeat(np.arange(len(per_text)), lengths)))
        indptr = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        return cls(
            hashes.astype(np.uint32),
            SparseRows(indptr, columns[order].astype(np.int64), values[order]),
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
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Columns and tf-idf values of one question over a model's column space.

    In float64, as bot/core/scoring.py computes them in plain Python: both give the same
    probabilities to about 1e-15, so the same answers.
    """
    counts = hashed_counts(text)
    if not counts or not len(hashes):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    keys = np.fromiter(counts.keys(), dtype=np.uint32, count=len(counts))
    tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
    where = np.searchsorted(hashes, keys)
    where[where >= len(hashes)] = 0
    known = hashes[where] == keys
    columns = where[known]
    values = (1.0 + np.log(tf[known])) * idf[columns].astype(np.float64)
    norm = math.sqrt(float(values @ values))
    if norm == 0.0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    return columns.astype(np.int64), values / norm


def known_share(text: str, hashes: npt.NDArray[np.uint32]) -> float:
    """The share of the question's distinct features that the model has weights for."""
    counts = hashed_counts(text)
    if not counts or not len(hashes):
        return 0.0
    keys = np.fromiter(counts.keys(), dtype=np.uint32, count=len(counts))
    where = np.minimum(np.searchsorted(hashes, keys), len(hashes) - 1)
    return float(np.count_nonzero(hashes[where] == keys)) / len(keys)
