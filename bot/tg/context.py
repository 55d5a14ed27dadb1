"""What the Telegram handlers depend on, passed in once: knowledge, store, limits, memory."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar

from telegram.ext import ContextTypes

from bot.core.service import KnowledgeHolder
from bot.tg.stats_store import AnswerRecorder, StatsStore

BOT_CONTEXT_KEY: Final = "talks_bot"

# Telegram lets a bot send at most 20 messages a minute to one group (Bot API FAQ), i.e. one
# every 3 s. The bucket refills at that rate, so the bot never reaches Telegram's limit (and
# the 429s and delays that follow), and holds 3 messages so that a short exchange - a question,
# a follow-up, a tap on a suggestion - is answered at once. Past that the bot stays silent:
# a queued answer would arrive late, out of context, and keep the flood going.
GROUP_BURST_MESSAGES: Final = 3
GROUP_SECONDS_PER_MESSAGE: Final = 3.0
# One sender's questions, across every chat: a burst of 10 answers, then one every 2 s (30 a
# minute). Reading one answer with its quotes takes a person far longer than 2 s, and 10
# covers someone pasting a list of questions at once; a faster sender is a script. Past the
# budget the bot stays silent rather than spend, on one sender, Telegram's limits that every
# chat shares (about one message a second per chat, 30 a second in all - Bot API FAQ).
# This is what bounds a private chat, which has no group budget; admins are exempt, since they
# try the bot out with /test and /reload in quick succession.
USER_BURST_MESSAGES: Final = 10
USER_SECONDS_PER_MESSAGE: Final = 2.0
# Show "typing…" only if an answer is not out within a second: below that a reply feels
# immediate (the usual 1 s response-time limit), and matching itself takes ~1 ms (`make
# bench`), so the indicator appears only when Telegram is slow or we wait on a rate limit -
# and an action per question would spend the flood budget for nothing.
TYPING_DELAY_SECONDS: Final = 1.0
# Bot messages remembered per question, to edit the answer when the question is edited, and
# the question of each "did you mean" message, for "None of these". Telegram allows edits for
# 48 h; 10,000 entries cover days of a busy bot in well under 10 MB. Older ones are forgotten:
# an edit then gets no new answer, which is the harmless failure.
MEMORY_ENTRIES: Final = 10_000

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedMap(Generic[K, V]):
    """A dict that forgets its least recently stored keys beyond `capacity`."""

    def __init__(self, capacity: int = MEMORY_ENTRIES) -> None:
        self._capacity = capacity
        self._items: OrderedDict[K, V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)

    def get(self, key: K) -> V | None:
        return self._items.get(key)

    def pop(self, key: K) -> V | None:
        return self._items.pop(key, None)


class ChatLocks:
    """An asyncio.Lock per chat, forgotten when no handler holds or awaits it.

    Waiters are served in the order they came (asyncio.Lock is fair), which is the order in
    which the chat's updates reached their handlers.
    """

    def __init__(self) -> None:
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._locks)

    @contextlib.asynccontextmanager
    async def hold(self, chat_id: int) -> AsyncIterator[None]:
        lock = self._locks.get(chat_id)
        if lock is None:
            lock = self._locks[chat_id] = asyncio.Lock()
        self._users[chat_id] = self._users.get(chat_id, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[chat_id] -= 1
            if not self._users[chat_id]:
                del self._users[chat_id], self._locks[chat_id]


@dataclass
class Cooldown:
    """A token bucket per key (a chat id, a sender id): each message sent costs one token."""

    burst: int
    seconds_per_message: float
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[int, tuple[float, float]] = field(default_factory=dict, repr=False)

    def allow(self, key: int, cost: int = 1) -> bool:
        """Spend `cost` tokens of this key if it has them; False means stay silent."""
        now = self.clock()
        tokens, since = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - since) / self.seconds_per_message)
        cost = min(cost, self.burst)  # a long answer must still be possible after a pause
        if tokens < cost:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - cost, now)
        if len(self._buckets) > MEMORY_ENTRIES:
            self._forget_full_buckets(now)
        return True

    def _forget_full_buckets(self, now: float) -> None:
        for key, (tokens, since) in list(self._buckets.items()):
            if tokens + (now - since) / self.seconds_per_message >= self.burst:
                del self._buckets[key]


@dataclass
class GroupCooldown(Cooldown):
    """The budget of each group chat (keyed by chat id)."""

    burst: int = GROUP_BURST_MESSAGES
    seconds_per_message: float = GROUP_SECONDS_PER_MESSAGE


@dataclass
class UserCooldown(Cooldown):
    """The budget of each sender (keyed by user id, or by the chat a message is sent as)."""

    burst: int = USER_BURST_MESSAGES
    seconds_per_message: float = USER_SECONDS_PER_MESSAGE


@dataclass(frozen=True)
class BotContext:
    """The handlers' dependencies, stored once in bot_data by build_application."""

    holder: KnowledgeHolder
    store: StatsStore
    admin_ids: frozenset[int]
    cooldown: GroupCooldown
    user_cooldown: UserCooldown = field(default_factory=UserCooldown)
    typing_delay: float = TYPING_DELAY_SECONDS
    started_at: float = field(default_factory=time.monotonic)
    # (chat id, question message id) -> ids of the bot messages that answered it.
    answers: BoundedMap[tuple[int, int], tuple[int, ...]] = field(default_factory=BoundedMap)
    # (chat id, "did you mean" message id) -> the question it offered suggestions for.
    suggested: BoundedMap[tuple[int, int], str] = field(default_factory=BoundedMap)
    # Counts answers in `store`, batched under load.
    recorder: AnswerRecorder = field(init=False, repr=False)
    # One lock per chat: updates are handled concurrently, and a slow answer must not be
    # overtaken by the answer to a later question in the same chat.
    chat_locks: ChatLocks = field(default_factory=lambda: ChatLocks())

    def __post_init__(self) -> None:
        object.__setattr__(self, "recorder", AnswerRecorder(self.store))

    def is_admin(self, user_id: int) -> bool:
        return user_id in self.admin_ids


def bot_context_of(bot_data: Mapping[Any, Any]) -> BotContext:
    """The BotContext that build_application stored in an application's bot_data."""
    value = bot_data.get(BOT_CONTEXT_KEY)
    if not isinstance(value, BotContext):
        raise TypeError("bot_data holds no BotContext: build the app with build_application")
    return value


def bot_context(context: ContextTypes.DEFAULT_TYPE) -> BotContext:
    """The BotContext of the application handling this update."""
    return bot_context_of(context.bot_data)
