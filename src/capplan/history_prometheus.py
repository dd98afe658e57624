"""A Prometheus server as the history of `trend` and `report`, read with its HTTP API.

What is read (the PromQL is history_promql's):
- node_exporter's standard series, mapped to capplan's metrics: cpu_percent from the idle rate of
  `node_cpu_seconds_total`, memory_percent from MemAvailable/MemTotal, disk_percent per mountpoint
  of a real file system (label `path`), load_per_core (`node_load1` over the cores), disk I/O per
  whole disk (label `device`) and network traffic per interface (label `nic`);
- capplan's own series (`capplan check --format prometheus` through the textfile collector), by
  the Prometheus name of each metric in METRICS, from base units back to capplan's. A host metric
  that node_exporter gives for an instance is taken from node_exporter only.

Every series keeps its `instance` and its own labels (path, device, nic, db, table, url and the
`--label`s of check); `job` and node_exporter's `fstype` and file system `device` are dropped.

`/api/v1/series` says which of those series exist over the range; each metric is then one
`/api/v1/query_range` (split into pieces of at most 11,000 points, Prometheus' limit per series)
and one instant `/api/v1/query` at the end for the latest value. The step is a round duration
that gives the forecasts about as many points as they fit (trend.MAX_POINTS), and evaluation
moments are multiples of it, so two runs read the same points.

Credentials (a bearer token, or basic auth) come from a file or the environment, never from the
command line, and appear in no message; the server is named by scheme://host:port/path.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import os
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capplan.errors import CapplanError, InputError, ServerError
from capplan.history import Series, evenly
from capplan.history_promql import (
    CAPPLAN_QUERIES,
    DROPPED_LABELS,
    FS,
    IDLE,
    NODE_QUERIES,
    Query,
    parse_match,
)
from capplan.history_source import HostFacts, Location
from capplan.metrics import METRICS, label_text

__all__ = ["Access", "PrometheusHistory", "access_from", "choose_step", "parse_match", "pieces"]

MAX_RESOLUTION = 11_000  # Prometheus refuses a range query of more points per series
DEFAULT_RANGE = dt.timedelta(days=90)  # without --since
LATEST_WINDOW = 300  # seconds: the rate window of the latest value (rate() needs two scrapes)
QUERY_TIMEOUT = 60.0  # seconds, per request
NICE_STEPS = (15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
TOKEN_ENV = "CAPPLAN_PROMETHEUS_TOKEN"
TOKEN_FILE_ENV = "CAPPLAN_PROMETHEUS_TOKEN_FILE"
BASIC_AUTH_ENV = "CAPPLAN_PROMETHEUS_BASIC_AUTH"  # user:password
BASIC_AUTH_FILE_ENV = "CAPPLAN_PROMETHEUS_BASIC_AUTH_FILE"
CA_FILE_ENV = "CAPPLAN_PROMETHEUS_CA_FILE"

# --- credentials -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Access:
    """How to reach the server; the secrets are never shown (repr included)."""

    token: str | None = field(default=None, repr=False)
    basic: tuple[str, str] | None = field(default=None, repr=False)
    ca_file: Path | None = None
    timeout: float = QUERY_TIMEOUT

    def headers(self) -> dict[str, str]:
        if self.token is not None:
            return {"Authorization": f"Bearer {self.token}"}
        if self.basic is not None:
            pair = f"{self.basic[0]}:{self.basic[1]}".encode()
            return {"Authorization": f"Basic {base64.b64encode(pair).decode('ascii')}"}
        return {}


def _read_secret(path: Path, subject: str) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        problem = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise InputError(subject, path, f"cannot read it: {problem or error}") from None
    if not text or "\n" in text:
        raise InputError(subject, path, "expected one line")
    return text


def _basic(text: str, subject: str, where: object) -> tuple[str, str]:
    user, colon, password = text.partition(":")
    if not colon or not user:
        raise InputError(subject, where, "expected USER:PASSWORD")
    return user, password


def access_from(
    *,
    token_file: Path | None = None,
    basic_auth_file: Path | None = None,
    ca_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Access:
    """Credentials from the files given, else from the environment: a bearer token
    ($CAPPLAN_PROMETHEUS_TOKEN or _TOKEN_FILE) or basic auth (USER:PASSWORD in
    $CAPPLAN_PROMETHEUS_BASIC_AUTH or _BASIC_AUTH_FILE); a CA file ($CAPPLAN_PROMETHEUS_CA_FILE)."""
    env = os.environ if environ is None else environ
    token_file = token_file or (Path(env[TOKEN_FILE_ENV]) if env.get(TOKEN_FILE_ENV) else None)
    basic_auth_file = basic_auth_file or (
        Path(env[BASIC_AUTH_FILE_ENV]) if env.get(BASIC_AUTH_FILE_ENV) else None
    )
    ca_file = ca_file or (Path(env[CA_FILE_ENV]) if env.get(CA_FILE_ENV) else None)
    token = _read_secret(token_file, "token_file") if token_file else env.get(TOKEN_ENV) or None
    basic = None
    if basic_auth_file is not None:
        basic = _basic(_read_secret(basic_auth_file, "basic_auth_file"), "basic_auth_file",
                       basic_auth_file)  # fmt: skip
    elif env.get(BASIC_AUTH_ENV):
        basic = _basic(env[BASIC_AUTH_ENV], "environment", f"${BASIC_AUTH_ENV}")
    if token is not None and basic is not None:
        raise CapplanError("give a bearer token or basic auth for Prometheus, not both")
    if ca_file is not None and not ca_file.is_file():
        raise InputError("ca_file", ca_file, "no such file")
    return Access(token, basic, ca_file)


# --- the HTTP API ----------------------------------------------------------------------------


class Client:
    """Requests to one Prometheus server's /api/v1; every failure is a ServerError naming the
    server by its parts."""

    def __init__(self, location: Location, access: Access) -> None:
        if location.has_userinfo:
            raise InputError(
                "history",
                location.label,
                "holds credentials in the URL, which the command line would show: put them in "
                f"--basic-auth-file or ${BASIC_AUTH_FILE_ENV}",
            )
        self.label = location.label
        self.base = f"{location.label}/api/v1/"
        self.access = access
        self.context: ssl.SSLContext | None = None
        if location.scheme == "https":
            cafile = str(access.ca_file) if access.ca_file else None
            self.context = ssl.create_default_context(cafile=cafile)
        self.seconds = 0.0  # Prometheus' own time, as it reports it (stats=all)

    def get(self, endpoint: str, params: Sequence[tuple[str, str]]) -> Any:
        """The `data` of a successful answer (POSTed as a form: a long query fits)."""
        body = urllib.parse.urlencode(list(params)).encode("ascii")
        request = urllib.request.Request(
            self.base + endpoint,
            data=body,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
                **self.access.headers(),
            },
        )
        try:
            with urllib.request.urlopen(
                request, timeout=self.access.timeout, context=self.context
            ) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise ServerError(f"Prometheus {self.label}: {self._refusal(error)}") from None
        except TimeoutError:
            raise ServerError(
                f"Prometheus {self.label}: no answer within {self.access.timeout:g} s"
            ) from None
        except urllib.error.URLError as error:
            reason = error.reason
            if isinstance(reason, TimeoutError):
                raise ServerError(
                    f"Prometheus {self.label}: no answer within {self.access.timeout:g} s"
                ) from None
            why = getattr(reason, "strerror", None) or str(reason)
            raise ServerError(f"Prometheus {self.label}: cannot connect: {why}") from None
        except (OSError, ValueError) as error:
            why = getattr(error, "strerror", None) or type(error).__name__
            raise ServerError(f"Prometheus {self.label}: bad answer: {why}") from None
        if not isinstance(answer, dict) or answer.get("status") != "success":
            error_text = answer.get("error") if isinstance(answer, dict) else None
            raise ServerError(f"Prometheus {self.label}: {error_text or 'not a Prometheus API'}")
        stats = (
            answer.get("data", {}).get("stats") if isinstance(answer.get("data"), dict) else None
        )
        if isinstance(stats, dict):
            timings = stats.get("timings", {})
            self.seconds += float(timings.get("evalTotalTime", 0.0))
        return answer.get("data")

    def _refusal(self, error: urllib.error.HTTPError) -> str:
        detail = ""
        try:
            found = json.loads(error.read())
            if isinstance(found, dict) and isinstance(found.get("error"), str):
                detail = ": " + found["error"].splitlines()[0][:300]
        except (OSError, ValueError):
            pass
        if error.code in (401, 403):
            detail = " (check the token or basic auth given for it)"
        if error.code == 503 and not detail:
            detail = ": the query timed out or was aborted"
        return f"HTTP {error.code} {error.reason}{detail}"


def choose_step(start: dt.datetime, end: dt.datetime, most: int) -> int:
    """A round step in seconds giving at most `most` points from start to end."""
    wanted = math.ceil((end - start).total_seconds() / max(most - 1, 1))
    for step in NICE_STEPS:
        if step >= wanted:
            return step
    return math.ceil(wanted / 86_400) * 86_400


def pieces(start: int, end: int, step: int) -> Iterator[tuple[int, int]]:
    """[start, end] (multiples of step) split so that no piece passes MAX_RESOLUTION points."""
    span = (MAX_RESOLUTION - 1) * step
    while start <= end:
        last = min(end, start + span)
        yield start, last
        start = last + step


def _seconds(moment: dt.datetime) -> int:
    return math.floor(moment.timestamp())


@dataclass
class PrometheusHistory:
    """A Prometheus server as a history: read only."""

    location: Location
    access: Access = field(default_factory=Access)
    match: tuple[str, ...] = ()
    now: dt.datetime | None = None  # the end of the range (default: now)
    step: int | None = None  # seconds (default: chosen from the range and `most`)
    client: Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = Client(self.location, self.access)

    @property
    def label(self) -> str:
        return self.location.label

    @property
    def writable(self) -> bool:
        return False

    @property
    def server_seconds(self) -> float:
        """Prometheus' own evaluation time of the queries so far."""
        return self.client.seconds

    def _selector(self, name: str, *fixed: str) -> str:
        return f"{name}{{{','.join((*fixed, *self.match))}}}"

    def present(self, start: int, end: int) -> set[str]:
        """The names of the series read that exist in the range (/api/v1/series)."""
        names = sorted({n for q in (*NODE_QUERIES, *CAPPLAN_QUERIES) for n in q.needs})
        pattern = "|".join(re.escape(n) for n in names)
        selector = f'{{__name__=~"{pattern}"{"".join("," + m for m in self.match)}}}'
        found = self.client.get(
            "series", [("match[]", selector), ("start", str(start)), ("end", str(end))]
        )
        return {item.get("__name__", "") for item in found or [] if isinstance(item, dict)}

    def series(
        self, *, most: int, metric: str | None = None, since: dt.datetime | None = None
    ) -> Iterator[Series]:
        if metric is not None and metric not in METRICS:
            raise InputError("metric", metric, f"expected one of {', '.join(METRICS)}")
        end_moment = self.now or dt.datetime.now(dt.timezone.utc)
        start_moment = since if since is not None else end_moment - DEFAULT_RANGE
        step = self.step or choose_step(start_moment, end_moment, most)
        end = _seconds(end_moment)
        start = math.ceil(_seconds(start_moment) / step) * step
        last = end // step * step
        present = self.present(start, end)
        found: dict[tuple[str, str], Series] = {}
        node_instances: set[tuple[str, str]] = set()
        for query in (*NODE_QUERIES, *CAPPLAN_QUERIES):
            if metric is not None and query.metric != metric:
                continue
            if not all(name in present for name in query.needs):
                continue
            for labels, points in self._read(query, start, last, end, step):
                instance = labels.get("instance", "")
                if query.from_node:
                    node_instances.add((query.metric, instance))
                elif (query.metric, instance) in node_instances:
                    continue
                key = (query.metric, label_text(dict(sorted(labels.items()))))
                keep = [points[i] for i in evenly(len(points), most)]
                found[key] = Series(query.metric, labels, len(points), tuple(keep))
        order = list(METRICS)
        for key in sorted(found, key=lambda k: (order.index(k[0]), k[1])):
            yield found[key]

    def facts(self) -> dict[str, HostFacts]:
        """Each instance's cores, memory and real file systems (size, free) by node_exporter."""
        end = _seconds(self.now or dt.datetime.now(dt.timezone.utc))
        s = self._selector
        asked = {
            "vcpu": f"count without (cpu, mode) ({s('node_cpu_seconds_total', IDLE)})",
            "ram_gb": f"{s('node_memory_MemTotal_bytes')} / 1e9",
            "disk_used_gb": f"sum without (device, fstype, mountpoint) "
            f"({s('node_filesystem_size_bytes', FS)} "
            f"- {s('node_filesystem_free_bytes', FS)}) / 1e9",
            "disk_free_gb": f"sum without (device, fstype, mountpoint) "
            f"({s('node_filesystem_avail_bytes', FS)}) / 1e9",
        }
        found: dict[str, dict[str, float]] = {}
        for name, expr in asked.items():
            answer = self.client.get("query", [("query", expr), ("time", str(end))])
            for item in answer.get("result") or []:
                instance = str(item.get("metric", {}).get("instance", ""))
                found.setdefault(instance, {})[name] = float(item["value"][1])
        return {
            instance: HostFacts(
                vcpu=int(values["vcpu"]) if "vcpu" in values else None,
                ram_gb=values.get("ram_gb"),
                disk_used_gb=values.get("disk_used_gb"),
                disk_free_gb=values.get("disk_free_gb"),
            )
            for instance, values in found.items()
        }

    def _read(
        self, query: Query, start: int, last: int, end: int, step: int
    ) -> list[tuple[dict[str, str], list[tuple[dt.datetime, float]]]]:
        """Each series of one query: its capplan labels and its points, oldest first."""
        window = f"{max(step, LATEST_WINDOW)}s"
        expr = query.expr(self._selector, window)
        values: dict[str, tuple[dict[str, str], dict[float, float]]] = {}

        def add(items: Any) -> None:
            for item in items or []:
                labels = self._labels(query, item.get("metric", {}))
                key = label_text(dict(sorted(labels.items())))
                points = values.setdefault(key, (labels, {}))[1]
                pairs = item.get("values") or ([item["value"]] if "value" in item else [])
                for moment, text in pairs:
                    number = float(text)
                    if math.isfinite(number):
                        points[float(moment)] = number * query.scale

        for first, final in pieces(start, last, step):
            answer = self.client.get(
                "query_range",
                [
                    ("query", expr),
                    ("start", str(first)),
                    ("end", str(final)),
                    ("step", f"{step}s"),
                    ("timeout", f"{self.access.timeout:g}s"),
                    ("stats", "all"),
                ],
            )
            add(answer.get("result"))
        if end > last:  # the latest value, over a short window
            latest = query.expr(self._selector, f"{LATEST_WINDOW}s")
            answer = self.client.get(
                "query",
                [
                    ("query", latest),
                    ("time", str(end)),
                    ("timeout", f"{self.access.timeout:g}s"),
                    ("stats", "all"),
                ],
            )
            add(answer.get("result"))
        return [
            (
                labels,
                [
                    (dt.datetime.fromtimestamp(moment, dt.timezone.utc), value)
                    for moment, value in sorted(points.items())
                ],
            )
            for labels, points in values.values()
            if points
        ]

    @staticmethod
    def _labels(query: Query, raw: Mapping[str, str]) -> dict[str, str]:
        renames = dict(query.rename)
        labels = {
            renames.get(key, key): str(value)
            for key, value in raw.items()
            if key not in DROPPED_LABELS and key not in query.drop
        }
        return dict(sorted(labels.items()))
