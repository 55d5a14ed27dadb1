"""Copy the tuning part of the evaluation set into the knowledge base as training examples.

The tuning batches (tests/eval, see bot/core/evaluation.py) are questions written the way
people ask, each with the entry that answers it or none when the article does not. Every one
of them becomes a training example of the learned matcher: English ones in
knowledge/asked.yaml, Ukrainian and Russian ones in knowledge/examples/<lang>-asked.yaml.
The validation and held-out parts never do: they stay fresh and measure what new users get.
A question already in the knowledge base (same normalised text) is not copied again.

    python tools/import_asked.py          # rewrite the asked files
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.core.evaluation import (  # noqa: E402
    HELDOUT_FILES,
    TUNING_FILES,
    VALIDATION_FILES,
    batch_language,
    load_eval_set,
)
from bot.core.knowledge import DEFAULT_KNOWLEDGE_DIR, load_knowledge  # noqa: E402
from bot.core.textnorm import normalise  # noqa: E402

HEADER = """\
# Questions people asked, in their own words{language}: more ways of asking for an entry
# (`answered`, by entry id) and questions the article does not answer (`declined`), both
# training examples of the matcher. Written by tools/import_asked.py from the tuning part of
# tests/eval (never the validation or held-out parts); add real users' questions
# (/unanswered) here the same way. Any entry id must be in qa.yaml.
"""


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(answered: dict[str, list[str]], declined: list[str], language: str | None) -> str:
    lines = [HEADER.format(language=f" ({language})" if language else "").rstrip("\n")]
    if language:
        lines.append(f"language: {language}")
    lines.append("answered:")
    for entry_id in sorted(answered):
        lines.append(f"  {entry_id}:")
        lines.extend(f"    - {_quoted(q)}" for q in answered[entry_id])
    lines.append("declined:")
    lines.extend(f"  - {_quoted(q)}" for q in declined)
    return "\n".join(lines) + "\n"


def main() -> int:
    for old in (DEFAULT_KNOWLEDGE_DIR / "examples").glob("*-asked.yaml"):
        old.unlink()  # rewritten below; the curated examples are what they must not repeat
    knowledge = load_knowledge(DEFAULT_KNOWLEDGE_DIR)
    curated = {normalise(q) for e in knowledge.entries for q in e.questions}
    for by_entry in knowledge.examples.values():
        curated.update(normalise(q) for qs in by_entry.values() for q in qs)
    curated.update(normalise(q) for qs in knowledge.examples_declined.values() for q in qs)
    # A question also in the validation or held-out part (short ones coincide) stays fresh.
    fresh = {normalise(c.question) for c in load_eval_set(*VALIDATION_FILES, *HELDOUT_FILES)}
    by_language: dict[str, tuple[dict[str, list[str]], list[str]]] = {}
    seen = curated | fresh
    for path in TUNING_FILES:
        language = batch_language(path)
        answered, declined = by_language.setdefault(language, ({}, []))
        for case in load_eval_set(path):
            key = normalise(case.question)
            if not key or key in seen:
                continue
            seen.add(key)
            if case.expected is None:
                declined.append(case.question)
            else:
                answered.setdefault(case.expected, []).append(case.question)
    for language, (answered, declined) in sorted(by_language.items()):
        if language == "en":
            target = DEFAULT_KNOWLEDGE_DIR / "asked.yaml"
            text = render(answered, declined, None)
        else:
            target = DEFAULT_KNOWLEDGE_DIR / "examples" / f"{language}-asked.yaml"
            text = render(answered, declined, language)
        target.write_text(text, encoding="utf-8")
        count = sum(len(v) for v in answered.values())
        print(f"{target.relative_to(ROOT)}: {count} answered, {len(declined)} declined")
    load_knowledge(DEFAULT_KNOWLEDGE_DIR)  # the result must load
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
