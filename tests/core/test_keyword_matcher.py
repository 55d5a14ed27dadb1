"""The keyword matcher's word lists and the normalisation both matchers share."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.keyword_matcher import common_words, stem
from bot.core.textnorm import capitalised_words, normalise


def test_common_word_list_holds_words_and_their_stems() -> None:
    words = common_words()
    assert len(words) > 20_000
    assert {"reaction", "round", "fresh"} <= words
    assert not {"istanbul", "georgia", "kremlin", "eu"} & words
    # The matcher looks up stems: an inflected everyday word must be found as one.
    inflected = ["reactions", "stations", "stopping", "conditions", "limited", "restoring"]
    assert all(stem(w) in words for w in inflected)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("What did Rutte say?", {"rutte"}),
        ("Rutte spoke. Then Trump called", {"trump"}),
        ("hi\nPutin called. and EU too", {"eu"}),
        (" Leading space", {"leading"}),
        ("", set()),
    ],
)
def test_capitalised_words_are_names_except_at_a_sentence_start(text: str, names: set[str]) -> None:
    assert capitalised_words(text) == names


@settings(max_examples=500)
@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_text_normalises_as_any_text_does(text: str) -> None:
    # Plain ASCII takes a fast path; a no-break space (a separator after NFKC) sends the same
    # text down the general one, which must agree.
    assert normalise(text) == normalise(text + "\u00a0")


def test_stemmer_folds_inflections_together() -> None:
    forms = {"negotiate", "negotiates", "negotiated", "negotiating"}
    assert len({stem(w) for w in forms}) == 1
    assert stem("attacks") == stem("attack")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30day truce", "30 day truce"),
        ("talks on march11", "talks on march 11"),
        ("the 1st and 2nd rounds", "the 1st and 2nd rounds"),
        ("Trumpʼs 30days", "trump 30 days"),
    ],
)
def test_a_number_glued_to_a_word_is_split(text: str, expected: str) -> None:
    assert normalise(text) == expected
