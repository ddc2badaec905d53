"""When a profile's summary is exported on its own: "daily" (at midnight, the day before),
"daily 18:00", "weekly fri 17:00", "every 14 days 09:00". Each run covers the time since the
previous one was due, so runs neither overlap nor leave gaps.

The daemon checks every minute; a run missed while it was stopped happens at its next start
(once, for the latest period), and the last run of each profile is kept in `exports.json`.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from daemon.core.paths import write_private

__all__ = ["Schedule", "parse_schedule", "ExportLog"]

log = logging.getLogger(__name__)

_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_FORM = re.compile(
    r"^(?:(?P<daily>daily)|weekly (?P<day>[a-z]+)|every (?P<n>\d+) days?)"
    r"(?: (?P<h>\d{1,2}):(?P<m>\d{2}))?$"
)


@dataclass(frozen=True)
class Schedule:
    every_days: int  # 1 daily, 7 weekly, N
    hour: int
    minute: int
    weekday: int | None = None  # weekly: 0 Monday

    def last_due(self, now: float) -> datetime:
        """The latest time at or before `now` when an export was due."""
        moment = datetime.fromtimestamp(now)
        due = moment.replace(hour=self.hour, minute=self.minute, second=0, microsecond=0)
        if due > moment:
            due -= timedelta(days=1)
        if self.weekday is not None:
            due -= timedelta(days=(due.weekday() - self.weekday) % 7)
        elif self.every_days > 1:  # counted from 2026-01-05, a Monday, so runs are stable
            anchor = datetime(2026, 1, 5, self.hour, self.minute)
            due -= timedelta(days=(due - anchor).days % self.every_days)
        return due

    def period(self, due: datetime) -> tuple[float, float]:
        """What the run due at `due` covers: everything since the previous run was due."""
        return (due - timedelta(days=self.every_days)).timestamp(), due.timestamp()


def parse_schedule(text: str) -> Schedule:
    """A schedule in words; ValueError says what was expected."""
    m = _FORM.match(text.strip().lower())
    day = m and m["day"]
    if not m or (day and day[:3] not in _DAYS) or (m["n"] and not 1 <= int(m["n"]) <= 365):
        raise ValueError(
            f"expected 'daily HH:MM', 'weekly DAY HH:MM' or 'every N days HH:MM', got {text!r}"
        )
    hour, minute = int(m["h"] or 0), int(m["m"] or 0)  # midnight: the whole day before
    if hour > 23 or minute > 59:
        raise ValueError(f"{hour:02d}:{minute:02d} is not a time of day")
    if m["daily"]:
        return Schedule(1, hour, minute)
    if day:
        return Schedule(7, hour, minute, weekday=_DAYS.index(day[:3]))
    return Schedule(int(m["n"]), hour, minute)


class ExportLog:
    """When each profile's scheduled export last ran, kept in a small JSON file (0600)."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.done: dict[str, float] = json.loads(path.read_text())
        except (OSError, ValueError):
            self.done = {}

    def record(self, profile: str, due: float) -> None:
        self.done[profile] = due
        write_private(self.path, json.dumps(self.done))
