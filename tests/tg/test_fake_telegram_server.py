"""Tests of the fake Bot API server, including a real PTB Application talking HTTP to it."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dtm
import time
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import httpx
import pytest
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Message,
    Update,
)
from telegram.error import BadRequest, InvalidToken, NetworkError, RetryAfter, TimedOut
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    InlineQueryHandler,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest

from tests.fakes.telegram_server import (
    FakeSpecError,
    FakeTelegram,
    HtmlParseError,
    WaitTimeout,
    html_to_text,
    running_fake_telegram,
)

JsonDict = dict[str, Any]
PtbHandler = BaseHandler[Update, ContextTypes.DEFAULT_TYPE, Any]


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with running_fake_telegram() as server:
        yield server


@pytest.fixture
async def api(telegram: FakeTelegram) -> AsyncIterator[httpx.AsyncClient]:
    """A bare HTTP client sending form-encoded parameters, as PTB does."""
    async with httpx.AsyncClient(base_url=f"{telegram.base_url}{telegram.token}/") as client:
        yield client


@contextlib.asynccontextmanager
async def running_bot(
    server: FakeTelegram, *handlers: PtbHandler
) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    """A real PTB Application polling the fake; fails if polling or a handler errs."""
    errors: list[object] = []

    async def record_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Keeps handler errors for the assertion below."""
        errors.append(context.error)

    app = ApplicationBuilder().token(server.token).base_url(server.base_url).build()
    for handler in handlers:
        app.add_handler(handler)
    app.add_error_handler(record_error)
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=1, error_callback=errors.append)
    try:
        yield app
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
    assert errors == []


async def post(api: httpx.AsyncClient, method: str, **params: str) -> httpx.Response:
    return await api.post(method, data=params)


# --- spec enforcement -----------------------------------------------------------------


async def test_unknown_method_is_a_404_and_a_violation(
    telegram: FakeTelegram, api: httpx.AsyncClient
) -> None:
    response = await post(api, "sendMesage", chat_id="1", text="hi")

    assert response.status_code == 404
    assert response.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    assert telegram.violations == ["sendMesage: no such method in Bot API 10.1"]
    telegram.violations.clear()


async def test_missing_required_parameter_is_a_400_and_a_violation(
    telegram: FakeTelegram, api: httpx.AsyncClient
) -> None:
    telegram.private_chat(42)

    response = await post(api, "sendMessage", chat_id="42")

    assert response.status_code == 400
    assert "missing required parameter 'text'" in response.json()["description"]
    assert telegram.violations == ["sendMessage: missing required parameter 'text'"]
    telegram.violations.clear()


async def test_unknown_parameter_is_a_400_and_a_violation(
    telegram: FakeTelegram, api: httpx.AsyncClient
) -> None:
    telegram.private_chat(42)

    response = await post(
        api, "sendMessage", chat_id="42", text="hi", disable_web_page_preview="true"
    )

    assert response.status_code == 400
    assert telegram.violations == ["sendMessage: unknown parameter 'disable_web_page_preview'"]
    assert telegram.bot_messages(42) == []
    telegram.violations.clear()


async def test_nested_objects_in_parameters_are_checked(
    telegram: FakeTelegram, api: httpx.AsyncClient
) -> None:
    telegram.private_chat(42)
    button_without_action = '{"inline_keyboard": [[{"text": "Go", "callback": "x"}]]}'

    response = await post(
        api, "sendMessage", chat_id="42", text="hi", reply_markup=button_without_action
    )

    assert response.status_code == 400
    assert telegram.violations == [
        "sendMessage.reply_markup.inline_keyboard[0][0]: InlineKeyboardButton has no field "
        "'callback'"
    ]
    telegram.violations.clear()


async def test_wrong_token_is_unauthorized_and_not_a_violation(telegram: FakeTelegram) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{telegram.base_url}999:WRONG/getMe")

    assert response.status_code == 401
    assert response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    assert telegram.violations == []


async def test_method_names_ignore_case_and_json_bodies_work(
    telegram: FakeTelegram, api: httpx.AsyncClient
) -> None:
    telegram.private_chat(42)

    me = await api.post("GETME")
    sent = await api.post("sendmessage", json={"chat_id": 42, "text": "hi"})

    assert me.json()["result"]["username"] == "TalksTestBot"
    assert sent.json()["result"]["text"] == "hi"
    assert [call.method for call in telegram.calls] == ["getMe", "sendMessage"]


