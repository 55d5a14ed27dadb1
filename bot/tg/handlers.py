"""Telegram handlers: read the update, return early when something is missing, delegate."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Final

from telegram import Message, Update, User
from telegram.constants import ChatType
from telegram.error import NetworkError
from telegram.ext import ContextTypes

from bot.core.answers import Answer
from bot.core.knowledge import Knowledge, KnowledgeError
from bot.tg.addressing import leading_command, question_in
from bot.tg.context import BotContext, bot_context
from bot.tg.language import language_of
from bot.tg.send import replace_reply, send_reply, typing_while_slow
from bot.tg.views import (
    CALLBACK_NONE,
    Callback,
    Reply,
    answer_reply,
    greeting_reply,
    help_reply,
    inline_results,
    matches_reply,
    matches_usage_reply,
    none_of_these_reply,
    parse_callback,
    refusal_reply,
    reload_failure_reply,
    reload_report_reply,
    source_reply,
    stats_reply,
    topics_reply,
    ui_text,
    unanswered_reply,
)

logger = logging.getLogger(__name__)

GROUP_CHAT_TYPES: Final = frozenset({ChatType.GROUP, ChatType.SUPERGROUP})
# Inline results depend only on the query and the knowledge version. Telegram's default cache
# of 300 s would keep serving pre-/reload answers for five minutes; 60 s bounds that and still
# spares the bot the repeated queries of people typing the same thing.
INLINE_CACHE_SECONDS: Final = 60
# Rows of /test and /unanswered.
TEST_MATCHES: Final = 5
UNANSWERED_GROUPS: Final = 10


def _is_group(message: Message) -> bool:
    return message.chat.type in GROUP_CHAT_TYPES


def _sender_of(message: Message) -> int | None:
    """Whom a message's flood budget is charged to: the chat it is sent as, else its author.

    Anonymous group admins all share one user id (and channel posts another), so a message
    sent on behalf of a chat is charged to that chat.
    """
    if message.sender_chat is not None:
        return message.sender_chat.id
    return message.from_user.id if message.from_user is not None else None


def _sender_within_budget(deps: BotContext, sender: int | None, cost: int) -> bool:
    if sender is None or deps.is_admin(sender) or deps.user_cooldown.allow(sender, cost):
        return True
    logger.info("Sender %s is over its message budget; staying silent", sender)
    return False


async def reply_in_chat(
    context: ContextTypes.DEFAULT_TYPE, message: Message, reply: Reply, sender: int | None = None
) -> list[Message]:
    """Reply in the message's chat within its sender's budget; in groups threaded, and within
    the group's budget too.

    `sender` is whom the reply is charged to: the message's sender unless given (for a
    button, whoever pressed it).
    """
    deps = bot_context(context)
    chat_id = message.chat.id
    if sender is None:
        sender = _sender_of(message)
    if not _sender_within_budget(deps, sender, len(reply.chunks)):
        return []
    reply_to = None
    if _is_group(message):
        if not deps.cooldown.allow(chat_id, len(reply.chunks)):
            logger.info("Group %s is over its message budget; staying silent", chat_id)
            return []
        reply_to = message.message_id
    async with (
        deps.chat_locks.hold(chat_id),
        typing_while_slow(context.bot, chat_id, deps.typing_delay),
    ):
        return await send_reply(context.bot, chat_id, reply, reply_to=reply_to)


def _client_language(knowledge: Knowledge, user: User | None) -> str | None:
    return language_of(user, knowledge.languages)


def _remember(
    deps: BotContext, chat_id: int, question_id: int, answer: Answer, ids: Sequence[int]
) -> None:
    if not ids:
        return
    deps.answers.put((chat_id, question_id), tuple(ids))
    if answer.status == "suggest":
        deps.suggested.put((chat_id, ids[-1]), answer.question)


async def answer_question(
    context: ContextTypes.DEFAULT_TYPE, message: Message, question: str
) -> None:
    """Answer one question in the chat it came from, and count it."""
    deps = bot_context(context)
    snapshot = deps.holder.current  # one knowledge version for the whole update
    knowledge = snapshot.knowledge
    client = _client_language(knowledge, message.from_user)
    answer = snapshot.answer(question, fallback_language=client)
    sent = await reply_in_chat(context, message, answer_reply(answer, knowledge))
    _remember(deps, message.chat.id, message.message_id, answer, [m.message_id for m in sent])
    if sent:
        await deps.recorder.record_answer(answer.status, answer.question, answer.language)


# -- questions ---------------------------------------------------------------------------


async def text_question(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer a text message: any in private chats, only those addressed to the bot in groups."""
    message = update.message
    if message is None or message.text is None:
        return
    question = question_in(message, context.bot.username, context.bot.id)
    if question is None:
        return
    await answer_question(context, message, question)


