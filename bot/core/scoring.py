"""What the matcher asks of a model, and a trained model read from its cache file without numpy.

`Scorer` is the interface: class probabilities (the likeliest few), the language head and the
share of a question's features the model knows. Two implementations give the same numbers:
`TrainedModel` (bot/core/training.py, numpy: the bot, `check`, `eval`) and `StoredModel`
here, which maps the cached .npz file into memory and reads only the rows a question
touches, in plain Python. A one-shot `python -m bot ask` so never imports numpy, whose
import alone costs more than the rest of the answer.
"""

from __future__ import annotations

import ast
import json
import math
import mmap
import struct
import sys
import zipfile
from bisect import bisect_left
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from bot.core.features import feature_hash, feature_strings, hashed_counts

# The class of questions the article does not answer.
DECLINED = "!declined"
# Version of the cache file's layout (bot/core/training.py writes it).
CACHE_FORMAT = 2


class Scorer(Protocol):
    """A trained model as the matcher uses it."""

    @property
    def classes(self) -> tuple[str, ...]: ...

    @property
    def languages(self) -> tuple[str, ...]: ...

    def ranked(self, text: str, top: int) -> list[tuple[int, float]]:
        """The `top` likeliest classes as (class index, probability 0-1), best first; ties
        go to the lower index."""
        ...

    def language_probabilities(self, text: str) -> dict[str, float]: ...

    def known_share(self, text: str) -> float:
        """The share of the question's distinct features the model has weights for."""
        ...

    def contributions(self, text: str, class_index: int, limit: int) -> list[tuple[str, float]]:
        """The question's features that weigh most for one class, with their weights."""
        ...


def softmax(scores: Sequence[float]) -> list[float]:
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    total = math.fsum(exps)
    return [e / total for e in exps]


def top_classes(probabilities: Sequence[float], top: int) -> list[tuple[int, float]]:
    order = sorted(range(len(probabilities)), key=lambda i: -probabilities[i])[:top]
    return [(i, probabilities[i]) for i in order]


class _Npz:
    """The arrays of an uncompressed .npz (what numpy.savez writes), mapped, not read."""

    def __init__(self, path: Path) -> None:
        with path.open("rb") as file:
            self._map = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
            with zipfile.ZipFile(file) as archive:
                members = archive.infolist()
        self._arrays: dict[str, tuple[memoryview, str, tuple[int, ...]]] = {}
        for member in members:
            if member.compress_type != zipfile.ZIP_STORED or not member.filename.endswith(".npy"):
                raise ValueError(f"{member.filename}: not a stored .npy")
            # The local header: 30 bytes, then the name and an extra field of given lengths.
            lengths = struct.unpack_from("<HH", self._map, member.header_offset + 26)
            start = member.header_offset + 30 + sum(lengths)
            body = memoryview(self._map)[start : start + member.file_size]
            self._arrays[member.filename.removesuffix(".npy")] = _npy(body)

    def shape(self, name: str) -> tuple[int, ...]:
        return self._arrays[name][2]

    def _body(self, name: str, descr: str) -> memoryview:
        body, found, _ = self._arrays[name]
        if found != descr:
            raise ValueError(f"{name} is {found}, not {descr}")
        return body

    def bytes(self, name: str) -> bytes:
        return bytes(self._body(name, "|u1"))

    def uint32(self, name: str) -> memoryview[int]:
        return self._body(name, "<u4").cast("I")

    def float32(self, name: str) -> memoryview[float]:
        return self._body(name, "<f4").cast("f")


def _npy(data: memoryview) -> tuple[memoryview, str, tuple[int, ...]]:
    """One .npy (a C-order array): its values' bytes, dtype and shape."""
    if bytes(data[:6]) != b"\x93NUMPY":
        raise ValueError("not a .npy")
    size_format = "<H" if data[6] == 1 else "<I"
    at = 8 + struct.calcsize(size_format)
    (header_length,) = struct.unpack_from(size_format, data, 8)
    header = ast.literal_eval(bytes(data[at : at + header_length]).decode("latin-1"))
    if header["fortran_order"] or sys.byteorder != "little":
        raise ValueError(f"unsupported array {header}")
    return data[at + header_length :], str(header["descr"]), tuple(header["shape"])


