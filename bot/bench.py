"""Benchmarks: matching latency, a 10,000-entry model, training, loading and cold start."""

from __future__ import annotations

import gc
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import accumulate
from pathlib import Path
from typing import TextIO

import numpy as np
from rapidfuzz import fuzz, process

from bot.core import keyword_matcher
from bot.core.evaluation import EVAL_DIR, HELDOUT_FILES, LANGUAGES, TUNING_FILES, load_eval_set
from bot.core.knowledge import Entry, Knowledge
from bot.core.matcher import Matcher, message_parts
from bot.core.model_cache import model_path
from bot.core.scoring import StoredModel
from bot.core.service import load_snapshot
from bot.core.textnorm import normalise
from bot.core.training import DECLINED, TrainedModel, training_examples

# The speed targets every figure is printed against.
MEDIAN_TARGET_MS = 0.3
P99_TARGET_MS = 1.0
LARGE_P99_TARGET_MS = 10.0
TRAINING_TARGET_S = 10.0
COLD_START_TARGET_RATIO = 3.0

LARGE_SIZE = 10_000
# Over the shipped model's whole column space (~100,000 features) a 10,000-class float32
# weight matrix takes ~4 GB, more than this machine should lend a benchmark; capped here,
# the most frequent features (those most questions touch) are the ones kept.
LARGE_WEIGHTS_MAX_BYTES = 1_500_000_000
ROUNDS = 5
COLD_QUESTIONS = {"en": "what is the black sea deal", "uk": "Коли Трамп говорив з Путіним?"}
BARE_INTERPRETER = "import yaml, rapidfuzz"


@dataclass(frozen=True)
class BenchPlan:
    """How much of each measurement to do; the full plan keeps `make bench` near 4 minutes."""

    repeats: int  # calls per question on the shipped base, over all rounds
    baseline_stride: int  # every n-th question for the WRatio baseline (~7 ms a call)
    large_stride: int  # every n-th question for the 10,000-class model (~10-40 ms a call)
    keyword_large_stride: int
    keyword_large_repeats: int
    trainings: int
    processes: int  # new processes per load and cold-start figure


FULL = BenchPlan(20, 20, 4, 1, 2, 3, 10)
QUICK = BenchPlan(5, 60, 40, 3, 1, 1, 3)


class BenchError(RuntimeError):
    """A measurement could not run (not: it was slow)."""


