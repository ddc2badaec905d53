from datetime import datetime

import pytest

from daemon.core.errors import TimeSpecError
from daemon.core.timespec import iso, parse_since, parse_span, parse_until

NOW = datetime(2026, 11, 26, 15, 30).timestamp()


def test_durations_are_ago():
    assert parse_since("2h", now=NOW) == NOW - 7200
    assert parse_since("30m", now=NOW) == NOW - 1800
    assert parse_since("3d", now=NOW) == NOW - 3 * 86400
    assert parse_since("1w ago", now=NOW) == NOW - 604800


def test_named_days_cover_the_whole_day():
    assert parse_since("yesterday", now=NOW) == datetime(2026, 11, 25).timestamp()
    assert parse_until("yesterday", now=NOW) == datetime(2026, 11, 26).timestamp()
    assert parse_since("today", now=NOW) == datetime(2026, 11, 26).timestamp()
    assert parse_until("2026-11-20", now=NOW) == datetime(2026, 11, 21).timestamp()


def test_iso_datetime_is_an_instant():
    assert (
        parse_span("2026-11-25T14:30", now=NOW) == (datetime(2026, 11, 25, 14, 30).timestamp(),) * 2
    )


def test_none_passes_through():
    assert parse_since(None) is None and parse_until(None) is None


@pytest.mark.parametrize("text", ["soon", "2 fortnights", "2026-13-01", ""])
def test_bad_times_say_what_was_expected(text):
    with pytest.raises(TimeSpecError, match="expected a duration ago such as 2h"):
        parse_since(text, now=NOW)


def test_iso_output_has_offset():
    assert iso(NOW).startswith("2026-11-26T15:30:00.000")
    assert iso(NOW)[-6] in "+-"
