"""Measure the matcher on the evaluation sets: right, wrong and declined shares."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import yaml

from bot.core.matcher import Matcher, MatchResult

EVAL_DIR = Path(__file__).resolve().parents[2] / "tests" / "eval"
# The tuning part: batches written by different people; the matcher and the knowledge base
# may be tuned on these. tuning3 to tuning9 were written later from the article and
# ENTRIES.md alone, and each was measured once as it came before anything was tuned on it.
# tuning10 was session 2's validation batch.
TUNING_FILES = tuple(EVAL_DIR / f"tuning{number}.yaml" for number in ("", *range(2, 19)))
# The validation part: written like the others, used only to accept or reject a change by
# its totals (never to find phrasings); the freshest estimate besides the held-out part.
VALIDATION_FILES = (EVAL_DIR / "validation2.yaml", EVAL_DIR / "validation3.yaml")
# The held-out part: never tuned on; `run_evaluation` prints only its figures. heldout2 and
# heldout3 were written in sessions 2 and 3 by people who saw only the article and ENTRIES.md.
HELDOUT_FILES = tuple(EVAL_DIR / f"heldout{number}.yaml" for number in ("", 2, 3, 4))


@dataclass(frozen=True)
class EvalCase:
    """One evaluation question and the entry it should reach (None: it must be declined)."""

    question: str
    expected: str | None


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
        cases += [EvalCase(str(item["q"]), str(item["entry"])) for item in data["in_scope"]]
        cases += [EvalCase(str(q), None) for q in data["out_of_scope"]]
    return cases


def evaluate(matcher: Matcher, name: str, cases: Sequence[EvalCase]) -> EvalReport:
    """Run every case through the matcher."""
    outcomes = [Outcome(case, matcher.match(case.question)) for case in cases]
    return EvalReport(
        name,
        tuple(o for o in outcomes if o.case.expected is not None),
        tuple(o for o in outcomes if o.case.expected is None),
    )


def run_evaluation(matcher: Matcher, out: TextIO, show_tuning_failures: bool = False) -> int:
    """Print the figures for each part; only the tuning part's failures are ever printed."""
    for name, paths in PARTS:
        report = evaluate(matcher, name, load_eval_set(*paths))
        print(report.summary(), file=out)
        for path in paths:  # each batch on one line: the batches differ in difficulty
            batch = evaluate(matcher, path.name, load_eval_set(path))
            print(
                f"    {path.name:14} {len(batch.in_scope):4} in / {len(batch.out_of_scope):3} out:"
                f" right {batch.right:5.1f} %  wrong {batch.wrong:4.1f} %"
                f"  declined {batch.declined:5.1f} %",
                file=out,
            )
        if name == "tuning" and show_tuning_failures:
            print("\n".join(report.failures()), file=out)
    return 0
