"""Times as people type them: "2h", "3d", "yesterday", "2026-11-25", "2026-11-25T14:30".

A named day ("today", "yesterday", a date) covers the whole day: as --since it means the start of
that day, as --until its end, so `--since yesterday --until yesterday` is all of yesterday.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta

from daemon.core.errors import TimeSpecError

__all__ = ["parse_duration", "parse_span", "parse_since", "parse_until", "iso"]

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr|d|day|days|w|week|weeks)$")
_UNIT_S = {
    "s": 1,
    "sec": 1,
    "m": 60,
    "min": 60,
    "h": 3600,
    "hr": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
}


def parse_duration(text: str, *, what: str = "length of time") -> float:
    """Seconds in a length of time such as 15m, 1h or 90s."""
    match = _DURATION.match(text.strip().lower())
    if not match or float(match.group(1)) <= 0:
        raise TimeSpecError(
            f"{what} {text!r} is not a length of time: expected a number and a unit such as "
            "90s, 15m, 1h or 2d"
        )
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def _day(moment: datetime) -> tuple[float, float]:
    start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return start.timestamp(), (start + timedelta(days=1)).timestamp()


def parse_span(text: str, *, now: float | None = None, what: str = "time") -> tuple[float, float]:
    """The (start, end) epoch seconds a time expression names; an instant has start == end."""
    try:
        return _span(text, now=now, what=what)
    except (OverflowError, ValueError, OSError):  # a year 0, or seconds past what clocks hold
        raise TimeSpecError(
            f"{what} {text!r} is a time out of the calendar's range; expected a date between "
            "the years 2 and 9999"
        ) from None


def _span(text: str, *, now: float | None, what: str) -> tuple[float, float]:
    now = time.time() if now is None else now
    spec = text.strip().lower()
    here = datetime.fromtimestamp(now)
    if spec == "now":
        return now, now
    if spec == "today":
        return _day(here)
    if spec == "yesterday":
        return _day(here - timedelta(days=1))
    clock = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", spec)
    if clock and int(clock[1]) < 24 and int(clock[2]) < 60:
        moment = here.replace(
            hour=int(clock[1]), minute=int(clock[2]), second=int(clock[3] or 0), microsecond=0
        )
        return moment.timestamp(), moment.timestamp()
    match = _DURATION.match(spec.removesuffix(" ago"))
    if match:
        moment = now - float(match.group(1)) * _UNIT_S[match.group(2)]
        return moment, moment
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise TimeSpecError(
            f"{what} {text!r} is not a time: expected a duration ago such as 2h or 3d, "
            "'today', 'yesterday', a time today such as 14:30, or an ISO date such as "
            "2026-11-25 or 2026-11-25T14:30"
        ) from None
    if len(text.strip()) == 10:
        return _day(moment)
    return moment.timestamp(), moment.timestamp()


def parse_since(text: str | None, *, now: float | None = None) -> float | None:
    return None if text is None else parse_span(text, now=now, what="--since")[0]


def parse_until(text: str | None, *, now: float | None = None) -> float | None:
    return None if text is None else parse_span(text, now=now, what="--until")[1]


def iso(epoch: float) -> str:
    """ISO 8601 in local time with its UTC offset, to the millisecond."""
    return datetime.fromtimestamp(epoch).astimezone().isoformat(timespec="milliseconds")