class StoredModel:
    """A cached model file read in place; the same probabilities as the TrainedModel it was
    saved from, to float64 rounding."""

    def __init__(self, path: Path, key: str) -> None:
        arrays = _Npz(path)
        meta = json.loads(arrays.bytes("meta").decode("utf-8"))
        if meta.get("key") != key or meta.get("format") != CACHE_FORMAT:
            raise ValueError(f"{path} holds another model")
        self.key = key
        self._classes = tuple(meta["classes"])
        self._languages = tuple(meta["languages"])
        self.hashes = arrays.uint32("hashes")
        self._idf = arrays.float32("idf")
        self._weights = arrays.float32("weights")
        self._bias = arrays.float32("bias")
        self._language_weights = arrays.float32("language_weights")
        self._language_bias = arrays.float32("language_bias")
        if arrays.shape("weights") != (len(self.hashes), len(self._classes)):
            raise ValueError(f"{path}: weights of shape {arrays.shape('weights')}")

    @classmethod
    def open(cls, path: Path, key: str) -> StoredModel | None:
        """The model at `path` if it is the one for `key`, else None."""
        try:
            return cls(path, key)
        except (OSError, ValueError, KeyError, SyntaxError, zipfile.BadZipFile):
            return None

    @property
    def classes(self) -> tuple[str, ...]:
        return self._classes

    @property
    def languages(self) -> tuple[str, ...]:
        return self._languages

    def _vector(self, text: str) -> tuple[list[int], list[float]]:
        hashes, idf = self.hashes, self._idf
        count = len(hashes)
        columns: list[int] = []
        values: list[float] = []
        for key, n in hashed_counts(text).items():
            where = bisect_left(hashes, key)
            if where < count and hashes[where] == key:
                columns.append(where)
                values.append((1.0 + math.log(n)) * idf[where])
        norm = math.sqrt(sum(v * v for v in values))
        if norm == 0.0:
            return [], []
        return columns, [v / norm for v in values]

    def _scores(
        self, text: str, weights: memoryview[float], bias: memoryview[float]
    ) -> list[float]:
        width = len(bias)
        scores = [0.0] * width
        for column, value in zip(*self._vector(text), strict=True):
            row = weights[column * width : (column + 1) * width]
            scores = [s + value * w for s, w in zip(scores, row, strict=True)]
        return [b + s for b, s in zip(bias, scores, strict=True)]

    def ranked(self, text: str, top: int) -> list[tuple[int, float]]:
        return top_classes(softmax(self._scores(text, self._weights, self._bias)), top)

    def language_probabilities(self, text: str) -> dict[str, float]:
        if not self._languages:
            return {}
        scores = self._scores(text, self._language_weights, self._language_bias)
        return dict(zip(self._languages, softmax(scores), strict=True))

    def known_share(self, text: str) -> float:
        keys = hashed_counts(text)
        count = len(self.hashes)
        if not keys or not count:
            return 0.0
        known = 0
        for key in keys:
            where = bisect_left(self.hashes, key)
            known += where < count and self.hashes[where] == key
        return known / len(keys)

    def contributions(self, text: str, class_index: int, limit: int) -> list[tuple[str, float]]:
        by_hash = {feature_hash(g): g for g in feature_strings(text)}
        width = len(self._classes)
        weighed = [
            (
                by_hash.get(self.hashes[column], "?"),
                value * self._weights[column * width + class_index],
            )
            for column, value in zip(*self._vector(text), strict=True)
        ]
        return sorted(weighed, key=lambda item: -abs(item[1]))[:limit]
