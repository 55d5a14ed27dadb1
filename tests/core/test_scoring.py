"""The cached model read without numpy gives the numpy model's probabilities and answers."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from bot.core.evaluation import EVAL_DIR, load_eval_set
from bot.core.knowledge import DEFAULT_KNOWLEDGE_DIR, load_knowledge
from bot.core.matcher import TOP_CLASSES, Matcher, MatchResult
from bot.core.model_cache import load_model, model_path
from bot.core.scoring import StoredModel
from bot.core.training import TrainedModel

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ["", " ", "🤔🤔🤔", "<b>putin</b>", "\x00\x07", "a" * 10_000, "Путін " * 300, "?"]


@pytest.fixture(scope="module")
def models(shared_model_cache: Path) -> tuple[Matcher, Matcher]:
    knowledge = load_knowledge(DEFAULT_KNOWLEDGE_DIR)
    trained = load_model(knowledge, shared_model_cache)
    assert isinstance(trained, TrainedModel)
    stored = StoredModel.open(model_path(shared_model_cache, trained.key), trained.key)
    assert stored is not None
    return Matcher(knowledge, trained), Matcher(knowledge, stored)


def _questions() -> list[str]:
    # Every fifth evaluation question of every language and style (about 1,300), for time.
    cases = load_eval_set(*sorted(EVAL_DIR.rglob("*.yaml")))
    return [c.question for c in cases[::5]] + HOSTILE


def test_both_models_give_the_same_probabilities(models: tuple[Matcher, Matcher]) -> None:
    trained, stored = (m.model for m in models)
    for question in _questions():
        expected = trained.ranked(question, TOP_CLASSES)
        got = stored.ranked(question, TOP_CLASSES)
        assert [i for i, _ in got] == [i for i, _ in expected], question
        for (_, p), (_, q) in zip(got, expected, strict=True):
            assert math.isclose(p, q, rel_tol=1e-9, abs_tol=1e-12), question
        languages = stored.language_probabilities(question)
        for language, p in trained.language_probabilities(question).items():
            assert math.isclose(languages[language], p, rel_tol=1e-9, abs_tol=1e-12)
        assert stored.known_share(question) == trained.known_share(question)


def _same(got: MatchResult, expected: MatchResult) -> bool:
    """The same decision, entries and order; scores equal to float64 rounding."""
    return (
        (got.status, got.entry_id, [c.entry_id for c in got.candidates])
        == (expected.status, expected.entry_id, [c.entry_id for c in expected.candidates])
        and math.isclose(got.score, expected.score, rel_tol=1e-9, abs_tol=1e-9)
        and all(
            math.isclose(a.score, b.score, rel_tol=1e-9, abs_tol=1e-9)
            for a, b in zip(got.candidates, expected.candidates, strict=True)
        )
    )


def test_both_models_give_the_same_answers(models: tuple[Matcher, Matcher]) -> None:
    trained, stored = models
    for question in _questions():
        assert _same(stored.match(question), trained.match(question)), question
        assert stored.language_of(question) == trained.language_of(question), question


def test_explanations_agree(models: tuple[Matcher, Matcher]) -> None:
    trained, stored = models
    question = "what did putin demand in return for the ceasefire"
    expected, got = trained.explain(question), stored.explain(question)
    assert _same(got.result, expected.result) and got.nearest == expected.nearest
    assert [c.entry_id for c in got.ranked] == [c.entry_id for c in expected.ranked]
    assert dict(got.features).keys() == dict(expected.features).keys()


def test_only_the_model_of_its_own_key_is_read(shared_model_cache: Path, tmp_path: Path) -> None:
    knowledge = load_knowledge(DEFAULT_KNOWLEDGE_DIR)
    trained = load_model(knowledge, shared_model_cache)
    assert isinstance(trained, TrainedModel)
    key = trained.key
    path = model_path(shared_model_cache, key)
    assert StoredModel.open(path, key) is not None
    assert StoredModel.open(path, "another-version") is None
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert StoredModel.open(truncated, key) is None
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"PK\x03\x04" + b"\xff" * 100)
    assert StoredModel.open(garbage, key) is None


def test_a_light_load_without_a_cached_model_trains_one(tmp_path: Path) -> None:
    knowledge = load_knowledge(DEFAULT_KNOWLEDGE_DIR)
    model = load_model(knowledge, tmp_path / "empty-cache", light=True)
    assert model.ranked("when did trump call putin", 1)[0][0] == model.classes.index(
        "trump-putin-call"
    )


def test_a_one_shot_answer_imports_no_numpy(shared_model_cache: Path) -> None:
    script = (
        "import sys\n"
        "from bot.cli import main\n"
        "code = main(['ask', 'When did Trump talk to Putin?'])\n"
        "sys.exit(code or ('numpy' in sys.modules and 3))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "Trump spoke with Putin on March 18" in done.stdout
