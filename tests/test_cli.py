"""The command line as a user runs it: a real process, its output and exit code."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from bot.core.knowledge import DEFAULT_KNOWLEDGE_DIR
from tests.conftest import CACHE_ENV

ROOT = Path(__file__).resolve().parents[1]


def run_bot(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TELEGRAM_", "BOT_")) or k == CACHE_ENV
    }
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=full_env,
        timeout=60,
    )


def test_ask_prints_the_answer_with_quotes_and_source() -> None:
    done = run_bot("ask", "what", "did", "putin", "demand?")
    assert done.returncode == 0
    assert "Putin demanded that Ukraine stop the mobilization" in done.stdout
    assert "(¶16)" in done.stdout
    assert "Source: Babel" in done.stdout


def test_ask_json_batch_reads_one_question_per_line() -> None:
    done = run_bot(
        "ask", "--json", stdin="black sea sanctions\nWhen did Trump speak with Xi?\n\nceasefire\n"
    )
    assert done.returncode == 0
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["question"] for r in rows] == [
        "black sea sanctions",
        "When did Trump speak with Xi?",
        "",
        "ceasefire",
    ]
    assert rows[0]["status"] == "answered" and rows[0]["entry"] == "black-sea"
    assert rows[0]["citations"][0]["paragraph"] == 18
    assert rows[1]["status"] == "unknown" and rows[1]["entry"] is None
    assert rows[2]["status"] == "unknown"
    for row in rows:
        assert set(row) >= {
            "question",
            "status",
            "entry",
            "score",
            "answer",
            "citations",
            "suggestions",
        }


def test_console_chat_answers_and_picks_a_suggestion_by_number() -> None:
    done = run_bot("chat", stdin="who wrote the article\nquit\n")
    assert done.returncode == 0
    assert "Oksana Kovalenko and Oleksandra Opanasenko" in done.stdout


def test_chat_number_selects_a_did_you_mean_choice() -> None:
    probes = "peace\nrussia\nceasefire\ntrump\ntalks\nzelensky\nputin\n"
    rows = [json.loads(line) for line in run_bot("ask", "--json", stdin=probes).stdout.splitlines()]
    ambiguous = next(r for r in rows if r["status"] == "suggest")  # one-word questions are vague
    choice = ambiguous["suggestions"][1 if len(ambiguous["suggestions"]) > 1 else 0]
    number = 2 if len(ambiguous["suggestions"]) > 1 else 1
    done = run_bot("chat", stdin=f"{ambiguous['question']}\n{number}\n")
    expected = run_bot("ask", "--json", stdin=choice["question"] + "\n")
    assert json.loads(expected.stdout)["entry"] == choice["entry"]
    first_quote = json.loads(expected.stdout)["citations"][0]["quote"]
    assert first_quote in done.stdout.split("bot>")[-1]


def test_default_command_without_token_is_the_console_chat() -> None:
    done = run_bot(stdin="quit\n")
    assert done.returncode == 0
    assert "Babel article" in done.stdout


def test_check_passes_on_the_shipped_knowledge() -> None:
    done = run_bot("check")
    assert done.returncode == 0
    assert done.stdout.strip().splitlines()[-1].startswith("OK: ")
    # The model cross-validated on its own examples, and the ones it sends elsewhere listed.
    [line] = [x for x in done.stdout.splitlines() if x.startswith("Cross-validated (5 folds")]
    assert float(line.split(": ")[1].split(" %")[0]) > 90.0


def test_check_fails_with_the_place_of_the_error(tmp_path: Path) -> None:
    broken = tmp_path / "kb"
    shutil.copytree(DEFAULT_KNOWLEDGE_DIR, broken)
    (broken / "qa.yaml").write_text("entries:\n  - id: x\n    topic: nope\n", encoding="utf-8")
    done = run_bot("check", env={"BOT_KNOWLEDGE_DIR": str(broken)})
    assert done.returncode == 1
    assert "qa.yaml [x] questions: must be a list of non-empty strings" in done.stderr


def test_bad_configuration_is_reported_before_anything_runs() -> None:
    done = run_bot("run", env={"TELEGRAM_BOT_TOKEN": "not-a-token", "BOT_ADMIN_IDS": "@alice"})
    assert done.returncode == 2
    assert "TELEGRAM_BOT_TOKEN does not look like a BotFather token" in done.stderr
    assert "'@alice' is not a numeric user id" in done.stderr
    assert "not-a-token" not in done.stderr + done.stdout


def test_first_sight_measures_a_new_batch_and_refuses_one_with_training_examples(
    tmp_path: Path,
) -> None:
    batch = tmp_path / "uk" / "new.yaml"
    batch.parent.mkdir()
    batch.write_text(
        "in_scope:\n"
        '  - q: "хто ж написав оцей текст, підкажіть будь ласка"\n'
        "    entry: article-authors\n"
        "out_of_scope:\n"
        '  - "яка погода буде завтра у Львові та Тернополі"\n',
        encoding="utf-8",
    )
    done = run_bot("eval", "--first-sight", str(batch))
    assert done.returncode == 0, done.stderr
    assert "uk/new.yaml: 1 in-scope, 1 out-of-scope" in done.stdout  # a Ukrainian batch
    assert "in-scope answered right    100.0 %" in done.stdout
    assert "replies in the asker's language  100.0 %" in done.stdout

    # A question the model was trained on would measure recall, not a first sight.
    trained = tmp_path / "old.yaml"
    trained.write_text(
        'in_scope:\n  - q: "who wrote this"\n    entry: article-authors\nout_of_scope: []\n'
    )
    done = run_bot("eval", "--first-sight", str(trained))
    assert done.returncode == 1
    assert "1 of its 1 questions are training examples already" in done.stdout
    done = run_bot("eval", "--first-sight", str(tmp_path / "missing.yaml"))
    assert done.returncode == 1
    assert "not a batch" in done.stdout
