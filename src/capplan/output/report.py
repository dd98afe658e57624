"""The Report every command returns, and the registry of formats that render it.

A result of the core becomes a Report: its JSON data (the scripting contract, built from the
core's dataclasses by `data`), the sections a person reads (titled tables, notes, an optional
chart) and the result itself, for the formats that need it (Nagios, Prometheus). Every format is
one function from a Report to text, registered once with `@renders(Format.x)`; `emit` prints the
text or writes it to a file atomically. Nothing else in capplan knows about Rich.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import enum
import io
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from capplan.errors import CapplanError, InputError
from capplan.metrics import Status
from capplan.output import numbers
from capplan.output.formats import Format
from capplan.output.numbers import figure, plain

if TYPE_CHECKING:
    from rich.console import Console, RenderableType


@dataclass(frozen=True)
class Shown:
    """A figure that a person reads with its unit (EUR 1,800, 93.4 %, 2.1 MB) and a spreadsheet
    reads as the number (1800, 93.4, 2100000): the tables and markdown show `text`, CSV `value`
    and, in a column of its own, `unit`."""

    value: float | None
    text: str
    unit: str = ""

    @classmethod
    def eur(cls, value: float | None) -> Shown:
        return cls(value, numbers.eur(value), "EUR")

    @classmethod
    def pct(cls, value: float | None) -> Shown:
        return cls(value, numbers.pct(value), "%")

    @classmethod
    def size(cls, count: int) -> Shown:
        return cls(count, numbers.size(count), "B")


Cell = str | int | float | Shown | None


@dataclass
class Section:
    title: str
    columns: Sequence[str]
    rows: list[Sequence[Cell]]
    statuses: Sequence[Status | None] = ()  # per row, colours the row's status cell in a table
    header: bool = True  # False: a two-column list of names and values
    optional: Sequence[str] = ()  # columns a narrow terminal may leave out, after the prose
    in_table: bool = True  # False: only in csv and markdown (the table format shows a chart)


@dataclass
class Report:
    data: Mapping[str, Any]
    sections: list[Section]
    notes: list[str] = field(default_factory=list)
    chart: Callable[[Console], RenderableType] | None = None
    result: object = None  # the core's result, for the formats that read it directly


Renderer = Callable[[Report], str]


@dataclass(frozen=True)
class _Entry:
    render: Renderer
    needs: type | None  # the kind of result the format reads; None: any report


_FORMATS: dict[Format, _Entry] = {}


def renders(fmt: Format, needs: type | None = None) -> Callable[[Renderer], Renderer]:
    """Register the function that renders `fmt` (for reports whose result is a `needs`)."""

    def register(function: Renderer) -> Renderer:
        _FORMATS[fmt] = _Entry(function, needs)
        return function

    return register


def render(report: Report, fmt: Format) -> str:
    entry = _FORMATS[fmt]
    if entry.needs is not None and not isinstance(report.result, entry.needs):
        raise CapplanError(f"--format {fmt.value} is not available for this report")
    return entry.render(report)


def emit(text: str, destination: Path | None = None) -> None:
    """Print the text, or write it to `destination` atomically (temporary file, then rename)."""
    if destination is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    from capplan import atomic

    try:
        atomic.write_text(destination, text)
    except OSError as error:
        raise InputError("output", destination, str(error.strerror or error)) from None


# --- JSON -----------------------------------------------------------------------------------


def data(value: Any) -> Any:
    """A core result as JSON data: a dataclass by its fields (their names are the contract's
    keys; `metadata={"json": "key"}` renames one, `{"json": None}` leaves it out), a pydantic
    model by its dump, an enum by its value, a time in ISO 8601."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        result = {}
        for item in dataclasses.fields(value):
            key = item.metadata.get("json", item.name)
            if key is not None:
                result[key] = data(getattr(value, item.name))
        return result
    if hasattr(value, "model_dump"):  # a pydantic model, without importing pydantic here
        return data(value.model_dump())
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(key): data(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [data(item) for item in value]
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="seconds")
    return value


@renders(Format.json)
def to_json(report: Report) -> str:
    return json.dumps(plain(data(report.data)), indent=2, ensure_ascii=False) + "\n"


# --- CSV and Markdown -----------------------------------------------------------------------


