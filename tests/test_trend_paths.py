"""The fast trend path (SQLite counts and orders each series, Python sees only its sample) gives
the same forecasts as the reference path (every record read into Python and grouped there), and
no history, however odd, gives a date beyond a century or an error."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capplan import history
from capplan.config import load_thresholds, load_tiers
from capplan.metrics import METRICS
from capplan.trend import HORIZON_DAYS, MAX_POINTS, forecasts, history_forecasts

from .histories import DAY, NOW, START, Write, series_csv

THRESHOLDS, TIERS = load_thresholds(), load_tiers()


def both_paths(db: Path, **filters: object) -> tuple[list[object], list[object]]:
    fast = history_forecasts(db, THRESHOLDS, TIERS, NOW, **filters)  # type: ignore[arg-type]
    reference = forecasts(history.records(db, **filters), THRESHOLDS, TIERS, NOW)  # type: ignore[arg-type]
    return list(fast), list(reference)


def test_the_fast_path_gives_the_reference_forecasts_on_a_small_history(
    write: Write, tmp_path: Path
) -> None:
    db = tmp_path / "h.db"
    sources = [
        series_csv(lambda d: 30 + 0.25 * d),
        series_csv(lambda d: 99.0 if d == 7 else 20 + d / 9, every=0.37, labels="path=/srv"),
        series_csv(lambda d: 60 - d / 5, metric="memory_percent", labels=""),
        series_csv(lambda d: 5.0, days=1, metric="cpu_percent", labels=""),  # too short
        series_csv(
            lambda d: 1000 + 10 * d, days=30, metric="storage_gb", labels="", start=NOW - 90 * DAY
        ),  # stale
        series_csv(lambda d: 10 + d, metric="table_rows", labels="table=orders"),
        series_csv(lambda d: 10 + 2 * d, metric="table_rows", labels="table=a b"),
    ]
    for index, text in enumerate(sources):
        history.import_csv(db, write(f"{index}.csv", text))
    fast, reference = both_paths(db)
    assert len(fast) == 7 and fast == reference
    assert (
        both_paths(db, metric="table_rows", since=START + 20 * DAY)[0]
        == both_paths(db, metric="table_rows", since=START + 20 * DAY)[1]
    )


def test_the_paths_sample_a_long_series_alike(write: Write, tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    history.import_csv(db, write("s.csv", series_csv(lambda d: 30 + d / 10, every=0.05)))
    fast, reference = both_paths(db)
    assert fast == reference
    (forecast,) = fast
    assert forecast.count == 1201 and len(forecast.sample) == MAX_POINTS  # type: ignore[attr-defined]


moments = st.integers(min_value=0, max_value=3 * 365 * 86_400).map(
    lambda seconds: NOW - dt.timedelta(seconds=seconds)
)
SERIES = st.lists(
    st.tuples(
        moments,
        st.sampled_from(sorted(METRICS)),
        st.sampled_from(["", "path=/", "path=/srv;table=x"]),
        st.floats(min_value=0, max_value=1e15),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=80, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(SERIES)
def test_any_small_history_gives_the_same_bounded_forecasts_both_ways(
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[tuple[dt.datetime, str, str, float]],
) -> None:
    folder = tmp_path_factory.mktemp("paths")
    lines = [f"{t.isoformat()},{metric},{value!r},{labels}" for t, metric, labels, value in rows]
    (folder / "s.csv").write_text("timestamp,metric,value,labels\n" + "\n".join(lines) + "\n")
    history.import_csv(folder / "h.db", folder / "s.csv")
    fast, reference = both_paths(folder / "h.db")
    assert fast == reference
    furthest = dt.timedelta(days=HORIZON_DAYS + 1)
    for forecast in fast:
        for crossing in (forecast.warning, forecast.critical):  # type: ignore[attr-defined]
            if crossing is not None and crossing.at is not None:
                assert abs(crossing.at - NOW) < furthest
                assert math.isfinite(crossing.level)
