# talks-bot: the Telegram bot, long polling by default (webhooks when BOT_WEBHOOK_URL is set).
#   docker build -t talks-bot .
#   docker run -d --name talks-bot -e TELEGRAM_BOT_TOKEN=... -e BOT_ADMIN_IDS=... \
#       -v talks-bot-data:/data talks-bot

# --- build: install the package and its dependencies into a virtualenv ---------------------
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install .

# --- runtime: the virtualenv, the knowledge base, a non-root user ----------------------------
FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PTB_TIMEDELTA=1 \
    BOT_KNOWLEDGE_DIR=/app/knowledge \
    BOT_DATA_DIR=/data
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin bot \
    && mkdir -p /data \
    && chown bot:bot /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY knowledge ./knowledge
USER bot
# The SQLite statistics and the heartbeat file live here; keep it across container restarts.
VOLUME ["/data"]
# Unhealthy when the poller has not finished a getUpdates round for 90 s (see bot/tg/health.py),
# so a live process with a dead poller shows unhealthy.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-m", "bot.tg.health"]
# SIGTERM (docker stop) ends the bot gracefully: updates already fetched are answered first.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "bot", "run"]