async def test_fake_objects_missing_required_fields_raise_in_the_helper(
    telegram: FakeTelegram,
) -> None:
    chat = telegram.private_chat(42)

    with pytest.raises(FakeSpecError, match="Message lacks required field 'date'"):
        telegram.enqueue_update("message", {"message_id": 1, "chat": chat})
    with pytest.raises(FakeSpecError, match="status='owner' is no kind of ChatMember"):
        telegram.enqueue_update(
            "chat_member",
            {
                "chat": chat,
                "from": telegram.user(7),
                "date": 1,
                "old_chat_member": {"status": "owner", "user": telegram.user(7)},
                "new_chat_member": {"status": "left", "user": telegram.user(7)},
            },
        )
    assert telegram.pending_updates() == 0


def test_every_update_helper_is_spec_valid_and_parsed_by_ptb() -> None:
    server = FakeTelegram()
    alice = server.user(7, "Alice", "alice_w")
    bob = server.user(8, "Bob")
    dm = server.private_chat(7, "Alice", "alice_w")
    group = server.group_chat(-100500, "Talks", type="supergroup")
    news = server.channel(-100600, "News", username="news")
    text = server.send_text(dm, alice, "/start@TalksTestBot hi @someone")["message"]

    updates = [
        server.send_text(dm, alice, "reply", reply_to=text),
        server.forward_text(dm, alice, "/help", original_sender=bob),
        server.edit_text(text, "edited"),
        server.inline_query(alice, "ceasefire", chat_type="sender"),
        server.choose_inline_result(alice, "1", "ceasefire", inline_message_id="im1"),
        server.send_sticker(dm, alice),
        server.send_photo(group, alice, caption="look"),
        server.send_voice(dm, alice),
        server.send_poll(group, alice),
        server.new_chat_members(group, alice, [bob]),
        server.channel_post(news, "post"),
        server.chat_member_update(group, alice, bob, "member", "administrator"),
        server.my_chat_member_update(group, alice, "left", "kicked"),
    ]
    updates.append(server.edited_channel_post(updates[10]["channel_post"], "post 2"))

    parsed = [Update.de_json(update, None) for update in updates]

    assert [update.update_id for update in parsed] == list(range(10_001, 10_015))
    assert parsed[0].message is not None
    assert parsed[0].message.reply_to_message is not None
    assert parsed[1].message is not None
    assert parsed[1].message.forward_origin is not None
    assert parsed[11].chat_member is not None
    assert parsed[11].chat_member.new_chat_member.status == "administrator"
    assert parsed[12].my_chat_member is not None
    assert parsed[12].my_chat_member.new_chat_member.user.id == server.bot_id


def test_commands_mentions_and_urls_get_entities_in_utf16_units() -> None:
    server = FakeTelegram()
    chat = server.private_chat(7)

    message = server.send_text(
        chat, server.user(7), "/ask@TalksTestBot 🙂 @someone see https://babel.ua/x."
    )["message"]

    assert message["entities"] == [
        {"type": "bot_command", "offset": 0, "length": 17},
        {"type": "mention", "offset": 21, "length": 8},
        {"type": "url", "offset": 34, "length": 18},
    ]


def test_html_is_parsed_like_telegram() -> None:
    assert html_to_text('<b>Rutte</b> &lt;said&gt; <a href="https://x.y/?a=1&b=2">here</a>') == (
        "Rutte <said> here"
    )
    with pytest.raises(HtmlParseError, match='Unsupported start tag "br"'):
        html_to_text("line<br>line")
    with pytest.raises(HtmlParseError, match='start tag "b"'):
        html_to_text("<b>open")
    with pytest.raises(HtmlParseError, match="Unclosed start tag at byte offset 2"):
        html_to_text("1 < 2")


async def test_html_telegram_rejects_is_a_400_but_not_a_violation(
    telegram: FakeTelegram, api: httpx.AsyncClient
) -> None:
    telegram.private_chat(42)

    bad = await post(api, "sendMessage", chat_id="42", text="a<br>b", parse_mode="HTML")
    good = await post(api, "sendMessage", chat_id="42", text="<i>a</i> &amp; b", parse_mode="HTML")

    assert bad.status_code == 400
    assert "can't parse entities" in bad.json()["description"]
    assert good.status_code == 200
    assert telegram.bot_texts(42) == ["a & b"]
    assert telegram.violations == []


