"""Measure the matcher on the evaluation sets: right, wrong and declined shares."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np
import yaml

from bot.core.answers import answer_language
from bot.core.knowledge import Knowledge
from bot.core.matcher import Matcher, MatchResult
from bot.core.textnorm import normalise
from bot.core.training import TrainingParams, train_model, training_examples
from bot.core.vectors import CountMatrix

EVAL_DIR = Path(__file__).resolve().parents[2] / "tests" / "eval"
# The tuning part: batches written by different people from the article and ENTRIES.md
# alone, each measured once as it came (its header says how) before anything was tuned on
# it. The shipped model is trained on them (tools/import_asked.py copies them into the
# knowledge base), so their own figures are recall; leave-one-batch-out is the estimate.
TUNING_FILES = (
    *(EVAL_DIR / f"tuning{number}.yaml" for number in ("", *range(2, 24))),
    *(
        EVAL_DIR / language / f"tuning{number}.yaml"
        for language in ("uk", "ru")
        for number in ("", 2, 3, 4)
    ),
)
# The validation part: used only to accept or reject a change by its totals.
VALIDATION_FILES = (
    EVAL_DIR / "validation2.yaml",
    EVAL_DIR / "validation3.yaml",
    EVAL_DIR / "uk" / "validation.yaml",
    EVAL_DIR / "ru" / "validation.yaml",
)
# The held-out part: never tuned on; `run_evaluation` prints only its figures.
HELDOUT_FILES = (
    *(EVAL_DIR / f"heldout{number}.yaml" for number in ("", 2, 3, 4)),
    EVAL_DIR / "uk" / "heldout.yaml",
    EVAL_DIR / "ru" / "heldout.yaml",
)
LANGUAGES = ("en", "uk", "ru")


def batch_language(path: Path) -> str:
    """A batch's language: its folder (uk/, ru/), English at the top."""
    return path.parent.name if path.parent.name in LANGUAGES else "en"


def batch_name(path: Path) -> str:
    return f"{path.parent.name}/{path.name}" if batch_language(path) != "en" else path.name


@dataclass(frozen=True)
class EvalCase:
    """One evaluation question and the entry it should reach (None: it must be declined)."""

    question: str
    expected: str | None
    language: str = "en"


@dataclass(frozen=True)
class Outcome:
    """One evaluation question with what the matcher did with it."""

    case: EvalCase
    result: MatchResult

    @property
    def right(self) -> bool:
        return self.result.status == "answered" and self.result.entry_id == self.case.expected

    @property
    def wrong(self) -> bool:
        return self.result.status == "answered" and self.result.entry_id != self.case.expected

    @property
    def suggested_right(self) -> bool:
        return self.result.status == "suggest" and self.case.expected in self.result.suggestions


@dataclass(frozen=True)
class EvalReport:
    """Shares over one evaluation set."""

    name: str
    in_scope: tuple[Outcome, ...]
    out_of_scope: tuple[Outcome, ...]

    @staticmethod
    def _share(count: int, total: int) -> float:
        return 100.0 * count / total if total else 0.0

    @property
    def right(self) -> float:
        return self._share(sum(o.right for o in self.in_scope), len(self.in_scope))

    @property
    def wrong(self) -> float:
        return self._share(sum(o.wrong for o in self.in_scope), len(self.in_scope))

    @property
    def suggested_right(self) -> float:
        return self._share(sum(o.suggested_right for o in self.in_scope), len(self.in_scope))

    @property
    def declined(self) -> float:
        """Out-of-scope questions not answered (told "not covered" or only offered choices)."""
        return self._share(
            sum(o.result.status != "answered" for o in self.out_of_scope), len(self.out_of_scope)
        )

    @property
    def declined_outright(self) -> float:
        """Out-of-scope questions told plainly that the article does not cover them."""
        return self._share(
            sum(o.result.status == "unknown" for o in self.out_of_scope), len(self.out_of_scope)
        )

    def summary(self) -> str:
        return (
            f"{self.name}: {len(self.in_scope)} in-scope, {len(self.out_of_scope)} out-of-scope\n"
            f"  in-scope answered right   {self.right:6.1f} %\n"
            f"  in-scope answered wrongly {self.wrong:6.1f} %\n"
            f"  in-scope right entry only suggested {self.suggested_right:6.1f} %\n"
            f"  out-of-scope declined (not answered) {self.declined:6.1f} %\n"
            f"  out-of-scope declined outright (unknown) {self.declined_outright:6.1f} %"
        )

    def failures(self) -> list[str]:
        lines = []
        for o in self.in_scope:
            if not o.right:
                r = o.result
                top = ", ".join(f"{c.entry_id}:{c.score:.0f}" for c in r.candidates[:3])
                lines.append(f"IN  {o.case.expected:24} {r.status:8} [{top}] {o.case.question!r}")
        for o in self.out_of_scope:
            if o.result.status != "unknown":
                r = o.result
                top = ", ".join(f"{c.entry_id}:{c.score:.0f}" for c in r.candidates[:3])
                lines.append(f"OUT {'-':24} {r.status:8} [{top}] {o.case.question!r}")
        return lines