async def ask_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/ask <question>, also as /ask@BotName in groups."""
    await text_question(update, context)


async def edited_question(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Re-answer an edited question by editing the bot's earlier answer to it."""
    message = update.edited_message
    if message is None or message.text is None:
        return
    deps = bot_context(context)
    key = (message.chat.id, message.message_id)
    previous = deps.answers.get(key)
    if previous is None:  # the bot did not answer this message: an edit does not make it
        return
    question = question_in(message, context.bot.username, context.bot.id)
    if question is None:
        return
    snapshot = deps.holder.current
    knowledge = snapshot.knowledge
    client = _client_language(knowledge, message.from_user)
    answer = snapshot.answer(question, fallback_language=client)
    reply = answer_reply(answer, knowledge)
    if not _sender_within_budget(deps, _sender_of(message), len(reply.chunks)):
        return
    reply_to = message.message_id if _is_group(message) else None
    ids = await replace_reply(context.bot, message.chat.id, previous, reply, reply_to=reply_to)
    _remember(deps, message.chat.id, message.message_id, answer, ids)
    await deps.recorder.record_answer(answer.status, answer.question, answer.language)


# -- fixed replies -----------------------------------------------------------------------


async def _knowledge_reply(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    make: Callable[[Knowledge, str | None], Reply],
) -> None:
    """A fixed reply in the language of the sender's client."""
    message = update.effective_message
    if message is None:
        return
    knowledge = bot_context(context).holder.current.knowledge
    language = _client_language(knowledge, update.effective_user)
    await reply_in_chat(context, message, make(knowledge, language))


async def start_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Greet, say what the bot covers and offer example questions as buttons."""
    await _knowledge_reply(update, context, greeting_reply)


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """How to ask, in private chats and in groups."""
    await _knowledge_reply(update, context, help_reply)


async def topics_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The topics as buttons; tapping one answers it."""
    await _knowledge_reply(update, context, topics_reply)


async def source_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Cite the article the answers quote."""
    await _knowledge_reply(update, context, source_reply)


# -- buttons -----------------------------------------------------------------------------


async def suggestion_chosen(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show the tapped suggestion's answer in place of the "did you mean" message."""
    query = update.callback_query
    if query is None or query.data is None or not isinstance(query.message, Message):
        return
    message = query.message
    deps = bot_context(context)
    snapshot = deps.holder.current
    key = (message.chat.id, message.message_id)
    tapped = parse_callback(query.data)
    answer = snapshot.answer_entry(tapped.entry_id, deps.suggested.get(key), tapped.language)
    if answer is None:  # the entry went away in a /reload since the buttons were sent
        await query.answer(_gone(snapshot.knowledge, tapped))
        return
    await query.answer()
    reply = answer_reply(answer, snapshot.knowledge)
    reply_to = message.message_id if _is_group(message) else None
    await replace_reply(
        context.bot, message.chat.id, (message.message_id,), reply, reply_to=reply_to
    )
    deps.suggested.pop(key)


