"""Question statistics and the unanswered-question log, kept in SQLite across restarts."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from rapidfuzz import fuzz

from bot.core.textnorm import collapse_whitespace, normalise, strip_control_characters

UnansweredReason = Literal["unknown", "none_of_these"]
# One counted answer: its status, the question, and the language of the reply (None: unknown).
RecordedAnswer = tuple[str, str, str | None]
COUNTED_STATUSES: Final = ("answered", "suggest", "unknown", "none_of_these")

# Bounds that keep the file small whatever users send. A question is stored only this far:
# the longest curated phrasing is under 80 characters, and three times that still shows what
# was asked while a 4,096-character paste cannot bloat the log.
MAX_STORED_QUESTION_CHARS: Final = 240
# Distinct unanswered questions kept; past this the least frequent, oldest ones are dropped.
# At ~300 bytes a row this caps the log near 1.5 MB, and an admin reads only the top ones.
MAX_UNANSWERED_ROWS: Final = 5000
# An unanswered question not asked again for this long is deleted. Admins read /unanswered to
# find what the knowledge base lacks; a question nobody has asked for 90 days is no such gap,
# and keeping it would only keep what someone once typed.
MAX_UNANSWERED_AGE_SECONDS: Final = 90 * 24 * 3600.0
# Two phrasings belong to one group in /unanswered at this token_sort_ratio (of normalised
# text) or above. Measured on pairs: it joins case, punctuation and word order ("Who is
# Rutte?" / "rutte who is": 100) and typos ("capitol of france": 94, "weather in pariss": 97),
# and keeps apart different questions that differ in one short word ("what about china" /
# "what about chile": 87.5, "weather in paris" / "weather in london": 67).
SIMILAR_QUESTION_SCORE: Final = 90.0
# Languages are the bot's own codes ("en", "uk"); the bound only keeps a bug from storing more.
MAX_LANGUAGE_CHARS: Final = 8

# 2 added the language of each question (the reply's language: "en", "uk", ...), in the
# unanswered log and as counts per language. A database of schema 1 is migrated on opening.
_SCHEMA_VERSION: Final = 2
# Every statement is a constant; values are always bound as ? parameters. PRAGMA takes no
# parameters, hence this one statement built from a constant.
_SET_SCHEMA_VERSION: Final = f"PRAGMA user_version = {_SCHEMA_VERSION}"
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS question_counts (
    status TEXT PRIMARY KEY,
    count INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS unanswered (
    key TEXT NOT NULL,
    reason TEXT NOT NULL,
    question TEXT NOT NULL,
    count INTEGER NOT NULL,
    last_seen REAL NOT NULL,
    language TEXT,
    PRIMARY KEY (key, reason)
);
CREATE TABLE IF NOT EXISTS language_counts (
    language TEXT PRIMARY KEY,
    count INTEGER NOT NULL
);
"""
# Rows logged before schema 2 keep a NULL language: nobody knows what it was.
_ADD_LANGUAGE_COLUMN: Final = "ALTER TABLE unanswered ADD COLUMN language TEXT"


@dataclass(frozen=True)
class UnansweredQuestion:
    """One distinct unanswered question (as first worded) and how often it was asked.

    `language` is the language it was last answered in; None for questions logged before
    the store recorded languages.
    """

    question: str
    reason: UnansweredReason
    count: int
    language: str | None = None


@dataclass(frozen=True)
class UnansweredGroup:
    """Similar unanswered questions under their most frequent wording, with counts."""

    question: str
    count: int
    unknown: int
    none_of_these: int
    variants: int
    # The languages the group's questions were answered in, the most frequent first.
    languages: tuple[str, ...] = ()


def bounded_question(text: str) -> str:
    """The question as stored: one line, no control characters, at most the stored length."""
    return collapse_whitespace(strip_control_characters(text))[:MAX_STORED_QUESTION_CHARS]


