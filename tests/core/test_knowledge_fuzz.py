"""Mutated knowledge bases: the loader accepts them or reports every problem by its place, and a
failed reload leaves the bot serving the version it had."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bot.core.knowledge import (
    DEFAULT_KNOWLEDGE_DIR,
    KNOWLEDGE_FILES,
    MAX_FILE_BYTES,
    Knowledge,
    KnowledgeError,
    Problem,
    load_knowledge,
)
from bot.core.model_cache import TrainingParams
from bot.core.service import KnowledgeHolder, Snapshot, load_snapshot

REPO = Path(__file__).resolve().parents[2]
ARTICLE_TEXT = "article.txt"
# Questions whose answers must not change when a reload fails: cited answers, one-word
# questions (the "did you mean" kind) and an off-topic one the bot declines.
SAMPLE_QUESTIONS = (
    "What did Rutte say sustainable peace means?",
    "who wrote this",
    "black sea",
    "talks",
    "What is the capital of France?",
)
# Characters that break YAML where they land: quotes, flow and block indicators, anchors,
# tags, comments, a tab and a newline, plus non-ASCII a careless editor might paste.
BREAKING_CHARACTERS = "\"'{}[]:,#&*!|>%@`-?\t\n\\“”’é\u00a0\u2028"
WRONG_TYPE_VALUES: tuple[Any, ...] = (
    None,
    0,
    -3,
    2.5,
    True,
    "",
    "   ",
    "text",
    [],
    [1, 2],
    [None],
    [["nested"]],
    {},
    {"k": "v"},
    {1: [2]},
)
# Enough to meet every kind of mutation in every file a few times within ~15 s; the
# hypothesis database replays earlier failures first.
MIXED_EXAMPLES = 40
FIELD_EXAMPLES = 60
# A mutation that changes an example retrains on reload; one pass over the examples still
# builds a real model and matcher in ~2 s, where the shipped ten take ~9.
QUICK_TRAINING = TrainingParams(epochs=1)


@dataclass(frozen=True)
class Place:
    """Where a mutation was made: the problem that reports it should point there."""

    file: str
    entries: frozenset[str | None]  # the id, or "#n" once the id itself is broken
    field: str | None


@dataclass(frozen=True)
class Mutation:
    """A description of one change to a copy of the knowledge base, for failure reports."""

    file: str
    kind: str
    detail: str
    place: Place | None = None
    absent: bool = False  # the value was removed, or made null or empty


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Snapshot]:
    """A copy of the shipped knowledge (others may edit knowledge/ meanwhile) and its snapshot."""
    directory = tmp_path_factory.mktemp("pristine") / "knowledge"
    shutil.copytree(DEFAULT_KNOWLEDGE_DIR, directory)
    return directory, load_snapshot(directory)


# -- mutations ---------------------------------------------------------------------------


def _language_files(directory: Path) -> list[str]:
    return sorted(
        str(path.relative_to(directory))
        for folder in ("i18n", "examples")
        for path in (directory / folder).glob("*.yaml")
    )


def _yaml_files(directory: Path) -> list[str]:
    names = [name for name in KNOWLEDGE_FILES if (directory / name).is_file()]
    return [*names, *_language_files(directory)]


# libyaml when available: the pure-Python parser and emitter would take most of the time.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=1000)


def _item_places(file: str, data: Any) -> list[tuple[list[Any], Place]]:
    """Paths (keys from the document root) of the fields a mutation may break, with places."""
    places: list[tuple[list[Any], Place]] = []
    if not isinstance(data, dict):
        return places
    for key, value in data.items():
        places.append(([key], Place(file, frozenset({None}), str(key))))
        if isinstance(value, list):
            for index, item in enumerate(value):
                if not isinstance(item, dict):
                    continue
                ident = item.get("id")
                entries = frozenset({ident if isinstance(ident, str) else None, f"#{index + 1}"})
                for field in item:
                    places.append(([key, index, field], Place(file, entries, str(field))))
        elif isinstance(value, dict) and file != "article.yaml":
            # messages: one text per key (named as a field); aliases and the like: one list
            # of phrases per key (named as an entry).
            for name in value:
                if file == "messages.yaml":
                    place = Place(file, frozenset({None}), str(name))
                else:
                    place = Place(file, frozenset({str(name)}), None)
                places.append(([key, name], place))
    return places


def _get(data: Any, path: list[Any]) -> Any:
    for key in path:
        data = data[key]
    return data


def _structured(draw: st.DrawFn, directory: Path, file: str) -> Mutation:
    """Parse the file, delete a key, give a value a wrong type or duplicate an item; dump."""
    path = directory / file
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    places = _item_places(file, data)
    kind = draw(st.sampled_from(["delete key", "wrong type", "duplicate item"]))
    lists = [
        k
        for k, v in data.items()
        if isinstance(v, list) and any(isinstance(item, dict) for item in v)
    ]
    if kind == "duplicate item" and lists:
        key = draw(st.sampled_from(lists))
        item = copy.deepcopy(draw(st.sampled_from([i for i in data[key] if isinstance(i, dict)])))
        data[key].insert(draw(st.integers(0, len(data[key]))), item)
        path.write_text(_dump(data), encoding="utf-8")
        ident = item.get("id")
        # Items without ids (the timeline's steps) are reported by what they repeat.
        place = (
            Place(file, frozenset({ident}), "id") if ident else Place(file, frozenset({None}), None)
        )
        return Mutation(file, kind, f"{key}: {ident!r} twice", place)
    keys, place = draw(st.sampled_from(places))
    parent = _get(data, keys[:-1])
    if kind == "delete key":
        del parent[keys[-1]]
        path.write_text(_dump(data), encoding="utf-8")
        return Mutation(file, kind, f"deleted {keys}", place, absent=True)
    old = parent[keys[-1]]
    value = draw(st.sampled_from(WRONG_TYPE_VALUES).filter(lambda v: type(v) is not type(old)))
    parent[keys[-1]] = value
    path.write_text(_dump(data), encoding="utf-8")
    detail = f"{keys} = {value!r} (was {type(old).__name__})"
    # Falsy values count as absent: the loader reads some optional fields as `value or default`.
    return Mutation(file, "wrong type", detail, place, absent=not value)


def _textual(draw: st.DrawFn, directory: Path, file: str) -> Mutation:
    """Alter characters, break a quote, duplicate a line or truncate: the text as an editor
    would leave it after a slip."""
    path = directory / file
    text = path.read_text(encoding="utf-8")
    kind = draw(st.sampled_from(["alter characters", "break quote", "duplicate line", "truncate"]))
    if kind == "alter characters":
        chars = list(text)
        changes = draw(st.lists(st.integers(0, len(chars) - 1), min_size=1, max_size=4))
        for position in changes:
            chars[position] = draw(st.sampled_from(BREAKING_CHARACTERS) | st.characters())
        path.write_text("".join(chars), encoding="utf-8", errors="surrogatepass")
        return Mutation(file, kind, f"at {changes}")
    if kind == "break quote":
        quotes = [i for i, ch in enumerate(text) if ch in "\"'"]
        position = draw(st.sampled_from(quotes)) if quotes else 0
        text = text[:position] + text[position + 1 :] if quotes else '"' + text
        path.write_text(text, encoding="utf-8")
        return Mutation(file, kind, f"quote at {position} removed")
    lines = text.splitlines(keepends=True)
    if kind == "duplicate line":
        index = draw(st.integers(0, len(lines) - 1))
        lines.insert(index, lines[index])
        path.write_text("".join(lines), encoding="utf-8")
        return Mutation(file, kind, f"line {index + 1}: {lines[index][:60]!r}")
    cut = draw(st.integers(0, len(text)))
    path.write_text(text[:cut], encoding="utf-8")
    return Mutation(file, kind, f"at {cut} of {len(text)}")


def _bytes(draw: st.DrawFn, directory: Path, file: str) -> Mutation:
    """Random bytes, a file that is not UTF-8, empty, over the size limit, or gone."""
    path = directory / file
    raw = path.read_bytes()
    kind = draw(
        st.sampled_from(["random bytes", "not UTF-8", "empty", "huge", "missing", "directory"])
    )
    if kind == "random bytes":
        path.write_bytes(draw(st.binary(max_size=300)))
    elif kind == "not UTF-8":
        position = draw(st.integers(0, len(raw)))
        junk = draw(st.sampled_from([b"\xff", b"\xc3", b"\xe2\x80", b"\xed\xa0\x80", b"\x80"]))
        path.write_bytes(raw[:position] + junk + raw[position:])
        return Mutation(file, kind, f"{junk!r} at {position}", Place(file, frozenset({None}), None))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "huge":
        # Still valid YAML (a long comment): only the size can be wrong with it.
        padding = b"\n# " + b"x" * (MAX_FILE_BYTES - len(raw) + 1) + b"\n"
        path.write_bytes(raw + padding)
        return Mutation(file, kind, f"{len(raw) + len(padding)} bytes")
    elif kind == "missing":
        path.unlink()
    else:
        path.unlink()
        path.mkdir()
    return Mutation(file, kind, "")


def _mutations_for(directory: Path, file: str) -> list[Callable[[st.DrawFn, Path, str], Mutation]]:
    """The kinds of mutation that apply to the file as it is now (earlier ones may have
    emptied, garbled or removed it)."""
    path = directory / file
    if not path.is_file():
        return []
    kinds: list[Callable[[st.DrawFn, Path, str], Mutation]] = [_bytes]
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return kinds
    if text:
        kinds.append(_textual)
    if file != ARTICLE_TEXT:
        try:
            data = yaml.load(text, Loader=_Loader)
        except yaml.YAMLError:
            return kinds
        if _item_places(file, data):
            kinds.append(_structured)
    return kinds


@st.composite
def mutated_copies(draw: st.DrawFn, directory: Path) -> list[Mutation]:
    """Apply one to three mutations to the knowledge base copy in `directory`."""
    mutations = []
    for _ in range(draw(st.integers(1, 3))):
        file = draw(st.sampled_from([*_yaml_files(directory), ARTICLE_TEXT]))
        kinds = _mutations_for(directory, file)
        if kinds:
            mutations.append(draw(st.sampled_from(kinds))(draw, directory, file))
    return mutations


# -- checks ------------------------------------------------------------------------------


def _load(directory: Path) -> Knowledge | tuple[Problem, ...]:
    """The knowledge, or the problems of its KnowledgeError. Any other exception propagates."""
    try:
        return load_knowledge(directory)
    except KnowledgeError as error:
        return error.problems


def _answers(snapshot: Snapshot) -> list[Any]:
    return [snapshot.answer(question) for question in SAMPLE_QUESTIONS]


def _assert_each_problem_names_its_file(problems: tuple[Problem, ...], directory: Path) -> None:
    assert problems, "KnowledgeError without problems"
    known = {*KNOWLEDGE_FILES, *_language_files(directory), ARTICLE_TEXT, str(directory)}
    for problem in problems:
        assert problem.file in known, f"{problem} names no file of the knowledge base"
        assert str(problem).startswith(problem.file)
        assert problem.message.strip(), f"{problem} says nothing"


def _is_located(problem: Problem, place: Place) -> bool:
    return (
        problem.file == place.file
        and (place.entries == frozenset({None}) or problem.entry in place.entries)
        and (place.field is None or problem.field == place.field)
    )


# Mutations after which no content of the file can be read.
UNREADABLE = frozenset({"not UTF-8", "huge", "missing", "directory"})
_SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.data_too_large]


@settings(max_examples=MIXED_EXAMPLES, deadline=None, suppress_health_check=_SLOW_IS_FINE)
@given(data=st.data())
def test_mutated_knowledge_is_accepted_or_refused_by_file_and_a_failed_reload_changes_nothing(
    pristine: tuple[Path, Snapshot], data: st.DataObject
):
    source, snapshot = pristine
    expected_answers = _answers(snapshot)
    with tempfile.TemporaryDirectory(prefix="knowledge-fuzz-") as tmp:
        directory = Path(tmp) / "knowledge"
        shutil.copytree(source, directory)
        mutations = data.draw(mutated_copies(directory), label="mutations")
        loaded = _load(directory)
        holder = KnowledgeHolder(directory, snapshot=snapshot, params=QUICK_TRAINING)

        if isinstance(loaded, Knowledge):
            # What loads must also build a matcher and answer (an empty messages.yaml once
            # loaded as no messages, and the first decline raised KeyError).
            holder.reload()
            assert holder.current.version == loaded.version
            assert len(_answers(holder.current)) == len(SAMPLE_QUESTIONS)
            return

        _assert_each_problem_names_its_file(loaded, directory)
        with pytest.raises(KnowledgeError) as refused:
            holder.reload()
        assert refused.value.problems == loaded
        assert holder.current is snapshot
        assert holder.current.version == snapshot.version
        assert _answers(holder.current) == expected_answers
        if len(mutations) == 1 and mutations[0].kind in UNREADABLE:
            # Nothing of the file could be read: the file itself is the place. (The article's
            # text has no size limit, so a huge one is merely a long article.)
            [mutation] = mutations
            if (mutation.file, mutation.kind) != (ARTICLE_TEXT, "huge"):
                assert any(p.file == mutation.file for p in loaded), (mutation, loaded)


@settings(max_examples=FIELD_EXAMPLES, deadline=None, suppress_health_check=_SLOW_IS_FINE)
@given(data=st.data())
def test_a_broken_field_is_reported_at_its_file_entry_and_field(
    pristine: tuple[Path, Snapshot], data: st.DataObject
):
    source, _ = pristine
    with tempfile.TemporaryDirectory(prefix="knowledge-fuzz-") as tmp:
        directory = Path(tmp) / "knowledge"
        shutil.copytree(source, directory)
        file = data.draw(st.sampled_from(_yaml_files(directory)), label="file")
        mutation = _structured(data.draw, directory, file)  # type: ignore[arg-type]
        event(f"{mutation.kind} in {file}")
        loaded = _load(directory)
        if isinstance(loaded, Knowledge):
            return  # an optional field removed, or a value it allows
        assert mutation.place is not None
        _assert_each_problem_names_its_file(loaded, directory)
        if any(_is_located(p, mutation.place) for p in loaded):
            return
        # Only an absent value - removed, null or empty - may be fine where it stands (an
        # optional field) and fail elsewhere, where it was needed.
        assert mutation.absent, f"{mutation} is not reported there: {loaded}"
        assert all(p.file != file for p in loaded), f"{mutation}: {loaded}"


@pytest.mark.parametrize("content", ["", "# only a comment\n"])
def test_empty_messages_file_is_refused_rather_than_crashing_the_first_decline(
    pristine: tuple[Path, Snapshot], tmp_path: Path, content: str
):
    directory = tmp_path / "knowledge"
    shutil.copytree(pristine[0], directory)
    (directory / "messages.yaml").write_text(content, encoding="utf-8")
    loaded = _load(directory)
    assert not isinstance(loaded, Knowledge)
    assert [(p.file, p.entry, p.field) for p in loaded] == [("messages.yaml", None, None)]


def _break_qa_answer(directory: Path) -> str:
    """Give the first Q&A entry a number for its answer; the entry's id."""
    path = directory / "qa.yaml"
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    entry = data["entries"][0]
    entry["answer"] = 42
    path.write_text(_dump(data), encoding="utf-8")
    return str(entry["id"])


