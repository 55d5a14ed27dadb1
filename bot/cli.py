"""Command line: console chat, one-shot and batch answers, knowledge check, eval, bench, run."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from bot.config import ConfigError, Settings, load_settings
from bot.core.answers import Answer, answer_to_json, render_explanation, render_plain
from bot.core.knowledge import KnowledgeError
from bot.core.service import Snapshot, load_snapshot

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def _snapshot_or_report(
    settings: Settings, err: TextIO, *, validate: bool = False, light: bool = False
) -> Snapshot | None:
    try:
        return load_snapshot(
            settings.knowledge_dir, settings.model_cache_dir, validate=validate, light=light
        )
    except KnowledgeError as exc:
        print(f"The knowledge base in {settings.knowledge_dir} is invalid:", file=err)
        for problem in exc.problems:
            print(f"  error: {problem}", file=err)
        return None


def run_chat(snapshot: Snapshot, stdin: TextIO, stdout: TextIO, language: str | None = None) -> int:
    """Interactive console chat; a number picks one of the last "did you mean" choices.

    Each answer is in the language of its question (or `language` when forced); a question
    that does not tell keeps the language of the conversation so far.
    """
    interactive = stdin.isatty()
    wording = snapshot.knowledge.wording(language)
    print(wording.messages["greeting"], file=stdout)
    for topic in snapshot.knowledge.topics:
        print(f"  - {wording.topics[topic.id]}", file=stdout)
    print("(Type a question; a number picks a suggestion; 'quit' or Ctrl-D ends.)\n", file=stdout)
    choices: tuple[str, ...] = ()
    current = wording.language
    while True:
        if interactive:
            print("you> ", end="", file=stdout, flush=True)
        line = stdin.readline()
        if not line:
            return EXIT_OK
        text = line.strip()
        if text.lower() in {"quit", "exit", "/quit", "/exit"}:
            return EXIT_OK
        answer: Answer | None = None
        if text.isdigit() and choices and 1 <= int(text) <= len(choices):
            answer = snapshot.answer_entry(choices[int(text) - 1], language=current)
        if answer is None:
            answer = snapshot.answer(text, language=language, fallback_language=current)
        current = answer.language
        choices = tuple(s.entry_id for s in answer.suggestions)
        print(f"bot> {render_plain(answer)}\n", file=stdout, flush=True)


def run_ask(
    snapshot: Snapshot,
    questions: Sequence[str],
    as_json: bool,
    stdout: TextIO,
    language: str | None = None,
) -> int:
    """Answer each question; JSON mode prints one object per line."""
    for question in questions:
        answer = snapshot.answer(question, language=language)
        if as_json:
            stdout.write(json.dumps(answer_to_json(answer), ensure_ascii=False) + "\n")
        else:
            stdout.write(render_plain(answer, numbered=False) + "\n\n")
        stdout.flush()
    return EXIT_OK


MAX_LISTED = 30


def run_explain(snapshot: Snapshot, questions: Sequence[str], stdout: TextIO) -> int:
    """Why each question gets its answer: what /test shows admins in Telegram."""
    for question in questions:
        print(render_explanation(snapshot.matcher.explain(question)), file=stdout)
    return EXIT_OK


def run_check(
    settings: Settings, stdout: TextIO, err: TextIO, cross_validation: bool = True
) -> int:
    """Validate the knowledge base; non-zero exit when anything is wrong."""
    snapshot = _snapshot_or_report(settings, err, validate=True)
    if snapshot is None:
        return EXIT_FAILURE
    knowledge = snapshot.knowledge
    for problem in snapshot.warnings:
        print(f"  warning: {problem}", file=stdout)
    if cross_validation:
        from bot.core.evaluation import cross_validate

        cv = cross_validate(knowledge)
        print(
            f"Cross-validated ({cv.folds} folds of {cv.examples} examples): {cv.accuracy:.1f} %"
            f" reach their own entry; {len(cv.misrouted)} go elsewhere"
            + (f", the first {MAX_LISTED}:" if len(cv.misrouted) > MAX_LISTED else ":"),
            file=stdout,
        )
        for text, label, went in cv.misrouted[:MAX_LISTED]:
            print(f"  {label} -> {went}: {text!r}", file=stdout)
    print(
        f"OK: {len(knowledge.entries)} entries, {len(knowledge.facts)} facts, "
        f"{len(knowledge.topics)} topics, {len(knowledge.aliases)} alias groups, "
        f"{sum(len(q) for q in knowledge.asked.values())} asked and "
        f"{len(knowledge.declined)} declined questions, "
        f"{len(snapshot.warnings)} warnings; version {knowledge.version}",
        file=stdout,
    )
    return EXIT_OK


# The languages --lang offers; a knowledge base without one of them answers it in English.
LANGUAGES = ("en", "uk", "ru")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="talks-bot",
        description="Answers questions about one Babel article on the March ceasefire talks.",
    )
    sub = parser.add_subparsers(dest="command")
    chat = sub.add_parser("chat", help="console chat (the default without TELEGRAM_BOT_TOKEN)")
    ask = sub.add_parser("ask", help="answer a question, or one question per stdin line")
    ask.add_argument("--json", action="store_true", help="one JSON object per question")
    ask.add_argument(
        "--explain", action="store_true", help="show the top entries, nearest examples, features"
    )
    for command in (chat, ask):
        command.add_argument(
            "--lang", choices=LANGUAGES, help="answer in this language, whatever the question's"
        )
    ask.add_argument("question", nargs="*", help="the question (words are joined)")
    check = sub.add_parser("check", help="validate the knowledge base, cross-validate the model")
    check.add_argument("--no-cv", action="store_true", help="skip the cross-validation")
    ev = sub.add_parser("eval", help="accuracy on the tuning and held-out evaluation sets")
    ev.add_argument("--show-tuning-failures", action="store_true")
    ev.add_argument(
        "--no-folds", action="store_true", help="skip leave-one-batch-out (a training per batch)"
    )
    ev.add_argument(
        "--first-sight",
        metavar="BATCH",
        type=Path,
        help="measure a new batch (a YAML file like tests/eval's) once, before it joins a part",
    )
    bench = sub.add_parser("bench", help="matching latency and cold start")
    bench.add_argument("--quick", action="store_true", help="fewer repetitions")
    sub.add_parser("run", help="run the Telegram bot (needs TELEGRAM_BOT_TOKEN)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(os.environ)
    except ConfigError as exc:
        print(f"Configuration error:\n{exc}", file=sys.stderr)
        return EXIT_USAGE
    command = args.command or ("run" if settings.has_token else "chat")
    if command == "check":
        return run_check(settings, sys.stdout, sys.stderr, not args.no_cv)
    if command == "run":
        from bot.tg.app import run_bot  # the Telegram layer is only imported to run it

        return run_bot(settings)
    if command == "bench":
        from bot.bench import run_benchmarks

        return run_benchmarks(settings.knowledge_dir, quick=args.quick, out=sys.stdout)
    # Answers on the command line start without numpy (a few questions at a millisecond
    # each); eval matches thousands and takes the numpy model. The answers are the same.
    snapshot = _snapshot_or_report(settings, sys.stderr, light=command != "eval")
    if snapshot is None:
        return EXIT_FAILURE
    if command == "eval":
        from bot.core.evaluation import EVAL_DIR, first_sight, run_evaluation

        if args.first_sight is not None:
            return first_sight(snapshot.matcher, args.first_sight, sys.stdout)
        if not EVAL_DIR.is_dir():
            print(f"eval needs a source checkout: {EVAL_DIR} is not here.", file=sys.stderr)
            return EXIT_FAILURE
        return run_evaluation(
            snapshot.matcher, sys.stdout, args.show_tuning_failures, folds=not args.no_folds
        )
    if command == "ask":
        questions = [" ".join(args.question)] if args.question else sys.stdin.read().splitlines()
        if args.explain:
            return run_explain(snapshot, questions, sys.stdout)
        return run_ask(snapshot, questions, args.json, sys.stdout, args.lang)
    return run_chat(snapshot, sys.stdin, sys.stdout, getattr(args, "lang", None))
