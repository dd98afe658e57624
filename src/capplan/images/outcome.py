"""What happened to one source, and to a whole run: the JSON contract of `images convert`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

FAILURES_KEPT = 20
STATUSES = ("converted", "skipped", "duplicate", "failed", "ignored")


@dataclass(frozen=True, slots=True)
class Outcome:
    source: str
    status: str  # one of STATUSES
    sha256: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)  # variant -> path relative to DEST
    bytes_in: int = 0
    bytes_out: int = 0
    width: int | None = None
    height: int | None = None
    error: str | None = None

    def manifest_line(self) -> str:
        record: dict[str, Any] = {
            "source": self.source,
            "sha256": self.sha256,
            "status": self.status,
            "outputs": self.outputs,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "width": self.width,
            "height": self.height,
            "error": self.error,
        }
        return json.dumps(record, ensure_ascii=False) + "\n"


@dataclass(frozen=True, slots=True)
class Failure:
    source: str
    error: str


@dataclass
class Summary:
    """What a run did; its fields are the JSON contract's keys."""

    converted: int = 0
    skipped: int = 0
    duplicates: int = 0
    failed: int = 0
    ignored: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    savings_pct: float | None = None  # set by finish()
    leftovers_removed: int = 0
    elapsed_s: float = 0.0
    images_per_s: float | None = None  # set by finish()
    dry_run: bool = False
    src: str = ""
    dest: str = ""
    shard: str | None = None  # K/N
    manifest: str | None = None  # where it was written
    failures: list[Failure] = field(default_factory=list)  # the first few

    @property
    def sources(self) -> int:
        return self.converted + self.skipped + self.duplicates + self.failed + self.ignored

    @property
    def no_images(self) -> bool:
        """Nothing under SRC was even a candidate image."""
        return self.sources == self.ignored

    def finish(self, elapsed_s: float) -> None:
        """The run is over: its time, its rate and what the conversion saved."""
        self.elapsed_s = elapsed_s
        self.images_per_s = self.sources / elapsed_s if elapsed_s else None
        self.savings_pct = 100 * (1 - self.bytes_out / self.bytes_in) if self.bytes_in else None

    def count(self, outcome: Outcome) -> None:
        if outcome.status == "converted":
            self.converted += 1
            self.bytes_in += outcome.bytes_in
            self.bytes_out += outcome.bytes_out
        elif outcome.status == "skipped":
            self.skipped += 1
        elif outcome.status == "duplicate":
            self.duplicates += 1
        elif outcome.status == "ignored":
            self.ignored += 1
        else:
            self.failed += 1
            if len(self.failures) < FAILURES_KEPT:
                self.failures.append(Failure(outcome.source, outcome.error or "failed"))
