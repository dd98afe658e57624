"""The CSV form of a history: what other monitoring systems export, `history import` reads and
`history export` writes. Columns timestamp,metric,value and optionally labels and status, in any
order, one record a line:

    timestamp,metric,value,labels,status
    2026-11-27T08:00:00+00:00,disk_percent,61.5,path=/,OK

Reading streams the file a line at a time and checks each one, so memory stays flat however long
the file is; the first bad line is an error naming the file, the line and the value. The bytes are
decoded here, line by line, so that a file that is not UTF-8 is named with its byte offset, and a
UTF-8 byte-order mark (Excel's "CSV UTF-8") is dropped.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from capplan.errors import CapplanError, ConfigError
from capplan.metrics import METRICS, Status

if TYPE_CHECKING:
    from _csv import Reader as _reader

UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = dt.timedelta(microseconds=1)
# A clock a little ahead of this machine's is not "the future".
CLOCK_SKEW = dt.timedelta(minutes=5)

REQUIRED = ("timestamp", "metric", "value")
OPTIONAL = ("labels", "status")
HEADER = (*REQUIRED, *OPTIONAL)
EXPECTED = "timestamp,metric,value[,labels][,status]"
MAX_LINE_BYTES = 1 << 20
UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_CACHE_SIZE = 4096
# Every metric is a magnitude (a percentage, a time, a size, a count), never negative. The
# largest is far above any measurement (a petabyte in GB, a quadrillion rows), and low enough
# that every slope and projection of a fit stays a finite number.
LARGEST_VALUE = 1e15

# One record as the history stores it: metric, canonical labels, microseconds since 1970 (UTC),
# value, status.
Row = tuple[str, str, int, float, str | None]


def shown(text: str, most: int = 40) -> str:
    """A value as a message quotes it: invisible characters escaped, a long one cut short."""
    return repr(text if len(text) <= most else text[:most] + "...")


# --- times and labels -----------------------------------------------------------------------


def parse_timestamp(text: str) -> dt.datetime:
    """ISO 8601, in UTC; a trailing Z is UTC, and a time without an offset is taken as UTC.

    ValueError for anything else, a moment outside the years 1-9999 in UTC included."""
    value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("outside the years 1-9999") from None


def micros(moment: dt.datetime) -> int:
    """A moment as the history stores it: microseconds since 1970-01-01 UTC."""
    return (moment - EPOCH) // MICROSECOND


def from_micros(at: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=at)


def canonical_labels(labels: Mapping[str, str]) -> str:
    """Labels as the history stores them: a JSON object with sorted keys."""
    return json.dumps(dict(sorted(labels.items())), separators=(",", ":"), ensure_ascii=False)


def parse_labels(text: str) -> dict[str, str]:
    """`path=/;table=orders` or a JSON object of strings: `{"path": "/"}`."""
    text = text.strip()
    if not text:
        return {}
    if text.startswith("{"):
        loaded = json.loads(text)
        if not isinstance(loaded, dict) or not all(
            isinstance(v, str) or (isinstance(v, (int, float)) and not isinstance(v, bool))
            for v in loaded.values()
        ):
            raise ValueError("expected a JSON object of strings")
        labels = {key: str(value) for key, value in loaded.items()}
    else:
        labels = {}
        for pair in text.split(";"):
            if not pair.strip():
                continue
            key, sep, value = pair.partition("=")
            key = key.strip()
            if not sep or not key:
                raise ValueError(f"expected key=value pairs separated by ';', got {shown(pair)}")
            if key in labels:
                raise ValueError(f"label {shown(key)} is given twice")
            labels[key] = value.strip()
    if "" in labels:
        raise ValueError("a label needs a name")
    return labels


def _writes_plainly(key: str, value: str) -> bool:
    """Whether key=value reads back the same (JSON escapes line breaks and other controls)."""
    return (
        bool(key)
        and (key + value).isprintable()
        and ";" not in key + value
        and "=" not in key
        and key == key.strip()
        and value == value.strip()
    )


def labels_text(labels: Mapping[str, str]) -> str:
    """Labels as `history export` writes them: key=value;... when that reads back the same,
    else a JSON object."""
    if all(_writes_plainly(k, v) for k, v in labels.items()) and not next(
        iter(labels), ""
    ).startswith("{"):
        return ";".join(f"{key}={value}" for key, value in labels.items())
    return json.dumps(dict(labels), separators=(",", ":"), ensure_ascii=False)


# --- reading --------------------------------------------------------------------------------


def _lines(stream: BinaryIO, path: Path) -> Iterator[str]:
    """The file's lines as text; not UTF-8, a NUL byte or an endless line is an error."""
    offset = 0
    number = 0
    while True:
        raw = stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        number += 1
        if number == 1:
            if raw.startswith(UTF16_BOMS):
                raise ConfigError(path, "this is UTF-16 text: export it as UTF-8")
            if raw.startswith(UTF8_BOM):
                raw, offset = raw[len(UTF8_BOM) :], len(UTF8_BOM)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ConfigError.not_utf8(path, raw, error, number, offset) from None
        if "\0" in text:
            raise ConfigError(
                path,
                f"a NUL byte at byte offset {offset + text.index(chr(0)):,}: not a text file",
                line=number,
            )
        if len(raw) > MAX_LINE_BYTES:
            raise ConfigError(path, "a line longer than 1 MiB: not a CSV export", line=number)
        offset += len(raw)
        yield text


