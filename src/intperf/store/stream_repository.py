"""Storage of live analytics: window results as live runs, checkpoints, dead letters, late
events and slow queries (docs/stream.md, docs/storage.md).

Window results go to the same ``runs``/``run_seconds`` tables as load tests: one live run per
service and UTC day (``test_type = LIVE``, scenario ``live:<service>``, a deterministic id),
each window stored as the second window of its start (``second`` = seconds since midnight).
:meth:`StreamRepository.store_progress` writes windows, late events, dead letters, slow
queries **and** the checkpoint in one transaction, so offsets committed to the bus afterwards
never run ahead of what is stored (at-least-once; a replayed window replaces itself).
"""

from __future__ import annotations

import builtins
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from intperf.loadtest.results import SecondWindow
from intperf.store.database import Database
from intperf.store.records import utcnow
from intperf.store.repositories import LIVE_TEST_TYPE
from intperf.store.tables import (
    DeadLetterRow,
    LateEventRow,
    RunRow,
    RunSecondRow,
    SlowQueryRow,
    StreamCheckpointRow,
    StreamWindowRow,
)

__all__ = [
    "MAX_PAYLOAD_CHARS",
    "Checkpoint",
    "DeadLetter",
    "LateEvent",
    "LiveService",
    "LiveWindow",
    "OtherWindow",
    "SlowQuery",
    "StreamProgress",
    "StreamRepository",
    "live_run_id",
    "live_services",
]

Clock = Callable[[], datetime]
#: A dead letter keeps at most this much of the refused payload.
MAX_PAYLOAD_CHARS = 16_384
_DAY_MS = 86_400_000


def live_run_id(service: str, day: datetime) -> str:
    """The id of ``service``'s live run on the UTC day of ``day`` (stable across processes)."""
    text = f"live\0{service}\0{day.astimezone(UTC).date().isoformat()}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A partition's next offset and the open window state that offset's records fed."""

    topic: str
    partition: int
    next_offset: int
    state: dict[str, Any]


