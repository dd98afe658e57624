"""The one place where numbers become text: figures, money, percentages, sizes, perfdata values."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

BYTE_UNITS = (("GB", 1e9), ("MB", 1e6), ("KB", 1e3))


def significant(value: float, digits: int) -> str:
    """A small value to `digits` significant digits, never in exponent form: 0.000049."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def figure(value: float) -> str:
    """A measured value for a person: 260,200 and 21.79 and 0.147, never 2.602e+05."""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 1 or value == 0:
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return significant(value, 3)


def eur(value: float | None) -> str:
    return "-" if value is None else f"EUR {value:,.0f}"


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} %"


def limit(value: float | None) -> float | str:
    """A plan's or tier's limit as a table cell: the number, or unlimited for None."""
    return "unlimited" if value is None else value


def size(count: int) -> str:
    """Bytes in decimal units, as the planning document counts them: 1.5 GB, 470.8 KB."""
    for unit, factor in BYTE_UNITS:
        if count >= factor:
            return f"{count / factor:,.1f} {unit}"
    return f"{count:,} B"


def measured(value: float | None, unit: str) -> str:
    """A metric's value with its unit: 81.2 %, 0.0002 GB, 0.000061 GB, 1,234."""
    if value is None:
        return "-"
    suffix = f" {unit}" if unit else ""
    if 0 < abs(value) < 0.01:
        return f"{significant(value, 2)}{suffix}"  # a small database is 0.00002 GB, not 0.00
    decimals = 0 if unit == "" and float(value).is_integer() else 2 if unit != "%" else 1
    return f"{value:,.{decimals}f}{suffix}"


def perf(value: float | None) -> str:
    """A perfdata value: C locale, no exponent, no thousands separator."""
    if value is None:
        return ""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.3f}".rstrip("0").rstrip(".")


def plain(value: Any) -> Any:
    """JSON-ready: integral floats as integers, others without binary noise."""
    if isinstance(value, float):
        if math.isfinite(value) and value == round(value) and abs(value) < 2**53:
            return int(value)
        return float(f"{value:.10g}")
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value
