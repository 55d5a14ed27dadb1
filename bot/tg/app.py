"""The Telegram bot: builds the PTB Application, registers its handlers and runs it."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import sqlite3
import sys
from http import HTTPStatus
from pathlib import Path
from typing import Any, Final, TypeAlias
from urllib.parse import urlsplit

from telegram import (
    Bot,
    BotCommand,
    BotCommandScope,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    LinkPreviewOptions,
    Update,
)
from telegram.error import InvalidToken, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    BaseRateLimiter,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    ExtBot,
    InlineQueryHandler,
    MessageHandler,
    filters,
)

from bot.config import ConfigError, Settings, logging_level
from bot.core.knowledge import KnowledgeError
from bot.core.service import KnowledgeHolder
from bot.core.wording import ENGLISH
from bot.tg.context import (
    BOT_CONTEXT_KEY,
    TYPING_DELAY_SECONDS,
    BotContext,
    GroupCooldown,
    UserCooldown,
    bot_context_of,
)
from bot.tg.handlers import (
    ask_command,
    edited_question,
    entry_chosen,
    help_command,
    inline_query,
    log_error,
    none_of_these_chosen,
    reload_command,
    source_command,
    stale_button,
    start_command,
    stats_command,
    suggestion_chosen,
    test_command,
    text_question,
    topics_command,
    unanswered_command,
    unknown_command,
)
from bot.tg.health import heartbeat_path, touch_heartbeat
from bot.tg.log_redaction import configure_logging
from bot.tg.request import AiohttpRequest
from bot.tg.stats_store import StatsStore
from bot.tg.views import (
    CALLBACK_NONE_PATTERN,
    CALLBACK_SHOW,
    CALLBACK_SUGGESTION,
    admin_commands,
    user_commands,
)

logger = logging.getLogger(__name__)

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_USAGE: Final = 2
# Telegram refuses the token (401), at start or later (revoked in @BotFather): a restart with
# the same token cannot help, so a supervisor can tell this apart from a crash worth retrying.
EXIT_TOKEN_REJECTED: Final = 3
# The answers PTB turns into InvalidToken (Telegram: 401 for a revoked token, 404 for a
# malformed one); after either its poller stops for good.
INVALID_TOKEN_STATUSES: Final = (HTTPStatus.UNAUTHORIZED, HTTPStatus.NOT_FOUND)
TOKEN_REJECTED_MESSAGE: Final = (
    "Telegram rejected TELEGRAM_BOT_TOKEN (401 Unauthorized): it is wrong, or was revoked or "
    "regenerated in @BotFather. Set a valid token and restart."
)

STATS_FILE: Final = "stats.sqlite3"
# Only what the bot handles: Telegram then never sends channel posts, reactions, member
# updates... (the handlers ignore them anyway if they come).
ALLOWED_UPDATES: Final = (
    Update.MESSAGE,
    Update.EDITED_MESSAGE,
    Update.CALLBACK_QUERY,
    Update.INLINE_QUERY,
)
# Updates handled at once. Answering takes ~2 ms of CPU; the rest of an update's time goes
# into Telegram round trips and rate-limit waits, and one chat waiting (a group at its flood
# limit, a 429 retry) must not hold up every other chat. So throughput is concurrency / round
# trip until the CPU is full: with a 250 ms round trip (`make bench-bot --rtt-ms 250`) 8
# carried 31 updates/s, 32 carried 122-124, 128 carried ~380 and 256 ~545. On loopback, where
# the bot is CPU-bound, 32 and 128 were equally fast and 256 a little slower, with a paced p99
# at 400/s of 177-203 ms against 57-86 ms at 128: more updates interleave, each takes longer.
# 128 is the balance; Telegram's own limit (~30 messages/s) needs far less. RSS grew by ~3 MB
# from 8 to 128. Two answers in one chat can only swap places if both questions arrive within
# one round trip of each other.
CONCURRENT_UPDATES: Final = 128
# Connections for replies (all but getUpdates): one per update in flight, and as many again
# for "typing..." beside answers slower than TYPING_DELAY_SECONDS, so no reply waits for a
# connection (PTB then gives up after 1 s). PTB's own default; idle ones close after 5 s. On
# loopback, pools of 16 to 128 at concurrency 128 measured equally fast.
SEND_CONNECTION_POOL: Final = 256
# Retries of a request Telegram answered with 429 (AIORateLimiter waits retry_after first).
RATE_LIMIT_RETRIES: Final = 3
# getMe/deleteWebhook attempts at startup before giving up (a container restarts us then).
BOOTSTRAP_RETRIES: Final = 5
# The poller fails within a few event-loop steps of a 401; this is ample, and short.
POLLER_SETTLE_SECONDS: Final = 0.1
# How long a getUpdates answer may take beyond its long-poll timeout before the poller gives
# up and asks again: PTB's default, ample on a working connection (an answer takes ~250 ms).
GET_UPDATES_READ_TIMEOUT: Final = 5.0
# Allocations between young collections, and young (middle) collections between middle (full)
# ones: see tune_garbage_collection. Python's defaults are (700, 10, 10).
GC_THRESHOLDS: Final = (20_000, 20, 10)
# With webhooks nothing polls; a task touches the heartbeat this often instead.
WEBHOOK_HEARTBEAT_SECONDS: Final = 30.0

TalksApplication: TypeAlias = Application[
    ExtBot[Any], ContextTypes.DEFAULT_TYPE, dict[Any, Any], dict[Any, Any], dict[Any, Any], None
]


class TokenGuard:
    """Stops the running bot when Telegram rejects its token, e.g. revoked in @BotFather.

    On a 401 PTB's poller stops for good while the updater still reports running: the process
    would live on, answering nothing. Once `stop_on_rejection` has armed it, the guard stops
    the application instead, and run_bot exits with EXIT_TOKEN_REJECTED.
    """

    def __init__(self) -> None:
        self.rejected = False
        self._app: TalksApplication | None = None
        self._stopping: asyncio.Task[None] | None = None

    def stop_on_rejection(self, app: TalksApplication) -> None:
        """Arm the guard: app is run with run_polling/run_webhook, which stop_running ends."""
        self._app = app

    def token_rejected(self) -> None:
        """Called for every answer in INVALID_TOKEN_STATUSES."""
        self.rejected = True
        app = self._app
        if app is None or self._stopping is not None:
            return
        if not app.running or app.updater is None or not app.updater.running:
            return  # still starting (run_bot reports it) or already stopping
        logger.critical("Telegram rejected the bot token while running; stopping")
        self._stopping = asyncio.get_running_loop().create_task(self._stop(app))

    async def _stop(self, app: TalksApplication) -> None:
        # The guard hears of the 401 before PTB raises it. Let the poller fail first: stop()
        # then re-raises its InvalidToken, rather than cancel it mid-failure and confirm the
        # fetched updates with one more getUpdates that can only fail too.
        await asyncio.sleep(POLLER_SETTLE_SECONDS)
        updater = app.updater
        if updater is None or not updater.running:
            return  # a stop signal came first: run_polling is shutting down already
        with contextlib.suppress(InvalidToken):  # the dead poller's error, re-raised by stop()
            await updater.stop()
        app.stop_running()  # run_polling then answers what was fetched and shuts down


class GuardedRequest(AiohttpRequest):
    """AiohttpRequest that tells the TokenGuard whenever Telegram rejects the token."""

    def __init__(self, guard: TokenGuard, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._guard = guard

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        status, payload = await super().do_request(*args, **kwargs)
        if status in INVALID_TOKEN_STATUSES:
            self._guard.token_rejected()
        return status, payload


class HeartbeatRequest(GuardedRequest):
    """The connection used for getUpdates only: touches the heartbeat after each good round."""

    def __init__(self, heartbeat: Path, guard: TokenGuard, **kwargs: Any) -> None:
        super().__init__(guard, **kwargs)
        self._heartbeat = heartbeat

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        status, payload = await super().do_request(*args, **kwargs)
        if status == 200:
            try:
                touch_heartbeat(self._heartbeat)
            except OSError as error:  # polling goes on; the health check will report it
                logger.warning("Cannot touch the heartbeat file %s: %s", self._heartbeat, error)
        return status, payload


def register_handlers(app: TalksApplication) -> None:
    """All handlers, in one group: the first whose filters match an update handles it."""
    message = filters.UpdateType.MESSAGE  # new messages only: edits go to edited_question
    chats = filters.ChatType.PRIVATE | filters.ChatType.GROUPS  # never channels
    private = filters.ChatType.PRIVATE
    # Commands first, so that "/ask ..." is not also taken for a plain question below.
    app.add_handler(CommandHandler("start", start_command, filters=message & private))
    app.add_handler(CommandHandler("ask", ask_command, filters=message & chats))
    app.add_handler(CommandHandler("help", help_command, filters=message & chats))
    app.add_handler(CommandHandler("topics", topics_command, filters=message & chats))
    app.add_handler(CommandHandler("source", source_command, filters=message & chats))
    app.add_handler(CommandHandler("reload", reload_command, filters=message & chats))
    app.add_handler(CommandHandler("stats", stats_command, filters=message & chats))
    app.add_handler(CommandHandler("unanswered", unanswered_command, filters=message & chats))
    app.add_handler(CommandHandler("test", test_command, filters=message & chats))
    # After every known command: any other command in a private chat gets the help.
    app.add_handler(MessageHandler(message & private & filters.COMMAND, unknown_command))
    # Text only: stickers, photos, service messages and the like match nothing and are ignored.
    app.add_handler(
        MessageHandler(message & chats & filters.TEXT & ~filters.COMMAND, text_question)
    )
    app.add_handler(
        MessageHandler(filters.UpdateType.EDITED_MESSAGE & chats & filters.TEXT, edited_question)
    )
    app.add_handler(CallbackQueryHandler(suggestion_chosen, pattern=rf"^{CALLBACK_SUGGESTION}:"))
    app.add_handler(CallbackQueryHandler(entry_chosen, pattern=rf"^{CALLBACK_SHOW}:"))
    app.add_handler(CallbackQueryHandler(none_of_these_chosen, pattern=CALLBACK_NONE_PATTERN))
    # Last of the buttons: callback data of an older version of the bot.
    app.add_handler(CallbackQueryHandler(stale_button))
    app.add_handler(InlineQueryHandler(inline_query))
    app.add_error_handler(log_error)


async def _set_menu(
    bot: Bot, commands: list[BotCommand], scope: BotCommandScope, language: str
) -> None:
    # The English menu is the default one: Telegram shows it to every client language that
    # has no menu of its own.
    code = None if language == ENGLISH else language
    await bot.set_my_commands(commands, scope=scope, language_code=code)


async def set_command_menus(app: TalksApplication) -> None:
    """Command menus: users' in private chats and in groups, plus admin commands for admins.

    One of each per language the knowledge base speaks, for clients set to that language.
    """
    deps = bot_context_of(app.bot_data)
    knowledge = deps.holder.current.knowledge
    bot = app.bot
    for language in knowledge.languages:
        messages = knowledge.wording(language).messages
        try:
            private = user_commands(messages, private=True)
            await _set_menu(bot, private, BotCommandScopeAllPrivateChats(), language)
            groups = user_commands(messages, private=False)
            await _set_menu(bot, groups, BotCommandScopeAllGroupChats(), language)
        except TelegramError as error:  # a missing menu must not keep the bot from answering
            logger.warning("Could not set the %s command menus: %s", language, error)
    for admin_id in sorted(deps.admin_ids):
        # A chat's own menu outranks every all-private-chats one, whatever the language, so
        # an admin needs one per language too.
        for language in knowledge.languages:
            messages = knowledge.wording(language).messages
            try:
                await _set_menu(
                    bot, admin_commands(messages), BotCommandScopeChat(admin_id), language
                )
            except TelegramError as error:  # e.g. the admin has not started a chat with the bot
                logger.warning("Could not set the admin menu for user id %s: %s", admin_id, error)
                break  # the other languages would fail the same way
    logger.info(
        "Bot @%s ready: knowledge version %s, %d admin(s)",
        bot.username,
        deps.holder.current.version,
        len(deps.admin_ids),
    )


def default_rate_limiter() -> AIORateLimiter:
    """Telegram's documented limits (30 messages/s, 20/minute per group), retrying on 429."""
    return AIORateLimiter(max_retries=RATE_LIMIT_RETRIES)


