"""Which model serves a knowledge version: taken from the cache directory, else trained.

A model is cached under a hash of its training examples and parameters
(bot/core/training.py), and an index file per knowledge version names that hash: collecting
and hashing every example costs more than the rest of a cold start. `light=True` serves from
the cached file in place without importing numpy (bot/core/scoring.py); the numpy model is
loaded or trained otherwise, and whenever the cache does not hold this version.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.core.knowledge import Knowledge
from bot.core.scoring import Scorer, StoredModel

if TYPE_CHECKING:
    from bot.core.training import TrainedModel


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


def load_model(
    knowledge: Knowledge,
    cache_dir: Path | None,
    params: TrainingParams | None = None,
    *,
    light: bool = False,
) -> Scorer:
    """The model for this knowledge: from the cache when it holds it, else trained (and
    cached when the directory is writable; a read-only one only costs the training)."""
    params = params or TrainingParams()
    index = cache_dir / f"index-{_index_key(knowledge, params)}.txt" if cache_dir else None
    if index is not None:
        with contextlib.suppress(OSError, ValueError):
            key = index.read_text(encoding="ascii").strip()
            if key in _RECENT:
                return _RECENT[key]
            if light:
                stored = StoredModel.open(model_path(index.parent, key), key)
                if stored is not None:
                    return stored
            else:
                from bot.core.training import TrainedModel

                cached = TrainedModel.load(model_path(index.parent, key), key)
                if cached is not None:
                    return _remember(cached)
    return _train_or_load(knowledge, cache_dir, index, params)


def _train_or_load(
    knowledge: Knowledge, cache_dir: Path | None, index: Path | None, params: TrainingParams
) -> TrainedModel:
    from bot.core.training import TrainedModel, model_key, train_model, training_examples

    examples = training_examples(knowledge)
    key = model_key(examples, params)
    model = _RECENT.get(key)
    path = model_path(cache_dir, key) if cache_dir is not None else None
    if model is None and path is not None and path.is_file():
        model = TrainedModel.load(path, key)
    if model is None:
        model = train_model(examples, params)
        release_freed_memory()
    if path is not None and index is not None:
        with contextlib.suppress(OSError):
            if not path.is_file():
                model.save(path)
            index.write_text(key, encoding="ascii")
    return _remember(model)


def release_freed_memory() -> None:
    """Give the heap that training freed back to the system (glibc keeps it otherwise).

    Measured: a bot that trained at start kept 255 MB resident, 77 MB after this; one that
    read its model from the cache holds 58 MB.
    """
    import ctypes

    # The process's own symbols hold libc's (no ldconfig subprocess to find it); a libc
    # without malloc_trim (musl) keeps its heap.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def model_path(cache_dir: Path, key: str) -> Path:
    return cache_dir / f"model-{key}.npz"


# The code that turns a knowledge version into examples, features and weights.
_TRAINING_CODE = ("training.py", "features.py", "vectors.py", "model.py", "textnorm.py")


def _index_key(knowledge: Knowledge, params: TrainingParams) -> str:
    """Knowledge version, parameters and the code that turns them into a model."""
    digest = hashlib.sha256(knowledge.version.encode())
    digest.update(json.dumps(asdict(params), sort_keys=True).encode())
    for name in _TRAINING_CODE:
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
