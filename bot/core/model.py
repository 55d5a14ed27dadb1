"""Multinomial logistic regression over sparse rows, trained with numpy alone.

Shaped like a scikit-learn estimator (parameters in the constructor, `fit` returns the
fitted model, learnt state in attributes ending in `_`), but with no dependency beyond numpy:
scikit-learn's import alone takes over a second here, and training must run inside the bot
on /reload. Minibatch Adagrad with a fixed seed: the same rows give the same weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from bot.core.vectors import SparseRows

FloatArray = npt.NDArray[np.float32]
_F = TypeVar("_F", np.float32, np.float64)


@dataclass
class SoftmaxRegression:
    """Softmax over classes of a linear score; L2-regularised, trained by minibatch Adagrad."""

    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 0.5
    l2: float = 1e-5
    seed: int = 0
    weights_: FloatArray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    bias_: FloatArray = field(default_factory=lambda: np.zeros(0, np.float32))

    def fit(
        self, rows: SparseRows, labels: npt.NDArray[np.int64], columns: int, classes: int
    ) -> SoftmaxRegression:
        rng = np.random.default_rng(self.seed)
        weights = np.zeros((columns, classes), np.float32)
        bias = np.zeros(classes, np.float32)
        # Adagrad's running sums of squared gradients; a small start avoids dividing by 0.
        weight_sums = np.full((columns, classes), 1e-8, np.float32)
        bias_sums = np.full(classes, 1e-8, np.float32)
        batches = _batches(rows, rng.permutation(rows.rows), self.batch_size)
        for _ in range(self.epochs):
            for index in rng.permutation(len(batches)):
                batch = batches[index]
                touched = weights[batch.features]
                probabilities = softmax(batch.scores(touched, bias))
                error = probabilities
                error[np.arange(len(batch.rows)), labels[batch.rows]] -= 1.0
                gradient = np.add.reduceat(
                    error[batch.sorted_row] * batch.sorted_value[:, None], batch.bounds, axis=0
                )
                gradient += self.l2 * len(batch.rows) * touched
                sums = weight_sums[batch.features]
                sums += gradient * gradient
                weight_sums[batch.features] = sums
                # In place: the update of ~3,000 rows x 29 classes runs 1,700 times.
                np.sqrt(sums, out=sums)
                gradient *= self.learning_rate
                np.divide(gradient, sums, out=gradient)
                np.subtract(touched, gradient, out=touched)
                weights[batch.features] = touched
                bias_gradient = error.sum(axis=0)
                bias_sums += bias_gradient * bias_gradient
                bias -= self.learning_rate * bias_gradient / np.sqrt(bias_sums)
        self.weights_, self.bias_ = weights, bias
        return self

    def predict_proba(self, rows: SparseRows) -> FloatArray:
        scores = np.tile(self.bias_, (rows.rows, 1))
        for r in range(rows.rows):
            start, end = rows.indptr[r], rows.indptr[r + 1]
            if end > start:
                scores[r] += rows.values[start:end] @ self.weights_[rows.columns[start:end]]
        return softmax(scores)


def softmax(scores: npt.NDArray[_F]) -> npt.NDArray[_F]:
    shifted = scores - scores.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    result: npt.NDArray[_F] = exp / exp.sum(axis=-1, keepdims=True)
    return result


@dataclass(frozen=True)
class _Batch:
    """One minibatch with its index work done once: rows are fixed, only their order varies."""

    rows: npt.NDArray[np.int64]
    values: FloatArray
    segments: npt.NDArray[np.int64]
    features: npt.NDArray[np.int64]  # the distinct columns the batch touches, sorted
    bounds: npt.NDArray[np.int64]  # where each of them starts in the sorted non-zeros
    sorted_row: npt.NDArray[np.int64]
    sorted_value: FloatArray
    local: npt.NDArray[np.int64]  # each non-zero's place among `features`

    def scores(self, touched: FloatArray, bias: FloatArray) -> FloatArray:
        """Each row's class scores from the weight rows of the batch's features."""
        products = touched[self.local] * self.values[:, None]
        result: FloatArray = np.add.reduceat(products, self.segments, axis=0) + bias
        return result


def _batches(rows: SparseRows, order: npt.NDArray[np.int64], size: int) -> list[_Batch]:
    batches = []
    lengths_all = np.diff(rows.indptr)
    order = order[lengths_all[order] > 0]  # a row without features teaches nothing
    for start in range(0, len(order), size):
        chosen = np.sort(order[start : start + size])
        lengths = lengths_all[chosen]
        segments = np.zeros(len(chosen), dtype=np.int64)
        np.cumsum(lengths[:-1], out=segments[1:])
        positions = np.repeat(rows.indptr[chosen] - segments, lengths) + np.arange(lengths.sum())
        columns = rows.columns[positions]
        values = rows.values[positions]
        row_of = np.repeat(np.arange(len(chosen)), lengths)
        by_column = np.argsort(columns, kind="stable")
        sorted_columns = columns[by_column]
        bounds = np.flatnonzero(np.r_[True, sorted_columns[1:] != sorted_columns[:-1]])
        batches.append(
            _Batch(
                rows=chosen,
                values=values,
                segments=segments,
                features=sorted_columns[bounds],
                bounds=bounds,
                sorted_row=row_of[by_column],
                sorted_value=values[by_column],
                local=np.searchsorted(sorted_columns[bounds], columns),
            )
        )
    return batches
