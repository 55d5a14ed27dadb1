"""Regenerate bot/core/common_words.txt: frequent English words that are not names.

Run by hand, not in CI (it needs two things the project does not depend on):

    apt-get install wamerican            # /usr/share/dict/words
    python -m venv /tmp/wf && /tmp/wf/bin/pip install wordfreq
    PYTHONPATH=. /tmp/wf/bin/python tools/make_common_words.py > bot/core/common_words.txt

A word is kept when it is among wordfreq's 40,000 most frequent English words and the
dictionary lists it in lower case (so "reaction" and "round" are in, while names the
dictionary capitalises - Georgia, Istanbul, Kremlin - are out), is alphabetic and at least
three letters long; the stems of the kept words (bot.core.matcher.stem) are listed too, so that
loading the list is one read. The matcher uses the list to tell an ordinary word it does not know
("what was the Kremlin's reaction?") from a name it does not know (Istanbul, Georgia).
"""

from __future__ import annotations

import wordfreq  # type: ignore[import-not-found]

from bot.core.matcher import stem

WORDS = "/usr/share/dict/words"
TOP = 40_000


def main() -> None:
    with open(WORDS, encoding="utf-8") as handle:
        lower = {w.strip() for w in handle if w.strip().isalpha() and w.strip().islower()}
    kept = [w for w in wordfreq.top_n_list("en", TOP) if w in lower and len(w) >= 3]
    print("# Frequent English words that are not names; made by tools/make_common_words.py.")
    for word in sorted(set(kept) | {stem(w) for w in kept}):
        print(word)


if __name__ == "__main__":
    main()