@dataclass(frozen=True, slots=True)
class LiveWindow:
    """A closed window of one service: ``window`` holds its requests (endpoint windows)."""

    service: str
    start_ms: int
    window: SecondWindow


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A refused event: where it came from, why, and its text."""

    source: str
    reason: str
    payload: str
    received_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class LateEvent:
    """An event later than every window it belonged to (kept with the stream time it missed)."""

    topology: str
    key: str
    event_time_ms: int
    stream_time_ms: int
    event: dict[str, Any]
    received_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SlowQuery:
    """An analyzed slow DATABASE_QUERY event."""

    service: str
    fingerprint: str
    normalized: str
    execution_time_ms: float
    event_time_ms: int
    rows: int | None = None
    advice: tuple[str, ...] = ()
    detected_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class OtherWindow:
    """A closed window of another topology (``cache`` by region, ``business`` by service)."""

    topology: str
    key: str
    start_ms: int
    end_ms: int
    data: dict[str, Any]


@dataclass(slots=True)
class StreamProgress:
    """Everything one processing step produced, stored together with its checkpoints."""

    windows: list[LiveWindow] = field(default_factory=list)
    late: list[LateEvent] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    slow: list[SlowQuery] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    others: list[OtherWindow] = field(default_factory=list)

    def empty(self) -> bool:
        """True when there is nothing to store."""
        return not (self.windows or self.late or self.dead or self.slow or self.checkpoints
                    or self.others)


def _upsert_stmt(db: Database, entity: type[Any], keys: Sequence[str],
                 replace: Sequence[str]) -> Any:
    if db.dialect == "postgresql":
        pg = postgresql.insert(entity)
        return pg.on_conflict_do_update(index_elements=list(keys),
                                        set_={c: pg.excluded[c] for c in replace})
    lite = sqlite.insert(entity)
    return lite.on_conflict_do_update(index_elements=list(keys),
                                      set_={c: lite.excluded[c] for c in replace})


def _do_nothing(db: Database, entity: type[Any], keys: Sequence[str]) -> Any:
    if db.dialect == "postgresql":
        return postgresql.insert(entity).on_conflict_do_nothing(index_elements=list(keys))
    return sqlite.insert(entity).on_conflict_do_nothing(index_elements=list(keys))


class StreamRepository:
    """Live analytics storage; synchronous, one transaction per call, like the other repos."""

    def __init__(self, db: Database, *, clock: Clock = utcnow) -> None:
        self._db = db
        self._clock = clock

    # --- the processor's one write ---------------------------------------------------------

    def store_progress(self, group_id: str, progress: StreamProgress) -> None:
        """Store windows, late events, dead letters, slow queries and checkpoints atomically."""
        if progress.empty():
            return
        now = self._clock()
        with self._db.session() as s:
            self._store_windows(s, progress.windows, now)
            if progress.late:
                s.execute(insert(LateEventRow), [
                    {"received_at": e.received_at or now, "topology": e.topology,
                     "key": e.key[:200], "event_time_ms": e.event_time_ms,
                     "stream_time_ms": e.stream_time_ms, "event": e.event}
                    for e in progress.late])
            if progress.dead:
                s.execute(insert(DeadLetterRow), [self._dead_row(d, now) for d in progress.dead])
            if progress.slow:
                s.execute(insert(SlowQueryRow), [
                    {"detected_at": q.detected_at or now, "event_time_ms": q.event_time_ms,
                     "service": q.service[:200], "fingerprint": q.fingerprint[:64],
                     "normalized": q.normalized, "execution_time_ms": q.execution_time_ms,
                     "rows": q.rows, "advice": list(q.advice)}
                    for q in progress.slow])
            if progress.others:
                latest = {(o.topology, o.key[:200], o.start_ms): o for o in progress.others}
                s.execute(_upsert_stmt(self._db, StreamWindowRow, ("topology", "key", "start_ms"),
                                       ("end_ms", "data")), [
                    {"topology": t, "key": k, "start_ms": st, "end_ms": o.end_ms, "data": o.data}
                    for (t, k, st), o in latest.items()])
            if progress.checkpoints:
                stmt = _upsert_stmt(self._db, StreamCheckpointRow,
                                    ("group_id", "topic", "partition"),
                                    ("next_offset", "state", "updated_at"))
                s.execute(stmt, [
                    {"group_id": group_id, "topic": c.topic, "partition": c.partition,
                     "next_offset": c.next_offset, "state": c.state, "updated_at": now}
                    for c in progress.checkpoints])

    def _store_windows(self, s: Session, windows: Sequence[LiveWindow], now: datetime) -> None:
        if not windows:
            return
        rows: dict[tuple[str, int], dict[str, Any]] = {}
        runs: dict[str, tuple[str, datetime]] = {}
        for w in windows:
            day_ms = w.start_ms - w.start_ms % _DAY_MS
            day = datetime.fromtimestamp(day_ms / 1000, UTC)
            run_id = live_run_id(w.service, day)
            runs[run_id] = (w.service, day)
            second = (w.start_ms - day_ms) // 1000
            w.window.second = second
            rows[(run_id, second)] = {"run_id": run_id, "second": second,
                                      "ts": day + timedelta(seconds=second),
                                      "data": w.window.to_dict()}
        create = _do_nothing(self._db, RunRow, ("id",))
        s.execute(create, [
            {"id": run_id, "scenario": f"live:{service}"[:200], "test_type": LIVE_TEST_TYPE,
             "status": "running", "created_at": now, "started_at": day, "options": {
                 "live": True, "service": service}, "scenario_doc": {}}
            for run_id, (service, day) in runs.items()])
        # A replayed window (after a restart) replaces what it stored before.
        for run_id in runs:
            seconds = [sec for (rid, sec) in rows if rid == run_id]
            s.execute(delete(RunSecondRow).where(RunSecondRow.run_id == run_id,
                                                 RunSecondRow.second.in_(seconds)))
        upsert = _upsert_stmt(self._db, RunSecondRow, ("run_id", "second", "ts"), ("data",))
        s.execute(upsert, list(rows.values()))

    @staticmethod
    def _dead_row(d: DeadLetter, now: datetime) -> dict[str, Any]:
        return {"received_at": d.received_at or now, "source": d.source[:200],
                "reason": d.reason, "payload": d.payload[:MAX_PAYLOAD_CHARS]}

    # --- reads and single writes -----------------------------------------------------------

    def checkpoints(self, group_id: str) -> dict[tuple[str, int], Checkpoint]:
        """The stored checkpoints of ``group_id`` by (topic, partition)."""
        q = select(StreamCheckpointRow).where(StreamCheckpointRow.group_id == group_id)
        with self._db.session() as s:
            return {(r.topic, r.partition): Checkpoint(r.topic, r.partition, r.next_offset,
                                                       dict(r.state))
                    for r in s.scalars(q)}

    def add_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Store refused events (the API's and the embedded bus's dead-letter output)."""
        if letters:
            now = self._clock()
            with self._db.session() as s:
                s.execute(insert(DeadLetterRow), [self._dead_row(d, now) for d in letters])

    def dead_letters(self, limit: int = 100, offset: int = 0) -> builtins.list[DeadLetter]:
        """Newest first."""
        q = (select(DeadLetterRow).order_by(DeadLetterRow.id.desc())
             .limit(limit).offset(offset))
        with self._db.session() as s:
            return [DeadLetter(r.source, r.reason, r.payload, r.received_at)
                    for r in s.scalars(q)]

    def late_events(self, limit: int = 100, offset: int = 0) -> builtins.list[LateEvent]:
        """Newest first."""
        q = select(LateEventRow).order_by(LateEventRow.id.desc()).limit(limit).offset(offset)
        with self._db.session() as s:
            return [LateEvent(r.topology, r.key, r.event_time_ms, r.stream_time_ms,
                              dict(r.event), r.received_at) for r in s.scalars(q)]

    def slow_queries(self, limit: int = 100, offset: int = 0,
                     service: str | None = None) -> builtins.list[SlowQuery]:
        """Newest first, optionally of one service."""
        q = select(SlowQueryRow)
        if service is not None:
            q = q.where(SlowQueryRow.service == service)
        q = q.order_by(SlowQueryRow.id.desc()).limit(limit).offset(offset)
        with self._db.session() as s:
            return [SlowQuery(r.service, r.fingerprint, r.normalized, r.execution_time_ms,
                              r.event_time_ms, r.rows, tuple(r.advice), r.detected_at)
                    for r in s.scalars(q)]

    def other_windows(self, topology: str, key: str | None = None, *, since_ms: int = 0,
                      limit: int = 100) -> builtins.list[OtherWindow]:
        """Closed windows of ``topology`` (optionally one key) ending after ``since_ms``,
        newest first."""
        q = select(StreamWindowRow).where(StreamWindowRow.topology == topology,
                                          StreamWindowRow.end_ms > since_ms)
        if key is not None:
            q = q.where(StreamWindowRow.key == key)
        q = q.order_by(StreamWindowRow.start_ms.desc(), StreamWindowRow.key).limit(limit)
        with self._db.session() as s:
            return [OtherWindow(r.topology, r.key, r.start_ms, r.end_ms, dict(r.data))
                    for r in s.scalars(q)]

    def counts(self) -> Mapping[str, int]:
        """How many dead letters, late events and slow queries are stored."""
        with self._db.session() as s:
            return {
                "dead_letters": s.scalar(select(func.count()).select_from(DeadLetterRow)) or 0,
                "late_events": s.scalar(select(func.count()).select_from(LateEventRow)) or 0,
                "slow_queries": s.scalar(select(func.count()).select_from(SlowQueryRow)) or 0,
            }


