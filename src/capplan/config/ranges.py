"""A figure known only as a range, `{low: X, mid: Y, high: Z}`, in a mix or in `--set`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError


@dataclass(frozen=True, slots=True)
class Spread:
    """A figure known only within a range: `{low: 400, mid: 500, high: 650}` in a file (`mid`
    optional: the middle). low <= mid <= high; the projection at mids uses `mid`."""

    low: float
    mid: float
    high: float

    def __str__(self) -> str:
        return f"{self.low:,.10g} / {self.mid:,.10g} / {self.high:,.10g}"


RANGE_KEYS = ("low", "mid", "high")


def _where(key: str) -> dict[str, Any]:
    """The error context that names the key of the range that is wrong (`key`, or `path` as
    validation reads a list of keys)."""
    return {"key": key, "path": [key]}


def at_mid(value: float | Spread) -> float:
    """A figure's single value: a range's mid."""
    return value.mid if isinstance(value, Spread) else value


def is_range(value: object) -> bool:
    """Whether a value read from YAML or --set is written as a range (a mapping with low)."""
    return isinstance(value, dict) and "low" in value


def spread(value: object, scalar: TypeAdapter[Any], whole: bool = False) -> Spread:
    """A range's three numbers, each checked as `scalar` checks a single value."""
    if not isinstance(value, dict):
        raise PydanticCustomError("range", "expected a number or {low: X, mid: Y, high: Z}")
    unknown = [str(key) for key in value if key not in RANGE_KEYS]
    if unknown:
        raise PydanticCustomError(
            "range",
            "unknown key in a range; expected low, mid (optional), high",
            _where(unknown[0]),
        )
    numbers: dict[str, float] = {}
    for key in RANGE_KEYS:
        if key not in value:
            if key == "mid":
                continue
            raise PydanticCustomError("range", "a range needs low and high", _where(key))
        try:
            number = scalar.validate_python(value[key])
        except ValidationError as error:
            from capplan.config.validation import _describe  # the words of every file error

            problem = _describe(error.errors()[0], BaseModel)
            raise PydanticCustomError("range", problem, _where(key)) from None
        if number is None:
            raise PydanticCustomError("range", "expected a number", _where(key))
        numbers[key] = float(number)
    low, high = numbers["low"], numbers["high"]
    mid = numbers.get("mid", (low + high) / 2)
    if whole:
        mid = float(round(mid))
    given = {"mid": f"{mid:g}"} | {key: str(value[key]) for key in value}  # 8% as written
    if high < low:
        raise PydanticCustomError(
            "range", f"expected low <= high, got {given['low']} and {given['high']}"
        )
    if not low <= mid <= high:
        raise PydanticCustomError(
            "range",
            f"expected low <= mid <= high, got {given['low']}, {given['mid']}, {given['high']}",
        )
    return Spread(low, mid, high)
