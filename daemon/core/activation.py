"""Profiles that switch themselves on: in time windows ("weekdays 09:00-17:00") or while an
input device is present ("Jabra"). The daemon checks every minute; when a profile's rule starts
to hold it becomes active, and when no rule holds any more the profile chosen by hand returns.
Choosing a profile by hand meanwhile stands until the next change of rules.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

__all__ = ["Window", "parse_window", "rule_holds"]

_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_GROUPS = {"daily": range(7), "weekdays": range(5), "weekends": range(5, 7)}
_FORM = re.compile(
    r"^(?P<days>[a-z,\s]+?)\s+(?P<h1>\d{1,2}):(?P<m1>\d{2})\s*-\s*(?P<h2>\d{1,2}):(?P<m2>\d{2})$"
)


@dataclass(frozen=True)
class Window:
    days: frozenset[int]  # 0 Monday
    start: int  # minutes after midnight
    end: int  # may be before start: the window crosses midnight

    def holds(self, moment: datetime) -> bool:
        minute = moment.hour * 60 + moment.minute
        if self.start <= self.end:
            return moment.weekday() in self.days and self.start <= minute < self.end
        if minute >= self.start:
            return moment.weekday() in self.days
        return (moment.weekday() - 1) % 7 in self.days and minute < self.end


def parse_window(text: str) -> Window:
    """A time window in words; ValueError says what was expected."""
    expected = (
        "expected days and hours such as 'weekdays 09:00-17:00', 'sat,sun 10:00-12:00' or "
        f"'daily 22:00-06:00', got {text!r}"
    )
    m = _FORM.match(text.strip().lower())
    if not m:
        raise ValueError(expected)
    days: set[int] = set()
    for part in re.split(r"[,\s]+", m["days"].strip()):
        if part in _GROUPS:
            days.update(_GROUPS[part])
        elif part[:3] in _DAYS:
            days.add(_DAYS.index(part[:3]))
        else:
            raise ValueError(expected)
    h1, m1, h2, m2 = (int(m[k]) for k in ("h1", "m1", "h2", "m2"))
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h1 * 60 + m1) == (h2 * 60 + m2):
        raise ValueError(expected)
    return Window(frozenset(days), h1 * 60 + m1, h2 * 60 + m2)


def rule_holds(
    windows: Sequence[str],
    device: str,
    moment: datetime,
    device_present: Callable[[str], bool],
) -> bool:
    """Whether a profile's activation rule holds; a profile with no rule is only chosen by hand."""
    if not windows and not device:
        return False
    if windows and not any(parse_window(w).holds(moment) for w in windows):
        return False
    return not device or device_present(device)
