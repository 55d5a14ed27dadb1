"""The language a Telegram user's client is set to, as one the knowledge base speaks."""

from __future__ import annotations

from collections.abc import Collection

from telegram import User


def client_language(language_code: str | None, languages: Collection[str]) -> str | None:
    """ "uk-UA" -> "uk", "en-US" -> "en"; None for a language not in `languages` or no code.

    Telegram sends an IETF language tag of the user's client (and none for some users); only
    its primary subtag says the language.
    """
    if not language_code:
        return None
    primary = language_code.replace("_", "-").split("-", 1)[0].strip().casefold()
    return primary if primary in languages else None


def language_of(user: User | None, languages: Collection[str]) -> str | None:
    """The client language of `user` (None: unknown or not spoken; answers go by the question)."""
    return client_language(user.language_code if user is not None else None, languages)