PARTS = (("tuning", TUNING_FILES), ("validation", VALIDATION_FILES), ("held-out", HELDOUT_FILES))


def load_eval_set(*paths: Path) -> list[EvalCase]:
    """Read evaluation files: `in_scope` (q + entry) and `out_of_scope` (questions)."""
    cases: list[EvalCase] = []
    for path in paths:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        language = batch_language(path)
        cases += [
            EvalCase(str(item["q"]), str(item["entry"]), language) for item in data["in_scope"]
        ]
        cases += [EvalCase(str(q), None, language) for q in data["out_of_scope"]]
    return cases


def evaluate(matcher: Matcher, name: str, cases: Sequence[EvalCase]) -> EvalReport:
    """Run every case through the matcher."""
    outcomes = [Outcome(case, matcher.match(case.question)) for case in cases]
    return EvalReport(
        name,
        tuple(o for o in outcomes if o.case.expected is not None),
        tuple(o for o in outcomes if o.case.expected is None),
    )


def _batch_line(name: str, batch: EvalReport) -> str:
    return (
        f"    {name:20} {len(batch.in_scope):4} in / {len(batch.out_of_scope):3} out:"
        f" right {batch.right:5.1f} %  wrong {batch.wrong:4.1f} %  declined {batch.declined:5.1f} %"
    )


def _by_language(report: EvalReport) -> dict[str, EvalReport]:
    return {
        language: EvalReport(
            f"{report.name} [{language}]",
            tuple(o for o in report.in_scope if o.case.language == language),
            tuple(o for o in report.out_of_scope if o.case.language == language),
        )
        for language in LANGUAGES
        if any(o.case.language == language for o in (*report.in_scope, *report.out_of_scope))
    }


def language_share(matcher: Matcher, cases: Sequence[EvalCase]) -> float:
    """Share of questions whose reply would be in the asker's language (no client hint)."""
    if not cases:
        return 0.0
    hits = sum(answer_language(matcher.knowledge, matcher, c.question) == c.language for c in cases)
    return 100.0 * hits / len(cases)


def run_evaluation(
    matcher: Matcher, out: TextIO, show_tuning_failures: bool = False, folds: bool = True
) -> int:
    """Print the figures for each part and language; only the tuning part's failures are ever
    printed. With `folds`, also every tuning batch measured leave-one-batch-out."""
    for name, paths in PARTS:
        report = evaluate(matcher, name, load_eval_set(*paths))
        for language, part in _by_language(report).items():
            print(part.summary(), file=out)
            cases = load_eval_set(*(p for p in paths if batch_language(p) == language))
            share = language_share(matcher, cases)
            print(f"  replies in the asker's language {share:6.1f} %", file=out)
        for path in paths:  # each batch on one line: the batches differ in difficulty
            batch = evaluate(matcher, path.name, load_eval_set(path))
            print(_batch_line(batch_name(path), batch), file=out)
        if name == "tuning" and show_tuning_failures:
            print("\n".join(report.failures()), file=out)
    if folds:
        print("\nleave-one-batch-out (trained without the batch, measured on it):", file=out)
        reports = leave_one_batch_out(matcher.knowledge, TUNING_FILES)
        for path, batch in zip(TUNING_FILES, reports, strict=True):
            print(_batch_line(batch_name(path), batch), file=out)
        total = EvalReport(
            "leave-one-batch-out",
            tuple(o for r in reports for o in r.in_scope),
            tuple(o for r in reports for o in r.out_of_scope),
        )
        for part in _by_language(total).values():
            print(part.summary(), file=out)
    return 0


