"""The benchmark's own machinery: the synthetic bases and models it times, and its refusals."""

import io
from pathlib import Path

import numpy as np

from bot.bench import random_model, run_benchmarks, shuffled_order, synthetic_knowledge
from bot.core.knowledge import DEFAULT_KNOWLEDGE_DIR
from bot.core.service import Snapshot
from bot.core.training import DECLINED, TrainedModel


def _shape(hashes: list[int], idf: list[float]) -> TrainedModel:
    return TrainedModel(
        "shape",
        ("a", "b"),
        np.array(hashes, dtype=np.uint32),
        np.array(idf, dtype=np.float32),
        np.zeros((len(hashes), 2), np.float32),
        np.zeros(2, np.float32),
    )


def test_random_model_over_its_budget_keeps_the_most_frequent_columns_in_hash_order():
    shape = _shape([10, 20, 30, 40], [3.0, 1.0, 2.0, 1.5])
    classes = (DECLINED, "a", "b")
    model = random_model(shape, classes, max_bytes=2 * 4 * len(classes))
    assert model.hashes.tolist() == [20, 40]  # the two lowest idf: the most frequent
    assert model.idf.tolist() == [1.0, 1.5]
    assert model.weights.shape == (2, 3) and model.weights.dtype == np.float32
    assert model.classes == classes


def test_random_model_within_its_budget_keeps_every_column_and_is_reproducible():
    shape = _shape([10, 20, 30], [3.0, 1.0, 2.0])
    first = random_model(shape, ("x", "y"), max_bytes=1 << 20, seed=3)
    again = random_model(shape, ("x", "y"), max_bytes=1 << 20, seed=3)
    assert first.hashes.tolist() == [10, 20, 30]
    assert np.array_equal(first.weights, again.weights)
    assert float(first.probabilities("anything at all").sum()) == np.float32(1.0)


def test_synthetic_knowledge_has_the_asked_size_and_is_the_same_every_time(
    shipped_snapshot: Snapshot,
):
    base = shipped_snapshot.knowledge
    synthetic = synthetic_knowledge(base, 200)
    ids = [e.id for e in synthetic.entries]
    assert len(ids) == 200 == len(set(ids))
    assert synthetic.entries[: len(base.entries)] == base.entries
    assert synthetic_knowledge(base, 200).entries == synthetic.entries


def test_shuffled_order_holds_every_question_the_asked_number_of_times():
    order = shuffled_order(5, 3, seed=1)
    assert sorted(order) == [i for i in range(5) for _ in range(3)]
    assert order != sorted(order)


def test_bench_without_the_evaluation_questions_says_it_needs_a_source_checkout(tmp_path: Path):
    out = io.StringIO()
    code = run_benchmarks(DEFAULT_KNOWLEDGE_DIR, quick=True, out=out, eval_dir=tmp_path / "eval")
    assert code == 1
    assert "needs a source checkout" in out.getvalue()