def _columns(path: Path, header: list[str]) -> dict[str, int]:
    names = [name.strip() for name in header]
    twice = sorted({name for name in names if names.count(name) > 1})
    missing = [name for name in REQUIRED if name not in names]
    unknown = [name for name in names if name not in HEADER]
    if twice or missing or unknown:
        problems = [
            *([f"missing {', '.join(missing)}"] if missing else []),
            *([f"unknown {', '.join(map(shown, unknown))}"] if unknown else []),
            *([f"{', '.join(map(shown, twice))} twice"] if twice else []),
        ]
        raise ConfigError(path, f"expected the columns {EXPECTED}; {'; '.join(problems)}", line=1)
    return {name: names.index(name) for name in HEADER if name in names}


def read(path: Path, *, now: dt.datetime) -> Iterator[Row]:
    """Every record of a CSV file, checked as it is read (timestamps later than `now` are
    refused); the first bad line raises a ConfigError naming it."""
    try:
        stream = path.open("rb")
    except OSError as error:
        raise CapplanError(f"{path}: {error.strerror or error}") from None
    with stream:
        reader = csv.reader(_lines(stream, path))
        try:
            header = next(reader, None)
            if header is None:
                raise ConfigError(path, f"empty file: expected a header line {EXPECTED}")
            yield from _rows(path, reader, _columns(path, header), now)
        except csv.Error as error:
            raise ConfigError(path, str(error), line=reader.line_num) from None


def _rows(path: Path, reader: _reader, columns: dict[str, int], now: dt.datetime) -> Iterator[Row]:
    def bad(problem: str) -> ConfigError:
        return ConfigError(path, problem, line=reader.line_num)

    width = len(columns)
    at_t, at_m, at_v = columns["timestamp"], columns["metric"], columns["value"]
    at_l, at_s = columns.get("labels"), columns.get("status")
    latest = micros(now + CLOCK_SKEW)
    last_stamp, at = "", 0
    labels_cache: dict[str, str] = {}
    for row in reader:
        if len(row) != width:
            if not row:
                continue  # a blank line
            raise bad(f"expected {width} fields ({','.join(columns)}), got {len(row)}")
        stamp = row[at_t]
        if stamp != last_stamp:
            at = _timestamp(stamp, latest, now, bad)
            last_stamp = stamp
        metric = row[at_m]
        if metric not in METRICS:
            metric = metric.strip()
            if metric not in METRICS:
                raise bad(f"metric {shown(metric)}: expected one of {', '.join(METRICS)}")
        try:
            value = float(row[at_v])
        except ValueError:
            raise bad(f"value {shown(row[at_v])}: expected a number") from None
        if not 0 <= value <= LARGEST_VALUE:  # NaN fails both
            raise bad(f"value {shown(row[at_v])}: expected a number from 0 to 1e15")
        text = "" if at_l is None else row[at_l]
        labels = labels_cache.get(text)
        if labels is None:
            try:
                labels = canonical_labels(parse_labels(text))
            except ValueError as error:
                raise bad(f"labels {shown(text)}: {error}") from None
            if len(labels_cache) >= _CACHE_SIZE:
                labels_cache.clear()
            labels_cache[text] = labels
        yield metric, labels, at, value, None if at_s is None else _status(row[at_s], bad)


def _timestamp(stamp: str, latest: int, now: dt.datetime, bad: Callable[[str], ConfigError]) -> int:
    try:
        at = micros(parse_timestamp(stamp))
    except ValueError:
        raise bad(f"timestamp {shown(stamp)}: expected ISO 8601 (2026-11-27T08:00:00Z)") from None
    if at > latest:
        raise bad(
            f"timestamp {shown(stamp)} is in the future "
            f"(this machine's clock says {now.isoformat(timespec='seconds')})"
        )
    return at


_STATUSES = {status.value: status.value for status in Status}


def _status(text: str, bad: Callable[[str], ConfigError]) -> str | None:
    text = text.strip()
    if not text:
        return None
    status = _STATUSES.get(text.upper())
    if status is None:
        raise bad(f"status {shown(text)}: expected {', '.join(_STATUSES)} or nothing")
    return status


# --- writing --------------------------------------------------------------------------------


def value_text(value: float) -> str:
    """A value that reads back the same: 30, 21.79, 1e-05."""
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def write(rows: Iterable[tuple[int, str, str, float, str | None]]) -> Iterator[str]:
    """CSV text (header first, then some thousands of lines at a time) for records given as
    (at, metric, canonical labels, value, status), in the form `read` takes back."""
    buffer = _Line()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    yield buffer.take()
    labels_cache: dict[str, str] = {}
    last_at, stamp = None, ""
    for written, (at, metric, labels, value, status) in enumerate(rows, start=1):
        if at != last_at:
            stamp, last_at = from_micros(at).isoformat(), at
        text = labels_cache.get(labels)
        if text is None:
            if len(labels_cache) >= _CACHE_SIZE:
                labels_cache.clear()
            text = labels_cache[labels] = labels_text(json.loads(labels))
        writer.writerow((stamp, metric, value_text(value), text, status or ""))
        if written % 4096 == 0:
            yield buffer.take()
    yield buffer.take()


class _Line:
    """What csv.writer writes, until taken."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def take(self) -> str:
        text, self.parts = "".join(self.parts), []
        return text
