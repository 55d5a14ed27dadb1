"""Fake Telegram Bot API server for end-to-end tests: the real PTB Application talks HTTP to it.

The server runs in-process on 127.0.0.1 (aiohttp, ephemeral port). Point the bot at it with
``ApplicationBuilder().token(server.token).base_url(server.base_url)`` and drive it from the
test with helpers such as :meth:`FakeTelegram.send_text` and :meth:`FakeTelegram.press_button`.

What it checks, against the Bot API specification (``spec/``, a copy of ``shared/telegram``):

* every call: the method exists, required parameters are present, no parameter is unknown,
  and every value has the documented type (nested objects included). A violation is answered
  with 400 (404 for an unknown method) *and* appended to :attr:`FakeTelegram.violations`, so
  use :func:`running_fake_telegram` or :meth:`FakeTelegram.assert_no_violations` at teardown;
* every object it sends (updates, messages, chats, users, ...): a missing required field or
  a field the spec does not know raises :class:`FakeSpecError` in the helper that built it.

What it implements: getMe, getUpdates (offset, limit, long-poll timeout, allowed_updates),
webhook set/delete/info, sendMessage, editMessageText, editMessageReplyMarkup, deleteMessage,
answerCallbackQuery, answerInlineQuery, sendChatAction, bot commands, descriptions and name,
getChat, getChatMember, getChatAdministrators, close and logOut. Any other method of the
spec is recorded in :attr:`FakeTelegram.calls` and answered with ``True`` - except that
methods documented to return a ``Message`` and given a ``chat_id`` get a minimal Message,
so that PTB can parse the answer.

Telegram behaviour it copies on purpose, because bots get these wrong: ``parse_mode="HTML"``
is parsed like Telegram does (only Telegram's tags, balanced, ``<``/``&`` escaped) and the
stored message text is the plain text a user sees; editing a message to identical content
fails with "message is not modified"; editing without ``reply_markup`` drops the keyboard;
sending to an unknown chat or replying to an unknown message fails; a second getUpdates
terminates a waiting one with 409 Conflict.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import itertools
import json
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

from aiohttp import web

JsonDict = dict[str, Any]

DEFAULT_TOKEN: Final = "123456:TEST-TOKEN-abc"
DEFAULT_BOT_USERNAME: Final = "TalksTestBot"
# A copy of ../shared/telegram/bot-api-spec.json kept in the repo so that any checkout can
# run the tests; tests/test_spec_copy.py keeps it identical to the shared one.
DEFAULT_SPEC_PATH: Final = Path(__file__).resolve().parent / "spec" / "bot-api-spec.json"

# Limits documented in the Bot API reference; the fake enforces them so that a bot that
# would be rejected by Telegram is rejected here too.
MAX_MESSAGE_LENGTH: Final = 4096
MAX_CALLBACK_ANSWER_LENGTH: Final = 200
MAX_INLINE_RESULTS: Final = 50
MAX_COMMANDS: Final = 100
MAX_DESCRIPTION_LENGTH: Final = 512
MAX_SHORT_DESCRIPTION_LENGTH: Final = 120
MAX_NAME_LENGTH: Final = 64
# language_code of the bot's commands, descriptions and name: "a two-letter ISO 639-1 language
# code" or empty. Telegram answers a regional code such as "zh-hans" with this error.
LANGUAGE_CODE: Final = re.compile(r"[a-z]{2}")
INVALID_LANGUAGE_CODE: Final = "Bad Request: invalid language code specified"
# Telegram accepts uploads up to 50 MB; aiohttp's default body limit is 1 MB.
MAX_BODY_BYTES: Final = 50 * 1024 * 1024
# stop() wakes every waiting handler first, so shutdown only waits for the ones that are
# mid-answer; a second is plenty and keeps a broken handler from hanging a test.
SHUTDOWN_TIMEOUT_SECONDS: Final = 1.0

# getUpdates without allowed_updates delivers everything except these (Bot API, getUpdates).
NOT_DELIVERED_BY_DEFAULT: Final = frozenset(
    {"chat_member", "message_reaction", "message_reaction_count"}
)
CHAT_ACTIONS: Final = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
NOT_MODIFIED: Final = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
QUERY_INVALID: Final = (
    "Bad Request: query is too old and response timeout expired or query ID is invalid"
)
POLL_CONFLICT: Final = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
WEBHOOK_CONFLICT: Final = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
DEFAULT_FAULT_DESCRIPTIONS: Final[Mapping[int, str]] = {
    400: "Bad Request: injected fault",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: POLL_CONFLICT,
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
}

__all__ = [
    "DEFAULT_BOT_USERNAME",
    "DEFAULT_SPEC_PATH",
    "DEFAULT_TOKEN",
    "ApiCall",
    "BotApiSpec",
    "FakeSpecError",
    "FakeTelegram",
    "Fault",
    "HtmlParseError",
    "UploadedFile",
    "WaitTimeout",
    "html_to_text",
    "running_fake_telegram",
]


class FakeSpecError(AssertionError):
    """An object built by the fake breaks the Bot API spec: a bug in the fake or its caller."""


class WaitTimeout(AssertionError, TimeoutError):
    """A wait helper gave up; the message lists what the server saw instead."""


class HtmlParseError(ValueError):
    """Text sent with parse_mode=HTML that Telegram would refuse to parse."""


class _ClientGone(Exception):
    """The client closed the connection while its call waited (an abandoned long poll)."""


class _ApiError(Exception):
    """Raised inside a method implementation to answer with a Telegram error."""

    def __init__(self, status: int, description: str, parameters: JsonDict | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """A file part of a multipart request."""

    filename: str
    content_type: str
    data: bytes = field(repr=False)


@dataclass(slots=True)
class Fault:
    """One injected failure for a method; see :meth:`FakeTelegram.inject_fault`."""

    status: int | None
    body: Mapping[str, Any] | str | bytes | None
    delay: float | None
    drop: bool
    remaining: int | None
    when: Callable[[JsonDict], bool] | None = None


@dataclass(slots=True)
class ApiCall:
    """One request the bot made, as the server decoded and answered it."""

    method: str
    params: JsonDict
    time: float  # time.monotonic() when the request arrived
    status: int = 0  # HTTP status answered; 0 when the connection was dropped
    result: Any = None  # "result" of a 200 answer, else the error description
    files: dict[str, UploadedFile] = field(default_factory=dict)  # attach:// uploads
    fault: Fault | None = None

    @property
    def ok(self) -> bool:
        return self.status == HTTPStatus.OK


# --------------------------------------------------------------------------------------
# The specification
# --------------------------------------------------------------------------------------

_ARRAY_PREFIX: Final = "Array of "
_DISCRIMINATOR_FIELDS: Final = ("type", "status", "source")
_DISCRIMINATOR_VALUE: Final = re.compile(r"(?:always|must be)\s+[\"“]?([a-z_]+)", re.IGNORECASE)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_PRIMITIVE_CHECKS: Final[Mapping[str, Callable[[object], bool]]] = {
    "String": lambda v: isinstance(v, str),
    "Integer": _is_int,
    "Float": lambda v: _is_int(v) or isinstance(v, float),
    "Boolean": lambda v: isinstance(v, bool),
    # Uploaded as a multipart part, or referenced as attach://<part>.
    "InputFile": lambda v: (
        isinstance(v, UploadedFile) or (isinstance(v, str) and v.startswith("attach://"))
    ),
}


def _describe(value: object) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


@dataclass(frozen=True, slots=True)
class SpecField:
    """A method parameter or a type field of the specification."""

    name: str
    types: tuple[str, ...]
    required: bool


class BotApiSpec:
    """The machine-readable Bot API reference, with checks for calls and objects."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.version: str = str(raw.get("version", "unknown version"))
        methods: Mapping[str, Any] = raw["methods"]
        types: Mapping[str, Any] = raw["types"]
        self._method_fields = {name: _fields_of(entry) for name, entry in methods.items()}
        self._method_returns = {
            name: tuple(entry.get("returns", ())) for name, entry in methods.items()
        }
        self._canonical = {name.lower(): name for name in methods}
        self._type_fields = {name: _fields_of(entry) for name, entry in types.items()}
        self._subtypes = {
            name: tuple(entry["subtypes"]) for name, entry in types.items() if entry.get("subtypes")
        }
        self._discriminators = {
            name: found
            for name in self._subtypes
            if (found := self._find_discriminator(types, name)) is not None
        }

    @classmethod
    def load(cls, path: Path | str = DEFAULT_SPEC_PATH) -> BotApiSpec:
        """Loads (once per path) the spec JSON."""
        return _load_spec(str(Path(path).resolve()))

    # -- lookups ---------------------------------------------------------------------

    def canonical_method(self, name: str) -> str | None:
        """The spec's spelling of a method name (Telegram ignores case), or None."""
        return self._canonical.get(name.lower())

    def method_fields(self, method: str) -> Mapping[str, SpecField]:
        return self._method_fields[method]

    def returns(self, method: str) -> tuple[str, ...]:
        return self._method_returns[method]

    def update_kinds(self) -> frozenset[str]:
        """Names of the optional Update fields, i.e. the update types."""
        return frozenset(self._type_fields["Update"]) - {"update_id"}

    def subtype_for(self, supertype: str, discriminator_value: str) -> str:
        """The subtype of a union type with the given ``type``/``status``/``source`` value."""
        _, by_value = self._discriminators[supertype]
        return by_value[discriminator_value][0]

    def defaults(self, type_name: str, **fields: Any) -> JsonDict:
        """An object of ``type_name`` with the given fields and neutral required ones."""
        obj: JsonDict = {}
        for spec_field in self._type_fields[type_name].values():
            if spec_field.required and spec_field.name not in fields:
                obj[spec_field.name] = self._default_value(spec_field.types[0])
        obj.update(fields)
        return obj

    def _default_value(self, type_name: str) -> Any:
        neutral: Mapping[str, Any] = {"String": "", "Integer": 0, "Float": 0.0, "Boolean": False}
        if type_name in neutral:
            return neutral[type_name]
        if type_name.startswith(_ARRAY_PREFIX):
            return []
        if type_name in self._subtypes:
            raise FakeSpecError(f"no neutral value for the union type {type_name}")
        return self.defaults(type_name)

    # -- decoding --------------------------------------------------------------------

    def decode_param(self, method: str, name: str, raw: str) -> Any:
        """Turns a form value into a Python value using the parameter's documented types.

        PTB sends string values raw and everything else JSON-encoded, so a value is
        JSON-decoded only when the parameter can be something other than a string, and only
        kept decoded when the result has a documented shape (``chat_id="123"`` becomes 123,
        ``chat_id="@channel"`` stays a string).
        """
        spec_field = self._method_fields.get(method, {}).get(name)
        if spec_field is None or all(t in ("String", "InputFile") for t in spec_field.types):
            return raw
        try:
            decoded = json.loads(raw)
        except ValueError:
            return raw
        if any(self._shape_matches(t, decoded) for t in spec_field.types):
            return decoded
        return raw

    # -- checking --------------------------------------------------------------------

    def check_call(self, method: str, params: Mapping[str, Any]) -> list[str]:
        """Problems with a call of ``method`` (which must be a spec name) with ``params``."""
        fields = self._method_fields[method]
        problems = [
            f"{method}: missing required parameter {name!r}"
            for name, spec_field in fields.items()
            if spec_field.required and name not in params
        ]
        for name, value in params.items():
            spec_field = fields.get(name)
            if spec_field is None:
                problems.append(f"{method}: unknown parameter {name!r}")
            else:
                problems.extend(self.check_types(spec_field.types, value, f"{method}.{name}"))
        return problems

    def check_object(self, type_name: str, value: Any, path: str | None = None) -> list[str]:
        """Problems with ``value`` as an object of ``type_name``, checked recursively."""
        return self._check_type(type_name, value, path or type_name)

    def check_types(self, types: Sequence[str], value: Any, path: str) -> list[str]:
        """Problems with ``value`` as any one of ``types`` (a union such as Integer or String)."""
        if len(types) == 1:
            return self._check_type(types[0], value, path)
        attempts: list[tuple[str, list[str]]] = []
        for type_name in types:
            errors = self._check_type(type_name, value, path)
            if not errors:
                return []
            attempts.append((type_name, errors))
        # Report the errors of the one alternative the value was evidently meant to be.
        shaped = [(name, errors) for name, errors in attempts if self._shape_matches(name, value)]
        if len(shaped) > 1 and isinstance(value, dict):
            # Several object types: the one that declares most of the value's keys is meant.
            scores = [
                len(value.keys() & self._type_fields.get(name, {}).keys()) for name, _ in shaped
            ]
            best = max(scores)
            shaped = [pair for pair, score in zip(shaped, scores, strict=True) if score == best]
        if len(shaped) == 1:
            return shaped[0][1]
        details = "; ".join(f"as {type_name}: {errors[0]}" for type_name, errors in attempts)
        return [f"{path}: {_describe(value)} is none of {' | '.join(types)} ({details})"]

    def _check_type(self, type_name: str, value: Any, path: str) -> list[str]:
        if type_name.startswith(_ARRAY_PREFIX):
            if not isinstance(value, list):
                return [f"{path}: expected {type_name}, got {_describe(value)}"]
            inner = type_name.removeprefix(_ARRAY_PREFIX)
            errors: list[str] = []
            for index, item in enumerate(value):
                errors.extend(self._check_type(inner, item, f"{path}[{index}]"))
            return errors
        primitive = _PRIMITIVE_CHECKS.get(type_name)
        if primitive is not None:
            return (
                []
                if primitive(value)
                else [f"{path}: expected {type_name}, got {_describe(value)}"]
            )
        if type_name in self._subtypes:
            return self._check_union(type_name, value, path)
        fields = self._type_fields.get(type_name)
        if fields is None:
            return [f"{path}: the spec has no type {type_name!r}"]
        if not isinstance(value, dict):
            return [f"{path}: expected a {type_name} object, got {_describe(value)}"]
        errors = [
            f"{path}: {type_name} lacks required field {name!r}"
            for name, spec_field in fields.items()
            if spec_field.required and name not in value
        ]
        for key, item in value.items():
            spec_field = fields.get(key)
            if spec_field is None:
                errors.append(f"{path}: {type_name} has no field {key!r}")
            else:
                errors.extend(self.check_types(spec_field.types, item, f"{path}.{key}"))
        return errors

    def _check_union(self, type_name: str, value: Any, path: str) -> list[str]:
        discriminator = self._discriminators.get(type_name)
        if discriminator is not None and isinstance(value, dict):
            key, by_value = discriminator
            if key not in value:
                return [f"{path}: {type_name} lacks required field {key!r}"]
            candidates = by_value.get(value[key])
            if candidates is None:
                known = ", ".join(sorted(by_value))
                return [f"{path}: {key}={value[key]!r} is no kind of {type_name} ({known})"]
            return self.check_types(candidates, value, path)
        return self.check_types(self._subtypes[type_name], value, path)

    def _shape_matches(self, type_name: str, value: Any) -> bool:
        if type_name.startswith(_ARRAY_PREFIX):
            return isinstance(value, list)
        primitive = _PRIMITIVE_CHECKS.get(type_name)
        if primitive is not None:
            return primitive(value)
        return isinstance(value, dict)

    def _find_discriminator(
        self, types: Mapping[str, Any], supertype: str
    ) -> tuple[str, dict[str, tuple[str, ...]]] | None:
        """The field (type/status/source) whose documented constant tells the subtypes apart."""
        key: str | None = None
        by_value: dict[str, list[str]] = {}
        for subtype in self._subtypes[supertype]:
            entry = types.get(subtype)
            if entry is None:  # a primitive alternative such as String: no discriminator
                return None
            found = next(
                (
                    (spec_field["name"], match.group(1))
                    for spec_field in entry.get("fields", [])
                    if spec_field["name"] in _DISCRIMINATOR_FIELDS
                    and (match := _DISCRIMINATOR_VALUE.search(spec_field["description"]))
                ),
                None,
            )
            if found is None or (key is not None and found[0] != key):
                return None
            key = found[0]
            by_value.setdefault(found[1], []).append(subtype)
        if key is None:
            return None
        return key, {value: tuple(subtypes) for value, subtypes in by_value.items()}