def group_similar(
    rows: Sequence[UnansweredQuestion], threshold: float = SIMILAR_QUESTION_SCORE
) -> list[UnansweredGroup]:
    """Group similar questions greedily, most frequent first; groups sorted by total count."""
    groups: list[tuple[str, list[UnansweredQuestion]]] = []
    for row in sorted(rows, key=lambda r: -r.count):
        key = normalise(row.question)
        for head, members in groups:
            if fuzz.token_sort_ratio(head, key) >= threshold:
                members.append(row)
                break
        else:
            groups.append((key, [row]))
    result = [
        UnansweredGroup(
            question=members[0].question,
            count=sum(m.count for m in members),
            unknown=sum(m.count for m in members if m.reason == "unknown"),
            none_of_these=sum(m.count for m in members if m.reason == "none_of_these"),
            variants=len({normalise(m.question) for m in members}),
            languages=_languages_of(members),
        )
        for _, members in groups
    ]
    return sorted(result, key=lambda g: -g.count)


def _languages_of(members: Sequence[UnansweredQuestion]) -> tuple[str, ...]:
    counts: dict[str, int] = {}
    for member in members:
        if member.language:
            counts[member.language] = counts.get(member.language, 0) + member.count
    return tuple(sorted(counts, key=lambda language: (-counts[language], language)))


