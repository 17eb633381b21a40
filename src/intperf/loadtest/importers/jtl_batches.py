"""pyarrow record batches of a CSV JTL added to second windows, whole columns at a time.

The csv-module reader's rules (``jtl_csv.import_jtl_csv_rows``) on columns: a field in its
usual form is converted by pyarrow/NumPy, any other goes through that reader's own function
(``parse_timestamp_ms``, ``float``, ``to_int``, ``parse_bool``, ``classify``), and response
times are bucketized in the same flush segments, so sums of floats round alike.
"""

from __future__ import annotations

import csv
from typing import Any

import numpy as np
import numpy.typing as npt

from intperf.loadtest.importers._common import (
    SeriesBuilder,
    classify,
    parse_bool,
    to_int,
)
from intperf.loadtest.importers.jtl_columns import JtlLayout, parse_timestamp_ms
from intperf.loadtest.results import ErrorClass, RequestWindow
from intperf.stats.histogram import record_groups

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

#: Longest run of ASCII digits converted in bulk: below 2**53, so float(int) is exact.
_MAX_DIGITS = 15
#: Sums of integer columns are taken as float64 per batch: exact below this.
_EXACT_SUM = 2**53
#: Index 0 is success, then the error classes; -1 marks "classify from the messages".
_CLASSES: tuple[ErrorClass | None, ...] = (None, *ErrorClass)
_CLASS_INDEX = {c: i for i, c in enumerate(_CLASSES)}
_OK_VALUES: tuple[bool | None, ...] = (None, True, False)
_UNNAMED = "(unnamed)"


class Unsupported(Exception):
    """The file needs the csv-module reader."""