def _fields_of(entry: Mapping[str, Any]) -> dict[str, SpecField]:
    return {
        spec_field["name"]: SpecField(
            spec_field["name"], tuple(spec_field["types"]), bool(spec_field["required"])
        )
        for spec_field in entry.get("fields", [])
    }


@functools.cache
def _load_spec(path: str) -> BotApiSpec:
    return BotApiSpec(json.loads(Path(path).read_text(encoding="utf-8")))


# --------------------------------------------------------------------------------------
# Text: Telegram's HTML dialect and automatic entities
# --------------------------------------------------------------------------------------

_HTML_TAGS: Final = frozenset(
    {
        "a",
        "b",
        "blockquote",
        "code",
        "del",
        "em",
        "i",
        "ins",
        "pre",
        "s",
        "span",
        "strike",
        "strong",
        "tg-emoji",
        "tg-spoiler",
        "u",
    }
)
_HTML_ENTITY: Final = re.compile(r"&(?:(lt|gt|amp|quot)|#(\d+)|#x([0-9a-fA-F]+));")
_HTML_NAMED: Final[Mapping[str, str]] = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HTML_TAG_NAME: Final = re.compile(r"[a-zA-Z][a-zA-Z0-9-]*")
_HTML_SPECIAL: Final = re.compile(r"[<&]")


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _tag_end(text: str, start: int) -> int:
    """Index of the ``>`` closing the tag opened at ``start`` (quotes respected), or -1."""
    quote = ""
    for index in range(start + 1, len(text)):
        char = text[index]
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == ">":
            return index
    return -1