def build_application(
    settings: Settings,
    holder: KnowledgeHolder,
    store: StatsStore,
    *,
    cooldown: GroupCooldown | None = None,
    user_cooldown: UserCooldown | None = None,
    rate_limiter: BaseRateLimiter[Any] | None = None,
    typing_delay: float = TYPING_DELAY_SECONDS,
    concurrent_updates: int = CONCURRENT_UPDATES,
    connection_pool_size: int = SEND_CONNECTION_POOL,
    token_guard: TokenGuard | None = None,
    get_updates_read_timeout: float = GET_UPDATES_READ_TIMEOUT,
) -> TalksApplication:
    """The one place the bot is wired: settings, knowledge, store and limits in, app out."""
    deps = BotContext(
        holder=holder,
        store=store,
        admin_ids=settings.admin_ids,
        cooldown=cooldown if cooldown is not None else GroupCooldown(),
        user_cooldown=user_cooldown if user_cooldown is not None else UserCooldown(),
        typing_delay=typing_delay,
    )
    guard = token_guard if token_guard is not None else TokenGuard()
    app: TalksApplication = (
        ApplicationBuilder()
        .token(settings.require_token())
        .base_url(settings.base_url)
        .defaults(Defaults(link_preview_options=LinkPreviewOptions(is_disabled=True)))
        .rate_limiter(rate_limiter if rate_limiter is not None else default_rate_limiter())
        .request(GuardedRequest(guard, connection_pool_size=connection_pool_size))
        .get_updates_request(
            HeartbeatRequest(
                heartbeat_path(settings.data_dir),
                guard,
                connection_pool_size=1,
                read_timeout=get_updates_read_timeout,
            )
        )
        .concurrent_updates(concurrent_updates)
        .job_queue(None)
        .post_init(set_command_menus)
        .build()
    )
    app.bot_data[BOT_CONTEXT_KEY] = deps
    register_handlers(app)
    return app


