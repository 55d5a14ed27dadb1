"""The bot benchmark's machinery on a small load: every question answered exactly once, and the
tally catches answers that go missing, come twice or answer nothing."""

from __future__ import annotations

import io
import re

import pytest

from bot.core.knowledge import DEFAULT_KNOWLEDGE_DIR
from bot.core.service import KnowledgeHolder, Snapshot
from tests.bench_bot import (
    Asked,
    BenchmarkError,
    RunConfig,
    Sent,
    argument_parser,
    fake_endpoint,
    load_question_pool,
    percentile,
    plan_questions,
    run_benchmark,
    run_once,
    tally_replies,
)


@pytest.fixture
def holder(shipped_snapshot: Snapshot) -> KnowledgeHolder:
    return KnowledgeHolder(DEFAULT_KNOWLEDGE_DIR, snapshot=shipped_snapshot)


async def test_small_burst_against_a_fake_in_a_child_process_answers_every_question_once(
    holder: KnowledgeHolder,
):
    async with fake_endpoint("process") as fake:
        result = await run_once(
            fake, holder, load_question_pool(), RunConfig(8, 8), questions=100, chats=20
        )
    report = result.report
    assert (report["asked"], report["once"], report["missing"]) == (100, 100, 0)
    assert (report["duplicate"], report["extra"]) == (0, 0)
    assert report["violations"] == [] and report["failed_calls"] == {}
    assert result.errors == ()
    assert report["p50_ms"] <= report["p99_ms"] <= report["max_ms"]
    assert result.updates_per_second > 0 and result.peak_rss_mb > 0


async def test_a_reply_telegram_refuses_is_counted_missing_and_its_error_logged(
    holder: KnowledgeHolder,
):
    async with fake_endpoint("inline") as fake:
        result = await run_once(
            fake,
            holder,
            load_question_pool(),
            RunConfig(4, 4),
            questions=40,
            chats=10,
            faults=[{"method": "sendMessage", "status": 500, "times": 1}],
        )
    report = result.report
    assert (report["once"], report["missing"], report["duplicate"]) == (39, 1, 0)
    assert report["failed_calls"] == {"sendMessage 500": 1}
    assert len(result.errors) == 1 and "Error while handling update" in result.errors[0]
    assert not result.all_once


async def test_the_whole_benchmark_prints_its_table_and_target_checks():
    args = argument_parser().parse_args(
        "--questions 30 --chats 10 --repeats 1 --concurrency 1,2 --pool-sizes 2 "
        "--paced-rate 20 --fake inline".split()
    )
    out = io.StringIO()
    await run_benchmark(args, out, io.StringIO())
    text = out.getvalue()
    [chosen] = re.findall(r"Recommended: concurrent_updates=(\d+)", text)
    assert "PASS  every question answered exactly once in every run" in text
    rows = [line.split() for line in text.splitlines() if line.split()[:1] in (["burst"], ["20/s"])]
    assert [(row[0], row[2], row[3]) for row in rows[:3]] == [
        ("burst", "1", "256"),
        ("burst", "2", "256"),
        ("burst", chosen, "2"),
    ]
    [paced] = rows[3:]
    assert (paced[0], paced[2]) == ("20/s", chosen) and paced[3] in {"2", "256"}


def _asked(chat_id: int, text: str, at: float = 0.0) -> Asked:
    return Asked(chat_id, text, update_id=int(at * 1000), queued=at)


def test_tally_tells_answered_missing_duplicate_and_extra_replies_apart():
    expected = {"a?": ("A",), "b?": ("B",), "c?": ("C1", "C2"), "d?": ("D",)}
    asked = [_asked(1, "a?"), _asked(1, "b?"), _asked(1, "c?"), _asked(2, "a?"), _asked(2, "d?")]
    sent = [
        Sent(1, "A", 0.10),
        Sent(1, "B", 0.20),
        Sent(1, "B", 0.25),  # b? answered twice
        Sent(1, "C1", 0.30),  # c? got only its first chunk
        Sent(2, "A", 0.40),
        Sent(2, "B", 0.50),  # chat 2 asked nothing with this reply
        Sent(3, "A", 0.60),  # nobody asked in chat 3
    ]
    tally = tally_replies(asked, sent, expected)
    assert (tally.once, tally.missing, tally.duplicate, tally.extra) == (2, 2, 1, 2)
    assert tally.reply_times == (0.10, None, None, 0.40, None)
    assert not tally.all_once


def test_plan_never_gives_two_questions_of_one_chat_the_same_reply():
    pool = ["a1", "a2", "b", "c"]
    expected = {"a1": ("A",), "a2": ("A",), "b": ("B",), "c": ("C",)}
    plan = plan_questions(pool, expected, count=30, chats=10, seed=3)
    assert [chat for chat, _ in plan[:11]] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1]
    for chat in range(1, 11):
        replies = [expected[q] for c, q in plan if c == chat]
        assert len(replies) == 3 == len(set(replies))
    with pytest.raises(BenchmarkError, match="only 3 distinct replies"):
        plan_questions(pool, expected, count=40, chats=10, seed=3)


def test_percentile_is_a_value_that_was_observed():
    samples = [float(n) for n in range(1, 101)]
    assert percentile(samples, 0.50) == 50.0
    assert percentile(samples, 0.99) == 99.0
    assert percentile([7.0], 0.99) == 7.0