def html_to_text(html: str) -> str:
    """The plain text of a parse_mode=HTML message, or HtmlParseError where Telegram refuses.

    Telegram supports only a handful of tags (no ``<br>``, no ``<p>``), requires them to be
    balanced, and requires a literal ``<`` to be written ``&lt;``; named entities other than
    lt/gt/amp/quot are left as they are.
    """
    out: list[str] = []
    open_tags: list[str] = []
    index = 0
    while index < len(html):
        special = _HTML_SPECIAL.search(html, index)
        if special is None:
            out.append(html[index:])
            break
        out.append(html[index : special.start()])
        index = special.start()
        if html[index] == "&":
            entity = _HTML_ENTITY.match(html, index)
            if entity is None:
                out.append("&")
                index += 1
                continue
            named, decimal, hexadecimal = entity.groups()
            if named:
                out.append(_HTML_NAMED[named])
            else:
                out.append(chr(int(decimal) if decimal else int(hexadecimal, 16)))
            index = entity.end()
            continue
        end = _tag_end(html, index)
        if end < 0:
            raise HtmlParseError(f"Unclosed start tag at byte offset {_byte_offset(html, index)}")
        body = html[index + 1 : end]
        if body.startswith("/"):
            name = body[1:].strip().lower()
            if not open_tags:
                raise HtmlParseError(
                    f'Unexpected end tag "{name}" at byte offset {_byte_offset(html, index)}'
                )
            if name != open_tags[-1]:
                raise HtmlParseError(
                    f'Can\'t find end tag corresponding to start tag "{open_tags[-1]}"'
                )
            open_tags.pop()
        else:
            match = _HTML_TAG_NAME.match(body)
            name = match.group(0).lower() if match else ""
            if name not in _HTML_TAGS:
                raise HtmlParseError(
                    f'Unsupported start tag "{name}" at byte offset {_byte_offset(html, index)}'
                )
            if name == "span" and "tg-spoiler" not in body:
                raise HtmlParseError('Tag "span" must have class "tg-spoiler"')
            open_tags.append(name)
        index = end + 1
    if open_tags:
        raise HtmlParseError(f'Can\'t find end tag corresponding to start tag "{open_tags[-1]}"')
    return "".join(out)


_COMMAND: Final = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{1,32})?(?![A-Za-z0-9_@])")
_MENTION: Final = re.compile(r"(?<![A-Za-z0-9_@/])@[A-Za-z0-9_]{5,32}(?![A-Za-z0-9_])")
_URL: Final = re.compile(r"https?://[^\s<>\"']+")
_URL_TRAILING: Final = ".,;:!?)]}'\""


def _utf16_length(text: str) -> int:
    # Telegram measures entity offsets and lengths in UTF-16 code units.
    return len(text.encode("utf-16-le")) // 2


def _detect_entities(text: str) -> list[JsonDict]:
    """The entities Telegram adds by itself: bot commands, @mentions and URLs."""
    spans: list[tuple[int, int, str]] = []
    for kind, pattern in (("bot_command", _COMMAND), ("mention", _MENTION), ("url", _URL)):
        for match in pattern.finditer(text):
            end = match.end()
            if kind == "url":
                end -= len(match.group(0)) - len(match.group(0).rstrip(_URL_TRAILING))
            if not any(start < end and match.start() < stop for start, stop, _ in spans):
                spans.append((match.start(), end, kind))
    return [
        {
            "type": kind,
            "offset": _utf16_length(text[:start]),
            "length": _utf16_length(text[start:end]),
        }
        for start, end, kind in sorted(spans)
    ]


def _without_reply(message: JsonDict) -> JsonDict:
    # Telegram never nests reply_to_message inside reply_to_message.
    return {key: value for key, value in message.items() if key != "reply_to_message"}


def _error_response(
    status: int, description: str, parameters: Mapping[str, Any] | None = None
) -> web.Response:
    body: JsonDict = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = dict(parameters)
    return web.json_response(body, status=status)


def _dangling_attachments(
    method: str, params: Mapping[str, Any], files: Mapping[str, UploadedFile]
) -> list[str]:
    """attach://name references without a multipart part called name."""
    problems: list[str] = []
    pending: list[Any] = list(params.values())
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str) and value.startswith("attach://"):
            name = value.removeprefix("attach://")
            if name not in files and not isinstance(params.get(name), UploadedFile):
                problems.append(f"{method}: {value} names no uploaded file")
    return problems


def _language_code(params: Mapping[str, Any]) -> str:
    """The language_code of a bot setting, "" for every language; refused like Telegram does."""
    code = params.get("language_code", "")
    if code and not LANGUAGE_CODE.fullmatch(code):
        raise _ApiError(400, INVALID_LANGUAGE_CODE)
    return str(code)


def _has_button(markup: object, data: str) -> bool:
    if not isinstance(markup, dict):
        return False
    rows = markup.get("inline_keyboard", [])
    return any(button.get("callback_data") == data for row in rows for button in row)


@dataclass(frozen=True, slots=True)
class _Queued:
    update_id: int
    kind: str
    update: JsonDict


# Message fields that make it a service message, which privacy mode does not hide.
_SERVICE_FIELDS: Final = frozenset(
    {
        "new_chat_members",
        "left_chat_member",
        "new_chat_title",
        "new_chat_photo",
        "delete_chat_photo",
        "group_chat_created",
        "supergroup_chat_created",
        "migrate_to_chat_id",
        "migrate_from_chat_id",
        "pinned_message",
    }
)
_MESSAGE_RETURNS: Final = frozenset(
    {("Message",), ("Array of Message",), ("MessageId",), ("Array of MessageId",)}
)
_PATH: Final = re.compile(r"/bot([^/]+)/([^/]+)")


# --------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------