async def test_command_menus_are_kept_per_scope_and_language_code(
    telegram: FakeTelegram, api: httpx.AsyncClient
) -> None:
    commands = '[{"command": "help", "description": "Як ставити запитання"}]'
    scope = '{"type": "all_private_chats"}'

    set_uk = await post(api, "setMyCommands", commands=commands, scope=scope, language_code="uk")
    got_uk = await post(api, "getMyCommands", scope=scope, language_code="uk")
    got_default = await post(api, "getMyCommands", scope=scope)

    assert set_uk.json() == {"ok": True, "result": True}
    assert got_uk.json()["result"] == [{"command": "help", "description": "Як ставити запитання"}]
    assert got_default.json()["result"] == []
    assert telegram.my_commands({"type": "all_private_chats"}, "uk")[0]["command"] == "help"


@pytest.mark.parametrize("code", ["zh-hans", "en-US", "UK", "ukr", "u"])
async def test_a_language_code_that_is_not_two_iso_letters_is_refused_like_telegram(
    telegram: FakeTelegram, api: httpx.AsyncClient, code: str
) -> None:
    commands = '[{"command": "help", "description": "How to ask"}]'

    response = await post(api, "setMyCommands", commands=commands, language_code=code)
    described = await post(api, "setMyDescription", description="About", language_code=code)

    for refused in (response, described):
        assert refused.status_code == 400
        assert refused.json()["description"] == "Bad Request: invalid language code specified"
    assert telegram.commands == {} and telegram.descriptions == {}
    assert telegram.violations == []  # a well-typed value Telegram refuses, not a spec breach


def test_privacy_mode_hides_group_chatter_from_the_bot() -> None:
    server = FakeTelegram(privacy_mode=True)
    group, user = server.group_chat(-5, "Talks"), server.user(7)

    server.send_text(group, user, "just chatting")
    server.send_text(group, user, "@TalksTestBot what did Rutte say?")
    server.send_text(group, user, "/ask")
    server.new_chat_members(group, user, [server.user(8)])

    assert server.pending_updates() == 3


# --- getUpdates -------------------------------------------------------------------------


async def test_get_updates_drops_updates_below_offset_and_honours_limit(
    telegram: FakeTelegram, api: httpx.AsyncClient
) -> None:
    chat, user = telegram.private_chat(7), telegram.user(7)
    ids = [telegram.send_text(chat, user, f"m{n}")["update_id"] for n in range(5)]

    first = (await post(api, "getUpdates", limit="2")).json()["result"]
    again = (await post(api, "getUpdates", offset=str(ids[1]))).json()["result"]
    last = (await post(api, "getUpdates", offset="-1")).json()["result"]

    assert [update["update_id"] for update in first] == ids[:2]
    assert [update["update_id"] for update in again] == ids[1:]
    assert [update["update_id"] for update in last] == ids[4:]
    assert telegram.pending_updates() == 1


async def test_long_poll_returns_as_soon_as_an_update_arrives(
    telegram: FakeTelegram, api: httpx.AsyncClient
) -> None:
    chat, user = telegram.private_chat(7), telegram.user(7)
    poll = asyncio.create_task(post(api, "getUpdates", timeout="10"))
    await asyncio.sleep(0.05)
    started = time.monotonic()

    telegram.send_text(chat, user, "hello")
    result = (await poll).json()["result"]

    assert [update["message"]["text"] for update in result] == ["hello"]
    assert time.monotonic() - started < 1


async def test_long_poll_without_updates_ends_after_timeout(
    telegram: FakeTelegram, api: httpx.AsyncClient
) -> None:
    started = time.monotonic()

    response = await post(api, "getUpdates", timeout="1")

    assert response.json() == {"ok": True, "result": []}
    assert 0.9 < time.monotonic() - started < 2


async def test_stopping_the_server_ends_a_waiting_poll_with_no_updates(
    telegram: FakeTelegram, api: httpx.AsyncClient
) -> None:
    poll = asyncio.create_task(post(api, "getUpdates", timeout="30"))
    await asyncio.sleep(0.05)

    await telegram.stop()

    assert (await asyncio.wait_for(poll, 2)).json() == {"ok": True, "result": []}


