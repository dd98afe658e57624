"""The table of metrics: one Status, every entry resolves in thresholds.yaml, and a new metric is
one METRICS entry plus its thresholds.yaml lines, nothing else."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from capplan import history
from capplan.config import load_thresholds, load_tiers
from capplan.config.models import metric_table_errors
from capplan.errors import ConfigError
from capplan.metrics import COUNT, METRICS, Measurement, MetricSpec, Status, evaluate, overall
from capplan.trend import forecasts

from .conftest import ROOT

Write = Callable[[str, str], Path]


def test_status_ranks_exit_codes_and_the_worst_of_several() -> None:
    assert [s.exit_code for s in (Status.OK, Status.WARNING, Status.CRITICAL)] == [0, 1, 2]
    assert Status.UNKNOWN.exit_code == 3
    assert overall([]) is Status.OK
    assert overall([Status.OK, Status.UNKNOWN]) is Status.UNKNOWN
    assert overall([Status.UNKNOWN, Status.WARNING]) is Status.WARNING
    assert overall([Status.WARNING, Status.CRITICAL, Status.UNKNOWN]) is Status.CRITICAL
    assert f"{Status.WARNING}" == "WARNING" and json.dumps(Status.OK) == '"OK"'


def test_every_metric_resolves_in_the_default_thresholds() -> None:
    assert metric_table_errors() == []
    thresholds = load_thresholds()
    for spec in METRICS.values():
        if spec.threshold is not None and not spec.optional:
            assert thresholds.threshold_of(spec.name) is not None, spec.name
        if spec.bands is not None:
            assert thresholds.bands_of(spec.name), spec.name


def test_a_metric_that_points_nowhere_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = MetricSpec("broken", COUNT, "A broken entry", "nowhere.broken")
    banded = MetricSpec("banded", COUNT, "Bands that do not exist", bands="no_such_bands")
    monkeypatch.setitem(METRICS, "broken", broken)
    monkeypatch.setitem(METRICS, "banded", banded)
    errors = metric_table_errors()
    assert len(errors) == 2
    assert "broken: threshold 'nowhere.broken'" in errors[0]
    assert "banded: bands 'no_such_bands'" in errors[1]


def test_a_misspelt_metric_in_thresholds_names_its_line(write: Write) -> None:
    text = (ROOT / "thresholds.yaml").read_text(encoding="utf-8")
    path = write("t.yaml", text.replace("  memory_percent:", "  memory_percnt:"))
    with pytest.raises(ConfigError) as caught:
        load_thresholds(path)
    line = text.splitlines().index(
        next(row for row in text.splitlines() if row.startswith("  memory_percent:"))
    )
    assert caught.value.line == line + 1
    assert caught.value.key == "scaling_triggers.memory_percnt"
    assert "did you mean 'memory_percent'?" in caught.value.problem


def test_a_missing_threshold_is_refused_with_its_key(write: Write) -> None:
    text = (ROOT / "thresholds.yaml").read_text(encoding="utf-8")
    lines = [row for row in text.splitlines() if not row.startswith("  load_per_core:")]
    with pytest.raises(ConfigError) as caught:
        load_thresholds(write("t.yaml", "\n".join(lines) + "\n"))
    assert caught.value.key == "scaling_triggers.load_per_core"
    assert caught.value.problem == "missing; this key is required"


def test_a_new_metric_is_one_entry_and_its_thresholds(
    monkeypatch: pytest.MonkeyPatch, write: Write, tmp_path: Path, run: Callable[..., object]
) -> None:
    """Nothing but METRICS and thresholds.yaml learns about queue_depth: thresholds, JSON,
    Nagios, Prometheus, the history and trend all take it from there."""
    spec = MetricSpec(
        "queue_depth",
        COUNT,
        "Jobs waiting in the queue",
        "scaling_triggers.queue_depth",
        prometheus="queue_depth",
    )
    monkeypatch.setitem(METRICS, "queue_depth", spec)
    text = (
        (ROOT / "thresholds.yaml")
        .read_text(encoding="utf-8")
        .replace(
            "scaling_triggers:\n",
            "scaling_triggers:\n"
            "  queue_depth: {warning: 100, critical: 1000, action: Add workers}\n",
        )
    )
    thresholds = load_thresholds(write("t.yaml", text))
    metric = evaluate(Measurement("queue_depth", 250, {"queue": "mail"}), thresholds)
    assert (metric.status, metric.action, metric.warning) == (Status.WARNING, "Add workers", 100)

    from capplan.check import CheckResult
    from capplan.output.check import check_report
    from capplan.output.formats import Format
    from capplan.output.report import render

    result = CheckResult(Status.WARNING, (metric,), 2, 4.0, None, "Add workers (queue_depth)")
    report = check_report(result)
    assert json.loads(render(report, Format.json))["metrics"][0]["name"] == "queue_depth"
    assert "queue_depth_mail=250;100;1000;0;" in render(report, Format.nagios)
    assert 'capplan_queue_depth{queue="mail"} 250.0' in render(report, Format.prometheus)

    db = tmp_path / "h.db"
    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    history.record_metrics(db, [metric], start)
    rows = ["timestamp,metric,value,labels"] + [
        f"{(start + dt.timedelta(days=d)).isoformat()},queue_depth,{250 + 10 * d},queue=mail"
        for d in range(1, 11)
    ]
    history.import_csv(db, write("q.csv", "\n".join(rows) + "\n"))
    (forecast,) = forecasts(history.records(db), thresholds, load_tiers(), start)
    assert forecast.metric == "queue_depth" and forecast.slope_per_day == pytest.approx(10)
    assert forecast.critical_at == start + dt.timedelta(days=75)