class StatsStore:
    """Blocking SQLite access; the bot calls it through asyncio.to_thread, never on the loop.

    One connection shared by the worker threads, serialised by a lock: the writes are tiny,
    so a pool would only add contention on SQLite's own file lock.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        max_rows: int = MAX_UNANSWERED_ROWS,
        max_age: float = MAX_UNANSWERED_AGE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self._max_rows = max_rows
        self._max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL never corrupts the database; a power cut may lose the last
            # few counts. Without it every counted question waits for an fsync.
            self._conn.execute("PRAGMA synchronous=NORMAL")
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version > _SCHEMA_VERSION:
                self._conn.close()
                raise sqlite3.DatabaseError(
                    f"{self.path} was written by a newer version (schema {version})"
                )
            self._conn.executescript(_SCHEMA)
            self._migrate()
            self._conn.execute(_SET_SCHEMA_VERSION)
            self._forget_old()

    def _migrate(self) -> None:
        """Bring a database of an older schema up to date, keeping its rows."""
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(unanswered)")}
        if "language" not in columns:
            self._conn.execute(_ADD_LANGUAGE_COLUMN)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def record_answer(self, status: str, question: str, language: str | None = None) -> None:
        """Count one answered question and its reply's language; log it if it was declined."""
        self.record_answers([(status, question, language)])

    def record_answers(self, answers: Sequence[RecordedAnswer]) -> None:
        """Count answered questions (status, question, language) in one transaction: all or none."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for status, question, language in answers:
                    self._count(status)
                    if language:
                        self._count_language(language)
                    if status == "unknown" and any(ch.isalnum() for ch in question):
                        self._log_unanswered(question, "unknown", language)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def record_unanswered(
        self, question: str, reason: UnansweredReason, language: str | None = None
    ) -> None:
        """Log a question that got no useful answer (declined, or "none of these")."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                if reason == "none_of_these":
                    self._count("none_of_these")
                self._log_unanswered(question, reason, language)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def counts(self) -> dict[str, int]:
        """How many questions ended in each status (plus "none_of_these" taps)."""
        with self._lock:
            rows = self._conn.execute("SELECT status, count FROM question_counts").fetchall()
        found = {str(status): int(count) for status, count in rows}
        return {status: found.get(status, 0) for status in COUNTED_STATUSES}

    def language_counts(self) -> dict[str, int]:
        """How many questions were answered in each language, the most frequent first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT language, count FROM language_counts ORDER BY count DESC, language"
            ).fetchall()
        return {str(language): int(count) for language, count in rows}

    def unanswered(self, limit: int = 10) -> list[UnansweredGroup]:
        """The most frequent unanswered questions, similar ones grouped."""
        with self._lock:
            self._forget_old()
            rows = self._conn.execute(
                "SELECT question, reason, count, language FROM unanswered "
                "ORDER BY count DESC, last_seen DESC"
            ).fetchall()
        questions = [
            UnansweredQuestion(
                str(q),
                "none_of_these" if r == "none_of_these" else "unknown",
                int(c),
                str(lang) if lang else None,
            )
            for q, r, c, lang in rows
        ]
        return group_similar(questions)[:limit]

    def unanswered_rows(self) -> int:
        with self._lock:
            count: int = self._conn.execute("SELECT COUNT(*) FROM unanswered").fetchone()[0]
        return count

    def _count(self, status: str) -> None:
        if status not in COUNTED_STATUSES:
            raise ValueError(f"unknown status {status!r}")
        self._conn.execute(
            "INSERT INTO question_counts (status, count) VALUES (?, 1) "
            "ON CONFLICT (status) DO UPDATE SET count = count + 1",
            (status,),
        )

    def _count_language(self, language: str) -> None:
        self._conn.execute(
            "INSERT INTO language_counts (language, count) VALUES (?, 1) "
            "ON CONFLICT (language) DO UPDATE SET count = count + 1",
            (language[:MAX_LANGUAGE_CHARS],),
        )

    def _log_unanswered(
        self, question: str, reason: UnansweredReason, language: str | None = None
    ) -> None:
        text = bounded_question(question)
        key = normalise(text)
        if not key:
            return
        # The same words may be asked from clients in several languages ("Jeddah?"): the row
        # keeps the latest, and a row from before schema 2 gains one when asked again.
        self._conn.execute(
            "INSERT INTO unanswered (key, reason, question, count, last_seen, language) "
            "VALUES (?, ?, ?, 1, ?, ?) ON CONFLICT (key, reason) "
            "DO UPDATE SET count = count + 1, last_seen = excluded.last_seen, "
            "language = COALESCE(excluded.language, language)",
            (key, reason, text, self._clock(), language[:MAX_LANGUAGE_CHARS] if language else None),
        )
        self._forget_old()
        excess = (
            self._conn.execute("SELECT COUNT(*) FROM unanswered").fetchone()[0] - self._max_rows
        )
        if excess > 0:
            self._conn.execute(
                "DELETE FROM unanswered WHERE rowid IN "
                "(SELECT rowid FROM unanswered ORDER BY count ASC, last_seen ASC LIMIT ?)",
                (excess,),
            )

    def _forget_old(self) -> None:
        self._conn.execute(
            "DELETE FROM unanswered WHERE last_seen < ?", (self._clock() - self._max_age,)
        )


class AnswerRecorder:
    """Counts answers in a StatsStore from a worker thread, many to a transaction under load.

    Group commit: an answer recorded while a write is under way joins the next one, and its
    caller waits until that write is done - so once record_answer returns the count is stored,
    as with one transaction per answer, and a failed write raises in every caller it held. At
    a few answers per second each write holds one answer; at hundreds, each holds many, and
    the thread hand-offs and commits no longer cost the event loop a share per answer.
    """

    def __init__(self, store: StatsStore) -> None:
        self._store = store
        self._next: list[RecordedAnswer] = []
        self._next_done: asyncio.Future[None] | None = None
        self._writer: asyncio.Task[None] | None = None

    async def record_answer(self, status: str, question: str, language: str | None = None) -> None:
        """Count one answer (see StatsStore.record_answer); returns once it is stored."""
        loop = asyncio.get_running_loop()
        if self._next_done is None:
            self._next_done = loop.create_future()
            # Every caller may have been cancelled by the time a write fails.
            self._next_done.add_done_callback(_consume_exception)
        done = self._next_done
        self._next.append((status, question, language))
        if self._writer is None:
            self._writer = loop.create_task(self._write_batches())
        # Shielded: one caller cancelled (say, the bot stopping) must not drop the others.
        await asyncio.shield(done)

    async def _write_batches(self) -> None:
        try:
            while self._next_done is not None:
                batch, done = self._next, self._next_done
                self._next, self._next_done = [], None
                try:
                    await asyncio.to_thread(self._store.record_answers, batch)
                except Exception as error:  # the callers log it, as for any failed update
                    done.set_exception(error)
                except BaseException:  # cancelled: the loop is going away, and its callers
                    done.cancel()
                    raise
                else:
                    done.set_result(None)
        finally:
            self._writer = None
            if self._next_done is not None:  # cancelled with answers waiting: they end too
                self._next_done.cancel()
                self._next, self._next_done = [], None


def _consume_exception(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()
