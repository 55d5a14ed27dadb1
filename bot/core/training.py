"""The learned matcher's model: its training examples, training, and a cache per version.

The examples are the knowledge base's own: every entry's phrasings (qa.yaml), the questions
people asked (asked.yaml) and the questions in other languages (examples/), each labelled
with its entry; the declined questions of asked.yaml and examples/ are one more class. The
same examples and parameters always give the same model, so a model is cached under a hash
of exactly those, and never serves another knowledge version's examples.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bot.core.features import (
    FEATURES_VERSION,
    CountMatrix,
    feature_hash,
    feature_strings,
    inverse_document_frequency,
    question_vector,
    tf_idf,
)
from bot.core.knowledge import Knowledge
from bot.core.model import SoftmaxRegression, softmax
from bot.core.textnorm import normalise

# The class of questions the article does not answer.
DECLINED = "!declined"
CACHE_FORMAT = 2


@dataclass(frozen=True)
class TrainingParams:
    """The model's training constants; each chosen by leave-one-batch-out measurement."""

    # Passes over the examples, minibatch size and Adagrad's step. Measured leave-one-batch-
    # out on English tuning batches: 10 epochs of 64 gave the figures of scikit-learn's fully
    # converged LogisticRegression (C=10) within a point, in half its training time; 15
    # epochs did no better.
    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 0.5
    # L2 penalty per example. On the seven hardest tuning batches left out in turn (right /
    # wrong / declined at the shipped thresholds): 1e-6 gave 95.4 / 0.84 / 95.7, 1e-5 93.8 /
    # 0.94 / 94.4, 1e-4 88.4 / 0.66 / 96.0, none 95.0 / 1.03 / 95.2 (and twice the time).
    l2: float = 1e-6
    seed: int = 0


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

    def language_probabilities(self, text: str) -> dict[str, float]:
        """The probability of each language the examples are written in, for one question."""
        if not self.languages:
            return {}
        columns, values = question_vector(text, self.hashes, self.idf)
        scores = self.language_bias + values @ self.language_weights[columns]
        return dict(zip(self.languages, map(float, softmax(scores)), strict=True))

    def probabilities(self, text: str) -> npt.NDArray[np.float32]:
        """The probability of each class (in `classes` order) for one question."""
        columns, values = question_vector(text, self.hashes, self.idf)
        scores = self.bias + values @ self.weights[columns]
        result: npt.NDArray[np.float32] = softmax(scores)
        return result

    def contributions(self, text: str, class_index: int, limit: int) -> list[tuple[str, float]]:
        """The question's features that weigh most for one class, with their weights."""
        columns, values = question_vector(text, self.hashes, self.idf)
        by_hash = {feature_hash(g): g for g in feature_strings(text)}
        weights = values * self.weights[columns, class_index]
        order = np.argsort(-np.abs(weights))[:limit]
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


def load_or_train(
    knowledge: Knowledge, cache_dir: Path | None, params: TrainingParams | None = None
) -> TrainedModel:
    """The model for this knowledge: from the cache when it holds it, else trained (and
    cached when the directory is writable; a read-only one only costs the training)."""
    params = params or TrainingParams()
    index = cache_dir / f"index-{_index_key(knowledge, params)}.txt" if cache_dir else None
    if index is not None:
        # The version's model key, written when it was first trained: collecting and hashing
        # every example costs more than the rest of a cold start.
        with contextlib.suppress(OSError, ValueError):
            key = index.read_text(encoding="ascii").strip()
            cached = _RECENT.get(key) or TrainedModel.load(_model_path(index.parent, key), key)
            if cached is not None:
                return _remember(cached)
    examples = training_examples(knowledge)
    key = model_key(examples, params)
    model = _RECENT.get(key)
    path = _model_path(cache_dir, key) if cache_dir is not None else None
    if model is None and path is not None and path.is_file():
        model = TrainedModel.load(path, key)
    if model is None:
        model = train_model(examples, params)
    if path is not None and index is not None:
        with contextlib.suppress(OSError):
            if not path.is_file():
                model.save(path)
            index.write_text(key, encoding="ascii")
    return _remember(model)


def _model_path(cache_dir: Path, key: str) -> Path:
    return cache_dir / f"model-{key}.npz"


def _index_key(knowledge: Knowledge, params: TrainingParams) -> str:
    """Knowledge version, parameters and the code that turns them into examples and features."""
    digest = hashlib.sha256(knowledge.version.encode())
    digest.update(json.dumps(asdict(params), sort_keys=True).encode())
    for name in ("training.py", "features.py", "model.py", "textnorm.py"):
        digest.update(Path(__file__).with_name(name).read_bytes())
    return digest.hexdigest()[:20]


# Models of this process, by key: a reload that changes only answers reuses the model, and
# so do the many knowledge copies of the test suite. A few versions at most are kept.
_RECENT: dict[str, TrainedModel] = {}
_RECENT_LIMIT = 4


def _remember(model: TrainedModel) -> TrainedModel:
    _RECENT[model.key] = model
    while len(_RECENT) > _RECENT_LIMIT:
        del _RECENT[next(iter(_RECENT))]
    return model