def first_sight(matcher: Matcher, path: Path, out: TextIO) -> int:
    """Measure a new batch once, before it joins any part: its totals, never its questions.

    Questions the model was trained on (the same normalised text) would be recall, not a first
    sight: they are counted and the batch refused until they are removed.
    """
    try:
        cases = load_eval_set(path)
    except (OSError, UnicodeError, yaml.YAMLError, KeyError, TypeError) as error:
        print(f"{path}: not a batch with in_scope and out_of_scope lists ({error!r})", file=out)
        return 1
    trained = {normalise(e.text) for e in training_examples(matcher.knowledge)}
    seen = sum(normalise(c.question) in trained for c in cases)
    if seen:
        print(
            f"{path}: {seen} of its {len(cases)} questions are training examples already; "
            "remove them first.",
            file=out,
        )
        return 1
    report = evaluate(matcher, batch_name(path), cases)
    print(report.summary(), file=out)
    share = language_share(matcher, cases)
    print(f"  replies in the asker's language {share:6.1f} %", file=out)
    return 0


# Leave-one-batch-out folds run in worker processes forked from the parent, which holds the
# examples and their features: each worker only trains and measures.
_FOLD_STATE: dict[str, object] = {}


def _fold(path: Path) -> EvalReport:
    knowledge = _FOLD_STATE["knowledge"]
    examples = _FOLD_STATE["examples"]
    counts = _FOLD_STATE["counts"]
    assert isinstance(knowledge, Knowledge) and isinstance(counts, CountMatrix)
    assert isinstance(examples, list)
    cases = load_eval_set(path)
    held = {normalise(c.question) for c in cases}
    rows = np.array(
        [i for i, e in enumerate(examples) if normalise(e.text) not in held], dtype=np.int64
    )
    model = train_model(examples, TrainingParams(), counts, rows)
    return evaluate(Matcher(knowledge, model), path.name, cases)


def leave_one_batch_out(
    knowledge: Knowledge, paths: Sequence[Path], workers: int | None = None
) -> list[EvalReport]:
    """Each batch measured by a model trained on everything but that batch's questions."""
    examples = training_examples(knowledge)
    _FOLD_STATE.update(
        knowledge=knowledge, examples=examples, counts=CountMatrix.of([e.text for e in examples])
    )
    workers = workers or min(len(paths), os.cpu_count() or 1)
    try:
        if workers <= 1:
            return [_fold(path) for path in paths]
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            return list(pool.map(_fold, paths))
    finally:
        _FOLD_STATE.clear()


@dataclass(frozen=True)
class CrossValidation:
    """k-fold cross-validation over the training examples themselves."""

    folds: int
    examples: int
    accuracy: float  # % of examples whose held-out model ranks their own class first
    misrouted: tuple[tuple[str, str, str], ...]  # (text, its label, the class it went to)


def _cv_fold(fold: int) -> list[tuple[int, str]]:
    examples = _FOLD_STATE["examples"]
    counts = _FOLD_STATE["counts"]
    folds = _FOLD_STATE["folds"]
    assert isinstance(examples, list) and isinstance(counts, CountMatrix)
    assert isinstance(folds, int)
    rows = np.array([i for i in range(len(examples)) if i % folds != fold], dtype=np.int64)
    model = train_model(examples, TrainingParams(), counts, rows)
    predictions = []
    for i in range(fold, len(examples), folds):
        probabilities = model.probabilities(examples[i].text)
        predictions.append((i, model.classes[int(np.argmax(probabilities))]))
    return predictions


def cross_validate(knowledge: Knowledge, folds: int = 5) -> CrossValidation:
    """Each example predicted by a model trained without its fold (every folds-th example)."""
    examples = training_examples(knowledge)
    _FOLD_STATE.update(
        examples=examples, counts=CountMatrix.of([e.text for e in examples]), folds=folds
    )
    try:
        workers = min(folds, os.cpu_count() or 1)
        if workers <= 1:
            results = [_cv_fold(f) for f in range(folds)]
        else:
            context = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                results = list(pool.map(_cv_fold, range(folds)))
    finally:
        _FOLD_STATE.clear()
    predicted = dict(p for fold in results for p in fold)
    misrouted = tuple(
        (e.text, e.label, predicted[i]) for i, e in enumerate(examples) if predicted[i] != e.label
    )
    accuracy = 100.0 * (1 - len(misrouted) / len(examples)) if examples else 0.0
    return CrossValidation(folds, len(examples), accuracy, misrouted)
