"""Tests of feeders: CSV and JSON files, malformed input, strategies and worker sharding."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from intperf.errors import FeederError, FeederExhaustedError
from intperf.loadtest.feeders import Feeder, read_feeder_file
from intperf.loadtest.scenario import FeederSpec


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def csv_of(tmp_path: Path, n: int) -> Path:
    rows = "".join(f"u{i},p{i}\n" for i in range(n))
    return write(tmp_path / "users.csv", "username,password\n" + rows)


def test_csv_records(tmp_path: Path) -> None:
    path = write(tmp_path / "u.csv", '\ufeffname, city\nann,"Paris, FR"\n\nbob,"multi\nline"\n')
    data = read_feeder_file(path)
    assert data.columns == ("name", "city")
    assert data.records == (
        {"name": "ann", "city": "Paris, FR"},
        {"name": "bob", "city": "multi\nline"},
    )


def test_json_records_become_text(tmp_path: Path) -> None:
    path = write(
        tmp_path / "t.json",
        '[{"q": "shoes", "n": 1, "x": 1.5, "b": true, "z": null},'
        ' {"q": "hats", "n": 2, "x": 0, "b": false, "z": "a"}]',
    )
    data = read_feeder_file(path)
    assert data.columns == ("q", "n", "x", "b", "z")
    assert data.records[0] == {"q": "shoes", "n": "1", "x": "1.5", "b": "true", "z": ""}
    assert data.records[1]["b"] == "false"


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("e.csv", "", "file is empty"),
        ("h.csv", "a,b\n", "has no records"),
        ("r.csv", "a,b\n1,2\n1,2,3\n", "line 3 has 3 field(s), the header has 2"),
        ("s.csv", "a,b\n1\n", "line 2 has 1 field(s), the header has 2"),
        ("d.csv", "a,a\n1,2\n", "header names column 'a' twice"),
        ("n.csv", "a,,c\n1,2,3\n", "header column 2 has no name"),
        ("q.csv", 'a\n"x"y\n', "line"),
        ("e.json", "[]", "has no records"),
        ("o.json", '{"a": 1}', "expected a JSON array of objects, got dict"),
        ("i.json", "[1]", "record [0] is not an object"),
        ("k.json", '[{"a": 1}, {"b": 2}]', "record [1] has keys ['b'], expected ['a']"),
        ("v.json", '[{"a": [1]}]', "record [0].a is list"),
        ("j.json", '[{"a": 1},', "invalid JSON"),
        ("t.txt", "a\n1\n", "unsupported feeder file type '.txt'"),
    ],
)
def test_malformed_files(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = write(tmp_path / name, text)
    with pytest.raises(FeederError) as info:
        read_feeder_file(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_strict_csv_quoting_error(tmp_path: Path) -> None:
    path = write(tmp_path / "q.csv", 'a\n"x\n')  # unterminated quote at end of file
    with pytest.raises(FeederError, match=r"q\.csv: line 2: unexpected end of data"):
        read_feeder_file(path)


def test_missing_and_undecodable_files(tmp_path: Path) -> None:
    with pytest.raises(FeederError, match="file not found"):
        read_feeder_file(tmp_path / "nope.csv")
    bad = tmp_path / "b.csv"
    bad.write_bytes(b"a\n\xff\xfe\n")
    with pytest.raises(FeederError, match="not UTF-8"):
        read_feeder_file(bad)


def test_circular_wraps_around(tmp_path: Path) -> None:
    csv_of(tmp_path, 3)
    f = Feeder.open("users", FeederSpec(file="users.csv"), tmp_path)
    assert f.columns == ("username", "password")
    assert [f.next()["username"] for _ in range(7)] == ["u0", "u1", "u2", "u0", "u1", "u2", "u0"]


def test_circular_workers_start_at_different_offsets(tmp_path: Path) -> None:
    csv_of(tmp_path, 10)
    spec = FeederSpec(file="users.csv", strategy="circular")
    firsts = [
        Feeder.open("u", spec, tmp_path, worker=w, workers=4).next()["username"] for w in range(4)
    ]
    assert firsts == ["u0", "u2", "u5", "u7"]


def test_queue_runs_dry(tmp_path: Path) -> None:
    csv_of(tmp_path, 2)
    f = Feeder.open("users", FeederSpec(file="users.csv", strategy="queue"), tmp_path)
    assert [f.next()["username"], f.next()["username"]] == ["u0", "u1"]
    with pytest.raises(FeederExhaustedError, match="feeder 'users' has no records left"):
        f.next()
    assert not FeederExhaustedError.counts_as_failure


def test_queue_shares_are_disjoint_and_complete(tmp_path: Path) -> None:
    csv_of(tmp_path, 10)
    spec = FeederSpec(file="users.csv", strategy="queue")
    seen: list[str] = []
    for w in range(3):
        f = Feeder.open("u", spec, tmp_path, worker=w, workers=3)
        share = [f.next()["username"] for _ in range(len(f))]
        assert share == [f"u{i}" for i in range(w, 10, 3)]
        seen += share
    assert sorted(seen) == sorted(f"u{i}" for i in range(10))


def test_random_is_seeded_per_worker(tmp_path: Path) -> None:
    csv_of(tmp_path, 50)
    spec = FeederSpec(file="users.csv", strategy="random")

    def draw(worker: int, seed: int | None = 42) -> list[str]:
        f = Feeder.open("u", spec, tmp_path, worker=worker, workers=2, seed=seed)
        return [f.next()["username"] for _ in range(20)]

    assert draw(0) == draw(0)
    assert draw(0) != draw(1)
    counts = Counter(draw(0, seed=None) + draw(1, seed=None))
    assert set(counts) <= {f"u{i}" for i in range(50)}


def test_bad_worker_index(tmp_path: Path) -> None:
    csv_of(tmp_path, 2)
    with pytest.raises(ValueError, match=r"worker 2 is not in 0\.\.1"):
        Feeder.open("u", FeederSpec(file="users.csv"), tmp_path, worker=2, workers=2)


def test_open_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(FeederError, match=str(tmp_path / "data" / "x.csv")):
        Feeder.open("x", FeederSpec(file="data/x.csv"), tmp_path)
