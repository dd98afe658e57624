"""Prometheus as the history of trend and report: a real Prometheus on 127.0.0.1, its TSDB
backfilled by promtool with 90 days of a fleet of three instances whose slopes are known."""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from capplan.config import load_thresholds, load_tiers
from capplan.errors import InputError, ServerError
from capplan.history import import_csv
from capplan.history_prometheus import (
    MAX_RESOLUTION,
    Access,
    PrometheusHistory,
    choose_step,
    parse_match,
    pieces,
)
from capplan.history_source import locate
from capplan.trend import MAX_POINTS, Forecast, history_forecasts
from tests.check_servers import free_port
from tests.conftest import Run
from tests.prometheus_fleet import END, NOW, fleet_lines, history_csv, instances, prometheus

__all__ = ["prometheus"]  # the fixture

TOKEN = "fleet-token-not-shown"


def _source(url: str, **extra: object) -> PrometheusHistory:
    return PrometheusHistory(locate(url), now=NOW, **extra)  # type: ignore[arg-type]


def _key(forecast: Forecast) -> tuple[str, str]:
    return forecast.metric, json.dumps(dict(forecast.labels), sort_keys=True)


def _config() -> tuple[object, object]:
    return load_thresholds(None), load_tiers(None)


def test_forecasts_from_prometheus_equal_those_of_the_same_samples_in_sqlite(
    prometheus: str, tmp_path: Path
) -> None:
    thresholds, tiers = load_thresholds(None), load_tiers(None)
    csv = tmp_path / "fleet.csv"
    csv.write_text(history_csv(END), encoding="utf-8")
    import_csv(tmp_path / "fleet.db", csv, now=NOW)
    from_sqlite = {
        _key(f): f for f in history_forecasts(tmp_path / "fleet.db", thresholds, tiers, NOW)
    }
    from_prometheus = {
        _key(f): f for f in history_forecasts(_source(prometheus), thresholds, tiers, NOW)
    }
    assert set(from_prometheus) == set(from_sqlite)
    assert len(from_prometheus) == 3 * 5 + 1  # cpu, memory, disk /, load, db per host; products
    for key, expected in from_sqlite.items():
        found = from_prometheus[key]
        for level in ("warning_at", "critical_at"):
            want, got = getattr(expected, level), getattr(found, level)
            assert (want is None) == (got is None), (key, level)
            if want is not None:
                assert got.date() == want.date(), (key, level, got, want)
        assert found.latest.status is expected.latest.status


def test_known_slopes_and_crossings_are_read_back(prometheus: str) -> None:
    thresholds, tiers = load_thresholds(None), load_tiers(None)
    found = {
        (f.metric, f.labels["instance"]): f
        for f in history_forecasts(_source(prometheus), thresholds, tiers, NOW)
    }
    for (metric, instance), line in fleet_lines(END).items():
        forecast = found[(metric, instance)]
        assert forecast.slope_per_day == pytest.approx(line.slope_per_day, rel=1e-6)
        assert forecast.warning_at is not None
        assert abs(forecast.warning_at - line.cross) < dt.timedelta(minutes=1)


def test_pseudo_file_systems_are_left_out_and_every_series_keeps_its_instance(
    prometheus: str,
) -> None:
    series = list(_source(prometheus).series(most=MAX_POINTS))
    disks = [s for s in series if s.metric == "disk_percent"]
    assert [dict(s.labels) for s in disks] == [
        {"instance": i, "path": "/"} for i in sorted(instances())
    ]
    assert all("instance" in s.labels and "job" not in s.labels for s in series)
    cpu = [s for s in series if s.metric == "cpu_percent"]
    assert [round(s.sample[-1][1], 6) for s in cpu] == [50.0, 50.0, 50.0]


def test_no_query_passes_eleven_thousand_points_a_long_range_is_split(prometheus: str) -> None:
    since = NOW - dt.timedelta(days=10)
    source = _source(prometheus, step=60)  # 14,400 points: Prometheus refuses one such query
    (load,) = [
        s
        for s in source.series(most=20_000, metric="load_per_core", since=since)
        if s.labels["instance"] == instances()[0]
    ]
    assert load.count > MAX_RESOLUTION
    moments = [moment for moment, _ in load.sample]
    assert moments == sorted(set(moments))
    steps = [(b - a).total_seconds() for a, b in itertools.pairwise(moments[:-1])]
    assert set(steps) == {60}


