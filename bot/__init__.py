"""talks-bot: answers questions about one Babel article, quoting it word for word."""

__version__ = "0.1.0"
