"""The one place numbers become text: no exponent, no lost digits, the value read back."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from capplan.output.numbers import figure, measured, significant

SMALL = st.floats(min_value=1e-12, max_value=0.01, allow_nan=False, allow_infinity=False)


@given(SMALL, st.booleans())
def test_a_small_value_is_written_without_an_exponent_and_reads_back(
    value: float, negative: bool
) -> None:
    value = -value if negative else value
    for text in (figure(value), measured(value, "GB").removesuffix(" GB")):
        assert "e" not in text.lower()
        assert math.isclose(float(text), value, rel_tol=0.06), (value, text)


@given(st.floats(min_value=-1e15, max_value=1e15, allow_nan=False))
def test_any_figure_reads_as_a_number_without_an_exponent(value: float) -> None:
    text = figure(value)
    assert "e" not in text.lower()
    assert math.isclose(float(text.replace(",", "")), value, rel_tol=0.01, abs_tol=0.006)


def test_significant_digits_are_kept_and_trailing_zeros_dropped() -> None:
    assert significant(0.000049, 2) == "0.000049"
    assert significant(0.0002, 3) == "0.0002"
    assert significant(0.00012345, 3) == "0.000123"
    assert measured(0.00006144, "GB") == "0.000061 GB"
