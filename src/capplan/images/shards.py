"""`--shard K/N`: the K-th of N disjoint parts of SRC, agreed on by every machine without talking.

A source belongs to the shard given by a hash of its path relative to SRC, so that the same
file lands in the same shard on every machine and in every run. `--shard auto` takes K (and N
where the scheduler says it) from a Kubernetes Indexed Job (`JOB_COMPLETION_INDEX`) or a Slurm
job array (`SLURM_ARRAY_TASK_ID`, `SLURM_ARRAY_TASK_COUNT`); `--shard auto/N` gives N for a
scheduler that does not say it (Kubernetes: N is the Job's `completions`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from capplan.errors import InputError


@dataclass(frozen=True, slots=True)
class Shard:
    index: int  # K, from 0
    count: int  # N

    def holds(self, relative: str) -> bool:
        """Whether the source at this path (relative to SRC, with `/`) is in this shard."""
        digest = hashlib.blake2b(relative.encode("utf-8", "surrogateescape"), digest_size=8)
        return int.from_bytes(digest.digest(), "big") % self.count == self.index

    @property
    def label(self) -> str:
        return f"{self.index}-of-{self.count}"

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def _whole(text: str, what: str, spec: str) -> int:
    if not text.strip().isdigit():
        raise InputError("shard", spec, f"{what} must be a whole number, got {text!r}")
    return int(text)


def _from_environment(environ: Mapping[str, str], spec: str) -> tuple[int, int | None]:
    if "JOB_COMPLETION_INDEX" in environ:
        return _whole(environ["JOB_COMPLETION_INDEX"], "JOB_COMPLETION_INDEX", spec), None
    if "SLURM_ARRAY_TASK_ID" in environ:
        task = _whole(environ["SLURM_ARRAY_TASK_ID"], "SLURM_ARRAY_TASK_ID", spec)
        first = _whole(environ.get("SLURM_ARRAY_TASK_MIN", "0"), "SLURM_ARRAY_TASK_MIN", spec)
        step = _whole(environ.get("SLURM_ARRAY_TASK_STEP", "1"), "SLURM_ARRAY_TASK_STEP", spec)
        count = environ.get("SLURM_ARRAY_TASK_COUNT")
        total = None if count is None else _whole(count, "SLURM_ARRAY_TASK_COUNT", spec)
        return (task - first) // max(step, 1), total
    raise InputError(
        "shard",
        spec,
        "found neither JOB_COMPLETION_INDEX (Kubernetes Indexed Job) nor SLURM_ARRAY_TASK_ID "
        "(Slurm job array) in the environment: give K/N",
    )


def parse(spec: str, environ: Mapping[str, str]) -> Shard:
    """`K/N`, `auto` or `auto/N`."""
    index_text, sep, count_text = spec.partition("/")
    if index_text.strip() == "auto":
        index, count = _from_environment(environ, spec)
        if sep:
            given = _whole(count_text, "N", spec)
            if count is not None and count != given:
                raise InputError(
                    "shard", spec, f"N is {given} but SLURM_ARRAY_TASK_COUNT says {count}"
                )
            count = given
        if count is None:
            raise InputError(
                "shard",
                spec,
                "JOB_COMPLETION_INDEX gives K but not N: write auto/N, N being the Job's "
                "completions",
            )
    elif not sep:
        raise InputError("shard", spec, "expected K/N (for example 0/4), auto or auto/N")
    else:
        index, count = _whole(index_text, "K", spec), _whole(count_text, "N", spec)
    if count < 1:
        raise InputError("shard", spec, "N must be at least 1")
    if not 0 <= index < count:
        raise InputError("shard", spec, f"K must be from 0 to {count - 1} (N - 1), got {index}")
    return Shard(index, count)
