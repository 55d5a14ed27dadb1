"""Write knowledge/asked.yaml from the tuning part of the evaluation set.

The tuning batches (tests/eval, see bot/evaluation.py) are questions written the way people
ask, each with the entry that answers it or none when the article does not answer it. They
go into the knowledge base as more phrasings of their entries and as declined questions
that compete with the entries. The validation and held-out parts never do: they stay fresh
and measure what new users get. `python -m bot eval` on the tuning part then measures
recall of what the bot was given, not generalisation.

Only questions the curated base (without asked.yaml) gets wrong are taken: one it does not
answer with its entry, or one it does not decline outright. Taking every tuning question
measured the same on the validation part (86.5 / 0.8 / 98.9 against 86.8 / 1.1 / 97.8 %
right / wrong / declined) at twice the load time and half again the matching time.

A question is also left out when it cannot serve: the same text as a curated phrasing, a
question for an entry that names a subject not_covered.yaml says the article does not
cover (it would count against the entry it is meant to reach), or one the matcher still
sends elsewhere once everything else is in (the routing warnings of `python -m bot check`).

    python tools/import_asked.py          # rewrite knowledge/asked.yaml
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.core.evaluation import TUNING_FILES, load_eval_set  # noqa: E402
from bot.core.knowledge import DEFAULT_KNOWLEDGE_DIR, load_knowledge  # noqa: E402
from bot.core.matcher import NOT_COVERED_PREFIX, Matcher  # noqa: E402
from bot.core.textnorm import normalise  # noqa: E402

HEADER = """\
# Questions people asked, in their own words: more ways of asking for an entry (`answered`,
# by entry id) and questions the article does not answer (`declined`), which compete with
# the entries so that a question closest to them is declined. Written by
# tools/import_asked.py from the tuning part of tests/eval (never the validation or held-out
# parts); add real users' questions (/unanswered) here the same way. Any entry id must be
# in qa.yaml, and no text may be asked for two things.
"""


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(answered: dict[str, list[str]], declined: list[str]) -> str:
    lines = [HEADER.rstrip("\n"), "answered:"]
    for entry_id, questions in answered.items():
        if not questions:
            continue
        lines.append(f"  {entry_id}:")
        lines.extend(f"    - {_quote(q)}" for q in questions)
    lines.append("declined:")
    lines.extend(f"  - {_quote(q)}" for q in declined)
    return "\n".join(lines) + "\n"


def collect(directory: Path) -> tuple[dict[str, list[str]], list[str]]:
    """The tuning questions that can serve, before the routing check."""
    knowledge = load_knowledge(directory)
    matcher = Matcher(knowledge)
    taken = {normalise(q) for e in knowledge.entries for q in e.questions}
    answered: dict[str, list[str]] = {e.id: [] for e in knowledge.entries}
    declined: list[str] = []
    for case in load_eval_set(*TUNING_FILES):
        text = normalise(case.question)
        if not text or text in taken:
            continue
        # Only what the curated base gets wrong: what it already answers or declines
        # adds nothing but cost (every phrasing is scored on every question).
        result = matcher.match(case.question)
        if case.expected is None and result.status == "unknown":
            continue
        if result.status == "answered" and result.entry_id == case.expected:
            continue
        taken.add(text)
        if case.expected is None:
            declined.append(case.question)
        elif not any(t.startswith(NOT_COVERED_PREFIX) for t in matcher.terms(case.question)):
            answered[case.expected].append(case.question)
    return answered, declined


def routed_elsewhere(directory: Path) -> set[str]:
    """Asked questions the matcher sends to another entry, or answers though declined; and
    for a curated phrasing now sent elsewhere, the asked question that pulls it there."""
    knowledge = load_knowledge(directory)
    matcher = Matcher(knowledge)
    wrong: set[str] = set()
    for entry in knowledge.entries:
        for question in entry.questions:
            ranked = matcher.rank(question, limit=1)
            if ranked and ranked[0].entry_id != entry.id:
                terms = set(matcher.terms(question))
                pulling = knowledge.asked.get(ranked[0].entry_id, ())
                if pulling:
                    wrong.add(max(pulling, key=lambda q: _overlap(terms, matcher.terms(q))))
    for entry_id, questions in knowledge.asked.items():
        for question in questions:
            ranked = matcher.rank(question, limit=1)
            if not ranked or ranked[0].entry_id != entry_id:
                wrong.add(question)
    for question in knowledge.declined:
        if matcher.match(question).status == "answered":
            wrong.add(question)
    return wrong


def _overlap(terms: set[str], other: list[str]) -> float:
    return len(terms & set(other)) / max(1, len(terms | set(other)))


def main() -> int:
    source = Path(DEFAULT_KNOWLEDGE_DIR)
    target = source / "asked.yaml"
    target.write_text(render({}, []), encoding="utf-8")  # the base without old imports
    answered, declined = collect(source)
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        for path in source.iterdir():
            if path.is_file():
                (work / path.name).write_bytes(path.read_bytes())
        for _ in range(10):  # dropping one question can move another: repeat until stable
            (work / "asked.yaml").write_text(render(answered, declined), encoding="utf-8")
            wrong = routed_elsewhere(work)
            if not wrong:
                break
            answered = {e: [q for q in qs if q not in wrong] for e, qs in answered.items()}
            declined = [q for q in declined if q not in wrong]
    answered = {e: qs for e, qs in answered.items() if qs}
    target.write_text(render(answered, declined), encoding="utf-8")
    kept = sum(len(qs) for qs in answered.values())
    print(f"{target}: {kept} questions for entries, {len(declined)} declined")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
