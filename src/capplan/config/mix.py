"""The model of mix.yaml: clients per pricing plan, per-client figures, growth; any figure a
single value or a range `{low, mid, high}`."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainValidator,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from capplan.config.models import Amount, Count, Model, _no_bool
from capplan.config.ranges import Spread, spread
from capplan.formulas import MAX_COUNT

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


def _ranged(scalar: Any, whole: bool = False, ranged: Any = None) -> PlainValidator:
    """A number, or a range of them: `{low, mid, high}` (each checked as `ranged`, else as
    `scalar`)."""
    adapter: TypeAdapter[Any] = TypeAdapter(scalar)
    range_adapter: TypeAdapter[Any] = adapter if ranged is None else TypeAdapter(ranged)

    def check(value: object) -> object:
        if isinstance(value, dict):
            return spread(value, range_adapter, whole)
        try:
            return adapter.validate_python(value)
        except ValidationError as error:  # the single value's own error, as if unwrapped
            first = error.errors()[0]
            raise PydanticCustomError(first["type"], first["msg"], first.get("ctx")) from None

    return PlainValidator(check)


def _whole_if_whole(value: float) -> float:
    return int(value) if value.is_integer() else value


# A per-client figure: an average over a plan's clients, so 0.425 images per product is allowed
# (as `capplan mix` measures it); a whole number stays an int.
Average = Annotated[
    float,
    BeforeValidator(_no_bool),
    Field(ge=0, le=MAX_COUNT, allow_inf_nan=False),
    AfterValidator(_whole_if_whole),
]

# A count, an amount or a growth rate of the mix, each a single value or a range.
CountOrRange = Annotated[int | Spread, _ranged(Count, whole=True)]
# A per-client figure: an average, or a range of whole numbers.
AverageOrRange = Annotated[float | Spread, _ranged(Average, whole=True, ranged=Count)]
AmountOrRange = Annotated[float | Spread, _ranged(Amount)]
RateOrRange = Annotated[float | Spread | None, _ranged(Rate)]


class MixRow(Model):
    clients: CountOrRange
    products: AverageOrRange | None = None
    images_per_product: AverageOrRange | None = None
    orders_per_month: AverageOrRange | None = None
    api_requests_per_day: AverageOrRange | None = None
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
