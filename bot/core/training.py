"""The learned matcher's model: its training examples, training, and a cache per version.

The examples are the knowledge base's own: every entry's phrasings (qa.yaml), the questions
people asked (asked.yaml) and the questions in other languages (examples/), each labelled
with its entry; the declined questions of asked.yaml and examples/ are one more class. The
same examples and parameters always give the same model, so a model is cached under a hash
of exactly those, and never serves another knowledge version's examples.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bot.core.features import FEATURES_VERSION, feature_hash, feature_strings
from bot.core.knowledge import Knowledge
from bot.core.model import SoftmaxRegression, softmax
from bot.core.model_cache import TrainingParams
from bot.core.scoring import CACHE_FORMAT, DECLINED
from bot.core.textnorm import normalise
from bot.core.vectors import (
    CountMatrix,
    inverse_document_frequency,
    known_share,
    question_vector,
    tf_idf,
)

# Float64 elements in one block of weight rows summed at once (256 KiB).
_BLOCK_ELEMENTS = 1 << 15

__all__ = ["DECLINED", "Example", "TrainedModel", "TrainingParams", "train_model"]


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    language: str = "en"


def training_examples(
    knowledge: Knowledge, exclude: Collection[str] = frozenset()
) -> list[Example]:
    """Every labelled example of the knowledge base, once each (by normalised text).

    `exclude` holds normalised texts left out: a batch measured leave-one-batch-out must
    not be trained on, even where asked.yaml holds a copy of its questions.
    """
    examples: list[Example] = []
    seen: set[str] = set(exclude)

    def add(text: str, label: str, language: str = "en") -> None:
        key = normalise(text)
        if key and key not in seen:
            seen.add(key)
            examples.append(Example(text, label, language))

    for entry in knowledge.entries:
        for text in entry.questions:
            add(text, entry.id)
        for text in knowledge.asked.get(entry.id, ()):
            add(text, entry.id)
    for text in knowledge.declined:
        add(text, DECLINED)
    for language in sorted(knowledge.examples):
        for entry in knowledge.entries:
            for text in knowledge.examples[language].get(entry.id, ()):
                add(text, entry.id, language)
        for text in knowledge.examples_declined.get(language, ()):
            add(text, DECLINED, language)
    return examples


@dataclass(frozen=True)
class TrainedModel:
    """A trained model as plain arrays: the column space (sorted feature hashes), idf,
    weights and bias per class. Saved and loaded as .npz without pickle."""

    key: str
    classes: tuple[str, ...]
    hashes: npt.NDArray[np.uint32]
    idf: npt.NDArray[np.float32]
    weights: npt.NDArray[np.float32]
    bias: npt.NDArray[np.float32]
    # A second head over the same features: which language the question is written in.
    languages: tuple[str, ...] = ()
    language_weights: npt.NDArray[np.float32] = field(
        default_factory=lambda: np.zeros((0, 0), np.float32)
    )
    language_bias: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros(0, np.float32))

    def _scores(
        self, text: str, weights: npt.NDArray[np.float32], bias: npt.NDArray[np.float32]
    ) -> npt.NDArray[np.float64]:
        columns, values = question_vector(text, self.hashes, self.idf)
        scores = bias.astype(np.float64)
        # The float32 rows are summed in float64 a block at a time: a block's float64 copy
        # stays in the CPU's cache. At 10,000 classes one copy of all rows, or einsum over
        # them, took twice as long (a long message gathers 800 rows of 10,001 weights).
        step = max(16, _BLOCK_ELEMENTS // max(1, weights.shape[1]))
        for start in range(0, len(columns), step):
            block = weights[columns[start : start + step]].astype(np.float64)
            scores += values[start : start + step] @ block
        return scores

    def probabilities(self, text: str) -> npt.NDArray[np.float64]:
        """The probability of each class (in `classes` order) for one question."""
        result: npt.NDArray[np.float64] = softmax(self._scores(text, self.weights, self.bias))
        return result

    def ranked(self, text: str, top: int) -> list[tuple[int, float]]:
        # Sorting all of 10,000 classes cost more than the model itself: partition first.
        probabilities = self.probabilities(text)
        if len(probabilities) > top:
            best = np.argpartition(-probabilities, top)[:top]
            order = best[np.argsort(-probabilities[best], kind="stable")]
        else:
            order = np.argsort(-probabilities, kind="stable")
        return [(int(i), float(probabilities[i])) for i in order]

    def language_probabilities(self, text: str) -> dict[str, float]:
        """The probability of each language the examples are written in, for one question."""
        if not self.languages:
            return {}
        scores = self._scores(text, self.language_weights, self.language_bias)
        return dict(zip(self.languages, map(float, softmax(scores)), strict=True))

    def known_share(self, text: str) -> float:
        return known_share(text, self.hashes)

    def contributions(self, text: str, class_index: int, limit: int) -> list[tuple[str, float]]:
        """The question's features that weigh most for one class, with their weights."""
        columns, values = question_vector(text, self.hashes, self.idf)
        by_hash = {feature_hash(g): g for g in feature_strings(text)}
        weights = values * self.weights[columns, class_index]
        order = np.argsort(-np.abs(weights), kind="stable")[:limit]
        return [(by_hash.get(int(self.hashes[columns[i]]), "?"), float(weights[i])) for i in order]

    def save(self, path: Path) -> None:
        """Write atomically: a reader sees the old file or the whole new one."""
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = json.dumps(
            {
                "key": self.key,
                "classes": self.classes,
                "languages": self.languages,
                "format": CACHE_FORMAT,
            }
        )
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as tmp:
            np.savez(
                tmp,
                meta=np.frombuffer(meta.encode("utf-8"), dtype=np.uint8),
                hashes=self.hashes,
                idf=self.idf,
                weights=self.weights,
                bias=self.bias,
                language_weights=self.language_weights,
                language_bias=self.language_bias,
            )
        os.replace(tmp.name, path)

    @classmethod
    def load(cls, path: Path, key: str) -> TrainedModel | None:
        """The model saved at `path` if it is the one for `key`, else None."""
        try:
            with np.load(path, allow_pickle=False) as saved:
                meta = json.loads(saved["meta"].tobytes().decode("utf-8"))
                if meta.get("key") != key or meta.get("format") != CACHE_FORMAT:
                    return None
                return cls(
                    key,
                    tuple(meta["classes"]),
                    saved["hashes"],
                    saved["idf"],
                    saved["weights"],
                    saved["bias"],
                    tuple(meta["languages"]),
                    saved["language_weights"],
                    saved["language_bias"],
                )
        except (OSError, ValueError, KeyError):
            return None