async def test_a_newer_poll_ends_the_waiting_one_with_conflict(
    telegram: FakeTelegram, api: httpx.AsyncClient
) -> None:
    older = asyncio.create_task(post(api, "getUpdates", timeout="30"))
    await asyncio.sleep(0.05)

    newer = await post(api, "getUpdates")

    assert newer.json() == {"ok": True, "result": []}
    assert (await older).status_code == 409


async def test_chat_member_updates_need_allowed_updates(
    telegram: FakeTelegram, api: httpx.AsyncClient
) -> None:
    group, alice, bob = telegram.group_chat(-5, "G"), telegram.user(7), telegram.user(8)
    telegram.chat_member_update(group, alice, bob)
    telegram.send_text(group, alice, "hi")
    telegram.chat_member_update(group, alice, bob, "member", "left")

    default = (await post(api, "getUpdates")).json()["result"]
    asked = (await post(api, "getUpdates", allowed_updates='["chat_member"]')).json()["result"]

    assert [list(update)[1] for update in default] == ["message"]
    assert [update["chat_member"]["new_chat_member"]["status"] for update in asked] == ["left"]


# --- a real PTB Application -------------------------------------------------------------


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Repeats the user's text."""
    message = update.effective_message
    if message is None or message.text is None:
        return
    await message.reply_text(message.text)


async def test_ptb_application_receives_a_text_and_replies(telegram: FakeTelegram) -> None:
    chat, user = telegram.private_chat(42, "Olena"), telegram.user(42, "Olena")

    async with running_bot(telegram, MessageHandler(filters.TEXT, echo)):
        telegram.send_text(chat, user, "Що сказав Рютте?")
        [reply] = await telegram.wait_for_calls("sendMessage")
        await telegram.wait_until_confirmed()

    assert reply.params == {"chat_id": 42, "text": "Що сказав Рютте?"}
    assert telegram.bot_texts(42) == ["Що сказав Рютте?"]
    assert telegram.pending_updates() == 0
    methods = {call.method for call in telegram.calls}
    assert {"getMe", "deleteWebhook", "getUpdates", "sendMessage"} <= methods


