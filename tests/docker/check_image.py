"""End-to-end checks of the Docker image: the bot's container against the fake Bot API.

    python3 -m tests.docker.check_image IMAGE        (make docker-test builds IMAGE first)

The fake (tests/docker/fake_api.py, in a container of the same image) has no network at all
(--network none); the bot's container joins its network namespace, so loopback is all that
either can reach. Prints one line per check, then "N passed, N failed"; exit status 1 when
any check failed. Standard library only: it runs with the machine's python3, no .venv needed.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

REPO: Final = Path(__file__).resolve().parents[2]
ADMIN_ID: Final = 4242
USER_ID: Final = 77
RUNTIME_UID: Final = 10001
# The stop timeout the README and compose.yaml give: longer than python-telegram-bot's longest
# back-off between failed polls (30 s), which a SIGTERM during an outage waits out.
STOP_TIMEOUT_SECONDS: Final = 45
# bot/tg/health.py: the heartbeat is stale after BOT_HEALTH_MAX_AGE seconds (90 by default)
# without a finished getUpdates round; this run sets a shorter limit, to see it in seconds.
SHORT_HEARTBEAT_MAX_AGE: Final = 15
# HEALTHCHECK's own 30 s interval overridden at run time, so that a change shows in seconds.
HEALTH_OPTIONS: Final = (
    "--health-interval=2s",
    "--health-timeout=5s",
    "--health-retries=1",
    "--health-start-period=60s",
)
DOCKER_TIMEOUT_SECONDS: Final = 180
Json = dict[str, Any]


class CheckFailed(Exception):
    """A check's expectation was not met; the message says what was seen instead."""