@dataclass(frozen=True, slots=True)
class LiveService:
    """A service's live run of one day and its latest stored window."""

    service: str
    run_id: str
    day: datetime
    latest_start: datetime | None
    latest: SecondWindow | None
    windows: int


def live_services(db: Database, day: datetime) -> list[LiveService]:
    """Every service with a live run on ``day`` (UTC), with its latest window."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    q = (select(RunRow.id, RunRow.options).where(RunRow.test_type == LIVE_TEST_TYPE,
                                                 RunRow.started_at == start)
         .order_by(RunRow.scenario))
    out: list[LiveService] = []
    with db.session() as s:
        for run_id, options in s.execute(q):
            stats = s.execute(select(func.max(RunSecondRow.second), func.count())
                              .where(RunSecondRow.run_id == run_id)).one()
            latest_second, n = stats
            latest: SecondWindow | None = None
            if latest_second is not None:
                data = s.scalar(select(RunSecondRow.data).where(
                    RunSecondRow.run_id == run_id, RunSecondRow.second == latest_second))
                latest = SecondWindow.from_dict(data) if data is not None else None
            out.append(LiveService(
                service=str((options or {}).get("service", "")), run_id=run_id, day=start,
                latest_start=None if latest_second is None
                else start + timedelta(seconds=latest_second),
                latest=latest, windows=int(n)))
    return out
