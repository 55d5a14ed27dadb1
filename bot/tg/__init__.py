"""The Telegram shell: python-telegram-bot handlers, sending, statistics and health."""