async def offer_more(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answers /start with a one-button keyboard."""
    if update.message is None:
        return
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("More", callback_data="more")]])
    await update.message.reply_text("Ask me about the talks", reply_markup=keyboard)


async def show_more(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Acknowledges the button and replaces the message text."""
    query = update.callback_query
    if query is None:
        return
    await query.answer("Loading")
    await query.edit_message_text("<b>More</b> about the talks", parse_mode="HTML")


async def test_ptb_application_handles_a_button_press(telegram: FakeTelegram) -> None:
    chat, user = telegram.private_chat(42), telegram.user(42)

    async with running_bot(
        telegram, CommandHandler("start", offer_more), CallbackQueryHandler(show_more)
    ):
        telegram.send_text(chat, user, "/start")
        [sent] = await telegram.wait_for_calls("sendMessage")
        press = telegram.press_button(sent.result, user, "more")
        await telegram.wait_for_calls("editMessageText")

    [message] = telegram.bot_messages(42)
    assert message["text"] == "More about the talks"
    assert "reply_markup" not in message  # the edit did not repeat the keyboard
    assert telegram.callback_answers[press["callback_query"]["id"]]["text"] == "Loading"


async def answer_inline(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Offers the query back as one article."""
    query = update.inline_query
    if query is None:
        return
    content = InputTextMessageContent(f"You asked: {query.query}")
    await query.answer([InlineQueryResultArticle("1", "Echo", content)], cache_time=0)


async def test_ptb_application_answers_an_inline_query(telegram: FakeTelegram) -> None:
    user = telegram.user(42)

    async with running_bot(telegram, InlineQueryHandler(answer_inline)):
        query = telegram.inline_query(user, "ceasefire")
        await telegram.wait_for_calls("answerInlineQuery")

    answer = telegram.inline_answers[query["inline_query"]["id"]]
    [result] = answer["results"]
    assert result["type"] == "article"
    assert result["input_message_content"] == {"message_text": "You asked: ceasefire"}


async def test_ptb_application_sees_an_injected_flood_limit_as_retry_after(
    telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PTB 22 builds RetryAfter through a deprecated int-valued property unless asked for
    # timedeltas; under warnings-as-errors the warning would replace the exception.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    chat, user = telegram.private_chat(42), telegram.user(42)
    seen: list[RetryAfter] = []

    async def reply_once(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Replies, remembering a flood-limit refusal."""
        assert update.effective_message is not None
        try:
            await update.effective_message.reply_text("hi")
        except RetryAfter as exc:
            seen.append(exc)

    telegram.inject_fault("sendMessage", retry_after=1)
    async with running_bot(telegram, MessageHandler(filters.TEXT, reply_once)):
        telegram.send_text(chat, user, "one")
        telegram.send_text(chat, user, "two")
        calls = await telegram.wait_for_calls("sendMessage", count=2)

    assert [call.status for call in calls] == [429, 200]
    assert [exc.retry_after for exc in seen] == [dtm.timedelta(seconds=1)]
    assert telegram.bot_texts(42) == ["hi"]


# --- faults and restarts with a bare PTB Bot -------------------------------------------


def bare_bot(server: FakeTelegram, read_timeout: float = 5.0) -> Bot:
    return Bot(
        server.token,
        base_url=server.base_url,
        request=HTTPXRequest(read_timeout=read_timeout),
    )


async def test_faults_are_used_in_order_and_map_to_ptb_errors(telegram: FakeTelegram) -> None:
    telegram.private_chat(42)
    telegram.inject_fault("sendMessage", drop=True)
    telegram.inject_fault("sendMessage", status=400, description="Bad Request: chat not found")
    telegram.inject_fault("sendMessage", delay=0.5)

    def send(bot: Bot) -> Coroutine[Any, Any, Message]:
        return bot.send_message(42, "hi")

    async with bare_bot(telegram, read_timeout=0.2) as bot:
        with pytest.raises(NetworkError, match="Server disconnected"):
            await send(bot)
        with pytest.raises(BadRequest, match="Chat not found"):
            await send(bot)
        with pytest.raises(TimedOut):
            await send(bot)
        await telegram.wait_for_calls("sendMessage", count=3)
        message = await send(bot)

    # The slow answer still took effect, as with a Telegram that answers too late.
    assert [call.status for call in telegram.calls_to("sendMessage")] == [0, 400, 200, 200]
    assert message.message_id == 2
    assert telegram.bot_texts(42) == ["hi", "hi"]


async def test_a_fault_with_when_only_hits_the_calls_it_accepts(telegram: FakeTelegram) -> None:
    for chat_id in (42, 43):
        telegram.private_chat(chat_id)
    telegram.inject_fault("sendMessage", status=500, times=None, when=lambda p: p["chat_id"] == 43)

    async with bare_bot(telegram, read_timeout=1.0) as bot:
        await bot.send_message(42, "passes by the fault")
        with pytest.raises(NetworkError, match="Internal Server Error"):
            await bot.send_message(43, "hits it")
        await bot.send_message(42, "passes by again")

    assert [call.status for call in telegram.calls_to("sendMessage")] == [200, 500, 200]


async def test_wrong_token_is_invalid_token_for_ptb(telegram: FakeTelegram) -> None:
    request = HTTPXRequest()
    bot = Bot("999:WRONG", base_url=telegram.base_url, request=request)

    try:
        with pytest.raises(InvalidToken):
            await bot.get_me()
    finally:
        # A bot whose initialize() failed is not initialized, so shutdown() would skip this.
        await request.shutdown()


async def test_server_restarts_on_the_same_port_keeping_queued_updates(
    telegram: FakeTelegram,
) -> None:
    chat, user = telegram.private_chat(7), telegram.user(7)
    port = telegram.port

    async with bare_bot(telegram) as bot:
        await telegram.stop()
        telegram.send_text(chat, user, "sent while Telegram was away")
        with pytest.raises(NetworkError):
            await bot.get_updates()
        await telegram.start()
        updates = await bot.get_updates()

    assert telegram.port == port
    assert [update.message.text for update in updates if update.message] == [
        "sent while Telegram was away"
    ]


async def test_wait_for_calls_explains_what_it_saw_instead(telegram: FakeTelegram) -> None:
    async with bare_bot(telegram) as bot:
        await bot.get_me()

    with pytest.raises(WaitTimeout, match=r"(?s)saw 0\..*getMe -> 200"):
        await telegram.wait_for_calls("sendMessage", timeout=0.1)
