"""The SQLite statistics: they survive restarts, stay bounded, and group similar questions."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from bot.tg.stats_store import (
    MAX_STORED_QUESTION_CHARS,
    AnswerRecorder,
    RecordedAnswer,
    StatsStore,
    UnansweredQuestion,
    group_similar,
)


def test_counts_and_unanswered_questions_survive_a_restart(tmp_path: Path):
    path = tmp_path / "stats.sqlite3"
    store = StatsStore(path)
    store.record_answer("answered", "black sea")
    store.record_answer("suggest", "trump")
    store.record_answer("unknown", "recipe for borscht")
    store.record_unanswered("trump", "none_of_these")
    store.close()
    reopened = StatsStore(path)
    assert reopened.counts() == {"answered": 1, "suggest": 1, "unknown": 1, "none_of_these": 1}
    assert {(g.question, g.count) for g in reopened.unanswered()} == {
        ("recipe for borscht", 1),
        ("trump", 1),
    }
    reopened.close()


def test_empty_questions_are_counted_but_not_logged_as_unanswered(tmp_path: Path):
    store = StatsStore(tmp_path / "stats.sqlite3")
    store.record_answer("unknown", "?!")
    assert store.counts()["unknown"] == 1
    assert store.unanswered() == []
    store.close()


def test_stored_questions_are_bounded_in_length_and_number(tmp_path: Path):
    clock = iter(range(1_000_000))
    store = StatsStore(tmp_path / "stats.sqlite3", max_rows=50, clock=lambda: float(next(clock)))
    store.record_answer("unknown", "frequent question " + "x" * 10_000)
    store.record_answer("unknown", "frequent question " + "x" * 10_000)
    for number in range(200):
        word = hashlib.sha256(str(number).encode()).hexdigest()[:16]  # unlike each other
        store.record_answer("unknown", word)
    assert store.unanswered_rows() == 50
    top = store.unanswered(limit=1)[0]
    assert top.count == 2  # the most asked survives the pruning of rare, old ones
    assert len(top.question) == MAX_STORED_QUESTION_CHARS
    store.close()


def test_hostile_question_text_is_stored_literally(tmp_path: Path):
    store = StatsStore(tmp_path / "stats.sqlite3")
    hostile = "x'); DROP TABLE unanswered; --"
    store.record_answer("unknown", hostile)
    store.record_answer("unknown", "second")
    assert {g.question for g in store.unanswered()} == {hostile, "second"}
    store.close()


def test_newer_schema_is_refused_rather_than_misread(tmp_path: Path):
    path = tmp_path / "stats.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    try:
        StatsStore(path)
    except sqlite3.DatabaseError as error:
        assert "newer version" in str(error)
    else:
        raise AssertionError("a newer schema was opened")


def test_each_unanswered_question_keeps_the_language_it_was_answered_in(tmp_path: Path):
    store = StatsStore(tmp_path / "stats.sqlite3")
    store.record_answer("unknown", "рецепт борщу", "uk")
    store.record_answer("unknown", "Рецепт борщу!", "uk")
    store.record_answer("unknown", "рецепт борщу", "en")  # the same words from an English chat
    store.record_answer("answered", "Jeddah?", "uk")
    store.record_answer("answered", "black sea", "en")
    store.record_unanswered("переговоры", "none_of_these", "ru")
    groups = {g.question: g for g in store.unanswered()}
    assert groups["рецепт борщу"].languages == ("en",)  # the row keeps its latest language
    assert groups["переговоры"].languages == ("ru",)
    assert store.language_counts() == {"uk": 3, "en": 2}
    store.close()


def test_a_database_of_the_first_schema_is_migrated_keeping_its_rows(tmp_path: Path):
    path = tmp_path / "stats.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.executescript(
            """
            CREATE TABLE question_counts (status TEXT PRIMARY KEY, count INTEGER NOT NULL);
            CREATE TABLE unanswered (
                key TEXT NOT NULL, reason TEXT NOT NULL, question TEXT NOT NULL,
                count INTEGER NOT NULL, last_seen REAL NOT NULL, PRIMARY KEY (key, reason)
            );
            INSERT INTO question_counts VALUES ('unknown', 3);
            INSERT INTO unanswered VALUES ('recipe for borscht', 'unknown', 'recipe for borscht',
                                           3, strftime('%s', 'now'));
            PRAGMA user_version = 1;
            """
        )
    store = StatsStore(path)
    store.record_answer("unknown", "рецепт борщу", "uk")
    assert store.counts()["unknown"] == 4
    groups = {g.question: (g.count, g.languages) for g in store.unanswered()}
    assert groups == {"recipe for borscht": (3, ()), "рецепт борщу": (1, ("uk",))}
    store.record_answer("unknown", "recipe for borscht", "en")  # an old row learns its language
    assert {g.question: g.languages for g in store.unanswered()}["recipe for borscht"] == ("en",)
    store.close()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    StatsStore(path).close()  # and a migrated database opens again as it is


def test_similar_questions_are_grouped_under_the_most_frequent_wording():
    rows = [
        UnansweredQuestion("Who is Rutte?", "unknown", 1),
        UnansweredQuestion("who is rutte", "unknown", 4),
        UnansweredQuestion("rutte who is", "none_of_these", 2),
        UnansweredQuestion("what about china", "unknown", 2),
        UnansweredQuestion("what about chile", "unknown", 1),
        UnansweredQuestion("capitol of france", "unknown", 1),
        UnansweredQuestion("capital of france", "unknown", 2),
    ]
    groups = group_similar(rows)
    assert [(g.question, g.count, g.variants, g.none_of_these) for g in groups] == [
        ("who is rutte", 7, 2, 2),
        ("capital of france", 3, 2, 0),
        ("what about china", 2, 1, 0),
        ("what about chile", 1, 1, 0),
    ]


def test_a_group_lists_its_languages_most_frequent_first():
    rows = [
        UnansweredQuestion("рецепт борщу", "unknown", 1, "uk"),
        UnansweredQuestion("рецепт борща", "unknown", 3, "ru"),
        UnansweredQuestion("Рецепт борщу?", "unknown", 1, None),  # logged before languages
    ]
    [group] = group_similar(rows)
    assert (group.count, group.languages) == (5, ("ru", "uk"))


class CountingStore(StatsStore):
    """A real store that also counts its transactions."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.transactions: list[int] = []

    def record_answers(self, answers: Sequence[RecordedAnswer]) -> None:
        self.transactions.append(len(answers))
        super().record_answers(answers)


