"""The repo's copy of the Bot API specification is the shared one, byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.telegram_server import DEFAULT_SPEC_PATH

SHARED_SPEC = Path(__file__).resolve().parents[3] / "shared" / "telegram" / "bot-api-spec.json"


@pytest.mark.skipif(not SHARED_SPEC.is_file(), reason="shared/ is not beside this checkout")
def test_vendored_spec_matches_the_shared_specification() -> None:
    assert DEFAULT_SPEC_PATH.read_bytes() == SHARED_SPEC.read_bytes()