class FakeTelegram:
    """A fake Bot API server on 127.0.0.1 with helpers to play the users' side.

    Objects handed to and returned by the helpers are plain JSON dicts, shaped exactly as
    Telegram sends them; treat them as read-only snapshots.
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        bot_username: str = DEFAULT_BOT_USERNAME,
        bot_id: int | None = None,
        *,
        bot_first_name: str = "Talks Test Bot",
        spec_path: Path | str | None = None,
        first_update_id: int = 10_000,
        privacy_mode: bool = False,
        supports_inline_queries: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Sets up the fake; nothing listens until :meth:`start`.

        ``bot_id`` defaults to the number before the colon of ``token``, as with real
        tokens. ``privacy_mode=True`` makes group messages that are not commands, mentions
        of the bot, replies to the bot or service messages invisible to the bot, as Telegram
        does for bots with privacy mode on; it is off by default so that tests exercise the
        bot's own decision to stay quiet. ``clock`` supplies message dates (Unix seconds).
        """
        self.token = token
        self.bot_username = bot_username
        self.bot_id = bot_id if bot_id is not None else int(token.split(":", 1)[0])
        self.bot_first_name = bot_first_name
        self.privacy_mode = privacy_mode
        self.supports_inline_queries = supports_inline_queries
        self.spec = BotApiSpec.load(spec_path or DEFAULT_SPEC_PATH)
        self._clock = clock

        self.calls: list[ApiCall] = []
        self.violations: list[str] = []
        self.webhook: JsonDict | None = None
        self.commands: dict[tuple[str, str], list[JsonDict]] = {}
        self.descriptions: dict[str, str] = {}
        self.short_descriptions: dict[str, str] = {}
        self.names: dict[str, str] = {}
        self.callback_answers: dict[str, JsonDict] = {}
        self.inline_answers: dict[str, JsonDict] = {}
        self.inline_messages: dict[str, JsonDict] = {}

        self._update_kinds = self.spec.update_kinds()
        self._allowed_updates = self._update_kinds - NOT_DELIVERED_BY_DEFAULT
        self._updates: deque[_Queued] = deque()
        self._next_update_id = first_update_id
        self._chats: dict[int, JsonDict] = {}
        self._users: dict[int, JsonDict] = {}
        self._messages: dict[tuple[int, int], JsonDict] = {}
        self._next_message_id: dict[int, int] = {}
        self._bot_message_ids: dict[int, dict[int, None]] = {}
        self._member_status: dict[tuple[int, int], str] = {}
        self._open_callback_queries: set[str] = set()
        self._open_inline_queries: set[str] = set()
        self._ids = itertools.count(1)
        self._faults: dict[str, deque[Fault]] = {}

        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._changed = asyncio.Event()
        self._stop_requested = asyncio.Event()
        self._poll_waiter: asyncio.Future[str] | None = None
        self._handlers: dict[str, Callable[[JsonDict], Any]] = {
            "getMe": self._get_me,
            "deleteWebhook": self._delete_webhook,
            "setWebhook": self._set_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "answerInlineQuery": self._answer_inline_query,
            "sendChatAction": self._send_chat_action,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "setMyDescription": self._set_my_description,
            "getMyDescription": self._get_my_description,
            "setMyShortDescription": self._set_my_short_description,
            "getMyShortDescription": self._get_my_short_description,
            "setMyName": self._set_my_name,
            "getMyName": self._get_my_name,
            "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
            "getChatAdministrators": self._get_chat_administrators,
            "close": lambda params: True,
            "logOut": lambda params: True,
        }

    # -- lifecycle -------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._runner is not None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the fake Telegram server has not been started")
        return self._port

    @property
    def base_url(self) -> str:
        """For ``ApplicationBuilder().base_url()``: PTB appends ``{token}/{method}``."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """For ``ApplicationBuilder().base_file_url()``; file downloads answer 404."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    async def start(self) -> None:
        """Listens on 127.0.0.1; the port is ephemeral the first time and reused after."""
        if self._runner is not None:
            raise RuntimeError("the fake Telegram server is already running")
        self._stop_requested = asyncio.Event()
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self._port or 0, reuse_address=True)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._port = runner.addresses[0][1]
        self._runner = runner

    async def stop(self) -> None:
        """Stops listening; waiting getUpdates calls return [] first. State is kept."""
        runner = self._runner
        if runner is None:
            return
        self._runner = None
        self._stop_requested.set()
        self._wake_poller("stop")
        await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    def assert_no_violations(self) -> None:
        """Fails with the list of spec violations the server saw, if any."""
        if self.violations:
            listing = "\n".join(f"  - {violation}" for violation in self.violations)
            raise AssertionError(f"the bot broke the Bot API spec:\n{listing}")

    # -- fault injection -------------------------------------------------------------

    def inject_fault(
        self,
        method: str,
        *,
        status: int | None = None,
        body: Mapping[str, Any] | str | bytes | None = None,
        description: str | None = None,
        retry_after: int | None = None,
        delay: float | None = None,
        drop: bool = False,
        times: int | None = 1,
        when: Callable[[JsonDict], bool] | None = None,
    ) -> Fault:
        """Makes the next ``times`` calls of ``method`` (``"*"``: any method) fail.

        Faults of a method are used in the order they were injected. The answer is a
        Telegram error JSON with ``status`` (default 500, or 429 when ``retry_after`` is
        given, which also adds ``parameters.retry_after``); ``body`` replaces the JSON
        (a str/bytes body is sent as is, e.g. an HTML error page). ``delay`` sleeps before
        answering; a fault with only ``delay`` then answers normally - the call takes
        effect, as when a slow Telegram answers after the client timed out. ``drop``
        closes the connection without an answer and without performing the call.
        ``times=None`` keeps the fault until :meth:`clear_faults`. ``when`` limits the fault
        to calls whose decoded parameters it accepts (e.g. getUpdates confirming an offset);
        other calls pass it by and take the next fault of the method, if any.
        """
        key = "*" if method == "*" else self.spec.canonical_method(method)
        if key is None:
            raise ValueError(f"{method!r} is not a Bot API method")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1 (or None for unlimited)")
        answers_error = (
            status is not None
            or body is not None
            or description is not None
            or retry_after is not None
            or (delay is None and not drop)  # a bare inject_fault(method) is a 500
        )
        if answers_error:
            if status is None:
                status = HTTPStatus.TOO_MANY_REQUESTS if retry_after is not None else 500
            status = int(status)
            if body is None:
                if description is None and retry_after is not None:
                    description = f"Too Many Requests: retry after {retry_after}"
                if description is None:
                    description = DEFAULT_FAULT_DESCRIPTIONS.get(status, HTTPStatus(status).phrase)
                error: JsonDict = {"ok": False, "error_code": status, "description": description}
                if retry_after is not None:
                    error["parameters"] = {"retry_after": retry_after}
                body = error
        fault = Fault(status=status, body=body, delay=delay, drop=drop, remaining=times, when=when)
        self._faults.setdefault(key, deque()).append(fault)
        return fault

    def clear_faults(self) -> None:
        """Removes every pending injected fault."""
        self._faults.clear()

    def _take_fault(self, method: str, params: JsonDict) -> Fault | None:
        for key in (method, "*"):
            queue = self._faults.get(key, deque())
            fault = next((f for f in queue if f.when is None or f.when(params)), None)
            if fault is not None:
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        queue.remove(fault)
                return fault
        return None

    # -- test-side: chats and users --------------------------------------------------

    @property
    def bot_user(self) -> JsonDict:
        """The bot as a User, as it appears in messages it sends."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    def user(
        self,
        user_id: int,
        first_name: str = "Test",
        username: str | None = None,
        *,
        last_name: str | None = None,
        language_code: str | None = None,
    ) -> JsonDict:
        """A (human) User, remembered so that getChatMember knows it."""
        user: JsonDict = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name is not None:
            user["last_name"] = last_name
        if username is not None:
            user["username"] = username
        if language_code is not None:
            user["language_code"] = language_code
        self._check("User", user)
        self._users[user_id] = user
        return copy.deepcopy(user)

    def private_chat(
        self, user_id: int, first_name: str = "Test", username: str | None = None
    ) -> JsonDict:
        """The private chat between the bot and the user ``user_id``."""
        if user_id <= 0:
            raise ValueError("private chats have the (positive) id of the user")
        chat: JsonDict = {"id": user_id, "type": "private", "first_name": first_name}
        if username is not None:
            chat["username"] = username
        return self._register_chat(chat)

    def group_chat(self, chat_id: int, title: str, type: str = "group") -> JsonDict:
        """A group or supergroup; Telegram's group ids are negative."""
        if type not in ("group", "supergroup"):
            raise ValueError("type must be 'group' or 'supergroup'")
        if chat_id >= 0:
            raise ValueError("group chat ids are negative")
        return self._register_chat({"id": chat_id, "type": type, "title": title})

    def channel(self, chat_id: int, title: str, username: str | None = None) -> JsonDict:
        """A channel; Telegram's channel ids are negative."""
        if chat_id >= 0:
            raise ValueError("channel ids are negative")
        chat: JsonDict = {"id": chat_id, "type": "channel", "title": title}
        if username is not None:
            chat["username"] = username
        return self._register_chat(chat)

    def set_member_status(self, chat: JsonDict, user: JsonDict, status: str) -> None:
        """What getChatMember answers for ``user`` in ``chat`` (e.g. "administrator")."""
        self.spec.subtype_for("ChatMember", status)  # rejects unknown statuses
        self._member_status[(chat["id"], user["id"])] = status

    # -- test-side: updates ----------------------------------------------------------

    def send_text(
        self,
        chat: JsonDict,
        user: JsonDict,
        text: str,
        reply_to: JsonDict | None = None,
        entities: list[JsonDict] | None = None,
    ) -> JsonDict:
        """``user`` writes ``text`` in ``chat``; entities are detected unless given."""
        fields = self._text_fields(text, entities)
        if reply_to is not None:
            fields["reply_to_message"] = self._reply_snapshot(chat, reply_to)
        return self._push_message("message", self._new_message(chat, user, fields))

    def forward_text(
        self, chat: JsonDict, user: JsonDict, text: str, original_sender: JsonDict
    ) -> JsonDict:
        """``user`` forwards into ``chat`` a text that ``original_sender`` wrote earlier."""
        fields = self._text_fields(text, None)
        fields["forward_origin"] = {
            "type": "user",
            "date": self._now() - 60,
            "sender_user": original_sender,
        }
        return self._push_message("message", self._new_message(chat, user, fields))

    def edit_text(self, message: JsonDict, new_text: str) -> JsonDict:
        """The author of ``message`` edits its text: an edited_message update."""
        stored = self._stored(message)
        if "text" not in stored:
            raise ValueError("only text messages can be edited with edit_text")
        if stored.get("from", {}).get("id") == self.bot_id:
            raise ValueError("users cannot edit the bot's messages")
        edited = {key: value for key, value in stored.items() if key not in ("text", "entities")}
        edited.update(self._text_fields(new_text, None))
        edited["edit_date"] = self._now()
        kind = "edited_channel_post" if stored["chat"]["type"] == "channel" else "edited_message"
        return self._push_message(kind, edited)

    def edited_channel_post(self, message: JsonDict, new_text: str) -> JsonDict:
        """A channel post is edited: an edited_channel_post update."""
        if message["chat"]["type"] != "channel":
            raise ValueError("edited_channel_post needs a message from a channel")
        return self.edit_text(message, new_text)

    def channel_post(self, chat: JsonDict, text: str) -> JsonDict:
        """A post in a channel the bot administers: a channel_post update."""
        if chat["type"] != "channel":
            raise ValueError("channel_post needs a chat made with channel()")
        fields = self._text_fields(text, None)
        return self._push_message("channel_post", self._new_message(chat, None, fields))

    def send_sticker(self, chat: JsonDict, user: JsonDict, emoji: str = "👍") -> JsonDict:
        """``user`` sends a sticker: a message without text."""
        file_id, unique_id = self._file_ids("sticker")
        sticker: JsonDict = {
            "file_id": file_id,
            "file_unique_id": unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
        }
        return self._push_message("message", self._new_message(chat, user, {"sticker": sticker}))

    def send_photo(self, chat: JsonDict, user: JsonDict, caption: str | None = None) -> JsonDict:
        """``user`` sends a photo (two sizes), optionally with a caption."""
        sizes = []
        for side in (90, 800):
            file_id, unique_id = self._file_ids("photo")
            sizes.append(
                {"file_id": file_id, "file_unique_id": unique_id, "width": side, "height": side}
            )
        fields: JsonDict = {"photo": sizes}
        if caption is not None:
            fields["caption"] = caption
            if entities := _detect_entities(caption):
                fields["caption_entities"] = entities
        return self._push_message("message", self._new_message(chat, user, fields))

    def send_voice(self, chat: JsonDict, user: JsonDict, duration: int = 3) -> JsonDict:
        """``user`` sends a voice note."""
        file_id, unique_id = self._file_ids("voice")
        voice: JsonDict = {
            "file_id": file_id,
            "file_unique_id": unique_id,
            "duration": duration,
            "mime_type": "audio/ogg",
        }
        return self._push_message("message", self._new_message(chat, user, {"voice": voice}))

    def send_poll(
        self,
        chat: JsonDict,
        user: JsonDict,
        question: str = "Which one?",
        options: Sequence[str] = ("Yes", "No"),
    ) -> JsonDict:
        """``user`` posts a poll."""
        poll = self.spec.defaults(
            "Poll",
            id=str(next(self._ids)),
            question=question,
            options=[
                self.spec.defaults("PollOption", persistent_id=str(index), text=text, voter_count=0)
                for index, text in enumerate(options)
            ],
            total_voter_count=0,
            is_closed=False,
            is_anonymous=True,
            type="regular",
            allows_multiple_answers=False,
        )
        return self._push_message("message", self._new_message(chat, user, {"poll": poll}))

    def new_chat_members(
        self, chat: JsonDict, user: JsonDict, members: Iterable[JsonDict]
    ) -> JsonDict:
        """``user`` adds ``members`` to ``chat`` (a service message)."""
        added = list(members)
        for member in added:
            self._member_status[(chat["id"], member["id"])] = "member"
        fields: JsonDict = {"new_chat_members": added}
        return self._push_message("message", self._new_message(chat, user, fields))

    def chat_member_update(
        self,
        chat: JsonDict,
        user: JsonDict,
        member: JsonDict,
        old_status: str = "left",
        new_status: str = "member",
    ) -> JsonDict:
        """``user`` changes ``member``'s status in ``chat``: a chat_member update.

        Telegram sends these only to bots that ask for them in ``allowed_updates``.
        """
        return self._push(
            "chat_member", self._member_change(chat, user, member, old_status, new_status)
        )

    def my_chat_member_update(
        self, chat: JsonDict, user: JsonDict, old_status: str = "left", new_status: str = "member"
    ) -> JsonDict:
        """``user`` changes the bot's status in ``chat``: a my_chat_member update."""
        change = self._member_change(chat, user, self.bot_user, old_status, new_status)
        return self._push("my_chat_member", change)

    def press_button(
        self,
        message: JsonDict | None,
        user: JsonDict,
        data: str,
        *,
        inline_message_id: str | None = None,
    ) -> JsonDict:
        """``user`` presses the inline button with ``callback_data == data``.

        ``message`` is the message carrying the keyboard (any snapshot of it: the current
        version is used); for a message sent via inline mode pass ``None`` and
        ``inline_message_id``. Pressing a button the message does not have is a test error.
        """
        query: JsonDict = {"id": str(next(self._ids)), "from": user}
        if message is not None:
            stored = self._stored(message)
            if not _has_button(stored.get("reply_markup"), data):
                raise ValueError(
                    f"message {stored['message_id']} in chat {stored['chat']['id']} has no "
                    f"button with callback_data {data!r}: {stored.get('reply_markup')}"
                )
            query["message"] = stored
            query["chat_instance"] = f"instance{stored['chat']['id']}"
        elif inline_message_id is not None:
            known = self.inline_messages.get(inline_message_id)
            if known is not None and not _has_button(known.get("reply_markup"), data):
                raise ValueError(f"inline message has no button with callback_data {data!r}")
            query["inline_message_id"] = inline_message_id
            query["chat_instance"] = f"instance{user['id']}"
        else:
            raise ValueError("press_button needs a message or an inline_message_id")
        query["data"] = data
        update = self._push("callback_query", query)
        self._open_callback_queries.add(query["id"])
        return update

    def inline_query(
        self, user: JsonDict, query: str, offset: str = "", chat_type: str | None = None
    ) -> JsonDict:
        """``user`` types ``@bot query`` somewhere: an inline_query update."""
        if not self.supports_inline_queries:
            raise ValueError("inline mode is off for this bot (supports_inline_queries=False)")
        payload: JsonDict = {"id": str(next(self._ids)), "from": user, "query": query}
        payload["offset"] = offset
        if chat_type is not None:
            payload["chat_type"] = chat_type
        update = self._push("inline_query", payload)
        self._open_inline_queries.add(payload["id"])
        return update

    def choose_inline_result(
        self,
        user: JsonDict,
        result_id: str,
        query: str,
        *,
        inline_message_id: str | None = None,
    ) -> JsonDict:
        """``user`` picks an inline result: a chosen_inline_result update."""
        payload: JsonDict = {"result_id": result_id, "from": user, "query": query}
        if inline_message_id is not None:
            payload["inline_message_id"] = inline_message_id
        return self._push("chosen_inline_result", payload)

    def enqueue_update(self, kind: str, payload: JsonDict) -> JsonDict:
        """Queues a hand-made update of ``kind`` (e.g. "poll_answer"), checked against the spec."""
        return self._push(kind, payload)

    # -- test-side: observing --------------------------------------------------------

    def calls_to(self, method: str) -> list[ApiCall]:
        """The recorded calls of ``method`` (any spelling), in arrival order of answers."""
        name = self._known_method(method)
        return [call for call in self.calls if call.method == name]

    async def wait_for_calls(
        self,
        method: str,
        count: int = 1,
        timeout: float = 5.0,
        predicate: Callable[[ApiCall], bool] | None = None,
    ) -> list[ApiCall]:
        """Waits until at least ``count`` answered calls of ``method`` match ``predicate``.

        Returns every matching call so far (earlier ones included; failed ones too - filter
        with ``predicate=lambda call: call.ok`` if needed). Raises :class:`WaitTimeout`
        listing the recent calls and violations.
        """
        name = self._known_method(method)
        matches: list[ApiCall] = []
        scanned = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for call in self.calls[scanned:]:
                if call.method == name and (predicate is None or predicate(call)):
                    matches.append(call)
            scanned = len(self.calls)
            if len(matches) >= count:
                return matches
            if not await self._wait_for_change(deadline - loop.time()):
                raise WaitTimeout(
                    f"waited {timeout}s for {count} {name} call(s), saw {len(matches)}.\n"
                    + self._dump()
                )

    async def wait_until_confirmed(self, timeout: float = 5.0) -> None:
        """Waits until the bot has confirmed (via getUpdates offset) every queued update."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._updates:
            if not await self._wait_for_change(deadline - loop.time()):
                raise WaitTimeout(
                    f"{len(self._updates)} update(s) still unconfirmed after {timeout}s.\n"
                    + self._dump()
                )

    def pending_updates(self) -> int:
        """How many queued updates the bot has not confirmed yet."""
        return len(self._updates)

    def message(self, chat_id: int, message_id: int) -> JsonDict:
        """The current version of a message (user's or bot's)."""
        return copy.deepcopy(self._messages[(chat_id, message_id)])

    def bot_messages(self, chat_id: int) -> list[JsonDict]:
        """Messages the bot sent in ``chat_id``, oldest first, as currently edited."""
        return [
            copy.deepcopy(self._messages[(chat_id, message_id)])
            for message_id in self._bot_message_ids.get(chat_id, {})
        ]

    def bot_texts(self, chat_id: int) -> list[str]:
        """The plain texts (what the user sees) of :meth:`bot_messages`."""
        return [message.get("text", "") for message in self.bot_messages(chat_id)]

    def my_commands(self, scope: JsonDict | None = None, language_code: str = "") -> list[JsonDict]:
        """The command menu set for ``scope`` (default scope if None) and language."""
        return copy.deepcopy(self.commands.get(self._scope_key(scope, language_code), []))

    # -- HTTP ------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        received = time.monotonic()
        match = _PATH.fullmatch(request.path)
        if match is None:
            return _error_response(HTTPStatus.NOT_FOUND, "Not Found")
        token, raw_method = match.groups()
        if token != self.token:
            call = ApiCall(raw_method, {}, received)
            return self._answer_error(call, HTTPStatus.UNAUTHORIZED, "Unauthorized")
        method = self.spec.canonical_method(raw_method)
        if method is None:
            self.violations.append(f"{raw_method}: no such method in {self.spec.version}")
            return self._answer_error(ApiCall(raw_method, {}, received), 404, "Not Found")
        try:
            params, files = await self._read_params(request, method)
        except ValueError as exc:
            self.violations.append(f"{method}: unreadable request body: {exc}")
            call = ApiCall(method, {}, received)
            return self._answer_error(call, 400, f"Bad Request: {exc}")
        call = ApiCall(method, params, received, files=files)
        problems = self.spec.check_call(method, params) + _dangling_attachments(
            method, params, files
        )
        if problems:
            self.violations.extend(problems)
            return self._answer_error(call, 400, "Bad Request: " + "; ".join(problems))

        fault = self._take_fault(method, params)
        if fault is not None:
            call.fault = fault
            stopped = bool(fault.delay) and await self._sleep_unless_stopped(fault.delay or 0)
            if fault.drop or stopped:
                if request.transport is not None:
                    request.transport.close()
                self._finish(call, 0, None)
                return web.Response(status=HTTPStatus.INTERNAL_SERVER_ERROR)
            if fault.status is not None:
                return self._answer_fault(call, fault)

        try:
            result = await self._perform(method, params, request)
        except _ClientGone:
            self._finish(call, 0, "abandoned by the client")
            return web.Response(status=HTTPStatus.INTERNAL_SERVER_ERROR)
        except _ApiError as err:
            return self._answer_error(call, err.status, err.description, err.parameters)
        except Exception as exc:
            # A crash here is a bug in the fake, not the bot's fault; make the test fail
            # loudly at teardown instead of leaving the bot with a puzzling 500.
            self.violations.append(f"{method}: the fake server failed: {exc!r}")
            return self._answer_error(call, 500, "Internal Server Error")
        self._finish(call, HTTPStatus.OK, result)
        return web.json_response({"ok": True, "result": result})

    async def _read_params(
        self, request: web.Request, method: str
    ) -> tuple[JsonDict, dict[str, UploadedFile]]:
        """Decodes query, form, multipart or JSON parameters into Python values."""
        raw: list[tuple[str, Any]] = list(request.query.items())
        if request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                if not isinstance(body, dict):
                    raise ValueError("a JSON body must be an object")
                raw.extend(body.items())
            else:
                form = await request.post()
                for name, value in form.items():
                    if isinstance(value, web.FileField):
                        raw.append(
                            (
                                name,
                                UploadedFile(value.filename, value.content_type, value.file.read()),
                            )
                        )
                    else:
                        raw.append((name, value))
        fields = self.spec.method_fields(method)
        params: JsonDict = {}
        files: dict[str, UploadedFile] = {}
        for name, value in raw:
            if isinstance(value, UploadedFile) and name not in fields:
                files[name] = value  # the target of an attach://name reference
            elif isinstance(value, str):
                params[name] = self.spec.decode_param(method, name, value)
            else:
                params[name] = value
        return params, files

    def _answer_error(
        self,
        call: ApiCall,
        status: int,
        description: str,
        parameters: Mapping[str, Any] | None = None,
    ) -> web.Response:
        self._finish(call, status, description)
        return _error_response(status, description, parameters)

    def _answer_fault(self, call: ApiCall, fault: Fault) -> web.Response:
        status = fault.status or 500
        body = fault.body
        if isinstance(body, Mapping):
            self._finish(call, status, body.get("description"))
            return web.json_response(dict(body), status=status)
        self._finish(call, status, body)
        payload = body.encode() if isinstance(body, str) else (body or b"")
        return web.Response(body=payload, status=status, content_type="text/html")

    def _finish(self, call: ApiCall, status: int, result: Any) -> None:
        call.status = int(status)
        call.result = result
        self.calls.append(call)
        self._notify()

    async def _perform(self, method: str, params: JsonDict, request: web.Request) -> Any:
        if method == "getUpdates":
            # Updates were checked against the spec when they were queued.
            return await self._get_updates(params, request)
        handler = self._handlers.get(method)
        if handler is None:
            return self._generic(method, params)
        result = handler(params)
        problems = self.spec.check_types(self.spec.returns(method), result, f"{method} result")
        if problems:
            raise FakeSpecError("; ".join(problems))
        return result

    async def _sleep_unless_stopped(self, seconds: float) -> bool:
        """Sleeps; True if the server was stopped meanwhile."""
        stop = self._stop_requested
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
        return stop.is_set()

    # -- getUpdates ------------------------------------------------------------------

    async def _get_updates(self, params: JsonDict, request: web.Request) -> list[JsonDict]:
        if self.webhook is not None:
            raise _ApiError(HTTPStatus.CONFLICT, WEBHOOK_CONFLICT)
        if "allowed_updates" in params:
            wanted = frozenset(params["allowed_updates"]) & self._update_kinds
            self._allowed_updates = wanted or self._update_kinds - NOT_DELIVERED_BY_DEFAULT
        self._confirm(int(params.get("offset", 0)))
        limit = min(max(int(params.get("limit", 100)), 1), 100)
        timeout = max(float(params.get("timeout", 0)), 0.0)
        # Telegram lets only one getUpdates wait: a newer one ends the older with 409.
        self._wake_poller("conflict")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._stop_requested.is_set():
                return []
            batch = self._collect(limit)
            remaining = deadline - loop.time()
            if batch or remaining <= 0:
                return batch
            waiter: asyncio.Future[str] = loop.create_future()
            self._poll_waiter = waiter
            try:
                await asyncio.wait((waiter,), timeout=remaining)
            finally:
                if self._poll_waiter is waiter:
                    self._poll_waiter = None
            # PTB's Updater.stop() abandons its long poll (and then polls once more, which
            # would end this one with 409): record that as abandoned, not as an answer.
            if request.transport is None or request.transport.is_closing():
                raise _ClientGone
            if waiter.done() and waiter.result() == "conflict":
                raise _ApiError(HTTPStatus.CONFLICT, POLL_CONFLICT)

    def _confirm(self, offset: int) -> None:
        updates = self._updates
        before = len(updates)
        if offset > 0:
            while updates and updates[0].update_id < offset:
                updates.popleft()
        elif offset < 0:
            while len(updates) > -offset:
                updates.popleft()
        if len(updates) != before:
            self._notify()

    def _collect(self, limit: int) -> list[JsonDict]:
        updates, allowed = self._updates, self._allowed_updates
        # Updates the bot does not want are never delivered: forget them once they lead.
        if updates and updates[0].kind not in allowed:
            while updates and updates[0].kind not in allowed:
                updates.popleft()
            self._notify()
        batch: list[JsonDict] = []
        for queued in updates:
            if queued.kind in allowed:
                batch.append(queued.update)
                if len(batch) >= limit:
                    break
        return batch

    def _wake_poller(self, reason: str) -> None:
        waiter = self._poll_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(reason)

    # -- method implementations ------------------------------------------------------

    def _get_me(self, params: JsonDict) -> JsonDict:
        return self.spec.defaults(
            "User",
            **self.bot_user,
            can_join_groups=True,
            can_read_all_group_messages=not self.privacy_mode,
            supports_inline_queries=self.supports_inline_queries,
            can_connect_to_business=False,
            has_main_web_app=False,
        )

    def _delete_webhook(self, params: JsonDict) -> bool:
        if params.get("drop_pending_updates"):
            self._drop_pending()
        self.webhook = None
        return True

    def _set_webhook(self, params: JsonDict) -> bool:
        url = params["url"]
        if url and not url.startswith("https://"):
            raise _ApiError(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        if params.get("drop_pending_updates"):
            self._drop_pending()
        if "allowed_updates" in params:
            wanted = frozenset(params["allowed_updates"]) & self._update_kinds
            self._allowed_updates = wanted or self._update_kinds - NOT_DELIVERED_BY_DEFAULT
        # Updates are not pushed to the webhook; tests inspect this record instead.
        self.webhook = dict(params) if url else None
        return True

    def _get_webhook_info(self, params: JsonDict) -> JsonDict:
        webhook = self.webhook or {}
        info: JsonDict = {
            "url": webhook.get("url", ""),
            "has_custom_certificate": "certificate" in webhook,
            "pending_update_count": len(self._updates),
        }
        if "max_connections" in webhook:
            info["max_connections"] = webhook["max_connections"]
        if webhook:
            info["allowed_updates"] = sorted(self._allowed_updates)
        return info

    def _send_message(self, params: JsonDict) -> JsonDict:
        chat = self._resolve_chat(params["chat_id"])
        fields: JsonDict = {"text": self._render_text(params["text"], params.get("parse_mode"))}
        reply = params.get("reply_parameters")
        if reply is not None:
            target = self._reply_target(chat, reply)
            if target is not None:
                fields["reply_to_message"] = target
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            fields["reply_markup"] = markup
        return self._new_bot_message(chat, fields)

    def _edit_message_text(self, params: JsonDict) -> JsonDict | bool:
        if "text" not in params:
            raise _ApiError(400, "Bad Request: text must be non-empty")
        text = self._render_text(params["text"], params.get("parse_mode"))
        # Telegram drops the inline keyboard when an edit does not repeat it.
        markup = params.get("reply_markup")
        if "inline_message_id" in params:
            inline: JsonDict = {"text": text}
            if markup:
                inline["reply_markup"] = markup
            self.inline_messages[params["inline_message_id"]] = inline
            return True
        stored = self._editable_message(params)
        if "text" not in stored:
            raise _ApiError(400, "Bad Request: there is no text in the message to edit")
        if stored["text"] == text and stored.get("reply_markup") == markup:
            raise _ApiError(400, NOT_MODIFIED)
        edited = {key: value for key, value in stored.items() if key != "reply_markup"}
        edited.update(text=text, edit_date=self._now())
        if markup:
            edited["reply_markup"] = markup
        self._store(edited)
        return edited

    def _edit_message_reply_markup(self, params: JsonDict) -> JsonDict | bool:
        markup = params.get("reply_markup")
        if "inline_message_id" in params:
            inline = self.inline_messages.setdefault(params["inline_message_id"], {})
            inline.pop("reply_markup", None)
            if markup:
                inline["reply_markup"] = markup
            return True
        stored = self._editable_message(params)
        if stored.get("reply_markup") == markup:
            raise _ApiError(400, NOT_MODIFIED)
        edited = {key: value for key, value in stored.items() if key != "reply_markup"}
        edited["edit_date"] = self._now()
        if markup:
            edited["reply_markup"] = markup
        self._store(edited)
        return edited

    def _delete_message(self, params: JsonDict) -> bool:
        chat = self._resolve_chat(params["chat_id"])
        key = (chat["id"], params["message_id"])
        if key not in self._messages:
            raise _ApiError(400, "Bad Request: message to delete not found")
        del self._messages[key]
        self._bot_message_ids.get(chat["id"], {}).pop(params["message_id"], None)
        return True

    def _answer_callback_query(self, params: JsonDict) -> bool:
        query_id = params["callback_query_id"]
        if query_id not in self._open_callback_queries:
            raise _ApiError(400, QUERY_INVALID)
        if len(params.get("text", "")) > MAX_CALLBACK_ANSWER_LENGTH:
            raise _ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        self._open_callback_queries.discard(query_id)
        self.callback_answers[query_id] = params
        return True

    def _answer_inline_query(self, params: JsonDict) -> bool:
        query_id = params["inline_query_id"]
        if query_id not in self._open_inline_queries:
            raise _ApiError(400, QUERY_INVALID)
        results = params["results"]
        if len(results) > MAX_INLINE_RESULTS:
            raise _ApiError(400, "Bad Request: RESULTS_TOO_MUCH")
        ids = [result.get("id") for result in results]
        if len(set(ids)) != len(ids):
            raise _ApiError(400, "Bad Request: RESULT_ID_DUPLICATE")
        self._open_inline_queries.discard(query_id)
        self.inline_answers[query_id] = params
        return True

    def _send_chat_action(self, params: JsonDict) -> bool:
        self._resolve_chat(params["chat_id"])
        if params["action"] not in CHAT_ACTIONS:
            raise _ApiError(400, "Bad Request: wrong parameter action in request")
        return True

    def _set_my_commands(self, params: JsonDict) -> bool:
        commands = params["commands"]
        if len(commands) > MAX_COMMANDS:
            raise _ApiError(400, "Bad Request: too many commands")
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", command["command"]):
                raise _ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(command["description"]) <= 256:
                raise _ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._scope_key(params.get("scope"), _language_code(params))
        self.commands[key] = [
            {"command": command["command"], "description": command["description"]}
            for command in commands
        ]
        return True

    def _get_my_commands(self, params: JsonDict) -> list[JsonDict]:
        key = self._scope_key(params.get("scope"), _language_code(params))
        return list(self.commands.get(key, []))

    def _delete_my_commands(self, params: JsonDict) -> bool:
        key = self._scope_key(params.get("scope"), _language_code(params))
        self.commands.pop(key, None)
        return True

    def _set_text_setting(
        self, store: dict[str, str], params: JsonDict, name: str, limit: int
    ) -> bool:
        value = params.get(name, "")
        if len(value) > limit:
            raise _ApiError(400, f"Bad Request: {name} is too long")
        language = _language_code(params)
        if value:
            store[language] = value
        else:
            store.pop(language, None)
        return True

    def _set_my_description(self, params: JsonDict) -> bool:
        return self._set_text_setting(
            self.descriptions, params, "description", MAX_DESCRIPTION_LENGTH
        )

    def _get_my_description(self, params: JsonDict) -> JsonDict:
        return {"description": self.descriptions.get(_language_code(params), "")}

    def _set_my_short_description(self, params: JsonDict) -> bool:
        return self._set_text_setting(
            self.short_descriptions, params, "short_description", MAX_SHORT_DESCRIPTION_LENGTH
        )

    def _get_my_short_description(self, params: JsonDict) -> JsonDict:
        language = _language_code(params)
        return {"short_description": self.short_descriptions.get(language, "")}

    def _set_my_name(self, params: JsonDict) -> bool:
        return self._set_text_setting(self.names, params, "name", MAX_NAME_LENGTH)

    def _get_my_name(self, params: JsonDict) -> JsonDict:
        language = _language_code(params)
        return {"name": self.names.get(language, self.bot_first_name)}

    def _get_chat(self, params: JsonDict) -> JsonDict:
        chat = self._resolve_chat(params["chat_id"])
        return self.spec.defaults("ChatFullInfo", **chat, max_reaction_count=11)

    def _get_chat_member(self, params: JsonDict) -> JsonDict:
        chat = self._resolve_chat(params["chat_id"])
        user_id = params["user_id"]
        user = self.bot_user if user_id == self.bot_id else self._users.get(user_id)
        if user is None:
            raise _ApiError(400, "Bad Request: user not found")
        status = self._member_status.get((chat["id"], user_id), "member")
        return self._chat_member(status, user)

    def _get_chat_administrators(self, params: JsonDict) -> list[JsonDict]:
        chat = self._resolve_chat(params["chat_id"])
        admins = []
        for (chat_id, user_id), status in self._member_status.items():
            if chat_id == chat["id"] and status in ("creator", "administrator"):
                user = self.bot_user if user_id == self.bot_id else self._users[user_id]
                admins.append(self._chat_member(status, user))
        return admins

    def _generic(self, method: str, params: JsonDict) -> Any:
        """Record-only answer for methods without an implementation (see module docstring).

        PTB parses the result by the documented return type, so methods that create
        messages in a chat get minimal ones instead of True.
        """
        returns = self.spec.returns(method)
        if "chat_id" not in params or returns not in _MESSAGE_RETURNS:
            return True
        chat = self._resolve_chat(params["chat_id"])
        if returns == ("Message",):
            fields: JsonDict = {}
            if isinstance(params.get("caption"), str):
                fields["caption"] = params["caption"]
            return self._new_bot_message(chat, fields)
        if returns == ("Array of Message",):
            items = params.get("media")
            count = len(items) if isinstance(items, list) else 1
            return [self._new_bot_message(chat, {}) for _ in range(count)]
        sources = params.get("message_ids")
        count = len(sources) if isinstance(sources, list) else 1
        ids = [{"message_id": self._new_bot_message(chat, {})["message_id"]} for _ in range(count)]
        return ids[0] if returns == ("MessageId",) else ids

    def _new_bot_message(self, chat: JsonDict, fields: JsonDict) -> JsonDict:
        message = self._new_message(chat, self.bot_user, fields)
        self._remember_bot_message(message)
        return message

    # -- helpers ---------------------------------------------------------------------

    def _now(self) -> int:
        return int(self._clock())

    def _check(self, type_name: str, value: Any) -> None:
        problems = self.spec.check_object(type_name, value)
        if problems:
            raise FakeSpecError("\n".join(problems))

    def _known_method(self, method: str) -> str:
        name = self.spec.canonical_method(method)
        if name is None:
            raise ValueError(f"{method!r} is not a Bot API method")
        return name

    def _register_chat(self, chat: JsonDict) -> JsonDict:
        self._check("Chat", chat)
        self._chats[chat["id"]] = chat
        return copy.deepcopy(chat)

    def _resolve_chat(self, chat_id: int | str) -> JsonDict:
        if isinstance(chat_id, str):
            wanted = chat_id.removeprefix("@").lower()
            for chat in self._chats.values():
                if str(chat.get("username", "")).lower() == wanted:
                    return chat
        elif chat_id in self._chats:
            return self._chats[chat_id]
        raise _ApiError(400, "Bad Request: chat not found")

    def _text_fields(self, text: str, entities: list[JsonDict] | None) -> JsonDict:
        fields: JsonDict = {"text": text}
        found = _detect_entities(text) if entities is None else entities
        if found:
            fields["entities"] = found
        return fields

    def _render_text(self, text: str, parse_mode: str | None) -> str:
        mode = (parse_mode or "").lower()
        if mode == "html":
            try:
                text = html_to_text(text)
            except HtmlParseError as exc:
                raise _ApiError(400, f"Bad Request: can't parse entities: {exc}") from exc
        elif mode not in ("", "markdown", "markdownv2"):
            raise _ApiError(400, f"Bad Request: unsupported parse_mode {parse_mode!r}")
        if not text.strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        if len(text) > MAX_MESSAGE_LENGTH:
            raise _ApiError(400, "Bad Request: message is too long")
        return text

    def _file_ids(self, kind: str) -> tuple[str, str]:
        number = next(self._ids)
        return f"fake-{kind}-{number}", f"fake-unique-{number}"

    def _new_message(self, chat: JsonDict, sender: JsonDict | None, fields: JsonDict) -> JsonDict:
        chat = self._chats.get(chat["id"]) or self._register_chat(chat)
        message_id = self._next_message_id.get(chat["id"], 1)
        self._next_message_id[chat["id"]] = message_id + 1
        message: JsonDict = {"message_id": message_id, "date": self._now(), "chat": chat}
        if sender is not None:
            message["from"] = sender
        if chat["type"] == "channel":
            message["sender_chat"] = chat
        message.update(fields)
        self._check("Message", message)
        return message

    def _store(self, message: JsonDict) -> None:
        self._messages[(message["chat"]["id"], message["message_id"])] = message

    def _remember_bot_message(self, message: JsonDict) -> None:
        self._store(message)
        self._bot_message_ids.setdefault(message["chat"]["id"], {})[message["message_id"]] = None

    def _stored(self, message: JsonDict) -> JsonDict:
        key = (message["chat"]["id"], message["message_id"])
        stored = self._messages.get(key)
        if stored is None:
            raise ValueError(f"the fake knows no message {key[1]} in chat {key[0]}")
        return stored

    def _reply_snapshot(self, chat: JsonDict, reply_to: JsonDict) -> JsonDict:
        if reply_to["chat"]["id"] != chat["id"]:
            raise ValueError("replies to messages of another chat are not supported")
        stored = self._messages.get((chat["id"], reply_to["message_id"]), reply_to)
        return _without_reply(stored)

    def _reply_target(self, chat: JsonDict, reply: JsonDict) -> JsonDict | None:
        target_chat = self._resolve_chat(reply["chat_id"]) if "chat_id" in reply else chat
        stored = self._messages.get((target_chat["id"], reply["message_id"]))
        # Replies into another chat would be an external_reply, which the fake does not model.
        if stored is None or target_chat["id"] != chat["id"]:
            if reply.get("allow_sending_without_reply"):
                return None
            raise _ApiError(400, "Bad Request: message to be replied not found")
        return _without_reply(stored)

    def _editable_message(self, params: JsonDict) -> JsonDict:
        if "chat_id" not in params or "message_id" not in params:
            raise _ApiError(400, "Bad Request: message identifier is not specified")
        chat = self._resolve_chat(params["chat_id"])
        stored = self._messages.get((chat["id"], params["message_id"]))
        if stored is None:
            raise _ApiError(400, "Bad Request: message to edit not found")
        if stored.get("from", {}).get("id") != self.bot_id:
            raise _ApiError(400, "Bad Request: message can't be edited")
        return stored

    def _chat_member(self, status: str, user: JsonDict) -> JsonDict:
        subtype = self.spec.subtype_for("ChatMember", status)
        return self.spec.defaults(subtype, status=status, user=user)

    def _member_change(
        self, chat: JsonDict, user: JsonDict, member: JsonDict, old_status: str, new_status: str
    ) -> JsonDict:
        self._member_status[(chat["id"], member["id"])] = new_status
        return {
            "chat": self._chats.get(chat["id"]) or self._register_chat(chat),
            "from": user,
            "date": self._now(),
            "old_chat_member": self._chat_member(old_status, member),
            "new_chat_member": self._chat_member(new_status, member),
        }

    def _visible_to_bot(self, message: JsonDict) -> bool:
        """Whether privacy mode lets the bot see ``message``."""
        if not self.privacy_mode or message["chat"]["type"] not in ("group", "supergroup"):
            return True
        if message.keys() & _SERVICE_FIELDS:
            return True  # service messages reach every bot
        text = message.get("text") or message.get("caption") or ""
        replied = message.get("reply_to_message", {})
        return (
            text.startswith("/")
            or f"@{self.bot_username.lower()}" in text.lower()
            or replied.get("from", {}).get("id") == self.bot_id
        )

    def _push_message(self, kind: str, message: JsonDict) -> JsonDict:
        self._store(message)
        return self._push(kind, message, deliver=self._visible_to_bot(message))

    def _push(self, kind: str, payload: JsonDict, *, deliver: bool = True) -> JsonDict:
        if kind not in self._update_kinds:
            raise FakeSpecError(f"{kind!r} is not an Update field")
        update_id = self._next_update_id
        update: JsonDict = {"update_id": update_id, kind: payload}
        self._check("Update", update)
        self._next_update_id += 1
        if deliver:
            self._updates.append(_Queued(update_id, kind, update))
            self._wake_poller("update")
        return copy.deepcopy(update)

    def _drop_pending(self) -> None:
        self._updates.clear()
        self._notify()

    def _scope_key(self, scope: JsonDict | None, language_code: str) -> tuple[str, str]:
        return json.dumps(scope or {"type": "default"}, sort_keys=True), language_code

    def _notify(self) -> None:
        # Waiters hold the current event; replacing it makes each change wake them once.
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_for_change(self, timeout: float) -> bool:
        if timeout <= 0:
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)
        return True

    def _dump(self, last: int = 25) -> str:
        lines = [f"last {min(last, len(self.calls))} of {len(self.calls)} calls:"]
        for call in self.calls[-last:]:
            params = {key: value for key, value in call.params.items() if key != "results"}
            lines.append(
                f"  {call.method} -> {call.status} {json.dumps(params, default=str)[:160]}"
            )
        lines.append(f"pending updates: {len(self._updates)}")
        lines.append(f"violations: {self.violations or 'none'}")
        return "\n".join(lines)


@contextlib.asynccontextmanager
async def running_fake_telegram(**kwargs: Any) -> AsyncIterator[FakeTelegram]:
    """A started :class:`FakeTelegram` that fails on spec violations when the block ends.

    Made for a pytest fixture (whose teardown resumes the generator even if the test failed)::

        @pytest.fixture
        async def telegram() -> AsyncIterator[FakeTelegram]:
            async with running_fake_telegram() as server:
                yield server
    """
    server = FakeTelegram(**kwargs)
    async with server:
        yield server
    server.assert_no_violations()
