"""The whole run's deadline (`check --deadline`): every probe, request, walk and statement takes
its own time limit from what is left of it, so that a run ends before the monitor gives up."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RunDeadline:
    """A moment on the monotonic clock by which the run must be over."""

    at: float
    seconds: float = 0.0  # the length given (--deadline), for messages

    @classmethod
    def after(cls, seconds: float) -> RunDeadline:
        return cls(time.monotonic() + seconds, seconds)

    def remaining(self) -> float:
        """Seconds left, never below zero."""
        return max(0.0, self.at - time.monotonic())

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self.at

    def bound(self, seconds: float) -> float:
        """A limit of its own (a request's timeout, a statement's budget) cut to what is left."""
        return min(seconds, self.remaining())

    @property
    def reached(self) -> str:
        """How a measurement that the deadline stopped says why: `deadline of 50 s reached`."""
        return f"deadline of {self.seconds:g} s reached"
