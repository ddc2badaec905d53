"""Activation rules: time windows and device presence."""

from datetime import datetime

import pytest

from daemon.core.activation import parse_window, rule_holds

WEDNESDAY = datetime(2026, 11, 25)


@pytest.mark.parametrize(
    ("window", "moment", "holds"),
    [
        ("weekdays 09:00-17:00", WEDNESDAY.replace(hour=9), True),
        ("weekdays 09:00-17:00", WEDNESDAY.replace(hour=17), False),
        ("weekdays 09:00-17:00", datetime(2026, 11, 28, 10), False),  # a Saturday
        ("sat,sun 10:00-12:00", datetime(2026, 11, 29, 11), True),
        ("daily 22:00-06:00", WEDNESDAY.replace(hour=23), True),
        ("daily 22:00-06:00", WEDNESDAY.replace(hour=5), True),  # after midnight
        ("wed 22:00-06:00", datetime(2026, 11, 26, 5), True),  # Wednesday night, into Thursday
        ("wed 22:00-06:00", WEDNESDAY.replace(hour=5), False),  # Tuesday night's part
        ("daily 00:00-24:00", WEDNESDAY.replace(hour=13), True),
    ],
)
def test_windows(window, moment, holds):
    assert parse_window(window).holds(moment) is holds


@pytest.mark.parametrize(
    "text", ["weekdays", "someday 09:00-10:00", "daily 09:00-09:00", "mon 25:00-26:00"]
)
def test_unreadable_windows_say_what_was_expected(text):
    with pytest.raises(ValueError, match="expected days and hours such as"):
        parse_window(text)


def test_rules_need_every_condition_and_no_rule_means_by_hand_only():
    noon = WEDNESDAY.replace(hour=12)
    present = {"Jabra Evolve"}.__contains__
    assert rule_holds(["weekdays 09:00-17:00"], "", noon, present)
    assert rule_holds([], "Jabra Evolve", noon, present)
    assert not rule_holds(["weekends 09:00-17:00"], "Jabra Evolve", noon, present)
    assert not rule_holds(["weekdays 09:00-17:00"], "Pendant", noon, present)
    assert not rule_holds([], "", noon, present)
