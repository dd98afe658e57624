"""The output formats, apart from their renderers: the command line offers them without importing
the renderers (output/report.py registers one function per format)."""

from __future__ import annotations

import enum


class Format(str, enum.Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"
    nagios = "nagios"
    prometheus = "prometheus"
    html = "html"

    __str__ = str.__str__


# What every report can be rendered as; a command may offer more (check: nagios, prometheus).
GENERAL = (Format.table, Format.json, Format.csv, Format.markdown)
