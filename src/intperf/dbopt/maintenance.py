"""Maintenance windows for apply mode: ``"HH:MM-HH:MM"`` with an optional time zone
(``"22:00-04:00 Europe/Berlin"``; UTC when none), crossing midnight allowed. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from intperf.errors import UsageError

_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*(\S+)?\s*$")


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """A daily window; `start == end` means the whole day."""

    start: time
    end: time
    zone: str = "UTC"

    @classmethod
    def parse(cls, text: str) -> MaintenanceWindow:
        """Parse ``HH:MM-HH:MM [zone]``; UsageError when it does not parse."""
        m = _WINDOW.match(text)
        if not m:
            raise UsageError(f"maintenance window {text!r}: expected HH:MM-HH:MM [time zone]")
        h1, m1, h2, m2 = (int(g) for g in m.groups()[:4])
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
            raise UsageError(f"maintenance window {text!r}: hours 0-23, minutes 0-59")
        zone = m.group(5) or "UTC"
        _tz(zone)
        return cls(time(h1, m1), time(h2, m2), zone)

    def contains(self, now: datetime) -> bool:
        """True when `now` (aware) is inside the window."""
        local = now.astimezone(_tz(self.zone)).time().replace(tzinfo=None)
        if self.start == self.end:
            return True
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def next_start(self, now: datetime) -> datetime:
        """When the window next opens (`now` itself when inside)."""
        if self.contains(now):
            return now
        local = now.astimezone(_tz(self.zone))
        candidate = local.replace(hour=self.start.hour, minute=self.start.minute, second=0,
                                  microsecond=0)
        if candidate <= local:
            candidate += timedelta(days=1)
        return candidate.astimezone(UTC)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M} {self.zone}"


def _tz(zone: str) -> tzinfo:
    if zone.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UsageError(f"maintenance window: unknown time zone {zone!r}") from exc
