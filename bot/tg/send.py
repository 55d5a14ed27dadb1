"""Sending replies to Telegram: chunks with keyboards, edits, plain-text fallback, "typing…"."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Final

from telegram import Bot, InlineKeyboardMarkup, Message, ReplyParameters
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError

from bot.tg.views import Reply, html_to_plain

logger = logging.getLogger(__name__)

# Telegram shows a chat action for 5 s or until the next message; refresh a little sooner.
TYPING_REFRESH_SECONDS: Final = 4.5


def _is_parse_error(error: BadRequest) -> bool:
    return "can't parse entities" in str(error).lower()


def _is_not_modified(error: BadRequest) -> bool:
    return "message is not modified" in str(error).lower()


def _reply_parameters(reply_to: int | None) -> ReplyParameters | None:
    if reply_to is None:
        return None
    return ReplyParameters(reply_to, allow_sending_without_reply=True)


async def _send_chunk(
    bot: Bot, chat_id: int, chunk: str, keyboard: InlineKeyboardMarkup | None, reply_to: int | None
) -> Message:
    """Send one HTML chunk; if Telegram refuses the HTML, send its plain text instead."""
    try:
        return await bot.send_message(
            chat_id,
            chunk,
            parse_mode=ParseMode.HTML,
            reply_markup=keyboard,
            reply_parameters=_reply_parameters(reply_to),
        )
    except BadRequest as error:
        if not _is_parse_error(error):
            raise
        logger.warning("Telegram refused our HTML (%s); resending as plain text", error)
        return await bot.send_message(
            chat_id,
            html_to_plain(chunk),
            reply_markup=keyboard,
            reply_parameters=_reply_parameters(reply_to),
        )


async def _edit_chunk(
    bot: Bot, chat_id: int, message_id: int, chunk: str, keyboard: InlineKeyboardMarkup | None
) -> None:
    """Edit one message to an HTML chunk, with the same plain-text fallback."""
    for text, parse_mode in ((chunk, ParseMode.HTML), (html_to_plain(chunk), None)):
        try:
            await bot.edit_message_text(
                text, chat_id=chat_id, message_id=message_id, parse_mode=parse_mode,
                reply_markup=keyboard,
            )  # fmt: skip
            return
        except BadRequest as error:
            if _is_not_modified(error):
                return
            if parse_mode is None or not _is_parse_error(error):
                raise
            logger.warning("Telegram refused our HTML (%s); editing as plain text", error)


def _keyboard_for(reply: Reply, index: int) -> InlineKeyboardMarkup | None:
    return reply.keyboard if index == len(reply.chunks) - 1 else None


def _log_refused(chat_id: int, error: Forbidden) -> None:
    # A user who blocked the bot, or a group that removed it: routine, not a bug to trace.
    logger.info("Chat %s does not accept messages from the bot (%s); reply dropped", chat_id, error)


async def send_reply(
    bot: Bot, chat_id: int, reply: Reply, *, reply_to: int | None = None
) -> list[Message]:
    """Send every chunk of a reply; the keyboard goes under the last one.

    Returns the messages sent: those before the chat refused the bot (403), if it did -
    a user who blocked the bot, or a group that removed it.
    """
    sent: list[Message] = []
    try:
        for index, chunk in enumerate(reply.chunks):
            sent.append(
                await _send_chunk(bot, chat_id, chunk, _keyboard_for(reply, index), reply_to)
            )
    except Forbidden as error:
        _log_refused(chat_id, error)
    return sent


async def replace_reply(
    bot: Bot, chat_id: int, old_ids: Sequence[int], reply: Reply, *, reply_to: int | None = None
) -> tuple[int, ...]:
    """Turn earlier bot messages into a new reply: edit, send what is extra, delete the rest.

    Returns the ids of the reply's messages; if the chat refuses the bot (403) midway, those
    done so far followed by the old ones not reached.
    """
    ids: list[int] = []
    try:
        for index, chunk in enumerate(reply.chunks):
            keyboard = _keyboard_for(reply, index)
            if index < len(old_ids):
                await _edit_chunk(bot, chat_id, old_ids[index], chunk, keyboard)
                ids.append(old_ids[index])
            else:
                ids.append((await _send_chunk(bot, chat_id, chunk, keyboard, reply_to)).message_id)
        for stale in old_ids[len(reply.chunks) :]:
            with contextlib.suppress(BadRequest):  # already deleted by someone: nothing to do
                await bot.delete_message(chat_id, stale)
    except Forbidden as error:
        _log_refused(chat_id, error)
        return (*ids, *old_ids[len(ids) :])
    return tuple(ids)


async def _keep_typing(bot: Bot, chat_id: int) -> None:
    while True:
        try:
            await bot.send_chat_action(chat_id, ChatAction.TYPING)
        except TelegramError as error:  # only a courtesy: never fail the answer for it
            logger.debug("Could not show typing in %s: %s", chat_id, error)
            return
        await asyncio.sleep(TYPING_REFRESH_SECONDS)


@contextlib.asynccontextmanager
async def typing_while_slow(bot: Bot, chat_id: int, delay: float) -> AsyncIterator[None]:
    """Show "typing…" only if the block is still running after `delay` seconds."""
    # A timer, not a task that sleeps: nearly every answer is out long before the delay, and
    # then the timer is all there was to cancel (a task per answer cost ~2% of the bot's CPU).
    loop = asyncio.get_running_loop()
    typing: list[asyncio.Task[None]] = []
    timer = loop.call_later(
        delay, lambda: typing.append(loop.create_task(_keep_typing(bot, chat_id)))
    )
    try:
        yield
    finally:
        timer.cancel()
        for task in typing:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
