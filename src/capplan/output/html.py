"""`capplan report`: the Platform Health page, one self-contained HTML file (format `html`), and
its content as JSON.

The page is a Jinja2 template (templates/health.html.j2) with autoescaping on, so that a label or
a path with markup in it shows as text. This module turns the core's Health into what the
template shows: words and figures formatted here (output/numbers.py), charts as geometry
(output/charts.py). The page loads nothing: its style is inline, its charts are inline SVG, it
has no script, and its Content-Security-Policy forbids any request and any script.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from capplan import __version__
from capplan.health import Alert, FleetHost, FleetTotal, Health, HostTier, TierNeed, When
from capplan.metrics import METRICS, label_text
from capplan.output.charts import charts
from capplan.output.formats import Format
from capplan.output.numbers import figure, measured
from capplan.output.project import projection_data, projection_report
from capplan.output.report import Report, Section, Shown, renders, text
from capplan.output.trend import trend_data, trend_summary, when
from capplan.trend import Forecast

if TYPE_CHECKING:
    from jinja2 import Template


def _day(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.date().isoformat()


def _moment(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _ago(age: dt.timedelta) -> str:
    days = age.days
    if days == 0:
        hours = int(age.total_seconds() // 3600)
        return "just now" if hours == 0 else f"{hours} h ago"
    return "1 day ago" if days == 1 else f"{days:,} days ago"


def _in(at: dt.datetime, now: dt.datetime) -> str:
    days = (at.date() - now.date()).days
    if days == 0:
        return "today"
    if days > 0:
        return f"in {days:,} day{'s' if days != 1 else ''}"
    return f"{-days:,} day{'s' if days != -1 else ''} ago"


def _where(labels: Any) -> str:
    return label_text(labels) or "-"


def _value(forecast: Forecast) -> str:
    return measured(forecast.latest.value, forecast.latest.unit)


def _level(value: float | None, unit: str) -> str:
    """A threshold as it is written in thresholds.yaml: 800 GB, 70 %, 100,000."""
    if value is None:
        return "-"
    return f"{figure(value)} {unit}" if unit else figure(value)


# --- the JSON ------------------------------------------------------------------------------


def _alert_data(alert: Alert) -> dict[str, Any]:
    f = alert.forecast
    return {
        "metric": f.metric,
        "labels": f.labels,
        "level": alert.level,
        "when": alert.when,
        "date": _day(alert.at),
        "latest": f.latest.value,
        "threshold": alert.threshold,
        "action": alert.action,
    }


def _need_data(need: TierNeed) -> dict[str, Any]:
    return {
        "tier": need.tier.id,
        "date": _day(need.at),
        "metric": need.forecast.metric,
        "labels": need.forecast.labels,
        "reason": need.reason,
    }


def _host_data(host: HostTier) -> dict[str, Any]:
    return {
        "tier": None if host.tier is None else host.tier.id,
        "given": host.given,
        "vcpu": host.vcpu,
        "ram_gb": host.ram_gb,
    }


def _fleet_host_data(host: FleetHost) -> dict[str, Any]:
    soonest = host.soonest
    return {
        "instance": host.instance,
        "tier": None if host.host.tier is None else host.host.tier.id,
        "vcpu": host.host.vcpu,
        "ram_gb": host.host.ram_gb,
        "status": host.status,
        "soonest": None if soonest is None else _alert_data(soonest),
        "next_tier": host.needs[0].tier.id if host.needs else None,
        "next_tier_at": _day(host.needs[0].at) if host.needs else None,
    }


def _total_data(total: FleetTotal) -> dict[str, Any]:
    return {"name": total.name, "value": total.value, "unit": total.unit, "hosts": total.hosts}


def health_data(health: Health) -> dict[str, Any]:
    now, inputs = health.generated_at, health.inputs
    following = health.next_need
    return {
        "generated_at": now.isoformat(timespec="seconds"),
        "status": health.status,
        "history": str(inputs.history),
        "records": inputs.records,
        "since": None if inputs.since is None else inputs.since.isoformat(timespec="seconds"),
        "horizon_days": inputs.horizon.days,
        "host": _host_data(health.host),
        "alerts": [_alert_data(alert) for alert in health.alerts],
        "next_tier": None if following is None else following.tier.id,
        "next_tier_at": None if following is None else _day(following.at),
        "tier_needs": [_need_data(need) for need in health.needs],
        "forecasts": trend_data(health.forecasts, now, inputs.stale_after)["forecasts"],
        "projection": None if health.projection is None else projection_data(health.projection),
        "fleet": [_fleet_host_data(host) for host in health.fleet],
        "totals": [_total_data(total) for total in health.totals],
    }


def health_report(health: Health) -> Report:
    return Report(data=health_data(health), sections=[], result=health)


# --- the page ------------------------------------------------------------------------------


# The projection's tables shown in full; the others are folded under them.
PROJECTION_TABLES = ("Recommended infrastructure", "Monthly costs", "Events")


@dataclass(frozen=True)
class Cell:
    text: str
    numeric: bool  # aligned to the right


@dataclass(frozen=True)
class Table:
    """A table as the template draws it: cells already text, a status per row (or None)."""

    title: str
    columns: Sequence[str]
    rows: Sequence[Sequence[Cell]]
    statuses: Sequence[str | None] = ()
    header: bool = True


def _numeric(cell: object) -> bool:
    """An amount or a count: right-aligned (EUR 3,010 and 11.16 USD included)."""
    if isinstance(cell, (int, float, Shown)):
        return True
    words = str(cell).replace("EUR", "").replace("USD", "").replace("%", "").strip()
    return bool(words) and words.replace(",", "").replace(".", "").lstrip("-+").isdigit()


def _table(section: Section) -> Table:
    statuses = [None if s is None else s.value for s in section.statuses]
    rows = [
        [Cell(text(cell), section.header and _numeric(cell)) for cell in row]
        for row in section.rows
    ]
    return Table(section.title, section.columns, rows, statuses, section.header)


def _current(health: Health) -> list[dict[str, Any]]:
    return [
        {
            "metric": f.metric,
            "where": _where(f.labels),
            "value": _value(f),
            "status": f.latest.status.value,
            "warning": _level(f.latest.warning, f.latest.unit),
            "critical": _level(f.latest.critical, f.latest.unit),
            "measured": _moment(f.last_point),
            "measured_iso": f.last_point.isoformat(timespec="seconds"),
            "ago": _ago(f.age),
            "stale": f.stale,
            "detail": f.latest.detail,
        }
        for f in health.forecasts
    ]


def _alert_row(alert: Alert, now: dt.datetime) -> dict[str, Any]:
    f = alert.forecast
    date = _day(alert.at)
    if alert.when is When.NOW:
        said = "now"
    elif alert.when is When.CROSSED:
        said = "by the trend, although the latest value is below"
    else:
        assert alert.at is not None
        said = _in(alert.at, now)
    return {
        "level": alert.level.value,
        "metric": f.metric,
        "where": _where(f.labels),
        "when": alert.when.value,
        "said": said,
        "date": date,
        "latest": _value(f),
        "threshold": _level(alert.threshold, f.latest.unit),
        "action": alert.action or "-",
        "stale": f.stale,
        "ago": _ago(f.age),
    }


def _host(host: HostTier) -> dict[str, Any]:
    tier = host.tier
    if host.given:
        how = "given with --host-tier"
    else:
        assert host.vcpu is not None and host.ram_gb is not None
        how = (
            f"the tier this machine's {host.vcpu} vCPU and {host.ram_gb:,.1f} GB RAM match "
            "(--host-tier names another)"
        )
    if tier is None:
        return {"name": "below the smallest tier", "id": "", "how": how, "size": ""}
    size = f"{tier.vcpu} vCPU, {figure(tier.ram_gb)} GB RAM, {figure(tier.storage_gb)} GB disk"
    return {"name": tier.name, "id": tier.id, "how": how, "size": size}


def _need(need: TierNeed, now: dt.datetime) -> dict[str, Any]:
    at = need.at
    word = "now" if at is None else "since" if at <= now else "on"
    tier = need.tier
    return {
        "name": tier.name,
        "id": tier.id,
        "date": _day(at),
        "word": word,
        "in": "" if at is None or at <= now else _in(at, now),
        "reason": need.reason,
        "where": _where(need.forecast.labels),
        "host": need.forecast.labels.get("instance", ""),
        "cost": f"EUR {tier.monthly_cost_eur.typical:,.0f} a month (typical)",
        "trigger": tier.transition.trigger if tier.transition else "",
        "action": tier.transition.action if tier.transition else "",
    }


def _chart_rows(forecasts: Sequence[Forecast], now: dt.datetime) -> list[list[str]]:
    rows = []
    for f in forecasts:
        per_month = f.slope_per_month
        rows.append(
            [
                label_text(f.labels) or f.metric,
                f"{f.count:,}",
                _value(f),
                f.latest.status.value,
                "-" if per_month is None else f"{'+' if per_month >= 0 else ''}{figure(per_month)}",
                when(f.warning, now),
                when(f.critical, now),
                _moment(f.last_point),
            ]
        )
    return rows


def _projection(health: Health) -> dict[str, Any] | None:
    p = health.projection
    if p is None:
        return None
    r, c = p.recommendation, p.costs
    report = projection_report(p)
    return {
        "tier": r.tier.name,
        "fits": r.fits,
        "binding": r.binding,
        "reason": r.reason,
        "infra": f"EUR {c.infra_eur:,.0f}",
        "revenue": f"EUR {c.revenue_eur:,.0f}",
        "margin": "-" if c.gross_margin_pct is None else f"{c.gross_margin_pct:.1f} %",
        "transitions": [e for e in p.events if e.kind == "transition"],
        "months": len(p.timeline) - 1 if p.timeline else 0,
        "tables": [_table(s) for s in report.sections if s.title.startswith(PROJECTION_TABLES)],
        "more": [
            _table(s)
            for s in report.sections
            if s.in_table and not s.title.startswith(PROJECTION_TABLES)
        ],
        "notes": report.notes,
    }


def _chart_items(forecasts: Sequence[Forecast], now: dt.datetime, horizon: dt.timedelta) -> Any:
    return [
        {
            "chart": chart,
            "help": METRICS[chart.metric].help,
            "sentences": [trend_summary(f, now) for f in group],
            "rows": _chart_rows(group, now),
        }
        for chart, group in charts(forecasts, now, horizon)
    ]


def _anchor(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-") or "host"


def _fleet_row(host: FleetHost, now: dt.datetime) -> dict[str, Any]:
    tier = host.host.tier
    soonest = None if host.soonest is None else _alert_row(host.soonest, now)
    if soonest is not None and host.soonest is not None:  # the row names the host already
        rest = {k: v for k, v in host.soonest.forecast.labels.items() if k != "instance"}
        soonest["where"] = _where(rest)
    return {
        "instance": host.instance or "-",
        "anchor": f"host-{_anchor(host.instance)}",
        "tier": "below the smallest" if tier is None else tier.name,
        "size": ""
        if host.host.vcpu is None or host.host.ram_gb is None
        else f"{host.host.vcpu} vCPU, {host.host.ram_gb:,.1f} GB",
        "status": host.status.value,
        "soonest": soonest,
        "next": None if not host.needs else _need(host.needs[0], now),
    }


def _total_row(total: FleetTotal) -> dict[str, Any]:
    return {
        "name": total.name,
        "value": measured(total.value, total.unit),
        "hosts": f"{total.hosts:,} host{'s' if total.hosts != 1 else ''}",
    }


def _chart_groups(health: Health) -> list[dict[str, Any]]:
    now, horizon = health.generated_at, health.inputs.horizon
    if not health.fleet:
        return [
            {"title": None, "prefix": "", "charts": _chart_items(health.forecasts, now, horizon)}
        ]
    return [
        {
            "title": host.instance or "-",
            "anchor": f"host-{_anchor(host.instance)}",
            "status": host.status.value,
            "prefix": f"{_anchor(host.instance)}-",
            "charts": _chart_items(host.forecasts, now, horizon),
        }
        for host in health.fleet
    ]


def page_context(health: Health) -> dict[str, Any]:
    now, inputs = health.generated_at, health.inputs
    groups = _chart_groups(health)
    return {
        "fleet": [_fleet_row(host, now) for host in health.fleet],
        "totals": [_total_row(total) for total in health.totals],
        "chart_groups": groups,
        "now": _moment(now),
        "now_iso": now.isoformat(timespec="seconds"),
        "version": __version__,
        "status": health.status.value,
        "host": _host(health.host),
        "current": _current(health),
        "alerts": [_alert_row(alert, now) for alert in health.alerts],
        "horizon_days": inputs.horizon.days,
        "charts": [item for group in groups for item in group["charts"]],
        "needs": [_need(need, now) for need in health.needs],
        "projection": _projection(health),
        "inputs": inputs,
        "records": f"{inputs.records:,} record{'s' if inputs.records != 1 else ''}",
        "sources": inputs.sources,
        "first": _moment(inputs.first),
        "last": _moment(inputs.last),
        "since": None if inputs.since is None else _moment(inputs.since),
        "assumptions": [(k, figure(v)) for k, v in health.assumptions.model_dump().items()],
        "disk_pct": figure(health.disk_threshold_pct),
    }


@cache
def _template() -> Template:
    from jinja2 import Environment, PackageLoader, StrictUndefined

    environment = Environment(
        loader=PackageLoader("capplan.output", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment.get_template("health.html.j2")


@renders(Format.html, needs=Health)
def to_html(report: Report) -> str:
    assert isinstance(report.result, Health)
    return _template().render(page_context(report.result))
