"""The fake Bot API of tests/fakes as a standalone server, for checking the Docker image.

``python -m tests.docker.fake_api serve --token T`` runs the fake on an ephemeral port of
127.0.0.1 and a small control API on CONTROL_PORT, until SIGTERM. In the bot's network namespace
(the bot's container joins this one's) ``python -m tests.docker.fake_api call PATH [JSON]``,
through ``docker exec``, drives it: play a user, read the bot's replies, take the Bot API away.
Standard library and aiohttp only: it runs in the bot's own image.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

from aiohttp import web

from tests.fakes.telegram_server import FakeTelegram, WaitTimeout

CONTROL_PORT: Final = 8099
JsonDict = dict[str, Any]


class FakeApiControl:
    """The control API's handlers, each a JSON object in and out."""

    def __init__(self, server: FakeTelegram) -> None:
        self.server = server

    async def info(self, body: JsonDict) -> JsonDict:
        """Where the bot finds the Bot API, and whether it still answers."""
        return {"base_url": self.server.base_url, "api_running": self.server.running}

    async def send(self, body: JsonDict) -> JsonDict:
        """User `user_id` writes `text` to the bot in their private chat."""
        user_id = int(body["user_id"])
        chat = self.server.private_chat(user_id)
        update = self.server.send_text(chat, self.server.user(user_id), str(body["text"]))
        return {"update_id": update["update_id"]}

    async def replies(self, body: JsonDict) -> JsonDict:
        """The bot's messages in chat `chat_id` once it has sent `count`, as the user sees them."""
        chat_id = int(body["chat_id"])
        await self.server.wait_for_calls(
            "sendMessage",
            count=int(body.get("count", 1)),
            timeout=float(body.get("timeout", 30)),
            predicate=lambda call: call.ok and call.params.get("chat_id") == chat_id,
        )
        return {"texts": self.server.bot_texts(chat_id)}

    async def stop_api(self, body: JsonDict) -> JsonDict:
        """The Bot API goes away: every call is refused from now on, as in an outage."""
        await self.server.stop()
        return {"api_running": self.server.running}

    async def violations(self, body: JsonDict) -> JsonDict:
        """Calls the bot made that break the Bot API specification."""
        return {"violations": list(self.server.violations)}

    def routes(self) -> dict[str, Callable[[JsonDict], Awaitable[JsonDict]]]:
        return {
            "/info": self.info,
            "/send": self.send,
            "/replies": self.replies,
            "/stop-api": self.stop_api,
            "/violations": self.violations,
        }


def control_app(control: FakeApiControl) -> web.Application:
    """POST PATH with a JSON object; 200 with the result, 504 on a wait that timed out."""

    def endpoint(handler: Callable[[JsonDict], Awaitable[JsonDict]]) -> Any:
        async def answer(request: web.Request) -> web.Response:
            body = await request.json() if request.can_read_body else {}
            try:
                return web.json_response(await handler(body))
            except WaitTimeout as timeout:
                return web.json_response({"error": str(timeout)}, status=504)

        return answer

    app = web.Application()
    for path, handler in control.routes().items():
        app.router.add_post(path, endpoint(handler))
    return app


async def serve(token: str, control_port: int) -> None:
    """Both servers until SIGTERM or SIGINT."""
    server = FakeTelegram(token=token)
    await server.start()
    runner = web.AppRunner(control_app(FakeApiControl(server)), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", control_port).start()
    print(f"fake Bot API at {server.base_url}, control on :{control_port}", flush=True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    try:
        await stopped.wait()
    finally:
        await runner.cleanup()
        await server.stop()


def call(path: str, body: JsonDict, control_port: int) -> int:
    """One control call; prints the JSON answer. Exit status 1 when it failed."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{control_port}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            print(response.read().decode())
    except urllib.error.HTTPError as error:
        print(error.read().decode(), file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.docker.fake_api")
    parser.add_argument("--control-port", type=int, default=CONTROL_PORT)
    sub = parser.add_subparsers(dest="command", required=True)
    serve_args = sub.add_parser("serve", help="run the fake Bot API and its control API")
    serve_args.add_argument("--token", required=True, help="the token the bot will use")
    call_args = sub.add_parser("call", help="one control call, e.g. call /send '{...}'")
    call_args.add_argument("path")
    call_args.add_argument("body", nargs="?", default="{}")
    args = parser.parse_args(argv)
    if args.command == "serve":
        asyncio.run(serve(args.token, args.control_port))
        return 0
    return call(args.path, json.loads(args.body), args.control_port)


if __name__ == "__main__":
    raise SystemExit(main())