@given(
    start=st.integers(0, 10**6),
    count=st.integers(1, 60_000),
    step=st.sampled_from([1, 15, 60, 3600]),
)
def test_the_pieces_of_a_range_cover_it_once_none_beyond_the_limit(
    start: int, count: int, step: int
) -> None:
    first = start * step
    last = first + (count - 1) * step
    found = list(pieces(first, last, step))
    covered = [t for a, b in found for t in range(a, b + 1, step)]
    assert covered == list(range(first, last + 1, step))
    assert all((b - a) // step + 1 <= MAX_RESOLUTION for a, b in found)


def test_the_step_gives_the_forecasts_the_points_they_fit() -> None:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    step = choose_step(start, start + dt.timedelta(days=90), MAX_POINTS)
    assert step == 21_600
    assert 90 * 86_400 / step + 1 <= MAX_POINTS


def test_trend_json_gives_the_forecasts_per_instance(run: Run, prometheus: str) -> None:
    result = run("trend", "--history", prometheus, "--format", "json", "--metric", "memory_percent")
    assert result.exit_code == 0, result.output
    forecasts = json.loads(result.stdout)["forecasts"]
    by_instance = {f["labels"]["instance"]: f for f in forecasts}
    assert sorted(by_instance) == instances()
    for instance in instances():
        line = fleet_lines(END)[("memory_percent", instance)]
        assert by_instance[instance]["warning_at"][:10] == line.cross.date().isoformat()


def test_match_takes_a_promql_selector_of_instances(run: Run, prometheus: str) -> None:
    result = run(
        "trend", "--history", prometheus, "--format", "json",
        "--match", '{instance=~"web-[12]:9100", job="node"}',
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    found = {f["labels"]["instance"] for f in json.loads(result.stdout)["forecasts"]}
    assert found == {"web-1:9100", "web-2:9100"}


@pytest.mark.parametrize(
    "text",
    ['{job="node"', "job=node", '{__name__="up"}', '{job="a"} or up', '{job="a" job="b"}', "{}"],
)
def test_a_match_that_is_not_a_selector_of_label_matchers_is_refused(
    run: Run, text: str, prometheus: str
) -> None:
    result = run("trend", "--history", prometheus, "--match", text)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("capplan trend: error: --match ")


@given(
    st.lists(
        st.tuples(
            st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True).filter(
                lambda n: n != "__name__"
            ),
            st.sampled_from(["=", "!=", "=~", "!~"]),
            st.text(st.characters(exclude_categories=["Cs"]), max_size=12),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_every_selector_of_label_matchers_is_read_matcher_by_matcher(
    matchers: list[tuple[str, str, str]],
) -> None:
    texts = [f"{name}{op}{json.dumps(value)}" for name, op, value in matchers]
    assert parse_match("{" + ", ".join(texts) + "}") == tuple(texts)


def test_an_unreachable_server_is_one_line_and_exit_3_naming_it_by_its_parts(run: Run) -> None:
    port = free_port()
    result = run("trend", "--history", f"http://127.0.0.1:{port}/")
    assert result.exit_code == 3
    assert result.stderr.count("\n") == 1
    assert f"Prometheus http://127.0.0.1:{port}: cannot connect" in result.stderr


def test_credentials_in_the_url_are_refused_and_never_shown(run: Run, prometheus: str) -> None:
    with_password = prometheus.replace("http://", "http://alice:Sekrit-pw@")
    result = run("trend", "--history", with_password)
    assert result.exit_code == 2
    assert "Sekrit-pw" not in result.output + result.stderr
    assert "--basic-auth-file" in result.stderr


def _guard(target: str, wanted: str) -> tuple[ThreadingHTTPServer, str]:
    """A proxy in front of Prometheus that wants this Authorization header (401 otherwise)."""

    class Proxy(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.headers.get("Authorization") != wanted:
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            forwarded = urllib.request.Request(
                target + self.path,
                data=body,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            with urllib.request.urlopen(forwarded, timeout=30) as answer:
                payload = answer.read()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def test_a_bearer_token_from_a_file_reaches_the_server_and_is_never_shown(
    run: Run, prometheus: str, tmp_path: Path
) -> None:
    server, url = _guard(prometheus, f"Bearer {TOKEN}")
    try:
        refused = run("trend", "--history", url)
        assert refused.exit_code == 3
        assert f"Prometheus {url}: HTTP 401" in refused.stderr
        (tmp_path / "token").write_text(TOKEN + "\n", encoding="utf-8")
        result = run("trend", "--history", url, "--token-file", tmp_path / "token", "-f", "json")
        assert result.exit_code == 0, result.stderr
        assert len(json.loads(result.stdout)["forecasts"]) == 16
        assert TOKEN not in result.output + result.stderr + refused.stderr
    finally:
        server.shutdown()


def test_basic_auth_from_the_environment_reaches_the_server(
    run: Run, prometheus: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    wanted = "Basic " + base64.b64encode(b"fleet:pw-not-shown").decode()
    server, url = _guard(prometheus, wanted)
    try:
        monkeypatch.setenv("CAPPLAN_PROMETHEUS_BASIC_AUTH", "fleet:pw-not-shown")
        result = run("trend", "--history", url, "-f", "json", "--metric", "load_per_core")
        assert result.exit_code == 0, result.stderr
        assert "pw-not-shown" not in result.output + result.stderr
    finally:
        server.shutdown()


def test_a_server_error_answer_is_exit_3(prometheus: str) -> None:
    source = PrometheusHistory(locate(prometheus), Access(timeout=30), now=NOW)
    with pytest.raises(ServerError, match=r"HTTP 4\d\d .*parse error"):
        source.client.get("query", [("query", "rate(")])


@pytest.mark.parametrize(
    "args",
    [
        ("trend",),
        ("report", "--host-tier", "small", "-o", "page.html"),
        ("history", "import", "x.csv"),
        ("history", "show"),
        ("history", "prune", "--keep", "30d"),
    ],
)
def test_a_postgresql_history_is_never_taken_for_a_path(
    run: Run, args: tuple[str, ...], tmp_path: Path
) -> None:
    (tmp_path / "x.csv").write_text("timestamp,metric,value\n", encoding="utf-8")
    before = sorted(tmp_path.iterdir())
    url = f"postgresql://capplan:Pw-not-shown@127.0.0.1:{free_port()}/hist"
    result = run(*args, "--history", url)
    assert result.exit_code == 3
    assert result.stderr.count("\n") == 1
    assert "cannot connect" in result.stderr
    assert "Pw-not-shown" not in result.stderr
    assert sorted(tmp_path.iterdir()) == before


@pytest.mark.parametrize(
    "command", [("history", "import", "x.csv"), ("history", "prune", "--keep", "1d")]
)
def test_a_prometheus_history_is_never_written_nor_taken_for_a_path(
    run: Run, command: tuple[str, ...], tmp_path: Path
) -> None:
    (tmp_path / "x.csv").write_text("timestamp,metric,value\n", encoding="utf-8")
    before = sorted(tmp_path.iterdir())
    result = run(*command, "--history", "http://prometheus.example:9090")
    assert result.exit_code == 2
    assert "is a Prometheus server" in result.stderr
    assert sorted(tmp_path.iterdir()) == before


def test_an_unknown_scheme_is_refused_not_taken_for_a_path(run: Run, tmp_path: Path) -> None:
    result = run("trend", "--history", "mysql://u@h/x")
    assert result.exit_code == 2
    assert "unknown scheme" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_match_with_a_history_file_is_refused() -> None:
    from capplan.history_source import open_source

    with pytest.raises(InputError, match="Prometheus history only"):
        open_source("h.db", match=('job="node"',))


@given(
    st.lists(
        st.tuples(st.integers(0, 10**7), st.floats(-1e6, 1e6, allow_nan=False)),
        min_size=2,
        max_size=60,
        unique_by=lambda p: p[0],
    )
)
def test_theil_sen_is_the_median_of_the_pairwise_slopes(points: list[tuple[int, float]]) -> None:
    """The fit a fleet's hundreds of series take (pairs computed in numpy) is the plain one."""
    import statistics

    from capplan.trend import theil_sen

    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    ordered = sorted(points)
    moments = [(start + dt.timedelta(seconds=s), v) for s, v in ordered]
    xs = [(m - moments[0][0]).total_seconds() / 86_400 for m, _ in moments]
    ys = [v for _, v in moments]
    slopes = [
        (ys[j] - ys[i]) / (xs[j] - xs[i])
        for i in range(len(xs))
        for j in range(i + 1, len(xs))
        if xs[j] != xs[i]
    ]
    slope = statistics.median(slopes)
    fit = theil_sen(moments)
    assert fit.slope_per_day == slope
    assert fit.intercept == statistics.median([y - slope * x for x, y in zip(xs, ys, strict=True)])


def test_a_server_that_does_not_answer_is_a_timeout_of_one_line(run: Run) -> None:
    import socket

    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        source = PrometheusHistory(locate(f"http://127.0.0.1:{port}"), Access(timeout=1), now=NOW)
        with pytest.raises(ServerError) as raised:
            list(source.series(most=MAX_POINTS))
    assert str(raised.value) == f"Prometheus http://127.0.0.1:{port}: no answer within 1 s"
    assert raised.value.exit_code == 3