@renders(Format.csv)
def to_csv(report: Report) -> str:
    """One block per section (its header row first), blocks separated by a blank line.

    Numbers are written as numbers (1500, 27.2, 1800 for EUR 1,800), not as the tables show
    them, a column of figures with units followed by a `unit` column; a missing value is an
    empty cell.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for index, section in enumerate(report.sections):
        if index:
            buffer.write("\n")
        with_unit = [
            any(_unit(row[i]) for row in section.rows) for i in range(len(section.columns))
        ]
        header: list[str] = ["section"]
        for column, unit in zip(section.columns, with_unit, strict=True):
            header += [column, f"{column} unit"] if unit else [column]
        writer.writerow(header)
        for row in section.rows:
            cells: list[Any] = [section.title]
            for cell, unit in zip(row, with_unit, strict=True):
                cells.append(_csv_cell(cell))
                if unit:
                    cells.append(_unit(cell))
            writer.writerow(cells)
    return buffer.getvalue()


def streamed(
    section: Section, rows: Iterable[Sequence[Cell]], fmt: Format, note: Callable[[int], str]
) -> Iterator[str]:
    """A section too long to hold, in csv or markdown, a row at a time, as to_csv and
    to_markdown write it (no unit columns: its cells are plain); `note` says how many rows there
    were, after them (markdown)."""
    if fmt is Format.csv:
        line = io.StringIO()
        writer = csv.writer(line, lineterminator="\n")
        writer.writerow(["section", *section.columns])
        for row in rows:
            writer.writerow([section.title, *(_csv_cell(cell) for cell in row)])
            if line.tell() > STREAM_CHUNK:
                yield line.getvalue()
                line.seek(0)
                line.truncate()
        yield line.getvalue()
        return
    if fmt is not Format.markdown:
        raise ValueError(f"{fmt} is not streamed row by row")
    count = 0
    yield f"### {section.title}\n\n| " + " | ".join(section.columns) + " |\n"
    yield "|" + "|".join("---" for _ in section.columns) + "|\n"
    for row in rows:
        count += 1
        yield "| " + " | ".join(_md_cell(c) for c in row) + " |\n"
    yield f"\n- {note(count)}\n"


def streamed_json(key: str, items: Iterable[Any]) -> Iterator[str]:
    """`{key: [items]}`, an item at a time, each on a line of its own (the same data as to_json
    writes; compact items, which JSON's C encoder writes fast enough for millions)."""
    yield f"{{\n  {json.dumps(key)}: ["
    separator = "\n"
    for item in items:
        yield separator + "    " + json.dumps(plain(data(item)), ensure_ascii=False)
        separator = ",\n"
    yield "]\n}\n" if separator == "\n" else "\n  ]\n}\n"


def _unit(cell: Cell) -> str:
    return cell.unit if isinstance(cell, Shown) else ""


def _csv_cell(cell: Cell) -> Any:
    if isinstance(cell, Shown):
        cell = cell.value
    return "" if cell is None else plain(cell)


def text(cell: Cell) -> str:
    """A cell as a person reads it: numbers with thousands separators, nothing as -."""
    if cell is None:
        return "-"
    if isinstance(cell, Shown):
        return cell.text
    if isinstance(cell, (int, float)):
        return figure(cell)
    return cell


def _md_cell(cell: Cell) -> str:
    return text(cell).replace("|", "\\|")


@renders(Format.markdown)
def to_markdown(report: Report) -> str:
    lines: list[str] = []
    for section in report.sections:
        lines += [f"### {section.title}", ""]
        lines.append("| " + " | ".join(section.columns) + " |")
        lines.append("|" + "|".join("---" for _ in section.columns) + "|")
        lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in section.rows]
        lines.append("")
    lines += [f"- {note}" for note in report.notes]
    return "\n".join(lines).rstrip() + "\n"


# --- the terminal ---------------------------------------------------------------------------


def make_console(stderr: bool = False) -> Console:
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 120  # piped or captured: wide enough that tables do not wrap
    return console


def _is_numeric(cell: str) -> bool:
    stripped = cell.replace(",", "").replace(".", "").replace("-", "").replace(" %", "")
    return stripped.removeprefix("EUR ").strip().isdigit()


# A figure as the tables show it: 1,500 GB, -166.8 %, 2.4 MB/s, 88.89 /s, EUR 1,800, 20-40 (30),
# 2,000 + CDN, 1.2x: numbers and the units or currencies beside them, nothing that reads as prose.
FIGURE = re.compile(
    r"^[+]?(EUR |USD )?[-+<>~]?[\d.,]+(e[-+]?\d+)?(-[\d.,]+)?( ?\([\d.,]+\))?"
    r"( ?[A-Za-z%/]{1,5}(/s|/mo|/month)?)?( \+ CDN)?$"
)
STREAM_CHUNK = 64 * 1024  # characters of CSV handed on at a time
PROSE_MIN = 12  # a column of prose may shrink to this before it is left out