def _percentile(samples: Sequence[float], share: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def shuffled_order(count: int, repeats: int, seed: int) -> list[int]:
    """Indexes 0..count-1, each `repeats` times, in one shuffled order."""
    order = [i for _ in range(repeats) for i in range(count)]
    random.Random(seed).shuffle(order)
    return order


def time_order(
    func: Callable[[str], object], questions: Sequence[str], order: Sequence[int]
) -> list[float]:
    """Milliseconds per call of `func(questions[i])` for each i of `order`, in that order."""
    samples = []
    clock = time.perf_counter_ns
    for index in order:
        question = questions[index]
        start = clock()
        func(question)
        samples.append((clock() - start) / 1e6)
    return samples


def time_calls(
    func: Callable[[str], object], questions: Sequence[str], repeats: int, seed: int = 7
) -> list[float]:
    """Milliseconds per call, every question `repeats` times, in shuffled order."""
    return time_order(func, questions, shuffled_order(len(questions), repeats, seed))


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
    # Summed once: `weights=` would sum the whole vocabulary again on every draw (the same
    # draws, a minute slower at 10,000 entries).
    cumulative = list(accumulate(1.0 / (rank + 1) ** 0.9 for rank in range(len(vocabulary))))
    fact_ids = tuple(base.facts)

    def sentence(low: int, high: int) -> str:
        return " ".join(rng.choices(vocabulary, cum_weights=cumulative, k=rng.randint(low, high)))

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


def random_model(
    shape_of: TrainedModel, classes: Sequence[str], max_bytes: int, seed: int = 0
) -> TrainedModel:
    """A model for `classes` over `shape_of`'s column space with random float32 weights.

    When the weights would not fit in `max_bytes`, only the most frequent columns are kept
    (lowest idf: the features most questions have), still in hash order.
    """
    width = len(classes)
    fit = max(1, max_bytes // (4 * width))
    if fit < len(shape_of.hashes):
        keep = np.sort(np.argsort(shape_of.idf, kind="stable")[:fit])
    else:
        keep = np.arange(len(shape_of.hashes))
    weights = np.random.default_rng(seed).random((len(keep), width), dtype=np.float32)
    weights -= np.float32(0.5)
    return TrainedModel(
        f"random-{width}x{len(keep)}-{seed}",
        tuple(classes),
        shape_of.hashes[keep],
        shape_of.idf[keep],
        weights,
        np.zeros(width, np.float32),
    )


def _naive_baseline(knowledge: Knowledge) -> Callable[[str], object]:
    """The obvious approach for comparison: best WRatio over every phrasing."""
    choices = [normalise(q) for e in knowledge.entries for q in e.questions]

    def match(question: str) -> object:
        return process.extractOne(normalise(question), choices, scorer=fuzz.WRatio)

    return match


def _number(value: float) -> str:
    return f"{value:7.3f}" if value < 100 else f"{value:7.1f}"


def _every(stride: int) -> str:
    if stride == 1:
        return "every"
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(stride % 10, "th") if stride % 100 // 10 != 1 else "th"
    return f"every {stride}{suffix}"


def _line(label: str, samples: Sequence[float], unit: str = "ms") -> str:
    return (
        f"  {label:42} median {_number(statistics.median(samples))} {unit}  "
        f"p99 {_number(_percentile(samples, 0.99))} {unit}  (n={len(samples):,})"
    )


class _Report:
    """The printed figures, and each target's verdict for the summary."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.verdicts: list[tuple[str, bool]] = []

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def check(self, name: str, met: bool, target: str) -> str:
        self.verdicts.append((name, met))
        return f"  [{target}: {'PASS' if met else 'FAIL'}]"

    def latency(self, label: str, samples: Sequence[float], name: str) -> str:
        median, p99 = statistics.median(samples), _percentile(samples, 0.99)
        met = median <= MEDIAN_TARGET_MS and p99 <= P99_TARGET_MS
        target = f"median <= {MEDIAN_TARGET_MS} ms, p99 <= {P99_TARGET_MS} ms"
        return _line(label, samples) + self.check(name, met, target)


def _by_language(
    orders: Sequence[Sequence[int]],
    rounds: Sequence[Sequence[float]],
    languages: Sequence[str],
) -> dict[str, list[list[float]]]:
    """Each language's samples, round by round."""
    split: dict[str, list[list[float]]] = {language: [] for language in LANGUAGES}
    for order, samples in zip(orders, rounds, strict=True):
        for per_round in split.values():
            per_round.append([])
        for index, ms in zip(order, samples, strict=True):
            split[languages[index]][-1].append(ms)
    return split


def _run(command: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise BenchError(f"{' '.join(command)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return done.stdout


def _timed_script(setup: str, timed: str) -> str:
    return f"import sys, time\n{setup}\nt = time.perf_counter()\n{timed}\n" + (
        "print((time.perf_counter() - t) * 1000)"
    )


def _wall_ms(command: Sequence[str], env: Mapping[str, str]) -> float:
    start = time.perf_counter()
    _run(command, env)
    return (time.perf_counter() - start) * 1000


def run_benchmarks(
    knowledge_dir: Path, *, quick: bool, out: TextIO, eval_dir: Path = EVAL_DIR
) -> int:
    """Print every speed figure with its target; the README quotes this output.

    Exits 0 whenever the measurements ran (the verdicts are in the output), 1 when they
    could not: no evaluation questions outside a source checkout, or a command failed.
    """
    files = [eval_dir / path.relative_to(EVAL_DIR) for path in (*TUNING_FILES, *HELDOUT_FILES)]
    missing = [path for path in files if not path.is_file()]
    if missing:
        print(
            f"bench needs a source checkout: the evaluation questions in {eval_dir} are not "
            f"here ({len(missing)} of {len(files)} files missing, e.g. {missing[0]}).",
            file=out,
        )
        return 1
    report = _Report(out)
    # Models and validated knowledge go to a temporary directory: the repository (and the
    # bot's own data directory) are never written to.
    with tempfile.TemporaryDirectory(prefix="talks-bot-bench-") as tmp:
        try:
            _measure(report, knowledge_dir, files, Path(tmp), QUICK if quick else FULL)
        except BenchError as error:
            report.say(f"bench could not run: {error}")
            return 1
    return 0


def _measure(
    report: _Report, knowledge_dir: Path, files: Sequence[Path], tmp: Path, plan: BenchPlan
) -> None:
    began = time.perf_counter()
    load_at_start = os.getloadavg()
    cache, data = tmp / "cache", tmp / "data"
    # Bytecode is written and reused, as after an installation (pip compiles it) or on any
    # second start: a PYTHONDONTWRITEBYTECODE in this environment would make every cold
    # start compile the project again, which no installed bot does.
    env = {
        **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
        "PYTHONPYCACHEPREFIX": str(tmp / "pycache"),
        "TELEGRAM_BOT_TOKEN": "",
        "BOT_KNOWLEDGE_DIR": str(knowledge_dir),
        "BOT_CACHE_DIR": str(cache),
        "BOT_DATA_DIR": str(data),
    }
    ask = {
        language: [sys.executable, "-m", "bot", "ask", question]
        for language, question in COLD_QUESTIONS.items()
    }
    # The first start with an empty cache validates and trains; every later process, and the
    # matcher measured here, take the model from the cache the way a restarted bot does (so
    # this process's feature caches start cold, as the bot's do).
    warmed = _wall_ms(ask["en"], env)
    snapshot = load_snapshot(knowledge_dir, cache)
    knowledge, learned = snapshot.knowledge, snapshot.matcher
    assert isinstance(learned.model, TrainedModel)  # the bot's model, not the light one
    report.say(
        f"Model cache warmed by a first `python -m bot ask` in {warmed / 1000:.1f} s "
        "(validation + training: a start without a cache)."
    )
    _shipped_latency(report, knowledge, learned, files, plan, cache)
    _large(report, knowledge, learned.model, files, plan)
    del snapshot, learned
    gc.collect()
    _training(report, knowledge_dir, len(training_examples(knowledge)), plan)
    _loading(report, knowledge_dir, cache, plan)
    _cold_start(report, ask, env, plan)

    met = sum(1 for _, ok in report.verdicts if ok)
    report.say(f"\nTargets: {met} of {len(report.verdicts)} met.")
    for name, ok in report.verdicts:
        if not ok:
            report.say(f"  FAIL: {name}")
    load_at_end = os.getloadavg()
    report.say(
        f"{os.cpu_count()} cores, load average {load_at_start[0]:.2f} at the start and "
        f"{load_at_end[0]:.2f} at the end: on a shared machine the figures move from run to "
        f"run. Whole run: {time.perf_counter() - began:.0f} s."
    )


def _shipped_latency(
    report: _Report,
    knowledge: Knowledge,
    learned: Matcher,
    files: Sequence[Path],
    plan: BenchPlan,
    cache: Path | None = None,
) -> None:
    cases = load_eval_set(*files)
    questions = [c.question for c in cases]
    languages = [c.language for c in cases]
    counts = ", ".join(f"{lang} {languages.count(lang):,}" for lang in LANGUAGES)
    keyword = keyword_matcher.Matcher(knowledge)
    per_round = max(1, plan.repeats // ROUNDS)
    features = len(learned.model.hashes) if isinstance(learned.model, TrainedModel) else 0
    report.say(
        f"\nMatching latency per question, shipped base ({len(knowledge.entries)} entries; "
        f"model: {len(learned.model.classes)} classes, {features:,} features)\n"
        f"  {len(questions):,} evaluation questions ({counts}) x {per_round * ROUNDS}, in "
        f"{ROUNDS} shuffled rounds;\n  each round times the learned matcher, then the keyword "
        "matcher in the same order,\n  so that both see the same machine load."
    )
    orders = [shuffled_order(len(questions), per_round, seed=r) for r in range(ROUNDS)]
    learned_rounds: list[list[float]] = []
    keyword_rounds: list[list[float]] = []
    for order in orders:
        learned_rounds.append(time_order(learned.match, questions, order))
        keyword_rounds.append(time_order(keyword.match, questions, order))
    for name, rounds, judged in (
        ("learned matcher", learned_rounds, True),
        ("keyword matcher (the one replaced)", keyword_rounds, False),
    ):
        by_language = _by_language(orders, rounds, languages)
        parts: list[tuple[str, list[list[float]]]] = [("all", rounds), *by_language.items()]
        for language, split in parts:
            label = name if language == "all" else f"  {language}"
            samples = [ms for r in split for ms in r]
            verdict = f"{name}: latency" + ("" if language == "all" else f" in {language}")
            report.say(report.latency(label, samples, verdict) if judged else _line(label, samples))
            each = ", ".join(f"{_percentile(r, 0.99):.3f}" for r in split)
            report.say(f"      p99 of each round: {each} ms")
    sample = questions[:: plan.baseline_stride]
    report.say(
        _line(
            f"baseline WRatio, {_every(plan.baseline_stride)} question",
            time_calls(_naive_baseline(knowledge), sample, 1),
        )
    )
    if isinstance(learned.model, TrainedModel) and cache is not None:
        # The command line's model: the same answers without numpy (see bot/core/scoring.py).
        stored = StoredModel.open(model_path(cache, learned.model.key), learned.model.key)
        if stored is not None:
            light = Matcher(knowledge, stored)
            report.say(
                _line(
                    f"same matcher, cached file without numpy (command line), "
                    f"{_every(plan.baseline_stride)} question",
                    time_calls(light.match, sample, 1),
                )
            )


def _large(
    report: _Report,
    knowledge: Knowledge,
    shipped: TrainedModel,
    files: Sequence[Path],
    plan: BenchPlan,
) -> None:
    questions = [c.question for c in load_eval_set(*files)]
    synthetic = synthetic_knowledge(knowledge, LARGE_SIZE)
    classes = tuple(sorted({*(e.id for e in synthetic.entries), DECLINED}))
    start = time.perf_counter()
    model = random_model(shipped, classes, LARGE_WEIGHTS_MAX_BYTES)
    made = time.perf_counter() - start
    columns, full = len(model.hashes), len(shipped.hashes)
    report.say(
        f"\n{LARGE_SIZE:,} entries (synthetic): a learned model of that shape, random weights: "
        "inference cost only\n"
        f"  {len(classes):,} classes ({LARGE_SIZE:,} entries + declined) x {columns:,} feature "
        f"columns, float32, {model.weights.nbytes / 1e9:.2f} GB, seed 0, made in {made:.1f} s"
    )
    if columns < full:
        report.say(
            f"  (the {columns:,} most frequent of the shipped model's {full:,} features: "
            f"all of them would take {4 * full * len(classes) / 1e9:.1f} GB)"
        )
    matcher = Matcher(synthetic, model)
    sample = questions[:: plan.large_stride]
    order = shuffled_order(len(sample), 1, seed=0)
    matched = time_order(matcher.match, sample, order)
    report.say(
        _line(f"Matcher.match, {_every(plan.large_stride)} question", matched)
        + report.check(
            f"{LARGE_SIZE:,} entries: p99",
            _percentile(matched, 0.99) <= LARGE_P99_TARGET_MS,
            f"p99 <= {LARGE_P99_TARGET_MS:g} ms",
        )
    )
    calls = statistics.mean(
        1 + len(message_parts(q, matcher.params.part_min_words)) for q in sample
    )
    # Near-uniform probabilities over 10,001 classes never reach the answer threshold.
    report.say(
        f"      {calls:.2f} model calls per question: random weights answer nothing, so each\n"
        "      part of a longer message is scored too (a trained model answers most whole)"
    )
    report.say(
        _line("  of which model.probabilities", time_order(model.probabilities, sample, order))
    )
    del matcher, model
    gc.collect()
    start = time.perf_counter()
    keyword = keyword_matcher.Matcher(synthetic)
    prepared = time.perf_counter() - start
    sample = questions[:: plan.keyword_large_stride]
    report.say(
        _line(
            f"keyword matcher, {_every(plan.keyword_large_stride)} question "
            f"x {plan.keyword_large_repeats}",
            time_calls(keyword.match, sample, plan.keyword_large_repeats),
        )
    )
    report.say(f"      (synthetic_knowledge({LARGE_SIZE:,}); prepared in {prepared:.1f} s)")


def _training(report: _Report, knowledge_dir: Path, examples: int, plan: BenchPlan) -> None:
    script = _timed_script(
        "from bot.core.knowledge import load_knowledge\n"
        "from bot.core.training import train_model, training_examples\n"
        "examples = training_examples(load_knowledge(sys.argv[1]))",
        "train_model(examples)",
    )
    seconds = [
        float(_run([sys.executable, "-c", script, str(knowledge_dir)])) / 1000
        for _ in range(plan.trainings)
    ]
    report.say(
        f"\nTraining the shipped model: train_model over {examples:,} examples, a new process "
        "each (feature caches cold, as on a first start):"
    )
    report.say(
        _line("train_model", seconds, unit="s ")
        + report.check(
            "training time",
            statistics.median(seconds) <= TRAINING_TARGET_S,
            f"median <= {TRAINING_TARGET_S:g} s",
        )
    )
    report.say(f"      each run: {', '.join(f'{s:.2f}' for s in seconds)} s")


def _loading(report: _Report, knowledge_dir: Path, cache: Path, plan: BenchPlan) -> None:
    scripts = {
        "load_knowledge (load + validation)": _timed_script(
            "from bot.core.knowledge import load_knowledge", "load_knowledge(sys.argv[1])"
        ),
        "load_snapshot (warm model cache)": _timed_script(
            "from pathlib import Path\nfrom bot.core.service import load_snapshot",
            "load_snapshot(sys.argv[1], Path(sys.argv[2]))",
        ),
        "load_snapshot, light (warm cache, no numpy)": _timed_script(
            "from pathlib import Path\nfrom bot.core.service import load_snapshot",
            "load_snapshot(sys.argv[1], Path(sys.argv[2]), light=True)",
        ),
    }
    samples: dict[str, list[float]] = {name: [] for name in scripts}
    for _ in range(plan.processes):
        for name, script in scripts.items():
            command = [sys.executable, "-c", script, str(knowledge_dir), str(cache)]
            samples[name].append(float(_run(command)))
    report.say(
        f"\nLoading, the first call in a new process ({plan.processes} processes each, "
        "imports not counted):"
    )
    for name, values in samples.items():
        report.say(_line(name, values))


def _cold_start(
    report: _Report, ask: Mapping[str, list[str]], env: Mapping[str, str], plan: BenchPlan
) -> None:
    commands = {"bare": [sys.executable, "-c", BARE_INTERPRETER], **ask}
    samples: dict[str, list[float]] = {name: [] for name in commands}
    names = list(commands)
    for name in names:  # bytecode in place for every command
        _wall_ms(commands[name], env)
    for run in range(plan.processes):
        # Rotated each run, so that none of them always follows the same one.
        for name in names[run % len(names) :] + names[: run % len(names)]:
            samples[name].append(_wall_ms(commands[name], env))
    bare = statistics.median(samples["bare"])
    report.say(
        f"\nCold start, new processes, alternating ({plan.processes} runs each; warm model cache):"
    )
    report.say(_line(f'bare: python -c "{BARE_INTERPRETER}"', samples["bare"]))
    for language, question in COLD_QUESTIONS.items():
        ratio = statistics.median(samples[language]) / bare
        report.say(
            _line(f"python -m bot ask ({language})", samples[language])
            + f"  {ratio:.1f}x bare"
            + report.check(
                f"cold start ({language}) vs bare",
                ratio <= COLD_START_TARGET_RATIO,
                f"<= {COLD_START_TARGET_RATIO:g}x",
            )
        )
        report.say(f"      {question!r}")
