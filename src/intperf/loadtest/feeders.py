"""Data feeders: records read from CSV or JSON files and handed to virtual users one by one.

Strategies: ``circular`` (in order, wrapping around), ``random`` (with replacement) and
``queue`` (in order, each record used once; a dry queue ends the user's work).
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from intperf.errors import FeederError, FeederExhaustedError

if TYPE_CHECKING:
    from intperf.loadtest.scenario import FeederSpec

__all__ = ["STRATEGIES", "Feeder", "FeederData", "Strategy", "read_feeder_file"]

Strategy = Literal["circular", "random", "queue"]
STRATEGIES: tuple[Strategy, ...] = ("circular", "random", "queue")
SUFFIXES = (".csv", ".json")


@dataclass(frozen=True, slots=True)
class FeederData:
    """The parsed content of a feeder file."""

    path: Path
    columns: tuple[str, ...]
    records: tuple[Mapping[str, str], ...]


def read_feeder_file(path: Path) -> FeederData:
    """Read a ``.csv`` (header row required) or ``.json`` (array of flat objects) feeder file.

    Raises :class:`FeederError` naming the path when the file is missing, unreadable,
    malformed or has no records.
    """
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise FeederError(
            f"{path}: unsupported feeder file type {suffix or '(none)'!r}; use .csv or .json"
        )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise FeederError(f"{path}: file not found") from None
    except UnicodeDecodeError as e:
        raise FeederError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise FeederError(f"{path}: cannot read ({e.strerror})") from None
    if not text.strip():
        raise FeederError(f"{path}: file is empty")
    columns, records = _parse_csv(path, text) if suffix == ".csv" else _parse_json(path, text)
    if not records:
        raise FeederError(f"{path}: has no records")
    return FeederData(path, columns, records)


def _parse_csv(path: Path, text: str) -> tuple[tuple[str, ...], tuple[Mapping[str, str], ...]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    records: list[Mapping[str, str]] = []
    try:
        for row in reader:
            if not row:
                continue  # blank line
            if header is None:
                header = [c.strip() for c in row]
                _check_header(path, header)
                continue
            if len(row) != len(header):
                raise FeederError(
                    f"{path}: line {reader.line_num} has {len(row)} field(s), "
                    f"the header has {len(header)}"
                )
            records.append(dict(zip(header, row, strict=True)))
    except csv.Error as e:
        raise FeederError(f"{path}: line {reader.line_num}: {e}") from None
    return tuple(header or ()), tuple(records)


def _check_header(path: Path, header: list[str]) -> None:
    seen: set[str] = set()
    for i, name in enumerate(header, 1):
        if not name:
            raise FeederError(
                f"{path}: header column {i} has no name (the first row must name every column)"
            )
        if name in seen:
            raise FeederError(f"{path}: header names column {name!r} twice")
        seen.add(name)


def _parse_json(path: Path, text: str) -> tuple[tuple[str, ...], tuple[Mapping[str, str], ...]]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise FeederError(f"{path}:{e.lineno}:{e.colno}: invalid JSON ({e.msg})") from None
    if not isinstance(doc, list):
        raise FeederError(f"{path}: expected a JSON array of objects, got {type(doc).__name__}")
    columns: tuple[str, ...] = ()
    records: list[Mapping[str, str]] = []
    for i, item in enumerate(doc):
        if not isinstance(item, dict):
            raise FeederError(f"{path}: record [{i}] is not an object: {json.dumps(item)[:60]}")
        keys = tuple(item)
        if i == 0:
            columns = keys
        elif set(keys) != set(columns):
            raise FeederError(
                f"{path}: record [{i}] has keys {sorted(keys)}, expected {sorted(columns)} "
                "(every record needs the same keys)"
            )
        records.append({k: _text(path, i, k, v) for k, v in item.items()})
    return columns, tuple(records)


def _text(path: Path, index: int, key: str, value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, int | float):
        return json.dumps(value)
    raise FeederError(
        f"{path}: record [{index}].{key} is {type(value).__name__}; values must be text, "
        "numbers, booleans or null (feeder records are flat)"
    )


class Feeder:
    """Hands out records of one feeder file to the users of one worker."""

    __slots__ = ("_index", "_records", "_rng", "columns", "name", "strategy")

    def __init__(
        self,
        name: str,
        strategy: Strategy,
        columns: tuple[str, ...],
        records: tuple[Mapping[str, str], ...],
        *,
        start: int = 0,
        rng: random.Random | None = None,
    ) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown feeder strategy {strategy!r}; use one of {STRATEGIES}")
        self.name = name
        self.strategy: Strategy = strategy
        self.columns = columns
        self._records = records
        self._index = start
        self._rng = rng or random.Random()

    @classmethod
    def open(
        cls,
        name: str,
        spec: FeederSpec,
        base_dir: Path,
        *,
        worker: int = 0,
        workers: int = 1,
        seed: int | None = None,
    ) -> Feeder:
        """Read ``spec.file`` (relative to ``base_dir``) and set up worker ``worker``'s share.

        ``queue`` gives each worker the records i with ``i % workers == worker``; ``circular``
        starts each worker at a different offset; ``random`` seeds each worker differently.
        """
        if workers < 1 or not 0 <= worker < workers:
            raise ValueError(f"worker {worker} is not in 0..{workers - 1}")
        data = read_feeder_file(base_dir / spec.file)
        records = data.records
        start = 0
        rng: random.Random | None = None
        if spec.strategy == "queue":
            records = records[worker::workers]
        elif spec.strategy == "circular":
            start = (worker * len(records)) // workers
        elif seed is not None:
            # str seeds are hashed with SHA-512 by random.seed: stable across runs and platforms.
            rng = random.Random(f"{seed}:{name}:{worker}")
        return cls(name, spec.strategy, data.columns, records, start=start, rng=rng)

    def __len__(self) -> int:
        return len(self._records)

    def next(self) -> Mapping[str, str]:
        """The next record (shared: do not mutate); raises FeederExhaustedError for a dry queue."""
        records = self._records
        if self.strategy == "random":
            return records[self._rng.randrange(len(records))]
        i = self._index
        if self.strategy == "queue":
            if i >= len(records):
                raise FeederExhaustedError(f"feeder '{self.name}' has no records left")
            self._index = i + 1
            return records[i]
        self._index = (i + 1) % len(records)
        return records[i % len(records)]