def docker(*args: str, timeout: float = DOCKER_TIMEOUT_SECONDS) -> str:
    """Runs one docker command; its stdout, or CheckFailed with its stderr."""
    done = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise CheckFailed(f"docker {args[0]} exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def wait_until(
    condition: Callable[[], Any], timeout: float, interval: float = 1.0, what: str = ""
) -> Any:
    """Polls `condition` until it returns something truthy; CheckFailed after `timeout`."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = condition()
        except CheckFailed as error:
            last_error = error
        else:
            if result:
                return result
        time.sleep(interval)
    raise CheckFailed(
        f"not {what} after {timeout:.0f}s" + (f" ({last_error})" if last_error else "")
    )


def help_marked(messages_yaml: Path, marker: str) -> None:
    """Puts `marker` at the start of the `help` message of a messages.yaml."""
    lines = messages_yaml.read_text(encoding="utf-8").splitlines(keepends=True)
    for index, line in enumerate(lines):
        found = re.match(r"^(\s+help:\s*)(.*?)\s*$", line)
        if found is None:
            continue
        value = found.group(2)
        if value in {">", ">-", "|", "|-"}:  # a block: its text starts on the next line
            body = lines[index + 1]
            indent = body[: len(body) - len(body.lstrip())]
            lines[index + 1] = f"{indent}{marker} {body.lstrip()}"
        elif value[:1] in {'"', "'"}:
            lines[index] = f"{found.group(1)}{value[0]}{marker} {value[1:]}\n"
        else:
            lines[index] = f"{found.group(1)}{marker} {value}\n"
        messages_yaml.write_text("".join(lines), encoding="utf-8")
        return
    raise CheckFailed(f"no help message in {messages_yaml}")


class ImageCheck:
    """One run: the containers, their files and the results, cleaned up by close()."""

    def __init__(self, image: str) -> None:
        self.image = image
        suffix = f"{os.getpid()}-{secrets.token_hex(3)}"
        self.fake = f"talks-bot-check-fake-{suffix}"
        self.bot = f"talks-bot-check-bot-{suffix}"
        self.volume = f"talks-bot-check-data-{suffix}"
        # Shaped like a BotFather token, and new each run: no other text can contain it.
        self.token = f"{secrets.randbelow(9 * 10**9) + 10**9}:AA{secrets.token_urlsafe(30)}"
        self.marker = f"mounted-{secrets.token_hex(4)}"
        self.workdir = Path(tempfile.mkdtemp(prefix="talks-bot-check-"))
        self.workdir.chmod(0o755)  # the bot (uid 10001) reads the knowledge copy in here
        self.knowledge = self.workdir / "knowledge"
        shutil.copytree(REPO / "knowledge", self.knowledge)
        self.passed = 0
        self.failed = 0

    # -- reporting ---------------------------------------------------------------------

    def check(self, name: str, run: Callable[[], str]) -> bool:
        """Runs one check and prints its line; `run` returns a detail or raises CheckFailed."""
        started = time.monotonic()
        try:
            detail = run()
        except (CheckFailed, subprocess.TimeoutExpired, OSError, KeyError, ValueError) as error:
            self.failed += 1
            print(f"FAIL  {name}: {error}", flush=True)
            return False
        self.passed += 1
        took = time.monotonic() - started
        print(f"PASS  {name} ({detail}; {took:.1f}s)", flush=True)
        return True

    # -- the fake's control API --------------------------------------------------------

    def control(self, path: str, body: Json | None = None, timeout: float = 60) -> Json:
        out = docker(
            "exec", self.fake, "python", "-m", "tests.docker.fake_api",
            "call", path, json.dumps(body or {}),
            timeout=timeout,
        )  # fmt: skip
        answer: Json = json.loads(out)
        return answer

    def ask(self, user_id: int, text: str, reply_number: int) -> str:
        """`user_id` sends `text` in private; the bot's `reply_number`-th message there."""
        self.control("/send", {"user_id": user_id, "text": text})
        texts = self.control(
            "/replies", {"chat_id": user_id, "count": reply_number, "timeout": 30}, timeout=60
        )["texts"]
        if len(texts) < reply_number:
            raise CheckFailed(f"{len(texts)} replies in chat {user_id}, expected {reply_number}")
        return str(texts[reply_number - 1])

    def health(self) -> str:
        return docker("inspect", "--format", "{{.State.Health.Status}}", self.bot).strip()

    # -- the containers ----------------------------------------------------------------

    def start_fake(self) -> str:
        docker(
            "run", "--detach", "--name", self.fake, "--network", "none", "--no-healthcheck",
            "--volume", f"{REPO / 'tests'}:/srv/tests:ro", "--workdir", "/srv",
            self.image, "python", "-m", "tests.docker.fake_api", "serve", "--token", self.token,
        )  # fmt: skip
        info = wait_until(lambda: self.control("/info"), 30, 0.5, "answering")
        self.base_url = str(info["base_url"])
        return f"{self.base_url.replace(self.token, '')} in --network none"

    def start_bot(self) -> str:
        env_file = self.workdir / "bot.env"  # as compose's env_file: the token stays off argv
        env_file.write_text(
            f"TELEGRAM_BOT_TOKEN={self.token}\n"
            f"TELEGRAM_BASE_URL={self.base_url}\n"
            f"BOT_ADMIN_IDS={ADMIN_ID}\n"
            "LOG_LEVEL=DEBUG\n"
            f"BOT_HEALTH_MAX_AGE={SHORT_HEARTBEAT_MAX_AGE}\n",
            encoding="utf-8",
        )
        env_file.chmod(0o600)
        docker(
            "run", "--detach", "--name", self.bot, "--network", f"container:{self.fake}",
            "--env-file", str(env_file), "--stop-timeout", str(STOP_TIMEOUT_SECONDS),
            *HEALTH_OPTIONS,
            "--volume", f"{self.volume}:/data",
            "--volume", f"{self.knowledge}:/app/knowledge:ro",
            self.image,
        )  # fmt: skip
        return "joined the fake's network namespace"

    # -- the checks --------------------------------------------------------------------

    def no_build_tools(self) -> str:
        out = docker(
            "run", "--rm", "--network", "none", "--no-healthcheck", self.image, "python", "-c",
            "import importlib.util, shutil; "
            "print([m for m in ('pip', 'setuptools', 'wheel') if importlib.util.find_spec(m)]"
            " + [c for c in ('pip', 'pip3') if shutil.which(c)])",
        )  # fmt: skip
        if out.strip() != "[]":
            raise CheckFailed(f"found {out.strip()}")
        return "pip, setuptools, wheel: none importable or on PATH"

    def private_question(self) -> str:
        reply = self.ask(USER_ID, "black sea", 1)
        if "black sea" not in reply.lower():
            raise CheckFailed(f"reply does not mention the Black Sea: {reply[:200]!r}")
        return f"{reply.splitlines()[0][:60]}..."

    def non_root(self) -> str:
        status = docker("exec", self.bot, "cat", "/proc/1/status")
        uids = re.search(r"^Uid:\s+(.*)$", status, re.MULTILINE)
        user = docker("inspect", "--format", "{{.Config.User}}", self.bot).strip()
        if uids is None or set(uids.group(1).split()) != {str(RUNTIME_UID)}:
            raise CheckFailed(
                f"process 1 has uids {' '.join(uids.group(1).split()) if uids else '?'}"
            )
        return f"process 1 has uid {RUNTIME_UID}, user {user!r}"

    def healthy(self) -> str:
        wait_until(lambda: self.health() == "healthy", 60, 1, "healthy")
        return "healthy while polling"

    def knowledge_reload(self) -> str:
        before = self.ask(ADMIN_ID, "/help", 1)
        if self.marker in before:
            raise CheckFailed("the marker is there before any change")
        help_marked(self.knowledge / "messages.yaml", self.marker)
        report = self.ask(ADMIN_ID, "/reload", 2)
        if not report.startswith("Reloaded"):
            raise CheckFailed(f"/reload answered {report[:300]!r}")
        after = self.ask(ADMIN_ID, "/help", 3)
        if self.marker not in after:
            raise CheckFailed(f"/help after /reload is still {after[:120]!r}")
        return f"edited on the host, {report.splitlines()[0]}"

    def unhealthy_without_api(self) -> str:
        self.control("/stop-api")
        gone = time.monotonic()
        wait_until(
            lambda: self.health() == "unhealthy", SHORT_HEARTBEAT_MAX_AGE + 40, 1, "unhealthy"
        )
        return f"unhealthy {time.monotonic() - gone:.0f}s after the Bot API went away"

    def graceful_stop(self) -> str:
        started = time.monotonic()
        docker("stop", self.bot, timeout=STOP_TIMEOUT_SECONDS + 30)
        took = time.monotonic() - started
        state = json.loads(docker("inspect", "--format", "{{json .State}}", self.bot))
        if state["ExitCode"] != 0 or state.get("OOMKilled"):
            raise CheckFailed(f"exit code {state['ExitCode']} after {took:.1f}s")
        if took >= STOP_TIMEOUT_SECONDS:
            raise CheckFailed(f"took {took:.1f}s, the stop timeout is {STOP_TIMEOUT_SECONDS}s")
        return f"exit code 0 after {took:.1f}s, during the outage"

    def token_not_logged(self) -> str:
        done = subprocess.run(
            ["docker", "logs", self.bot], capture_output=True, text=True, check=False
        )
        log = done.stdout + done.stderr
        secret = self.token.split(":", 1)[1]
        if "getUpdates" not in log or "ready" not in log:
            raise CheckFailed(f"the log lacks the DEBUG polling lines: {log[-300:]!r}")
        if secret in log:
            raise CheckFailed("the token's secret part is in docker logs")
        return f"{len(log.splitlines())} log lines at DEBUG, no token"

    def spec_kept(self) -> str:
        violations = self.control("/violations")["violations"]
        if violations:
            raise CheckFailed("; ".join(violations[:5]))
        return "no call broke the Bot API specification"

    # -- the run -----------------------------------------------------------------------

    def run(self) -> int:
        size = int(docker("image", "inspect", "--format", "{{.Size}}", self.image))
        print(f"docker-test: {self.image}, {size / 1e6:.0f} MB", flush=True)
        self.check("the runtime image has no pip or setuptools", self.no_build_tools)
        started = self.check("the fake Bot API starts without a network", self.start_fake)
        if started and self.check("the bot's container starts", self.start_bot):
            # In this order: the outage comes after the checks that need the API, and the
            # stop during the outage is the slowest one a deployment sees.
            for name, step in (
                ("a private question is answered", self.private_question),
                ("the bot runs as a non-root user", self.non_root),
                ("HEALTHCHECK is healthy while polling", self.healthy),
                ("a knowledge base mounted from the host is served after /reload",
                    self.knowledge_reload),
                ("HEALTHCHECK is unhealthy once the API is gone", self.unhealthy_without_api),
                ("docker stop exits 0 within the stop timeout", self.graceful_stop),
                ("the token is absent from docker logs", self.token_not_logged),
                ("the bot kept to the Bot API specification", self.spec_kept),
            ):  # fmt: skip
                self.check(name, step)
        if self.failed:
            self.show_logs()
        print(f"{self.passed} passed, {self.failed} failed", flush=True)
        return 1 if self.failed else 0

    def show_logs(self) -> None:
        for name in (self.fake, self.bot):
            done = subprocess.run(
                ["docker", "logs", "--tail", "25", name],
                capture_output=True,
                text=True,
                check=False,
            )
            lines = (done.stdout + done.stderr).replace(self.token, "<token>").splitlines()
            print(f"--- last lines of {name}:", *(f"    {line}" for line in lines), sep="\n")

    def close(self) -> None:
        subprocess.run(
            ["docker", "rm", "--force", "--volumes", self.bot, self.fake],
            capture_output=True, check=False,
        )  # fmt: skip
        subprocess.run(["docker", "volume", "rm", self.volume], capture_output=True, check=False)
        shutil.rmtree(self.workdir, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if len(args) != 1:
        print("usage: python3 -m tests.docker.check_image IMAGE", file=sys.stderr)
        return 2
    check = ImageCheck(args[0])
    try:
        return check.run()
    finally:
        check.close()


if __name__ == "__main__":
    raise SystemExit(main())
