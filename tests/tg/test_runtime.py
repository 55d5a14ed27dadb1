"""Running the bot: errors, flood limits, logs without the token, health, shutdown, webhooks."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from bot import cli
from bot.config import Settings
from bot.core.knowledge import DEFAULT_KNOWLEDGE_DIR
from bot.core.service import KnowledgeHolder, Snapshot
from bot.tg import health as tg_health
from bot.tg.app import build_application, run_bot, webhook_options
from bot.tg.health import (
    MAX_HEARTBEAT_AGE_SECONDS,
    heartbeat_path,
    is_healthy,
    touch_heartbeat,
)
from bot.tg.log_redaction import (
    LOG_FORMAT,
    PTB_BOT_LOGGERS,
    REDACTED,
    SecretRedactingFilter,
    configure_logging,
)
from bot.tg.stats_store import StatsStore
from tests.conftest import CACHE_ENV, TEST_TOKEN, RunningBot, unthrottled_rate_limiter
from tests.fakes.telegram_server import FakeTelegram

REPO = Path(__file__).resolve().parents[2]
TOKEN_SECRET = TEST_TOKEN.split(":", 1)[1]


async def test_handler_error_is_logged_with_traceback_and_the_bot_keeps_serving(
    bot: RunningBot, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.ERROR, logger="bot")
    server = bot.server
    chat = server.private_chat(71)
    server.inject_fault("sendMessage", status=500)
    server.send_text(chat, server.user(71), "black sea")
    await server.wait_for_calls("sendMessage", predicate=lambda c: c.status == 500)
    await bot.settle()
    [record] = [r for r in caplog.records if r.getMessage().startswith("Error while handling")]
    assert record.exc_info is not None and record.exc_info[0] is not None
    server.send_text(chat, server.user(71), "energy")
    [call] = await bot.replies(chat["id"])
    assert "energy" in call.params["text"]


async def test_flood_limit_429_is_retried_after_the_time_telegram_asks(bot: RunningBot):
    server = bot.server
    chat = server.private_chat(72)
    server.inject_fault("sendMessage", retry_after=1)
    server.send_text(chat, server.user(72), "black sea")
    await bot.replies(chat["id"])
    refused, delivered = server.calls_to("sendMessage")
    assert refused.status == 429 and delivered.ok
    assert delivered.time - refused.time >= 1.0


class _Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter(LOG_FORMAT))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


async def test_token_never_reaches_the_logs_even_at_debug_level(launch_bot, telegram):
    root = logging.getLogger()
    saved = {name: logging.getLogger(name).level for name in ("", "httpx", "httpcore")}
    stream = io.StringIO()
    handler = configure_logging(logging.DEBUG, secrets=[TEST_TOKEN], stream=stream)
    recorder = _Recorder()
    # First in line and without the redacting filter: it sees what the code itself logs.
    root.handlers.insert(0, recorder)
    try:
        bot = await launch_bot()
        chat = telegram.private_chat(73)
        telegram.inject_fault("sendMessage", status=500)  # an error logged with a traceback
        telegram.send_text(chat, telegram.user(73), "black sea")
        await telegram.wait_for_calls("sendMessage", predicate=lambda c: c.status == 500)
        telegram.send_text(chat, telegram.user(73), "energy")
        await bot.replies(chat["id"])
        await bot.settle()
    finally:
        root.removeHandler(recorder)
        root.removeHandler(handler)
        for name in PTB_BOT_LOGGERS:
            ptb_logger = logging.getLogger(name)
            for installed in list(ptb_logger.filters):
                ptb_logger.removeFilter(installed)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
    assert any("getUpdates" in line for line in recorder.lines)  # DEBUG lines were captured
    assert any("Traceback" in line for line in recorder.lines)
    assert not [line for line in recorder.lines if TOKEN_SECRET in line]
    assert TOKEN_SECRET not in stream.getvalue()


def test_redacting_filter_removes_the_token_from_messages_args_and_tracebacks():
    redacting = SecretRedactingFilter([TEST_TOKEN, None])
    try:
        raise RuntimeError(f"POST http://127.0.0.1/bot{TEST_TOKEN}/getMe failed")
    except RuntimeError:
        record = logging.LogRecord(
            "httpx", logging.INFO, __file__, 1, "HTTP Request: %s", (f"/bot{TEST_TOKEN}/x",),
            sys.exc_info(),
        )  # fmt: skip
    assert redacting.filter(record)
    text = logging.Formatter(LOG_FORMAT).format(record)
    assert TOKEN_SECRET not in text
    assert text.count(REDACTED) == 2


async def test_polling_touches_the_heartbeat_that_the_healthcheck_reads(bot: RunningBot):
    path = heartbeat_path(bot.settings.data_dir)
    chat = bot.server.private_chat(74)
    bot.server.send_text(chat, bot.server.user(74), "black sea")
    await bot.replies(chat["id"])
    assert path.exists()
    out = io.StringIO()
    assert tg_health.main({"BOT_DATA_DIR": str(bot.settings.data_dir)}, out) == 0
    assert out.getvalue().startswith("healthy")


async def test_dead_poller_stops_the_heartbeat_and_shows_unhealthy(bot: RunningBot):
    path = heartbeat_path(bot.settings.data_dir)
    chat = bot.server.private_chat(75)
    bot.server.send_text(chat, bot.server.user(75), "black sea")
    await bot.replies(chat["id"])
    assert bot.app.updater is not None
    await bot.app.updater.stop()  # the process lives on; its poller does not
    last_beat = path.stat().st_mtime
    bot.server.send_text(chat, bot.server.user(75), "energy")
    await asyncio.sleep(0.3)
    assert path.stat().st_mtime == last_beat
    assert is_healthy(path, now=last_beat + 5)
    assert not is_healthy(path, now=last_beat + MAX_HEARTBEAT_AGE_SECONDS + 1)
    os.utime(path, (last_beat - MAX_HEARTBEAT_AGE_SECONDS - 1,) * 2)
    out = io.StringIO()
    assert tg_health.main({"BOT_DATA_DIR": str(bot.settings.data_dir)}, out) == 1
    assert out.getvalue().startswith("unhealthy: last heartbeat")


def test_healthcheck_without_heartbeat_is_unhealthy(tmp_path: Path):
    out = io.StringIO()
    assert tg_health.main({"BOT_DATA_DIR": str(tmp_path)}, out) == 1
    assert out.getvalue().startswith("unhealthy: no heartbeat")


async def test_stopping_answers_every_update_already_fetched(bot: RunningBot):
    server = bot.server
    server.inject_fault("sendMessage", delay=0.3, times=None)  # answers are slow to go out
    chats = [server.private_chat(760 + n) for n in range(4)]
    for chat in chats:
        server.send_text(chat, server.user(chat["id"]), "black sea")
    await server.wait_until_confirmed()  # fetched by the bot, not yet answered
    assert server.calls_to("sendMessage") == []
    assert bot.app.updater is not None
    await bot.app.updater.stop()  # what run_polling does on SIGTERM: stop fetching...
    await bot.app.stop()  # ...then finish what was fetched
    delivered = {call.params["chat_id"] for call in server.calls_to("sendMessage") if call.ok}
    assert delivered == {chat["id"] for chat in chats}


def _environment(telegram: FakeTelegram, data_dir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BOT_", "TELEGRAM_")) or k == CACHE_ENV
    }
    env.update(
        TELEGRAM_BOT_TOKEN=TEST_TOKEN,
        TELEGRAM_BASE_URL=telegram.base_url,
        BOT_DATA_DIR=str(data_dir),
        LOG_LEVEL="DEBUG",
    )
    return env


async def test_python_m_bot_run_answers_and_exits_cleanly_on_sigterm(
    telegram: FakeTelegram, tmp_path: Path
):
    data_dir = tmp_path / "data"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run",
        cwd=REPO, env=_environment(telegram, data_dir),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        chat = telegram.private_chat(77)
        telegram.send_text(chat, telegram.user(77), "black sea")
        await telegram.wait_for_calls("sendMessage", timeout=30, predicate=lambda c: c.ok)
        telegram.inject_fault("sendMessage", delay=0.5)
        telegram.send_text(chat, telegram.user(77), "energy")
        await telegram.wait_until_confirmed()
        process.send_signal(signal.SIGTERM)  # while the second answer is on its way
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    log = stderr.decode()
    assert process.returncode == 0, log
    assert len([c for c in telegram.calls_to("sendMessage") if c.ok]) == 2
    assert "Stopped" in log and "getUpdates" in log
    assert TOKEN_SECRET not in log
    assert (data_dir / "stats.sqlite3").exists() and heartbeat_path(data_dir).exists()


def test_run_without_a_token_fails_before_any_network_call(capsys: pytest.CaptureFixture[str]):
    assert run_bot(Settings()) == 2
    assert "TELEGRAM_BOT_TOKEN is not set" in capsys.readouterr().err


def test_malformed_settings_are_reported_one_by_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "not-a-token")
    monkeypatch.setenv("BOT_ADMIN_IDS", "12,@boss")
    assert cli.main(["run"]) == 2
    err = capsys.readouterr().err
    assert "TELEGRAM_BOT_TOKEN does not look like a BotFather token" in err
    assert "'@boss' is not a numeric user id" in err
    assert "not-a-token" not in err


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_webhook_mode_answers_updates_posted_with_the_secret_token(
    telegram: FakeTelegram, tmp_path: Path, shipped_snapshot: Snapshot
):
    settings = Settings(
        token=TEST_TOKEN,
        base_url=telegram.base_url,
        data_dir=tmp_path,
        webhook_url="https://bot.example.com/telegram-hook",
        webhook_secret="s3cret_Token",
        webhook_listen="127.0.0.1",
        webhook_port=_free_port(),
    )
    store = StatsStore(tmp_path / "stats.sqlite3")
    holder = KnowledgeHolder(DEFAULT_KNOWLEDGE_DIR, snapshot=shipped_snapshot)
    app = build_application(settings, holder, store, rate_limiter=unthrottled_rate_limiter())
    await app.initialize()
    assert app.updater is not None
    await app.updater.start_webhook(**webhook_options(settings))
    await app.start()
    try:
        assert telegram.webhook is not None
        assert telegram.webhook["url"] == "https://bot.example.com/telegram-hook"
        assert telegram.webhook["secret_token"] == "s3cret_Token"
        chat = telegram.private_chat(78)
        update = telegram.send_text(chat, telegram.user(78), "black sea")
        url = f"http://127.0.0.1:{settings.webhook_port}/telegram-hook"
        async with aiohttp.ClientSession() as session:
            header = "X-Telegram-Bot-Api-Secret-Token"
            async with session.post(url, json=update, headers={header: "forged"}) as forged:
                assert forged.status == 403
            async with session.post(url, json=update, headers={header: "s3cret_Token"}) as real:
                assert real.status == 200
        [call] = await telegram.wait_for_calls("sendMessage", predicate=lambda c: c.ok)
        assert "Black Sea" in call.params["text"]
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
        store.close()


def test_healthcheck_limit_comes_from_the_environment(tmp_path: Path):
    path = heartbeat_path(tmp_path)
    touch_heartbeat(path)
    old = time.time() - 30
    os.utime(path, (old, old))
    env = {"BOT_DATA_DIR": str(tmp_path)}
    assert tg_health.main(env, io.StringIO()) == 0  # 30 s is fresh under the default 90 s
    out = io.StringIO()
    assert tg_health.main({**env, "BOT_HEALTH_MAX_AGE": "15"}, out) == 1
    assert out.getvalue().startswith("unhealthy: last heartbeat 30s ago")
    for bad in ("soon", "-5", "0", "inf"):
        out = io.StringIO()
        assert tg_health.main({**env, "BOT_HEALTH_MAX_AGE": bad}, out) == 1, bad
        assert "BOT_HEALTH_MAX_AGE must be a positive number" in out.getvalue()