def webhook_options(settings: Settings) -> dict[str, Any]:
    """Arguments of run_webhook/start_webhook: listen there, serve the URL's path."""
    if settings.webhook_url is None:
        raise ConfigError("BOT_WEBHOOK_URL is not set")
    return {
        "listen": settings.webhook_listen,
        "port": settings.webhook_port,
        "url_path": urlsplit(settings.webhook_url).path.lstrip("/"),
        "webhook_url": settings.webhook_url,
        "secret_token": settings.webhook_secret,
        "allowed_updates": list(ALLOWED_UPDATES),
    }


async def _beat_forever(path: Path) -> None:
    while True:
        touch_heartbeat(path)
        await asyncio.sleep(WEBHOOK_HEARTBEAT_SECONDS)


def _run_webhook(app: TalksApplication, settings: Settings) -> None:
    tasks: list[asyncio.Task[None]] = []
    set_menus = app.post_init

    async def start_heartbeat(app: TalksApplication) -> None:
        if set_menus is not None:
            await set_menus(app)
        tasks.append(asyncio.create_task(_beat_forever(heartbeat_path(settings.data_dir))))

    async def stop_heartbeat(app: TalksApplication) -> None:
        for task in tasks:
            task.cancel()

    app.post_init = start_heartbeat
    app.post_shutdown = stop_heartbeat
    app.run_webhook(
        bootstrap_retries=BOOTSTRAP_RETRIES, close_loop=False, **webhook_options(settings)
    )


