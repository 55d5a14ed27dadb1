"""Checks of the Docker image, run by `make docker-test` against the fake Bot API."""
