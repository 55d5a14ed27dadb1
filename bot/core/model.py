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
        # Each column's weights and Adagrad's running sums of squared gradients side by side:
        # a batch gathers and writes back one block of rows, not two (a small start for the
        # sums avoids dividing by 0).
        state = np.zeros((columns, 2 * classes), np.float32)
        state[:, classes:] = 1e-8
        bias = np.zeros(classes, np.float32)
        bias_sums = np.full(classes, 1e-8, np.float32)
        batches = _batches(rows, rng.permutation(rows.rows), self.batch_size)
        for _ in range(self.epochs):
            for index in rng.permutation(len(batches)):
                batch = batches[index]
                block = np.take(state, batch.features, axis=0)
                touched, sums = block[:, :classes], block[:, classes:]
                # The batch as a dense matrix over its own columns (64 x ~3,500): two BLAS
                # products replace summing every non-zero's class scores one by one.
                dense = batch.dense()
                error = softmax(dense @ touched + bias)
                error[np.arange(len(batch.rows)), labels[batch.rows]] -= 1.0
                gradient = dense.T @ error
                gradient += self.l2 * len(batch.rows) * touched
                sums += gradient * gradient
                gradient *= self.learning_rate
                np.divide(gradient, np.sqrt(sums), out=gradient)
                np.subtract(touched, gradient, out=touched)
                state[batch.features] = block
                bias_gradient = error.sum(axis=0)
                bias_sums += bias_gradient * bias_gradient
                bias -= self.learning_rate * bias_gradient / np.sqrt(bias_sums)
        self.weights_, self.bias_ = np.ascontiguousarray(state[:, :classes]), bias
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
    features: npt.NDArray[np.int64]  # the distinct columns the batch touches, sorted
    row_of: npt.NDArray[np.int64]  # each non-zero's row within the batch
    local: npt.NDArray[np.int64]  # each non-zero's place among `features`
    values: FloatArray

    def dense(self) -> FloatArray:
        matrix = np.zeros((len(self.rows), len(self.features)), np.float32)
        matrix[self.row_of, self.local] = self.values
        return matrix


def _batches(rows: SparseRows, order: npt.NDArray[np.int64], size: int) -> list[_Batch]:
    batches = []
    lengths_all = np.diff(rows.indptr)
    order = order[lengths_all[order] > 0]  # a row without features teaches nothing
    for start in range(0, len(order), size):
        chosen = np.sort(order[start : start + size])
        lengths = lengths_all[chosen]
        starts = np.zeros(len(chosen), dtype=np.int64)
        np.cumsum(lengths[:-1], out=starts[1:])
        positions = np.repeat(rows.indptr[chosen] - starts, lengths) + np.arange(lengths.sum())
        columns = rows.columns[positions]
        features = np.unique(columns)
        batches.append(
            _Batch(
                rows=chosen,
                features=features,
                row_of=np.repeat(np.arange(len(chosen)), lengths),
                local=np.searchsorted(features, columns),
                values=rows.values[positions],
            )
        )
    return batches
