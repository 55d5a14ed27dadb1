"""What the bot says in each language, and the checks that keep translations faithful."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType

ENGLISH = "en"

_DIGITS = re.compile(r"\d+")
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Wording:
    """Everything the bot says in one language: messages, topic titles, entry labels, answers."""

    language: str
    messages: Mapping[str, str]
    topics: Mapping[str, str]
    labels: Mapping[str, str]
    answers: Mapping[str, str]


@dataclass(frozen=True)
class NameForms:
    """How one language writes the names an English text may contain (from the i18n file)."""

    # English name (alternatives joined by "|": "US|United States|American") -> local stems
    forms: Mapping[str, tuple[str, ...]]

    @cached_property
    def _stems(self) -> tuple[tuple[str, tuple[str, ...], tuple[tuple[str, ...], ...]], ...]:
        """Per English name: its one-word stems, and its stems of several words split."""
        split = []
        for english, stems in self.forms.items():
            parts = [tuple(stem.casefold().split()) for stem in stems]
            single = tuple(p[0] for p in parts if len(p) == 1)
            split.append((english, single, tuple(p for p in parts if len(p) > 1)))
        return tuple(split)

    def named_in(self, text: str) -> set[str]:
        """The English names whose local forms occur in `text` (each form a word prefix)."""
        words = [w.casefold() for w in _WORD.findall(text)]
        found = set()
        for english, single, several in self._stems:
            # Every translation is checked on each load: one startswith over a tuple of stems.
            if single and any(w.startswith(single) for w in words):
                found.add(english)
                continue
            for parts in several:
                if any(
                    all(words[i + k].startswith(p) for k, p in enumerate(parts))
                    for i in range(len(words) - len(parts) + 1)
                ):
                    found.add(english)
                    break
        return found


def english_names_in(text: str, names: NameForms) -> set[str]:
    """The glossary's English names that occur in an English text."""
    folded = " " + " ".join(_WORD.findall(text.casefold()))
    return {
        name
        for name in names.forms
        if any(f" {alt.strip().casefold()}" in folded for alt in name.split("|"))
    }


def unfaithful(english: str, translated: str, names: NameForms) -> list[str]:
    """What a translation names that its English text does not: numbers and names.

    A translation may say less elegantly what the English says, never more: a number or a
    named person, place or body that the English text lacks is a fact from somewhere else.
    """
    problems = []
    extra_numbers = sorted(set(_DIGITS.findall(translated)) - set(_DIGITS.findall(english)))
    if extra_numbers:
        problems.append(
            f"names the number(s) {', '.join(extra_numbers)}, which the English does not"
        )
    extra_names = sorted(
        name.split("|")[0] for name in names.named_in(translated) - english_names_in(english, names)
    )
    if extra_names:
        problems.append(f"names {', '.join(extra_names)}, which the English does not")
    return problems


def frozen(mapping: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping))