async def test_answers_recorded_at_once_share_transactions_and_are_stored_when_awaited(
    tmp_path: Path,
):
    store = CountingStore(tmp_path / "stats.sqlite3")
    recorder = AnswerRecorder(store)
    await recorder.record_answer("answered", "black sea")  # alone: a transaction of its own
    await asyncio.gather(
        *(recorder.record_answer("answered", "black sea") for _ in range(50)),
        *(recorder.record_answer("unknown", f"borscht {n}") for n in range(50)),
    )
    assert store.counts() == {"answered": 51, "suggest": 0, "unknown": 50, "none_of_these": 0}
    assert store.unanswered_rows() == 50
    assert store.transactions[0] == 1
    assert sum(store.transactions) == 101
    assert len(store.transactions) <= 3  # the first of the burst alone, then the rest
    store.close()


async def test_a_failed_write_raises_in_every_answer_it_held(tmp_path: Path):
    store = StatsStore(tmp_path / "stats.sqlite3")
    recorder = AnswerRecorder(store)
    store.close()
    results = await asyncio.gather(
        *(recorder.record_answer("answered", "black sea") for _ in range(5)),
        return_exceptions=True,
    )
    assert all(isinstance(result, sqlite3.ProgrammingError) for result in results)
    with pytest.raises(sqlite3.ProgrammingError):  # and the next write tries again
        await recorder.record_answer("answered", "black sea")


async def test_a_cancelled_caller_does_not_drop_the_answers_written_with_its_own(
    tmp_path: Path,
):
    store = StatsStore(tmp_path / "stats.sqlite3")
    recorder = AnswerRecorder(store)
    first = asyncio.create_task(recorder.record_answer("answered", "black sea"))
    others = [asyncio.create_task(recorder.record_answer("suggest", "trump")) for _ in range(3)]
    await asyncio.sleep(0)  # all four are queued for the same writes
    first.cancel()
    await asyncio.gather(*others)
    with pytest.raises(asyncio.CancelledError):
        await first
    assert store.counts()["suggest"] == 3
    store.close()
