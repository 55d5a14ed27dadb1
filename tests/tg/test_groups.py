"""Groups: the bot speaks only when addressed, threads its replies, and cannot be made to flood."""

from __future__ import annotations

import itertools
import logging

import pytest

from bot.tg.context import GroupCooldown
from tests.conftest import LaunchBot, RunningBot

BOT = "@TalksTestBot"


@pytest.fixture(params=["group", "supergroup"])
def group_type(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_group_message_without_mention_gets_no_reply(bot: RunningBot, group_type: str):
    server = bot.server
    group = server.group_chat(-100, "Readers", group_type)
    alice, bob = server.user(31, "Alice"), server.user(32, "Bob")
    first = server.send_text(group, alice, "What did Rutte say sustainable peace means?")
    server.send_text(group, bob, "black sea", reply_to=first["message"])
    server.send_text(group, alice, "ask @SomeOtherBot about the black sea")
    server.send_text(group, bob, "/ask@SomeOtherBot black sea")
    server.send_text(group, alice, "mail me at reader@TalksTestBot.example")
    await bot.settle()
    assert bot.sent_to(group["id"]) == []
    assert server.calls_to("sendChatAction") == []


async def test_group_mention_gets_an_answer_threaded_to_the_question(
    bot: RunningBot, group_type: str
):
    server = bot.server
    group = server.group_chat(-101, "Readers", group_type)
    question = server.send_text(group, server.user(33), f"{BOT} what about the black sea deal?")
    [call] = await bot.replies(group["id"])
    assert call.params["reply_parameters"]["message_id"] == question["message"]["message_id"]
    [answer] = server.bot_messages(group["id"])
    assert answer["reply_to_message"]["message_id"] == question["message"]["message_id"]
    assert "Black Sea" in answer["text"]


async def test_group_mention_is_matched_on_the_username_from_get_me(bot: RunningBot):
    server = bot.server
    group = server.group_chat(-102, "Readers")
    server.send_text(group, server.user(34), "@talkstestbot, black sea?")
    await bot.replies(group["id"])
    assert "Black Sea" in server.bot_texts(group["id"])[0]


async def test_group_reply_to_the_bot_gets_a_threaded_answer(bot: RunningBot):
    server = bot.server
    group = server.group_chat(-103, "Readers", "supergroup")
    user = server.user(35)
    server.send_text(group, user, f"{BOT} black sea")
    await bot.replies(group["id"])
    [bot_message] = server.bot_messages(group["id"])
    follow_up = server.send_text(group, user, "and the energy ceasefire?", reply_to=bot_message)
    calls = await bot.replies(group["id"], 2)
    assert calls[1].params["reply_parameters"]["message_id"] == follow_up["message"]["message_id"]
    assert "energy" in server.bot_texts(group["id"])[1]


@pytest.mark.parametrize("command", ["/ask", f"/ask{BOT}", "/ASK@talkstestbot"])
async def test_group_ask_command_gets_a_threaded_answer(bot: RunningBot, command: str):
    server = bot.server
    group = server.group_chat(-104, "Readers")
    question = server.send_text(group, server.user(36), f"{command} black sea")
    [call] = await bot.replies(group["id"])
    assert call.params["reply_parameters"]["message_id"] == question["message"]["message_id"]
    assert "Black Sea" in server.bot_texts(group["id"])[0]


async def test_group_ask_in_reply_to_someone_asks_their_question(bot: RunningBot):
    server = bot.server
    group = server.group_chat(-105, "Readers")
    asked = server.send_text(group, server.user(37), "what about the black sea?")
    server.send_text(group, server.user(38), "/ask", reply_to=asked["message"])
    await bot.replies(group["id"])
    assert "Black Sea" in server.bot_texts(group["id"])[0]


async def test_group_suggestion_buttons_work_for_the_group(bot: RunningBot, vague_question: str):
    server = bot.server
    group = server.group_chat(-106, "Readers")
    asker, other = server.user(39), server.user(40)
    server.send_text(group, asker, f"{BOT} {vague_question}")
    await bot.replies(group["id"])
    [suggestions] = server.bot_messages(group["id"])
    server.press_button(suggestions, other, "n")
    await server.wait_for_calls("editMessageText", predicate=lambda c: c.ok)
    await bot.settle()
    [group_row] = bot.store.unanswered()
    assert (group_row.question, group_row.none_of_these) == (vague_question, 1)


async def test_edited_group_question_edits_the_threaded_answer(bot: RunningBot):
    server = bot.server
    group = server.group_chat(-107, "Readers")
    question = server.send_text(group, server.user(41), f"{BOT} black sea")["message"]
    await bot.replies(group["id"])
    server.edit_text(question, f"{BOT} the energy ceasefire")
    await server.wait_for_calls("editMessageText", predicate=lambda c: c.ok)
    [answer] = server.bot_messages(group["id"])
    assert "energy" in answer["text"]
    assert answer["reply_to_message"]["message_id"] == question["message_id"]


async def test_edit_of_a_message_the_bot_ignored_gets_no_reply(bot: RunningBot):
    server = bot.server
    group = server.group_chat(-108, "Readers")
    chatter = server.send_text(group, server.user(42), "nice weather")["message"]
    server.edit_text(chatter, f"{BOT} black sea")
    await bot.settle()
    assert bot.sent_to(group["id"]) == []
    assert server.calls_to("editMessageText") == []


async def test_group_cooldown_stops_one_user_flooding_the_group(launch_bot: LaunchBot):
    now = [1000.0]
    bot = await launch_bot(
        cooldown=GroupCooldown(burst=3, seconds_per_message=3.0, clock=lambda: now[0])
    )
    server = bot.server
    group, quiet_group = server.group_chat(-109, "Busy"), server.group_chat(-110, "Quiet")
    spammer = server.user(43)
    for _ in range(6):
        server.send_text(group, spammer, f"{BOT} black sea")
    await bot.settle()
    assert len(bot.sent_to(group["id"])) == 3
    server.send_text(quiet_group, spammer, f"{BOT} black sea")  # other groups are unaffected
    await bot.replies(quiet_group["id"])
    now[0] += 3.0  # one message's worth of budget comes back
    server.send_text(group, spammer, f"{BOT} black sea")
    server.send_text(group, spammer, f"{BOT} black sea")
    await bot.settle()
    assert len(bot.sent_to(group["id"])) == 4


async def test_group_cooldown_does_not_apply_to_private_chats(launch_bot: LaunchBot):
    bot = await launch_bot(cooldown=GroupCooldown(burst=1, clock=lambda: 0.0))
    server = bot.server
    chat = server.private_chat(44)
    for _ in range(4):
        server.send_text(chat, server.user(44), "black sea")
    await bot.replies(chat["id"], 4)


# Calls the bot makes at startup and while polling; anything else would be a reaction.
_HOUSEKEEPING = {"getMe", "deleteWebhook", "setMyCommands", "getUpdates"}
# The update kinds sent below: messages without text, and kinds the bot has no handler for.
_QUIET_KINDS = (
    "message", "edited_message", "channel_post", "edited_channel_post", "message_reaction",
    "message_reaction_count", "poll", "poll_answer", "my_chat_member", "chat_member",
    "chat_join_request",
)  # fmt: skip


_SERVICE_MESSAGE_IDS = itertools.count(900)  # above any id the chats use otherwise


def _service_message(server, chat, user, **fields) -> None:
    message_id = next(_SERVICE_MESSAGE_IDS)
    server.enqueue_update(
        "message",
        {"message_id": message_id, "date": 0, "chat": chat, "from": user, **fields},
    )


async def test_updates_without_text_are_ignored_quietly_in_every_chat_type(
    launch_bot: LaunchBot, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.WARNING)
    # Delivered although the bot does not ask for most of them, so that the handlers' own
    # filters are what is tested.
    bot = await launch_bot(allowed_updates=_QUIET_KINDS)
    server = bot.server
    user, admin = server.user(45), server.user(46, "Admin")
    private = server.private_chat(45)
    group = server.group_chat(-111, "Readers")
    supergroup = server.group_chat(-112, "Readers+", "supergroup")
    channel = server.channel(-113, "News")
    for chat in (private, group, supergroup):
        server.send_sticker(chat, user)
        photo = server.send_photo(chat, user, caption=f"{BOT} black sea")["message"]
        server.enqueue_update(  # a new caption: an edited message that still has no text
            "edited_message", {**photo, "caption": f"{BOT} energy", "edit_date": 1}
        )
        server.send_voice(chat, user)
        server.send_poll(chat, user)
        server.enqueue_update(
            "message_reaction",
            {"chat": chat, "message_id": photo["message_id"], "user": user, "date": 0,
             "old_reaction": [], "new_reaction": [{"type": "emoji", "emoji": "👍"}]},
        )  # fmt: skip
        server.enqueue_update(
            "message_reaction_count",
            {"chat": chat, "message_id": photo["message_id"], "date": 0,
             "reactions": [{"type": {"type": "emoji", "emoji": "👍"}, "total_count": 2}]},
        )  # fmt: skip
    # The user blocks the bot in private; the bot is added to a group and promoted in a channel.
    server.my_chat_member_update(private, user, old_status="member", new_status="kicked")
    server.my_chat_member_update(group, admin, old_status="left", new_status="member")
    server.my_chat_member_update(channel, admin, old_status="member", new_status="administrator")
    for chat in (group, supergroup, channel):
        server.chat_member_update(chat, admin, user, old_status="left", new_status="member")
    server.new_chat_members(group, admin, [server.user(47)])
    _service_message(server, group, admin, left_chat_member=server.user(47))
    _service_message(server, supergroup, admin, new_chat_title="Readers, renamed")
    _service_message(server, supergroup, admin, group_chat_created=True)
    server.enqueue_update(
        "chat_join_request",
        {"chat": supergroup, "from": user, "user_chat_id": user["id"], "date": 0},
    )
    post = server.channel_post(channel, f"{BOT} black sea")
    server.edited_channel_post(post["channel_post"], "/ask black sea")
    server.channel_post(channel, "/start")
    poll = server.send_poll(group, user)["message"]["poll"]
    server.enqueue_update("poll", {**poll, "total_voter_count": 1})
    server.enqueue_update(
        "poll_answer",
        {"poll_id": poll["id"], "user": user, "option_ids": [0],
         "option_persistent_ids": [poll["options"][0]["persistent_id"]]},
    )  # fmt: skip
    await bot.settle()
    delivered = {
        kind
        for call in server.calls_to("getUpdates")
        if call.ok
        for update in call.result
        for kind in update.keys() - {"update_id"}
    }
    assert delivered == set(_QUIET_KINDS)  # each kind did reach the bot
    assert {call.method for call in server.calls} <= _HOUSEKEEPING
    assert bot.polling_errors == []
    assert [r.getMessage() for r in caplog.records] == []
    server.send_text(private, user, "black sea")  # and the bot is still answering
    await bot.replies(private["id"])


@pytest.mark.parametrize("telegram", [{"privacy_mode": True}], indirect=True)
async def test_with_privacy_mode_on_commands_and_replies_to_the_bot_still_work(bot: RunningBot):
    server = bot.server
    group = server.group_chat(-114, "Readers")
    user = server.user(47)
    server.send_text(group, user, "black sea")  # never reaches the bot at all
    server.send_text(group, user, f"/ask{BOT} black sea")
    await bot.replies(group["id"])
    [answer] = server.bot_messages(group["id"])
    server.send_text(group, user, "and energy?", reply_to=answer)
    await bot.replies(group["id"], 2)
    assert "energy" in server.bot_texts(group["id"])[1]