class BatchAccumulator:
    """Adds record batches (all columns binary; label/code/success dictionary-encoded)."""

    __slots__ = ("_active", "_flush_at", "_idx", "_label_ids", "_label_names", "_limit",
                 "_pending", "_pending_n", "_raw_labels", "_win_ids", "_wins", "builder",
                 "rows", "skipped")

    def __init__(self, layout: JtlLayout, builder: SeriesBuilder, flush_at: int) -> None:
        self.builder = builder
        self.rows = 0
        self.skipped = 0
        names = ("timeStamp", "elapsed", "label", "responseCode", "responseMessage",
                 "success", "failureMessage", "bytes", "sentBytes", "allThreads")
        self._idx = {n: layout.index(n) for n in names}
        self._flush_at = flush_at
        self._limit = csv.field_size_limit()
        self._raw_labels: dict[bytes, int] = {}
        self._label_ids: dict[str, int] = {}
        self._label_names: list[str] = []
        self._win_ids: dict[int, int] = {}  # (second << 32 | label id) -> index in _wins
        self._wins: list[RequestWindow] = []
        self._active: dict[int, int] = {}
        self._pending: list[tuple[Ints, Floats]] = []
        self._pending_n = 0

    # -- one batch ---------------------------------------------------------------------------
    def add(self, batch: Any) -> None:
        """Count the rows of ``batch`` (rows of the wrong width never reach it)."""
        n = int(batch.num_rows)
        if n == 0:
            return
        cols = batch.columns
        self._check_fields(cols)
        sec, ok_ts = _seconds(cols[self._col("timeStamp")])
        elapsed, ok_el = _elapsed(cols[self._col("elapsed")])
        with np.errstate(invalid="ignore"):
            valid = ok_ts & ok_el & ~(elapsed < 0)  # NaN passes, as in the csv-module reader
        vi = np.flatnonzero(valid)
        self.skipped += n - int(vi.size)
        if not vi.size:
            return
        self.rows += int(vi.size)
        sec, elapsed = sec[vi], elapsed[vi]
        labels = self._labels(cols, vi)
        err = self._classes(cols, vi)
        smin = int(sec.min())
        n_labels = len(self._label_names)
        keys, first, inv = _groups(sec - smin, n_labels, labels)
        n_groups = int(keys.size)
        ok = np.bincount(inv[err == 0], minlength=n_groups).tolist()
        bytes_in = self._sums(cols, "bytes", vi, inv, n_groups)
        bytes_out = self._sums(cols, "sentBytes", vi, inv, n_groups)
        users = self._users(cols, vi, inv, n_groups)
        wid = np.empty(n_groups, dtype=np.int64)
        keys_l = keys.tolist()
        for g in np.argsort(first, kind="stable").tolist():  # windows in order of appearance
            s, lab = divmod(keys_l[g], n_labels)
            s += smin
            w_id = self._window(s, lab)
            wid[g] = w_id
            w = self._wins[w_id]
            w.ok += ok[g]
            w.bytes_in += bytes_in[g]
            w.bytes_out += bytes_out[g]
            if users is not None and users[g] > self._active.get(s, 0):
                self._active[s] = users[g]
        self._failures(cols, vi, err, wid[inv])
        finite = np.isfinite(elapsed)
        self._buffer(wid[inv[finite]], elapsed[finite])

    def _col(self, name: str) -> int:
        i = self._idx[name]
        assert i is not None  # timeStamp and elapsed: layout_of requires them
        return i

    def _check_fields(self, cols: list[Any]) -> None:
        """Unsupported when a field would make the csv module raise (over its size limit)."""
        pc = _arrow()[1]
        for col in cols:
            if col.null_count:
                raise Unsupported("a null field")
            values = col.dictionary if hasattr(col, "dictionary") else col
            if values.nbytes >= self._limit and pc.max(pc.binary_length(values)).as_py() >= (
                self._limit
            ):
                raise Unsupported("a field over the csv module's size limit")

    def _window(self, sec: int, label: int) -> int:
        key = sec << 32 | label  # an int key takes half a tuple's memory
        w_id = self._win_ids.get(key)
        if w_id is None:
            name = self._label_names[label]
            w_id = self._win_ids[key] = len(self._wins)
            self._wins.append(self.builder.window(sec, name).requests[name])
        return w_id

    def _labels(self, cols: list[Any], vi: Ints) -> Ints:
        i = self._idx["label"]
        if i is None:
            return np.full(vi.size, self._label_id(b""), dtype=np.int64)
        col = cols[i]
        lut = np.array([self._label_id(b) for b in col.dictionary.to_pylist()], dtype=np.int64)
        return lut[np.asarray(col.indices)[vi]] if lut.size else np.zeros(0, dtype=np.int64)

    def _label_id(self, raw: bytes) -> int:
        gid = self._raw_labels.get(raw)
        if gid is None:
            name = raw.decode() or _UNNAMED
            gid = self._label_ids.get(name)
            if gid is None:
                gid = self._label_ids[name] = len(self._label_names)
                self._label_names.append(name)
            self._raw_labels[raw] = gid
        return gid

    def _classes(self, cols: list[Any], vi: Ints) -> npt.NDArray[np.int8]:
        """Class index per valid row: 0 success, -1 classify from the messages (failures)."""
        codes, code_idx = _dictionary(cols, self._idx["responseCode"], vi)
        oks, ok_idx = _dictionary(cols, self._idx["success"], vi)
        ok_lut = np.array([_ok_code(t) for t in oks], dtype=np.int64)
        pairs = code_idx * 3 + ok_lut[ok_idx]
        lut = np.zeros(len(codes) * 3, dtype=np.int8)
        for pair in np.flatnonzero(np.bincount(pairs, minlength=lut.size) != 0).tolist():
            code, ok = codes[pair // 3], _OK_VALUES[pair % 3]
            bare = code.strip()
            if not bare.isdigit() and not (ok or (ok is None and not bare)):
                lut[pair] = -1  # the branch of classify() that reads the messages
            else:
                lut[pair] = _CLASS_INDEX[classify(code, ok)]
        return np.asarray(lut[pairs], dtype=np.int8)

    def _failures(self, cols: list[Any], vi: Ints, err: npt.NDArray[np.int8],
                  row_wid: Ints) -> None:
        """Count failed rows one by one, in file order (windows keep the first messages)."""
        failed = np.flatnonzero(err != 0)
        if not failed.size:
            return
        rows = vi[failed]
        fail = _texts(cols, self._idx["failureMessage"], rows)
        resp = _texts(cols, self._idx["responseMessage"], rows)
        codes, code_idx = _dictionary(cols, self._idx["responseCode"], rows)
        oks, ok_idx = _dictionary(cols, self._idx["success"], rows)
        wins = self._wins
        for j, f in enumerate(failed.tolist()):
            code, fm, rm = codes[code_idx[j]], fail[j], resp[j]
            e = int(err[f])
            cls = _CLASSES[e] if e > 0 else classify(
                code, _OK_VALUES[_ok_code(oks[ok_idx[j]])], fm, rm)
            assert cls is not None  # the messages branch always names a class
            message = fm or rm or code
            wins[int(row_wid[f])].add_error(cls, message or None)

    def _sums(self, cols: list[Any], name: str, vi: Ints, inv: Ints, n: int) -> list[int]:
        i = self._idx[name]
        if i is None:
            return [0] * n
        values = _ints(cols[i])[vi]
        if values.size and int(np.abs(values).max()) * values.size >= _EXACT_SUM:
            raise Unsupported(f"{name} values too large to sum exactly as floats")
        return [int(v) for v in np.bincount(inv, weights=values, minlength=n).tolist()]

    def _users(self, cols: list[Any], vi: Ints, inv: Ints, n: int) -> list[int] | None:
        i = self._idx["allThreads"]
        if i is None:
            return None
        top = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
        np.maximum.at(top, inv, _ints(cols[i])[vi])
        return [int(v) for v in top.tolist()]

    # -- response times: the csv-module reader's flush segments ------------------------------
    def _buffer(self, wids: Ints, values: Floats) -> None:
        self._pending.append((wids, values))
        self._pending_n += int(values.size)
        if self._pending_n < self._flush_at:
            return
        all_w = np.concatenate([w for w, _ in self._pending])
        all_v = np.concatenate([v for _, v in self._pending])
        cut = self._pending_n - self._pending_n % self._flush_at
        for s in range(0, cut, self._flush_at):
            self._record(all_w[s : s + self._flush_at], all_v[s : s + self._flush_at])
        self._pending = [(all_w[cut:], all_v[cut:])]
        self._pending_n -= cut

    def _record(self, wids: Ints, values: Floats) -> None:
        low = int(wids.min())
        if int(wids.max()) - low < 1 << 16:  # NumPy sorts 16-bit keys with a radix sort
            order = np.argsort((wids - low).astype(np.uint16), kind="stable")
        else:
            order = np.argsort(wids, kind="stable")
        wids, values = wids[order], values[order]
        bounds = np.concatenate(([0], np.flatnonzero(np.diff(wids)) + 1, [wids.size]))
        groups = [(self._wins[w].latency, self._wins[w].service)
                  for w in wids[bounds[:-1]].tolist()]
        record_groups(groups, values, bounds)

    def finish(self) -> None:
        """Bucketize what is buffered and set active users (call once, after the last batch)."""
        self._win_ids.clear()  # ~100 bytes a window, not needed any more
        if self._pending_n:
            self._record(np.concatenate([w for w, _ in self._pending]),
                         np.concatenate([v for _, v in self._pending]))
        self._pending, self._pending_n = [], 0
        for sec, users in self._active.items():
            self.builder.second(sec).active_users = users


def _groups(sec: Ints, n_labels: int, labels: Ints) -> tuple[Ints, Ints, Ints]:
    """Distinct (second, label) keys in order, the first row of each, each row's group."""
    span = int(sec.max()) + 1
    if span * n_labels >= 2**62:
        raise Unsupported("seconds too far apart to group")
    key = sec * n_labels + labels
    cells = span * n_labels
    if cells > 4 * key.size + 4096:
        keys, first, inv = np.unique(key, return_index=True, return_inverse=True)
        return keys, first, inv
    first = np.full(cells, key.size, dtype=np.int64)  # a batch spans a few seconds: dense
    np.minimum.at(first, key, np.arange(key.size, dtype=np.int64))
    keys = np.flatnonzero(first < key.size)
    group = np.empty(cells, dtype=np.int64)
    group[keys] = np.arange(keys.size, dtype=np.int64)
    return keys, first[keys], group[key]


# -- columns -----------------------------------------------------------------------------------
def _arrow() -> tuple[Any, Any]:
    """pyarrow and pyarrow.compute, imported when a file is read (not with intperf)."""
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.compute as pc  # type: ignore[import-untyped]

    return pa, pc


def _decimal(col: Any) -> tuple[Ints, Bools]:
    """Values of the fields that are ASCII digits below 2**53, and which fields those are.

    pyarrow's string-to-int64 cast reads ``-?[0-9]+`` and ``0[xX][0-9a-fA-F]+``
    (tests/unit/loadtest/importers/test_import_jtl_fast.py pins this): when it reads a whole
    column, the fields starting with a digit not followed by x/X are plain digits.
    """
    pa, pc = _arrow()
    text = col.view(pa.string())  # the source is valid UTF-8 (see jtl_fast)
    try:
        values = np.asarray(pc.cast(text, pa.int64()), dtype=np.int64)
    except pa.ArrowInvalid:  # some field is not an integer: find the plain ones
        usual = pc.and_(pc.ascii_is_decimal(text),
                        pc.less_equal(pc.binary_length(col), _MAX_DIGITS))
        mask: Bools = usual.to_numpy(zero_copy_only=False)
        values = np.zeros(len(col), dtype=np.int64)
        if mask.any():
            values[mask] = np.asarray(pc.cast(text.filter(usual), pa.int64()), dtype=np.int64)
        return values, mask
    _, offsets, data = col.buffers()
    off = np.frombuffer(offsets, dtype=np.int32)[col.offset : col.offset + len(col) + 1]
    raw = np.frombuffer(data, dtype=np.uint8)
    starts = off[:-1]
    mask = (raw[starts] - np.uint8(48)) < 10  # a digit first: no sign, no 0x
    two = (off[1:] - starts) >= 2
    mask &= ~(two & ((raw[np.minimum(starts + 1, raw.size - 1)] | 0x20) == ord("x")))
    mask &= values < 2**53
    if not mask.all():
        values = np.where(mask, values, 0)
    return values, mask


def _others(col: Any, mask: Bools) -> tuple[list[int], list[str]]:
    """Positions and texts of the fields ``mask`` leaves out."""
    rest = np.flatnonzero(~mask)
    return rest.tolist(), [b.decode() for b in col.take(_arrow()[0].array(rest)).to_pylist()]


def _seconds(col: Any) -> tuple[Ints, Bools]:
    """Epoch second of each row's timeStamp, and whether it could be read."""
    values, mask = _decimal(col)
    seconds = values // 1000
    if not mask.all():
        ok = mask.copy()
        for i, text in zip(*_others(col, mask), strict=True):
            try:
                ms = parse_timestamp_ms(text)
            except ValueError:
                continue
            s = int(ms // 1000)
            if not -(2**62) < s < 2**62:
                raise Unsupported("a timestamp out of range")
            seconds[i], ok[i] = s, True
        mask = ok
    return seconds, mask


def _elapsed(col: Any) -> tuple[Floats, Bools]:
    """Each row's elapsed as ``float()`` reads it, and whether it could be read."""
    values, mask = _decimal(col)
    out = values.astype(np.float64)
    if not mask.all():
        ok = mask.copy()
        for i, text in zip(*_others(col, mask), strict=True):
            try:
                out[i] = float(text)
            except ValueError:
                continue
            ok[i] = True
        mask = ok
    return out, mask


def _ints(col: Any) -> Ints:
    """``to_int(field or None)`` of each row."""
    values, mask = _decimal(col)
    if not mask.all():
        for i, text in zip(*_others(col, mask), strict=True):
            v = to_int(text or None)
            if not -(2**62) < v < 2**62:
                raise Unsupported("an integer field out of range")
            values[i] = v
    return values


def _dictionary(cols: list[Any], i: int | None, rows: Ints) -> tuple[list[str], Ints]:
    """A dictionary-encoded column's texts and the text index of each of ``rows``."""
    if i is None:
        return [""], np.zeros(rows.size, dtype=np.int64)
    col = cols[i]
    texts = [b.decode() for b in col.dictionary.to_pylist()]
    return texts, np.asarray(col.indices)[rows].astype(np.int64)


def _texts(cols: list[Any], i: int | None, rows: Ints) -> list[str]:
    """The texts of a binary column at ``rows`` ("" for every row when there is none)."""
    if i is None:
        return [""] * int(rows.size)
    return [b.decode() for b in cols[i].take(_arrow()[0].array(rows)).to_pylist()]


def _ok_code(text: str) -> int:
    """0, 1, 2 for a success field read as None, True, False (as the csv-module reader)."""
    ok = parse_bool(text) if text else None
    return 0 if ok is None else 1 if ok else 2