def _is_key(cell: str) -> bool:
    """A cell the user reads whole or types: a figure with its unit, a status, an id, a path.
    Prose (words with spaces) may wrap; a key is never cut."""
    text = cell.strip()
    return " " not in text or FIGURE.match(text) is not None


@dataclass(frozen=True)
class _Layout:
    shown: list[int]  # the columns that fit, left to right
    widths: dict[int, int]  # key columns: their width; prose columns: the most they may take
    as_records: bool  # even the key columns do not fit: one block per row instead


def _layout(section: Section, cells: list[list[str]], width: int) -> _Layout:
    """Columns that fit `width` without cutting a key cell: prose columns shrink (down to
    PROSE_MIN) and are then left out from the right, then the section's optional columns; when
    the rest is still too wide, records."""
    count = len(section.columns)
    key = [i == 0 or all(_is_key(row[i]) for row in cells) for i in range(count)]
    words = [
        max(len(word) for word in (section.columns[i] if section.header else "").split() or [""])
        for i in range(count)
    ]
    need = [
        max([len(row[i]) for row in cells] + [words[i], 1]) if key[i] else max(PROSE_MIN, words[i])
        for i in range(count)
    ]
    shown = list(range(count))
    while sum(need[i] for i in shown) + 3 * len(shown) + 1 > width:
        prose = [i for i in shown if not key[i]]
        optional = [i for i in shown if section.columns[i] in section.optional]
        if not section.header or not (prose or optional):
            return _Layout(shown, {}, section.header)
        shown.remove((prose or optional)[-1])
    prose = [i for i in shown if not key[i]]
    longest = {i: max(len(word) for row in cells for word in row[i].split() or [""]) for i in prose}
    widths = {i: need[i] for i in shown if key[i]}
    spare = width - sum(widths.values()) - 3 * len(shown) - 1
    if sum(longest.values()) > spare:  # a long word would push the table past the edge
        widths |= {i: max(need[i], spare // len(prose)) for i in prose}
    return _Layout(shown, widths, False)


def _records(section: Section, cells: list[list[str]]) -> Any:
    """Each row as a block of `column  value` lines: a table too wide for the terminal."""
    from rich.table import Table

    table = Table(title=section.title, title_justify="left", title_style="bold", show_header=False)
    table.add_column(min_width=max(len(column) for column in section.columns))
    table.add_column(overflow="fold")
    for row in cells:
        for index, (column, cell) in enumerate(zip(section.columns, row, strict=True)):
            table.add_row(column, cell, end_section=index == len(row) - 1)
    return table


@renders(Format.table)
def to_table(report: Report) -> str:
    """Rich tables, as wide and as colourful as the terminal that will show them. A table too
    wide leaves out prose columns first, then shows each row as a record; it never cuts a
    number, a status or an id."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    screen = make_console()
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=screen.width,
        force_terminal=screen.is_terminal,
        color_system=screen.color_system,  # type: ignore[arg-type]
        highlight=False,
    )
    for section in report.sections:
        if not section.in_table:
            continue
        cells = [[text(c) for c in row] for row in section.rows]
        layout = _layout(section, cells, console.width)
        if layout.as_records:
            console.print(_records(section, cells))
            continue
        table = Table(
            title=section.title,
            title_justify="left",
            title_style="bold",
            show_header=section.header,
        )
        for index in layout.shown:
            numeric = bool(cells) and all(
                isinstance(row[index], (int, float, Shown))
                or _is_numeric(shown_row[index])
                or shown_row[index] in ("", "-")
                for row, shown_row in zip(section.rows, cells, strict=True)
            )
            keyed = index == 0 or all(_is_key(row[index]) for row in cells)
            table.add_column(
                section.columns[index],
                justify="right" if numeric else "left",
                min_width=layout.widths.get(index) if keyed else None,
                no_wrap=keyed,  # Rich then narrows only the prose to fit
                max_width=None if keyed else layout.widths.get(index),
                overflow="fold",
            )
        for row_index, row in enumerate(cells):
            status = section.statuses[row_index] if row_index < len(section.statuses) else None
            table.add_row(
                *(
                    Text(row[i], style=status.style)
                    if status and row[i] == status
                    else Text(row[i])
                    for i in layout.shown
                )
            )
        console.print(table)
        left_out = [c for i, c in enumerate(section.columns) if i not in layout.shown]
        if left_out:
            console.print(
                Text(
                    f"({', '.join(left_out)} left out at this width: widen the terminal or "
                    "use --format markdown)",
                    style="dim",
                )
            )
    if report.chart is not None:
        console.print(report.chart(console))
    for note in report.notes:
        console.print(Text(note, style="yellow" if note.startswith("warning") else ""))
    return buffer.getvalue()