def tune_garbage_collection() -> None:
    """Set the garbage collector up for serving: what exists now frozen, young passes rarer.

    The modules, the knowledge snapshot and the application live as long as the process, yet
    every full collection traversed them: ~40 ms a pass, a pause that every update in flight
    waits out. Frozen (gc.freeze), a pass took ~8 ms and the paced p99 at 400 questions/s fell
    from 85-173 ms to 41-59 ms (`make bench-bot`, two runs each). Frozen objects are still
    freed by reference counting: a snapshot replaced by /reload holds no reference cycles and
    goes as before.

    Each update makes a few hundred short-lived PTB objects, so the default threshold (700
    allocations) ran a young collection every few updates. At GC_THRESHOLDS the bot took
    1.65-1.80 ms of CPU per answer against 1.82-1.93 ms with the defaults (three alternating
    pairs of runs), for well under 1 MB more memory.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _serve(app: TalksApplication, settings: Settings) -> None:
    """Run until stopped, on an event loop of our own, closed afterwards with every connection.

    PTB closes the bot's connections only if it started completely; after a failed start (a
    token Telegram rejects) aiohttp would find its session still open at exit and complain.
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        if settings.webhook_url:
            _run_webhook(app, settings)
        else:
            app.run_polling(
                allowed_updates=list(ALLOWED_UPDATES),
                bootstrap_retries=BOOTSTRAP_RETRIES,
                close_loop=False,
            )
    finally:
        try:
            loop.run_until_complete(app.bot.shutdown())  # nothing to do after a clean stop
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _open_store(data_dir: Path) -> StatsStore:
    data_dir.mkdir(parents=True, exist_ok=True)
    return StatsStore(data_dir / STATS_FILE)


