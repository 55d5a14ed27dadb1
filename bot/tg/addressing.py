"""Which messages are questions for the bot, and the question each one asks."""

from __future__ import annotations

import re
from dataclasses import dataclass

from telegram import Message, MessageEntity
from telegram.constants import ChatType

ASK_COMMAND = "ask"
# Left over around a removed mention: "@Bot, what ..." / "what ... @Bot?" -> "what ...".
_MENTION_PUNCTUATION = " ,:;-—"


@dataclass(frozen=True)
class Command:
    """A leading /command[@bot] of a message and the text after it."""

    name: str
    target: str | None
    argument: str


def leading_command(message: Message) -> Command | None:
    """The bot command a message starts with, if any."""
    text = message.text
    if text is None:
        return None
    for entity in message.entities:
        if entity.type == MessageEntity.BOT_COMMAND and entity.offset == 0:
            word = message.parse_entity(entity)
            name, _, target = word[1:].partition("@")
            return Command(name.lower(), target or None, text[len(word) :].strip())
    return None


def mentions_bot(message: Message, bot_username: str, bot_id: int) -> bool:
    """Whether the message @mentions the bot (matched on the username from getMe)."""
    wanted = f"@{bot_username}".casefold()
    for entity, text in message.parse_entities([MessageEntity.MENTION]).items():
        if entity.type == MessageEntity.MENTION and text.casefold() == wanted:
            return True
    return any(
        entity.type == MessageEntity.TEXT_MENTION and entity.user and entity.user.id == bot_id
        for entity in message.entities
    )


def replies_to_bot(message: Message, bot_id: int) -> bool:
    replied = message.reply_to_message
    return replied is not None and replied.from_user is not None and replied.from_user.id == bot_id


def without_mention(text: str, bot_username: str) -> str:
    """The text with every @mention of the bot taken out."""
    stripped = re.sub(rf"@{re.escape(bot_username)}(?!\w)", " ", text, flags=re.IGNORECASE)
    return " ".join(stripped.split()).strip(_MENTION_PUNCTUATION)


def question_in(message: Message, bot_username: str, bot_id: int) -> str | None:
    """The question a message puts to the bot; None when it is not addressed to the bot.

    Private chats: any text, or /ask's argument. Groups: only /ask, /ask@Bot, a message that
    @mentions the bot, or a reply to one of its messages; "" means addressed but empty.
    """
    text = message.text
    if text is None:
        return None
    command = leading_command(message)
    if command is not None:
        if command.name != ASK_COMMAND:
            return None
        if command.target is not None and command.target.casefold() != bot_username.casefold():
            return None
        if command.argument:
            return command.argument
        replied = message.reply_to_message  # "/ask" in reply to someone's question asks it
        if replied is not None and replied.text and not replies_to_bot(message, bot_id):
            return replied.text
        return ""
    if message.chat.type == ChatType.PRIVATE:
        return text
    if mentions_bot(message, bot_username, bot_id) or replies_to_bot(message, bot_id):
        return without_mention(text, bot_username)
    return None
