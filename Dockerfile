# talks-bot: the Telegram bot, long polling by default (webhooks when BOT_WEBHOOK_URL is set).
#   make docker-build                  (or: docker build -t talks-bot .)
#   docker run -d --name talks-bot --restart unless-stopped --stop-timeout 45 \
#       -e TELEGRAM_BOT_TOKEN=... -e BOT_ADMIN_IDS=... -v talks-bot-data:/data talks-bot
# BASE_IMAGE is python:3.11-slim, or where no container registry is reachable a Debian image
# with python3 made by docker/make-base-image.sh (make docker-build picks one).
ARG BASE_IMAGE=python:3.11-slim

# --- build: the locked dependencies, then the package, into /opt/venv ------------------------
FROM ${BASE_IMAGE} AS build
# The build machine's package index when it is not PyPI (make docker-build passes it). Only
# this stage sees them; the lock files' hashes are checked whichever index serves the files.
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_TRUSTED_HOST
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt
WORKDIR /src
# pip, setuptools and wheel live in /opt/tools; /opt/venv, all the runtime image gets, has none.
RUN python3 -m venv /opt/tools && python3 -m venv --without-pip /opt/venv
COPY requirements-build.lock requirements.lock ./
RUN /opt/tools/bin/pip install --quiet --require-hashes -r requirements-build.lock \
    && /opt/tools/bin/pip --python /opt/venv/bin/python install --quiet --require-hashes \
        --only-binary :all: -r requirements.lock
# Dependencies above, code below: a change to the code does not reinstall them.
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN /opt/tools/bin/pip wheel --quiet --no-deps --no-build-isolation --wheel-dir /tmp/dist . \
    && /opt/tools/bin/pip --python /opt/venv/bin/python install --quiet --no-deps --no-index \
        /tmp/dist/*.whl
COPY knowledge ./knowledge
# A knowledge base that does not load fails the build rather than the container's start, and
# the model trained for it (~10 s on 2 cores) goes into /data/models: a new volume at /data
# starts with it, so the first start does not train. Run from / so that the installed package
# is checked, not the source tree in /src.
RUN cd / && BOT_KNOWLEDGE_DIR=/src/knowledge BOT_DATA_DIR=/data \
    /opt/venv/bin/python -m bot check --no-cv

# --- runtime: the virtualenv, the knowledge base, a non-root user ----------------------------
FROM ${BASE_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PTB_TIMEDELTA=1 \
    BOT_KNOWLEDGE_DIR=/app/knowledge \
    BOT_DATA_DIR=/data
# python:3.11-slim ships pip, setuptools and wheel; nothing at run time needs them.
RUN if python3 -m pip --version >/dev/null 2>&1; then \
        PIP_ROOT_USER_ACTION=ignore python3 -m pip uninstall --yes --quiet pip setuptools wheel; \
    fi \
    && groupadd --gid 10001 bot \
    && useradd --uid 10001 --gid bot --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin bot \
    && mkdir -p /data \
    && chown bot:bot /data
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=bot:bot /data /data
WORKDIR /app
COPY knowledge ./knowledge
USER bot
# The SQLite statistics, the heartbeat file and the model cache live here; keep it across
# container restarts.
VOLUME ["/data"]
# Unhealthy when the poller has not finished a getUpdates round for 90 s (see bot/tg/health.py),
# so a live process with a dead poller shows unhealthy.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-m", "bot.tg.health"]
# SIGTERM (docker stop) ends the bot gracefully: updates already fetched are answered first.
# During a Telegram outage that waits for python-telegram-bot's back-off (up to 30 s), so give
# `docker run` --stop-timeout 45 (compose.yaml: stop_grace_period).
STOPSIGNAL SIGTERM
CMD ["python", "-m", "bot", "run"]