def model_key(examples: Sequence[Example], params: TrainingParams) -> str:
    """A hash of everything the model depends on: features, parameters, examples."""
    digest = hashlib.sha256()
    digest.update(FEATURES_VERSION.encode())
    digest.update(json.dumps(asdict(params), sort_keys=True).encode())
    for example in examples:
        digest.update(f"{example.label}\x00{example.language}\x00{example.text}\x01".encode())
    return digest.hexdigest()[:20]


def train_model(
    examples: Sequence[Example],
    params: TrainingParams | None = None,
    counts: CountMatrix | None = None,
    rows: npt.NDArray[np.int64] | None = None,
) -> TrainedModel:
    """Train on the examples (or on `rows` of a precomputed count matrix of them)."""
    params = params or TrainingParams()
    if counts is None:
        counts = CountMatrix.of([e.text for e in examples])
    chosen = np.arange(len(examples), dtype=np.int64) if rows is None else rows
    classes = tuple(sorted({examples[i].label for i in chosen}))
    index = {label: i for i, label in enumerate(classes)}
    labels = np.array([index[examples[i].label] for i in chosen], dtype=np.int64)
    raw = counts.select(chosen)
    idf = inverse_document_frequency(raw, len(counts.hashes))
    model = SoftmaxRegression(
        epochs=params.epochs,
        batch_size=params.batch_size,
        learning_rate=params.learning_rate,
        l2=params.l2,
        seed=params.seed,
    ).fit(tf_idf(raw, idf), labels, len(counts.hashes), len(classes))
    languages = tuple(sorted({examples[i].language for i in chosen}))
    language_index = {language: i for i, language in enumerate(languages)}
    language_labels = np.array(
        [language_index[examples[i].language] for i in chosen], dtype=np.int64
    )
    # Telling three languages apart is easier than 29 entries: fewer passes do.
    language_model = SoftmaxRegression(
        epochs=3,
        batch_size=params.batch_size,
        learning_rate=params.learning_rate,
        l2=params.l2,
        seed=params.seed,
    ).fit(tf_idf(raw, idf), language_labels, len(counts.hashes), len(languages))
    # Columns no training row has carry no weight: leave them out of the stored model.
    used = idf > 0
    return TrainedModel(
        model_key([examples[i] for i in chosen], params),
        classes,
        counts.hashes[used],
        idf[used],
        model.weights_[used],
        model.bias_,
        languages,
        language_model.weights_[used],
        language_model.bias_,
    )