def run_bot(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT (updates already fetched are answered first); the exit code."""
    # PTB 22 builds RetryAfter (every 429) with a deprecation warning unless the process opts
    # into timedelta durations; nothing here reads those durations, so opt in.
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    try:
        token = settings.require_token()
    except ConfigError as error:
        print(f"Configuration error:\n{error}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(logging_level(settings), secrets=(token, settings.webhook_secret))
    try:
        holder = KnowledgeHolder(settings.knowledge_dir, cache_dir=settings.model_cache_dir)
    except KnowledgeError as error:
        logger.error("The knowledge base in %s is invalid:", settings.knowledge_dir)
        for problem in error.problems:
            logger.error("  %s", problem)
        return EXIT_FAILURE
    for problem in holder.current.warnings:  # e.g. colliding phrasings; they never block
        logger.warning("Knowledge base: %s", problem)
    try:
        store = _open_store(settings.data_dir)
    except (OSError, sqlite3.Error) as error:
        logger.error("Cannot open the statistics database in %s: %s", settings.data_dir, error)
        return EXIT_FAILURE
    guard = TokenGuard()
    app = build_application(settings, holder, store, token_guard=guard)
    guard.stop_on_rejection(app)
    tune_garbage_collection()
    mode = "webhook" if settings.webhook_url else "long polling"
    logger.info("Starting with %s; knowledge version %s", mode, holder.current.version)
    try:
        _serve(app, settings)
    except InvalidToken:
        logger.critical(TOKEN_REJECTED_MESSAGE)
        return EXIT_TOKEN_REJECTED
    except TelegramError as error:
        logger.error("Could not start the bot: %s", error)
        return EXIT_FAILURE
    finally:
        store.close()
    if guard.rejected:
        logger.critical("Stopped: %s", TOKEN_REJECTED_MESSAGE)
        return EXIT_TOKEN_REJECTED
    logger.info("Stopped")
    return EXIT_OK
