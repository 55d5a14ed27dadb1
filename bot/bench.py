"""Benchmarks: matching latency on the shipped and synthetic knowledge bases, and cold start."""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from rapidfuzz import fuzz, process

from bot.core.evaluation import HELDOUT_FILES, TUNING_FILES, load_eval_set
from bot.core.knowledge import Entry, Knowledge, load_knowledge
from bot.core.matcher import Matcher
from bot.core.service import load_snapshot
from bot.core.textnorm import normalise


def _percentile(samples: Sequence[float], share: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def time_calls(
    func: Callable[[str], object], questions: Sequence[str], repeats: int, seed: int = 7
) -> list[float]:
    """Milliseconds per call, every question `repeats` times, in shuffled order."""
    order = [q for _ in range(repeats) for q in questions]
    random.Random(seed).shuffle(order)
    samples = []
    clock = time.perf_counter_ns
    for question in order:
        start = clock()
        func(question)
        samples.append((clock() - start) / 1e6)
    return samples


def synthetic_knowledge(base: Knowledge, size: int, seed: int = 1) -> Knowledge:
    """A knowledge base of `size` entries whose phrasings mix real and invented words.

    Words are drawn Zipf-like from a vocabulary that grows with the base, so common words
    have long posting lists as in a real large base.
    """
    rng = random.Random(seed)
    real_words = sorted(
        {w for e in base.entries for q in e.questions for w in normalise(q).split()}
    )
    invented = [f"w{n}x" for n in range(size * 4)]
    vocabulary = real_words + invented
    weights = [1.0 / (rank + 1) ** 0.9 for rank in range(len(vocabulary))]
    fact_ids = tuple(base.facts)

    def sentence(low: int, high: int) -> str:
        return " ".join(rng.choices(vocabulary, weights, k=rng.randint(low, high)))

    entries = list(base.entries)
    for n in range(size - len(entries)):
        entries.append(
            Entry(
                id=f"synthetic-{n}",
                topic=base.entries[0].topic,
                questions=tuple(sentence(3, 8) + "?" for _ in range(8)),
                answer=sentence(15, 30) + ".",
                facts=(rng.choice(fact_ids),),
                related=(),
            )
        )
    return replace(base, entries=tuple(entries), version=f"synthetic-{size}")


def _naive_baseline(knowledge: Knowledge) -> Callable[[str], object]:
    """The obvious approach for comparison: best WRatio over every phrasing."""
    choices = [normalise(q) for e in knowledge.entries for q in e.questions]

    def match(question: str) -> object:
        return process.extractOne(normalise(question), choices, scorer=fuzz.WRatio)

    return match


def _line(label: str, samples: Sequence[float]) -> str:
    return (
        f"  {label:44} median {statistics.median(samples):7.3f} ms   "
        f"p99 {_percentile(samples, 0.99):7.3f} ms   (n={len(samples)})"
    )


def _in_new_process(load_import: str, knowledge_dir: Path, quick: bool) -> list[float]:
    """Milliseconds of one first `load(knowledge_dir)` in each of several new processes."""
    timer = (
        f"import time, sys; {load_import}; t = time.perf_counter(); "
        "load(sys.argv[1]); print((time.perf_counter() - t) * 1000)"
    )
    samples = []
    for _ in range(3 if quick else 10):
        done = subprocess.run(
            [sys.executable, "-c", timer, str(knowledge_dir)],
            check=True,
            capture_output=True,
            text=True,
        )
        samples.append(float(done.stdout))
    return samples


def run_benchmarks(knowledge_dir: Path, *, quick: bool, out: TextIO) -> int:
    """Print latency and cold-start figures; the README quotes this output."""
    repeats = 3 if quick else 20
    questions = [c.question for c in load_eval_set(*TUNING_FILES, *HELDOUT_FILES)]
    base = load_knowledge(knowledge_dir)
    print(f"Matching latency over {len(questions)} evaluation questions x {repeats}:", file=out)
    matcher = Matcher(base)
    # Five rounds, each every question repeats/5 times in its own shuffled order: the p99 of
    # one round moves with whatever else the machine does, so each round's is shown too.
    rounds = [time_calls(matcher.match, questions, max(1, repeats // 5), seed=r) for r in range(5)]
    print(
        _line(f"shipped base ({len(base.entries)} entries)", [x for r in rounds for x in r]),
        file=out,
    )
    per_round = ", ".join(f"{_percentile(r, 0.99):.3f}" for r in rounds)
    print(f"    (p99 of each of the 5 rounds: {per_round} ms)", file=out)
    print(
        _line(
            "  baseline: WRatio over all phrasings",
            time_calls(_naive_baseline(base), questions, repeats),
        ),
        file=out,
    )
    for size in (1_000, 10_000):
        synthetic = synthetic_knowledge(base, size)
        start = time.perf_counter()
        big = Matcher(synthetic)
        prepared = time.perf_counter() - start
        reps = max(1, repeats // (4 if size > 1000 else 2))
        print(
            _line(f"synthetic base ({size} entries)", time_calls(big.match, questions, reps)),
            file=out,
        )
        print(f"    (prepared in {prepared * 1000:.0f} ms)", file=out)
        print(
            _line(
                "  baseline: WRatio over all phrasings",
                time_calls(_naive_baseline(synthetic), questions[:60], 1),
            ),
            file=out,
        )
    loads = []
    for _ in range(5 if quick else 30):
        start = time.perf_counter()
        load_snapshot(knowledge_dir)
        loads.append((time.perf_counter() - start) * 1000)
    print("Knowledge load + validation + matcher preparation (in process):", file=out)
    print(_line("load_snapshot (reload: same process)", loads), file=out)
    first = _in_new_process(
        "from bot.core.service import load_snapshot as load", knowledge_dir, quick
    )
    print(_line("load_snapshot (first load: new process)", first), file=out)
    # What the target names: reading and validating the knowledge base, without the matcher.
    validated = _in_new_process(
        "from bot.core.knowledge import load_knowledge as load", knowledge_dir, quick
    )
    print(_line("load_knowledge (load + validation, new process)", validated), file=out)
    cold = []
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": ""}
    for _ in range(3 if quick else 10):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "bot", "ask", "what is the black sea deal"],
            check=True,
            capture_output=True,
            env=env,
        )
        cold.append((time.perf_counter() - start) * 1000)
    print(
        "Cold start of `python -m bot ask QUESTION` (new process, import + load + answer):",
        file=out,
    )
    print(_line("python -m bot ask", cold), file=out)
    return 0
