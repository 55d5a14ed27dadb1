"""AiohttpRequest against the fake Bot API: what Telegram receives, and PTB's errors, as httpx's.

Every behaviour that PTB's HTTPXRequest has is checked with both classes side by side, so a
difference between them fails here rather than in production.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import BaseRequest, HTTPXRequest

from bot.tg.request import POOL_TIMEOUT_MESSAGE, AiohttpRequest
from tests.fakes.telegram_server import FakeTelegram, running_fake_telegram

CHAT = 42
MakeRequest = Callable[..., BaseRequest]
REQUEST_CLASSES: dict[str, MakeRequest] = {"httpx": HTTPXRequest, "aiohttp": AiohttpRequest}


@pytest.fixture(params=sorted(REQUEST_CLASSES))
def make_request(request: pytest.FixtureRequest) -> MakeRequest:
    """Each test runs with PTB's HTTPXRequest (the reference) and with AiohttpRequest."""
    return REQUEST_CLASSES[request.param]


@pytest.fixture
async def server(telegram: FakeTelegram) -> FakeTelegram:
    telegram.private_chat(CHAT)
    return telegram


def bot_on(server: FakeTelegram, request: BaseRequest) -> Bot:
    return Bot(server.token, base_url=server.base_url, request=request)


async def test_parameters_arrive_as_sent_and_the_answer_is_parsed(
    server: FakeTelegram, make_request: MakeRequest
):
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Чорне море ✓", callback_data="s:1")]])
    async with bot_on(server, make_request()) as bot:
        sent = await bot.send_message(
            CHAT, "<b>Black Sea</b> — “quoted” ☕", parse_mode=ParseMode.HTML, reply_markup=keyboard
        )
    [call] = server.calls_to("sendMessage")
    assert call.params["text"] == "<b>Black Sea</b> — “quoted” ☕"
    assert call.params["parse_mode"] == "HTML"
    assert call.params["reply_markup"] == keyboard.to_dict()
    assert sent.text == "Black Sea — “quoted” ☕"
    assert sent.reply_markup == keyboard


async def test_files_are_uploaded_as_multipart(server: FakeTelegram, make_request: MakeRequest):
    async with bot_on(server, make_request()) as bot:
        await bot.send_document(CHAT, b"line one\nline two\n", filename="notes.txt", caption="c")
    [call] = server.calls_to("sendDocument")
    assert call.params["document"].filename == "notes.txt"
    assert call.params["document"].data == b"line one\nline two\n"
    assert call.params["caption"] == "c"


@pytest.mark.parametrize(
    ("fault", "error", "message"),
    [
        ({"status": 400, "description": "Bad Request: chat not found"}, BadRequest, "not found"),
        ({"status": 403}, Forbidden, "blocked"),
        ({"status": 401, "description": "Unauthorized"}, InvalidToken, "Unauthorized"),
        ({"retry_after": 3}, RetryAfter, "Flood control"),
        ({"status": 502, "body": "<html>Bad Gateway</html>"}, NetworkError, "Bad Gateway"),
        ({"drop": True}, NetworkError, "Server disconnected"),
        ({"delay": 0.5}, TimedOut, "Timed out"),
    ],
    ids=["400", "403", "401", "429", "502-html", "dropped", "slow"],
)
async def test_telegram_faults_raise_the_errors_httpx_raises(
    server: FakeTelegram,
    make_request: MakeRequest,
    fault: dict[str, Any],
    error: type[TelegramError],
    message: str,
):
    server.inject_fault("sendMessage", **fault)
    async with bot_on(server, make_request(read_timeout=0.2)) as bot:
        with pytest.raises(TelegramError, match=message) as raised:
            await bot.send_message(CHAT, "hi")
        assert type(raised.value) is error
        await bot.send_message(CHAT, "the next call goes through")  # the connection recovers
    assert server.bot_texts(CHAT)[-1] == "the next call goes through"


async def test_refused_connection_is_a_network_error_that_says_connect(
    server: FakeTelegram, make_request: MakeRequest
):
    async with bot_on(server, make_request()) as bot:
        await server.stop()
        with pytest.raises(NetworkError) as raised:
            await bot.get_updates()
        await server.start()
    assert type(raised.value) is NetworkError
    assert "connect" in str(raised.value).lower()


async def test_a_call_may_wait_longer_or_without_limit_than_the_default(
    server: FakeTelegram, make_request: MakeRequest
):
    server.inject_fault("sendMessage", delay=0.5, times=3)
    async with bot_on(server, make_request(read_timeout=0.1)) as bot:
        await bot.send_message(CHAT, "one", read_timeout=2.0)
        await bot.send_message(CHAT, "two", read_timeout=None)
        with pytest.raises(TimedOut):
            await bot.send_message(CHAT, "three", read_timeout=0.05, pool_timeout=None)
    assert server.bot_texts(CHAT)[:2] == ["one", "two"]


async def test_a_full_pool_times_out_without_sending(
    server: FakeTelegram, make_request: MakeRequest
):
    server.inject_fault("sendMessage", delay=0.5)
    request = make_request(connection_pool_size=1, pool_timeout=0.1)
    async with bot_on(server, request) as bot:
        slow = asyncio.create_task(bot.send_message(CHAT, "holds the only connection"))
        await server.wait_for_calls("getMe")
        await asyncio.sleep(0.05)  # the slow call has the connection
        with pytest.raises(TimedOut) as raised:
            await bot.send_message(CHAT, "finds none free")
        await slow
    assert str(raised.value) == POOL_TIMEOUT_MESSAGE
    assert [call.params["text"] for call in server.calls_to("sendMessage")] == [
        "holds the only connection"
    ]


async def test_a_shut_down_request_refuses_until_initialised_again(
    server: FakeTelegram, make_request: MakeRequest
):
    request = make_request()
    bot = bot_on(server, request)
    async with bot:
        await bot.get_me()
    with pytest.raises(NetworkError, match="not initialized"):  # PTB wraps the RuntimeError
        await bot.get_me()
    async with bot:
        await bot.get_me()
    assert len(server.calls_to("getMe")) == 4  # initialize() asks too


@pytest.fixture
async def proxy_server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeTelegram]:
    """A fake Telegram that is also named as the HTTP proxy (it serves absolute-form paths)."""
    async with running_fake_telegram(token="123:proxied") as server:
        monkeypatch.setenv("HTTP_PROXY", server.base_url.split("/bot")[0])
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        yield server


async def test_the_proxy_from_the_environment_is_used(proxy_server: FakeTelegram):
    # Nothing listens at 127.0.0.2:9; the call arrives only by way of the proxy.
    request = AiohttpRequest(connect_timeout=1.0)
    bot = Bot(proxy_server.token, base_url="http://127.0.0.2:9/bot", request=request)
    async with bot:
        assert bot.username == proxy_server.bot_username
    assert proxy_server.calls_to("getMe")
