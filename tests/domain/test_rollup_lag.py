"""RollupLagSeconds (domain.rollups.rollup_lag_seconds): a mark is due at the first midnight UTC
after it; the oldest settled mark decides how late a run is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from license_usage.domain.rollups import rollup_lag_seconds


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize(
    ("now", "marks", "lag"),
    [
        ("2026-12-02T00:15:00Z", ["2026-12-01T10:00:00Z"], 900.0),  # the usual run, 15 min after midnight
        ("2026-12-02T00:15:00Z", ["2026-12-01T23:59:59.999Z"], 900.0),  # the day's last instant
        ("2026-12-02T00:15:00Z", ["2026-12-02T00:00:00Z"], 0.0),  # marked after midnight: due tomorrow
        ("2026-12-02T00:15:00Z", ["2026-12-01T10:00:00Z", "2026-11-30T08:00:00Z"], 87_300.0),  # a day missed
        ("2026-12-01T12:00:00Z", ["2026-12-01T10:00:00Z"], 0.0),  # replayed before it was due
        ("2028-03-01T02:00:00Z", ["2028-02-29T23:00:00Z"], 7_200.0),  # leap day
        ("2027-01-01T00:15:00Z", ["2026-12-31T18:00:00Z"], 900.0),  # year end
    ],
)
def test_the_oldest_mark_is_due_at_the_midnight_after_it(now: str, marks: list[str], lag: float) -> None:
    assert rollup_lag_seconds(at(now), [at(m) for m in marks]) == lag


def test_no_mark_is_no_figure_and_offsets_are_converted_to_utc_first() -> None:
    assert rollup_lag_seconds(at("2026-12-02T00:15:00Z"), []) is None
    # 2026-12-01T20:00-08:00 is 2026-12-02T04:00Z: due at 2026-12-03T00:00Z.
    mark = datetime(2026, 12, 1, 20, tzinfo=timezone(timedelta(hours=-8)))
    assert rollup_lag_seconds(datetime(2026, 12, 3, 1, tzinfo=UTC), [mark]) == 3_600.0
