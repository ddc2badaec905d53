"""Export schedules: when they come due and what each run covers."""

from datetime import datetime

import pytest

from daemon.core.schedule import ExportLog, parse_schedule

WEDNESDAY_NOON = datetime(2026, 11, 25, 12, 0).timestamp()


@pytest.mark.parametrize(
    ("text", "due", "since"),
    [
        ("daily", datetime(2026, 11, 25, 0, 0), datetime(2026, 11, 24, 0, 0)),
        ("daily 18:00", datetime(2026, 11, 24, 18, 0), datetime(2026, 11, 23, 18, 0)),
        ("daily 09:30", datetime(2026, 11, 25, 9, 30), datetime(2026, 11, 24, 9, 30)),
        ("weekly fri 17:00", datetime(2026, 11, 20, 17, 0), datetime(2026, 11, 13, 17, 0)),
        ("weekly Wednesday 11:00", datetime(2026, 11, 25, 11, 0), datetime(2026, 11, 18, 11, 0)),
        ("every 14 days 09:00", datetime(2026, 11, 23, 9, 0), datetime(2026, 11, 9, 9, 0)),
    ],
)
def test_last_due_time_and_the_period_it_covers(text, due, since):
    schedule = parse_schedule(text)
    assert schedule.last_due(WEDNESDAY_NOON) == due
    assert schedule.period(due) == (since.timestamp(), due.timestamp())


@pytest.mark.parametrize("text", ["hourly", "weekly someday 10:00", "daily 25:00", "every 0 days"])
def test_unreadable_schedules_say_what_was_expected(text):
    with pytest.raises(ValueError, match="expected 'daily HH:MM'|is not a time of day"):
        parse_schedule(text)


def test_the_export_log_survives_a_restart(tmp_path):
    log = ExportLog(tmp_path / "exports.json")
    log.record("meetings", 1234.0)
    assert ExportLog(tmp_path / "exports.json").done == {"meetings": 1234.0}
    assert (tmp_path / "exports.json").stat().st_mode & 0o777 == 0o600
