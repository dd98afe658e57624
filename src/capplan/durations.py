"""What every duration option accepts at most, and the grammar of check's durations.

One bound for all of them: 100 years (36,500 days). `check --window` and `--deadline`, the
history's ages (`--keep`, `--since`) and the report's horizon refuse anything longer, however it
is written (`1000y`, `99999999999999h`). The options given in plain seconds (`--interval`,
`--timeout`) have their own, shorter range.
"""

from __future__ import annotations

import datetime as dt
import re

from capplan.errors import InputError

LONGEST = dt.timedelta(days=36_500)  # 100 years
LONGEST_TEXT = "100 years (36500d)"
# check's durations: a whole number in ASCII digits and its unit (m is minutes here; a history
# age's m is months)
DURATION = re.compile(r"\A[ \t]*([0-9]+)[ \t]*([smhd])[ \t]*\Z")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MOST_DIGITS = 12  # 10**12 s is 31,700 years: a longer number is too long whatever its unit


def seconds(text: str, subject: str) -> int:
    """A duration of check's (30s, 5m, 1h, 2d) in seconds: more than zero, at most LONGEST."""
    match = DURATION.match(text)
    digits = match[1].lstrip("0") if match else ""
    if match is None or not digits:
        raise InputError(subject, text, "expected a duration such as 30s, 5m, 1h")
    total = int(digits) * UNIT_SECONDS[match[2]] if len(digits) <= MOST_DIGITS else None
    if total is None or total > LONGEST.total_seconds():
        raise InputError(subject, text, f"expected a duration of at most {LONGEST_TEXT}")
    return total
