"""A platform's history with known slopes, for the report tests, and a reader of the page's
tables (the standard library's HTML parser: what a browser would see as text)."""

from __future__ import annotations

from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

from .conftest import Run
from .histories import DAY, START, Write, day_of, imported, series_csv

INJECTED = "<script>document.title='INJECTED'</script>"

# metric, labels, value on day d of 60 (the last one is now); see EXPECTED for what follows
SERIES: list[tuple[str, str, Callable[[float], float]]] = [
    ("cpu_percent", "", lambda d: 40 + 0.1 * d),  # 46 % OK; warning 70 on day 300
    ("memory_percent", "", lambda d: 70 + 0.1 * d),  # 76 % WARNING now (75 on day 50)
    ("disk_percent", "path=/", lambda d: 30 + 0.5 * d),  # 60 %; 70 on day 80, 85 on day 110
    ("disk_percent", "path=/srv", lambda d: 20 + 0.1 * d),  # 26 %; 70 on day 500
    ("storage_gb", "", lambda d: 500 + 4 * d),  # 740 GB; 800 on day 75, 950 on day 112.5
    ("table_rows", "table=orders", lambda d: 90_000 + 1_000 * d),  # WARNING since day 10
    ("db_size_gb", "", lambda d: 10 + 0.01 * d),  # 10.6 GB; 20 on day 1,000
]

# (level, metric, labels, when, the day the fit crosses) for a horizon of 90 days
EXPECTED_ALERTS = [
    ("WARNING", "table_rows", "table=orders", "now", day_of(START + 10 * DAY)),
    ("WARNING", "memory_percent", "-", "now", day_of(START + 50 * DAY)),
    ("WARNING", "storage_gb", "-", "coming", day_of(START + 75 * DAY)),
    ("WARNING", "disk_percent", "path=/", "coming", day_of(START + 80 * DAY)),
    ("CRITICAL", "disk_percent", "path=/", "coming", day_of(START + 110 * DAY)),
    ("CRITICAL", "storage_gb", "-", "coming", day_of(START + 112.5 * DAY)),
]


def platform_csv(extra: list[tuple[str, str, Callable[[float], float]]] | None = None) -> str:
    """One CSV export of every series above (and `extra`), a value a day for 60 days."""
    lines = ["timestamp,metric,value,labels"]
    for metric, labels, values in SERIES + (extra or []):
        lines += series_csv(values, metric=metric, labels=labels).splitlines()[1:]
    return "\n".join(lines) + "\n"


def platform_history(run: Run, write: Write, db: Path, *, inject: bool = False) -> Path:
    """The history above in `db`; `inject` adds a disk whose path is a script."""
    extra = [("disk_percent", f"path={INJECTED}", lambda d: 10.0 + 0.01 * d)] if inject else None
    imported(run, write, db, platform_csv(extra), "platform.csv")
    return db


class _Tables(HTMLParser):
    """Every table with a given class: its body rows, each cell's text, and the dates of the
    <time> elements in the row."""

    def __init__(self, css_class: str) -> None:
        super().__init__()
        self.css_class = css_class
        self.depth = 0  # inside a wanted table
        self.head = False  # inside its <thead>
        self.rows: list[tuple[list[str], list[str]]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "table" and self.css_class in (found.get("class") or "").split():
            self.depth = 1
        elif self.depth and tag == "thead":
            self.head = True
        elif self.depth and tag == "tr" and not self.head:
            self.rows.append(([], []))
        elif self.depth and tag in ("td", "th") and not self.head and self.rows:
            self.cell = []
        elif self.depth and tag == "time" and not self.head and self.rows:
            self.rows[-1][1].append(found.get("datetime") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.depth = 0
        elif tag == "thead":
            self.head = False
        elif tag in ("td", "th") and self.cell is not None and self.rows:
            self.rows[-1][0].append(" ".join("".join(self.cell).split()))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def page_table(html: str, css_class: str) -> list[tuple[list[str], list[str]]]:
    """The body rows (cells, dates) of the page's tables with this class."""
    parser = _Tables(css_class)
    parser.feed(html)
    return parser.rows
