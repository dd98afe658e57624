"""The model of mix.yaml: clients per pricing plan, per-client figures, growth; any figure a
single value or a range `{low, mid, high}`."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, PlainValidator, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError

from capplan.config.models import Amount, Count, Model
from capplan.config.ranges import Spread, spread

GROWTH = re.compile(r"^\s*([+-]?\d+(?:\.\d+)?)\s*%\s*$")


def parse_rate(value: object) -> float | None:
    """'5%' -> 0.05. A bare number is refused: 5 and 0.05 would both be plausible."""
    if value is None:
        return None
    match = GROWTH.match(str(value)) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"expected a monthly percentage such as 5% or -1.5%, got {value!r}")
    rate = float(match.group(1)) / 100
    if rate <= -1:
        raise ValueError(f"expected a rate above -100%, got {value!r}")
    return rate


# Monthly growth, written "5%" in the file, held as a fraction (0.05).
Rate = Annotated[float | None, BeforeValidator(parse_rate)]


def _ranged(scalar: Any, whole: bool = False) -> PlainValidator:
    """A number, or a range of them: `{low, mid, high}`."""
    adapter: TypeAdapter[Any] = TypeAdapter(scalar)

    def check(value: object) -> object:
        if isinstance(value, dict):
            return spread(value, adapter, whole)
        try:
            return adapter.validate_python(value)
        except ValidationError as error:  # the single value's own error, as if unwrapped
            first = error.errors()[0]
            raise PydanticCustomError(first["type"], first["msg"], first.get("ctx")) from None

    return PlainValidator(check)


# A count, an amount or a growth rate of the mix, each a single value or a range.
CountOrRange = Annotated[int | Spread, _ranged(Count, whole=True)]
AmountOrRange = Annotated[float | Spread, _ranged(Amount)]
RateOrRange = Annotated[float | Spread | None, _ranged(Rate)]


class MixRow(Model):
    clients: CountOrRange
    products: CountOrRange | None = None
    images_per_product: CountOrRange | None = None
    orders_per_month: CountOrRange | None = None
    api_requests_per_day: CountOrRange | None = None
    price_eur: AmountOrRange | None = None
    growth: RateOrRange = None


class Mix(Model):
    tiers: Annotated[dict[str, MixRow], Field(min_length=1)]
    growth: RateOrRange = None

    @property
    def ranged(self) -> bool:
        """Whether any figure of the mix is a range."""
        return isinstance(self.growth, Spread) or any(
            isinstance(getattr(row, name), Spread)
            for row in self.tiers.values()
            for name in MixRow.model_fields
        )