async def none_of_these_chosen(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Record the question as unanswered and thank the user in place of the suggestions."""
    query = update.callback_query
    if query is None or not isinstance(query.message, Message):
        return
    message = query.message
    deps = bot_context(context)
    tapped = parse_callback(query.data or CALLBACK_NONE)
    wording = deps.holder.current.knowledge.wording(tapped.language)
    question = deps.suggested.pop((message.chat.id, message.message_id))
    replied = message.reply_to_message  # in groups the suggestions are threaded to the question
    if question is None and replied is not None and replied.text:
        question = replied.text
    await query.answer()
    thanks = none_of_these_reply(wording.messages)
    await replace_reply(context.bot, message.chat.id, (message.message_id,), thanks)
    if question:
        await asyncio.to_thread(
            deps.store.record_unanswered, question, "none_of_these", wording.language
        )


async def entry_chosen(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer a tapped topic, example question or related question as a new message."""
    query = update.callback_query
    if query is None or query.data is None or not isinstance(query.message, Message):
        return
    snapshot = bot_context(context).holder.current
    tapped = parse_callback(query.data)
    answer = snapshot.answer_entry(tapped.entry_id, language=tapped.language)
    if answer is None:
        await query.answer(_gone(snapshot.knowledge, tapped))
        return
    await query.answer()
    reply = answer_reply(answer, snapshot.knowledge)
    await reply_in_chat(context, query.message, reply, query.from_user.id)


def _gone(knowledge: Knowledge, tapped: Callback) -> str:
    """What a button says when its entry is gone: in the language of the message it is under."""
    return ui_text(knowledge.wording(tapped.language).messages, "suggestion_gone")


async def stale_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Buttons this version does not know (old messages): close the spinner, say so."""
    query = update.callback_query
    if query is None:
        return
    knowledge = bot_context(context).holder.current.knowledge
    messages = knowledge.wording(_client_language(knowledge, query.from_user)).messages
    await query.answer(ui_text(messages, "suggestion_gone"))


# -- inline mode -------------------------------------------------------------------------


async def inline_query(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Offer up to 5 answers as articles, or the main topics for an empty query."""
    query = update.inline_query
    if query is None:
        return
    snapshot = bot_context(context).holder.current
    language = _client_language(snapshot.knowledge, query.from_user)
    results = inline_results(snapshot, query.query, language)
    await query.answer(results, cache_time=INLINE_CACHE_SECONDS, is_personal=False)


# -- admin commands ----------------------------------------------------------------------


async def _admin_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Message | None:
    """The command message if its sender's numeric id is an admin's; else refuse, return None."""
    message = update.effective_message
    user = update.effective_user
    if message is None:
        return None
    deps = bot_context(context)
    if user is None or not deps.is_admin(user.id):
        logger.info("Refused an admin command from user id %s", user.id if user else None)
        knowledge = deps.holder.current.knowledge
        messages = knowledge.wording(_client_language(knowledge, user)).messages
        await reply_in_chat(context, message, refusal_reply(messages))
        return None
    return message


async def reload_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Admin: re-read and validate the knowledge base, swap it in, report what changed."""
    message = await _admin_message(update, context)
    if message is None:
        return
    holder = bot_context(context).holder
    try:
        report = await asyncio.to_thread(holder.reload)
    except KnowledgeError as error:
        logger.warning(
            "Reload refused: %d problem(s); old version keeps serving", len(error.problems)
        )
        await reply_in_chat(context, message, reload_failure_reply(error, holder.current.version))
        return
    logger.info("Reloaded knowledge %s -> %s", report.old_version, report.new_version)
    await reply_in_chat(context, message, reload_report_reply(report))


async def stats_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Admin: uptime, knowledge version and question counts."""
    message = await _admin_message(update, context)
    if message is None:
        return
    deps = bot_context(context)
    counts = await asyncio.to_thread(deps.store.counts)
    languages = await asyncio.to_thread(deps.store.language_counts)
    uptime = time.monotonic() - deps.started_at
    reply = stats_reply(uptime, deps.holder.current, counts, languages)
    await reply_in_chat(context, message, reply)


async def unanswered_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Admin: the most frequent unanswered and "none of these" questions, grouped."""
    message = await _admin_message(update, context)
    if message is None:
        return
    store = bot_context(context).store
    groups = await asyncio.to_thread(store.unanswered, UNANSWERED_GROUPS)
    await reply_in_chat(context, message, unanswered_reply(groups))


async def test_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Admin: /test <question> shows the top matches with their scores."""
    message = await _admin_message(update, context)
    if message is None:
        return
    command = leading_command(message)
    question = command.argument if command is not None else ""
    snapshot = bot_context(context).holder.current
    if not question:
        await reply_in_chat(context, message, matches_usage_reply(snapshot.knowledge.messages))
        return
    client = _client_language(snapshot.knowledge, message.from_user)
    answer = snapshot.answer(question, fallback_language=client)
    ranked = snapshot.matcher.rank(answer.question, limit=TEST_MATCHES)
    await reply_in_chat(
        context, message, matches_reply(question, answer, ranked, snapshot.knowledge)
    )


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A command the bot does not have, in a private chat: show the help."""
    await help_command(update, context)


# -- errors ------------------------------------------------------------------------------


async def log_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log every exception with its traceback; the bot goes on with the next update."""
    error = context.error
    if update is None and isinstance(error, NetworkError):
        # run_polling reports each failed getUpdates round here, and PTB retries it with a
        # growing pause: an outage of Telegram or of the network, not a bug to trace.
        logger.warning("Polling Telegram failed (%s); retrying", error)
        return
    update_id = update.update_id if isinstance(update, Update) else None
    logger.error("Error while handling update %s", update_id, exc_info=error)