def test_wrong_type_in_an_entry_is_refused_at_that_entry_and_field(
    pristine: tuple[Path, Snapshot], tmp_path: Path
):
    directory = tmp_path / "knowledge"
    shutil.copytree(pristine[0], directory)
    entry_id = _break_qa_answer(directory)
    problems = _load(directory)
    assert not isinstance(problems, Knowledge)
    assert any((p.file, p.entry, p.field) == ("qa.yaml", entry_id, "answer") for p in problems), (
        problems
    )


def test_file_over_the_size_limit_is_refused_without_being_parsed(
    pristine: tuple[Path, Snapshot], tmp_path: Path
):
    directory = tmp_path / "knowledge"
    shutil.copytree(pristine[0], directory)
    with (directory / "facts.yaml").open("ab") as file:
        file.write(b"\n# " + b"x" * MAX_FILE_BYTES + b"\n")
    problems = _load(directory)
    assert not isinstance(problems, Knowledge)
    [problem] = [p for p in problems if p.file == "facts.yaml"]
    assert "more than the 2000000 allowed" in problem.message


@pytest.mark.parametrize(
    ("breakage", "place"),
    [
        pytest.param("qa answer", "qa.yaml [{entry}] answer", id="wrong-type"),
        pytest.param("facts yaml", "facts.yaml: is not valid YAML at line", id="invalid-yaml"),
    ],
)
def test_bot_check_on_a_broken_copy_exits_1_and_names_the_place(
    pristine: tuple[Path, Snapshot], tmp_path: Path, breakage: str, place: str
):
    directory = tmp_path / "knowledge"
    shutil.copytree(pristine[0], directory)
    entry = ""
    if breakage == "qa answer":
        entry = _break_qa_answer(directory)
    else:
        path = directory / "facts.yaml"
        path.write_text(path.read_text(encoding="utf-8") + '\n  - id: "unclosed\n', "utf-8")
    env = {**os.environ, "BOT_KNOWLEDGE_DIR": str(directory)}
    env.pop("TELEGRAM_BOT_TOKEN", None)
    result = subprocess.run(
        [sys.executable, "-m", "bot", "check"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert place.format(entry=entry) in result.stderr, result.stderr
