"""The core's helpers that place a sandbox's planned events in its history."""

from __future__ import annotations

from datetime import UTC, datetime, time

from connector_core.sandbox import OFFICE_HOURS, history_moment, office_hours


START = datetime(2026, 11, 7, tzinfo=UTC)  # a Saturday
END = datetime(2026, 12, 7, tzinfo=UTC)  # a Monday, excluded


def test_a_moment_keeps_its_clock_time_on_the_day_asked() -> None:
    moment = history_moment(START, END, 0.5, time(2, 13))
    assert moment == datetime(2026, 11, 22, 2, 13, tzinfo=UTC)


def test_a_weekday_or_a_weekend_day_is_found_near_the_fraction() -> None:
    weekday = history_moment(START, END, 0.5, time(2, 13), weekend=False)
    weekend = history_moment(START, END, 0.45, time(15, 40), weekend=True)
    assert weekday == datetime(2026, 11, 23, 2, 13, tzinfo=UTC)
    assert weekend == datetime(2026, 11, 21, 15, 40, tzinfo=UTC)


def test_a_moment_stays_inside_the_history() -> None:
    last = history_moment(START, END, 1.0, time(23, 59))
    first = history_moment(START, END, 0.0, time(0, 0))
    assert last == datetime(2026, 12, 6, 23, 59, tzinfo=UTC)
    assert first == START


def test_no_moment_when_the_history_has_no_such_day() -> None:
    saturday = datetime(2026, 11, 7, 12, tzinfo=UTC)
    sunday_night = datetime(2026, 11, 9, tzinfo=UTC)
    assert history_moment(saturday, sunday_night, 0.5, time(9), weekend=False) is None
    assert history_moment(saturday, sunday_night, 0.0, time(2, 13)) is not None
    assert history_moment(saturday, saturday.replace(hour=13), 0.5, time(2)) is None


def test_office_hours_keep_a_working_moment() -> None:
    working = datetime(2026, 11, 18, 10, 30, tzinfo=UTC)  # a Wednesday
    assert office_hours(working, START, END) == working


def test_office_hours_move_a_night_or_a_weekend_to_a_working_day() -> None:
    first, last = OFFICE_HOURS
    for moment in (
        datetime(2026, 11, 18, 2, 13, 5, tzinfo=UTC),
        datetime(2026, 11, 18, 21, 0, tzinfo=UTC),
        datetime(2026, 11, 21, 11, 0, tzinfo=UTC),  # a Saturday
    ):
        moved = office_hours(moment, START, END)
        assert moved.weekday() < 5
        assert first <= moved.hour < last
        assert (moved.minute, moved.second) == (moment.minute, moment.second)
        assert abs((moved - moment).days) <= 2
        assert START <= moved < END


def test_office_hours_keep_a_moment_of_a_history_without_a_weekday() -> None:
    night = datetime(2026, 11, 8, 3, tzinfo=UTC)  # a Sunday
    assert office_hours(night, START, datetime(2026, 11, 9, tzinfo=UTC)) == night
