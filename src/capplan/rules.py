"""Prometheus alerting rules from thresholds.yaml and METRICS: the levels and actions that
`capplan check` uses, so that an alert and a check never disagree.

For every metric with thresholds (or bands), in capplan's unit:
- `Capplan<Metric>Warning` and `...Critical`: the value is past the level (above it, as check
  says: `> warning`; for bands, `>=` the band's start), for `for_` (default 10m);
- `Capplan<Metric>Predicted`: predict_linear over `window` says it passes the warning level
  within `days` days, and it is not past it yet.
A host metric is read from node_exporter's series (as the Prometheus history reads them) and
from capplan's own where node_exporter has none for that instance (`or on (instance)`); every
other metric from capplan's series. The annotations carry the document's action.

And the run's own health, with fixed names and expressions (the same as examples/monitoring/):
`CapplanRunFailed` (capplan_up == 0), `CapplanStale` (the textfile older than 300 s, or absent)
and `CapplanTargetDown` (capplan_target_up == 0: a database, URL, log or uploads path).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from capplan.config import ThresholdsConfig
from capplan.errors import InputError
from capplan.history_promql import CAPPLAN_QUERIES, NODE_QUERIES, Query
from capplan.metrics import METRICS, Status

DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")  # Prometheus' duration grammar
DEFAULT_FOR = "10m"
DEFAULT_WINDOW = "7d"
DEFAULT_DAYS = 30
RATE_WINDOW = "5m"
SUBQUERY_STEP = "5m"
GROUP = "capplan"
NO_ACTION = "No action in thresholds.yaml"


@dataclass(frozen=True, slots=True)
class Level:
    metric: str
    warning: float
    critical: float
    action: str  # what to do past the warning level
    critical_action: str
    inclusive: bool  # bands: a value at the start is in the band


def parse_duration(text: str, subject: str) -> str:
    if not DURATION.match(text):
        raise InputError(subject, text, "expected a Prometheus duration: 30m, 6h, 7d, 2w")
    return text


def levels(thresholds: ThresholdsConfig) -> list[Level]:
    """Every metric that has warning and critical levels, in the order of METRICS."""
    found = []
    for name in METRICS:
        threshold = thresholds.threshold_of(name)
        if threshold is not None:
            found.append(
                Level(
                    name,
                    float(threshold.warning),
                    float(threshold.critical),
                    threshold.action,
                    threshold.action,
                    False,
                )
            )
            continue
        bands = thresholds.bands_of(name)
        warning = next((b for b in bands if b.status is Status.WARNING), None)
        critical = next((b for b in bands if b.status is Status.CRITICAL), None)
        if warning is not None and critical is not None:
            found.append(
                Level(
                    name,
                    float(warning.start),
                    float(critical.start),
                    warning.action or "",
                    critical.action or warning.action or "",
                    True,
                )
            )
    return found


def _plain(name: str, *fixed: str) -> str:
    return f"{name}{{{','.join(fixed)}}}" if fixed else name


def value_expr(metric: str, window: str = RATE_WINDOW) -> str:
    """The metric in capplan's unit, node_exporter's series first where capplan maps them."""
    capplan: Query = next(q for q in CAPPLAN_QUERIES if q.metric == metric)
    scale = METRICS[metric].unit.base_scale
    own = capplan.expr(_plain, window)
    if scale < 1:  # a ratio to percent, seconds to milliseconds: multiply by 100, 1000
        own += f" * {round(1 / scale)}"
    elif scale > 1:  # bytes to GB
        own += f" / {scale:g}"
    node = next((q for q in NODE_QUERIES if q.metric == metric), None)
    if node is None:
        return own
    return f"({node.expr(_plain, window)}) or on (instance) ({own})"


def _camel(metric: str) -> str:
    return "".join(part.capitalize() for part in metric.split("_"))


def _number(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e15 else repr(value)


def build(
    thresholds: ThresholdsConfig,
    *,
    for_: str = DEFAULT_FOR,
    window: str = DEFAULT_WINDOW,
    days: int = DEFAULT_DAYS,
) -> dict[str, Any]:
    """The rules file (groups:) as data."""
    parse_duration(for_, "for_")
    parse_duration(window, "window")
    if not 1 <= days <= 3650:
        raise InputError("days", days, "expected a number of days from 1 to 3650")
    rules: list[dict[str, Any]] = []
    predictive: list[dict[str, Any]] = []
    for level in levels(thresholds):
        spec = METRICS[level.metric]
        unit = f" {spec.unit.symbol}" if spec.unit.symbol else ""
        current = value_expr(level.metric)
        op = ">=" if level.inclusive else ">"
        for status, at, action in (
            (Status.WARNING, level.warning, level.action),
            (Status.CRITICAL, level.critical, level.critical_action),
        ):
            rules.append(
                {
                    "alert": f"Capplan{_camel(level.metric)}{status.value.capitalize()}",
                    "expr": f"({current}) {op} {_number(at)}",
                    "for": for_,
                    "labels": {"severity": status.value.lower(), "metric": level.metric},
                    "annotations": {
                        "summary": f"{level.metric} on {{{{ $labels.instance }}}} is "
                        f'{{{{ $value | printf "%.4g" }}}}{unit}, {status.value} '
                        f"(past {_number(at)}{unit})",
                        "description": f"{spec.help}. {action or NO_ACTION}.",
                        "action": action,
                    },
                }
            )
        seconds = days * 86_400
        smoothed = value_expr(level.metric, RATE_WINDOW)
        predictive.append(
            {
                "alert": f"Capplan{_camel(level.metric)}Predicted",
                "expr": (
                    f"predict_linear(({smoothed})[{window}:{SUBQUERY_STEP}], {seconds}) "
                    f"{op} {_number(level.warning)} unless ({current}) {op} "
                    f"{_number(level.warning)}"
                ),
                "for": "1h",
                "labels": {"severity": "warning", "metric": level.metric},
                "annotations": {
                    "summary": f"{level.metric} on {{{{ $labels.instance }}}} crosses its warning "
                    f"level {_number(level.warning)}{unit} within {days} days "
                    f"(the trend of the last {window})",
                    "description": f"{spec.help}. {level.action or NO_ACTION}.",
                    "action": level.action,
                },
            }
        )
    health = [
        {
            "alert": "CapplanRunFailed",
            "expr": "capplan_up == 0",
            "for": "5m",
            "labels": {"severity": "critical"},
            "annotations": {
                "summary": "capplan check failed on {{ $labels.instance }}",
                "description": "The last run of capplan check could not measure; see its "
                "capplan_check_status and its log.",
            },
        },
        {
            "alert": "CapplanStale",
            "expr": "time() - capplan_last_run_timestamp_seconds > 300 "
            "or absent(capplan_last_run_timestamp_seconds)",
            "for": "5m",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "capplan's textfile on {{ $labels.instance }} is stale or absent",
                "description": "No run of capplan check has written its file for over five "
                "minutes: check its cron job and the textfile directory.",
            },
        },
        {
            "alert": "CapplanTargetDown",
            "expr": "capplan_target_up == 0",
            "for": "5m",
            "labels": {"severity": "critical"},
            "annotations": {
                "summary": "capplan cannot measure its {{ $labels.target }} target on "
                "{{ $labels.instance }}",
                "description": "A database, URL, access log or uploads path that capplan check "
                "measures did not answer; its figures are left out until it does.",
            },
        },
    ]
    return {
        "groups": [
            {"name": f"{GROUP}-health", "rules": health},
            {"name": f"{GROUP}-thresholds", "rules": rules},
            {"name": f"{GROUP}-predictions", "rules": predictive},
        ]
    }


def to_yaml(rules: dict[str, Any], header: str) -> str:
    import yaml

    body = yaml.safe_dump(rules, sort_keys=False, allow_unicode=True, width=100)
    return "".join(f"# {line}\n" for line in header.splitlines()) + body
