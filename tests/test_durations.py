"""One upper bound for every duration option: 100 years (capplan.durations.LONGEST), however the
duration is written, in check's durations (--window, --deadline) and in the history's ages
(--since, --keep, --horizon) alike."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from capplan import durations
from capplan.errors import InputError
from capplan.history import AGE_UNITS, parse_age

from .conftest import Run

LONGEST_S = durations.LONGEST.total_seconds()
DAY_S = 86_400
CHECK = ("check", "--interval", "0", "--format", "json")


@given(
    number=st.one_of(st.integers(0, 10**6), st.integers(0, 10**30)),
    unit=st.sampled_from(sorted(durations.UNIT_SECONDS)),
)
def test_a_check_duration_is_accepted_exactly_up_to_the_longest(number: int, unit: str) -> None:
    length = number * durations.UNIT_SECONDS[unit]
    text = f"{number}{unit}"
    if 0 < length <= LONGEST_S:
        assert durations.seconds(text, "window") == length
    else:
        with pytest.raises(InputError) as refused:
            durations.seconds(text, "window")
        wanted = "at most 100 years (36500d)" if length else "a duration such as 30s, 5m, 1h"
        assert wanted in refused.value.problem


@given(
    number=st.one_of(st.integers(0, 10**6), st.integers(0, 10**30)),
    unit=st.sampled_from(sorted(AGE_UNITS)),
)
def test_a_history_age_is_held_to_the_same_longest(number: int, unit: str) -> None:
    days = number * AGE_UNITS[unit]
    text = f"{number}{unit}"
    if days * DAY_S <= LONGEST_S:
        age = parse_age(text, "since")
        assert age is not None and age.total_seconds() == pytest.approx(days * DAY_S)
    else:
        with pytest.raises(InputError, match=r"at most 100 years \(36500d\)"):
            parse_age(text, "since")


@given(st.one_of(st.text(max_size=12), st.from_regex(r"\A *[0-9]{1,40} *[smhd] *\Z")))
def test_any_text_is_a_check_duration_or_refused_in_words(text: str) -> None:
    try:
        length = durations.seconds(text, "deadline")
    except InputError as refused:
        assert refused.subject == "deadline" and refused.problem.startswith("expected a duration")
    else:
        assert 0 < length <= LONGEST_S


@pytest.mark.parametrize(("digits", "unit"), [(5000, "s"), (4301, "d"), (13, "s"), (400, "h")])
def test_a_number_of_any_length_is_refused_as_too_long_never_a_crash(
    digits: int, unit: str
) -> None:
    with pytest.raises(InputError, match=r"at most 100 years \(36500d\)"):
        durations.seconds("9" * digits + unit, "window")
    assert (
        durations.seconds("0" * digits + "5" + unit, "window") == 5 * durations.UNIT_SECONDS[unit]
    )


@pytest.mark.parametrize(
    "text", ["٣s", "５m", "1\u00a0h", "1h\n5m", "5s\n", "1 h 5 m", "+5s", "5S"]
)
def test_only_ascii_digits_and_a_lowercase_unit_make_a_duration(text: str) -> None:
    with pytest.raises(InputError, match="expected a duration such as 30s, 5m, 1h"):
        durations.seconds(text, "deadline")


@pytest.mark.parametrize("given_text", ["36500d", "876000h", "52560000m", "3153600000s"])
def test_exactly_the_longest_is_accepted_in_every_unit(given_text: str) -> None:
    assert durations.seconds(given_text, "window") == LONGEST_S


@pytest.mark.parametrize(
    ("args", "option", "value"),
    [
        (("--access-log", "access.log", "--window"), "--window", "99999999999999h"),
        (("--access-log", "access.log", "--window"), "--window", "36501d"),
        (("--access-log", "access.log", "--window"), "--window", "876001h"),
        (("--deadline",), "--deadline", "99999999999999h"),
        (("--deadline",), "--deadline", "52560001m"),
    ],
)
def test_a_check_duration_past_100_years_is_refused_like_1000y(
    run: Run, args: tuple[str, ...], option: str, value: str
) -> None:
    result = run(*CHECK, *args, value)
    assert result.exit_code == 3
    assert result.stderr.strip().splitlines() == [
        f"capplan check: error: {option} {value}: expected a duration of at most 100 years (36500d)"
    ]


@pytest.mark.parametrize(
    "args",
    [
        ("history", "prune", "--keep", "1000y"),
        ("history", "show", "--since", "99999999999999h"),
        ("history", "show", "--since", "36501d"),
    ],
)
def test_a_history_age_past_100_years_is_refused_in_the_same_words(
    run: Run, args: tuple[str, ...]
) -> None:
    result = run(*args)
    assert result.exit_code != 0 and result.exit_code != 70
    assert f"{args[-2]} {args[-1]}: expected an age of at most 100 years (36500d)" in result.stderr
