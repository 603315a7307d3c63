"""Printing and saving benchmark figures: one table on stdout, the same rows as JSON."""

from __future__ import annotations

import json
import os
import platform
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

RESULTS = Path(__file__).resolve().parent / "results"


def interleaved(
    ours: Callable[[], object], baseline: Callable[[], object], repeat: int, number: int
) -> tuple[Spread, Spread, Spread]:
    """Seconds per call of each, and their ratio: ``repeat`` rounds of ``number`` calls,
    each round timing ours and then the baseline, so that the machine's noise falls on
    both alike."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for function, spent in zip((ours, baseline), times, strict=True):
            started = time.perf_counter()
            for _ in range(number):
                function()
            spent.append((time.perf_counter() - started) / number)
    ratios = tuple(a / b for a, b in zip(*times, strict=True))
    return Spread(tuple(times[0])), Spread(tuple(times[1])), Spread(ratios)


@dataclass(frozen=True)
class Spread:
    """Repeated measurements of one figure: read the median, trust it as far as the spread."""

    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def text(self, digits: int = 0) -> str:
        """``1234 (1180–1300, 5 runs)``."""
        low, high, runs = min(self.values), max(self.values), len(self.values)
        return f"{self.median:.{digits}f} ({low:.{digits}f}–{high:.{digits}f}, {runs} runs)"


class Sampler:
    """``measure()`` every ``every`` seconds while the ``with`` block runs, in a thread."""

    def __init__(self, measure: Callable[[], float], every: float) -> None:
        self.samples: list[float] = []
        self._measure, self._every = measure, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while True:
            self.samples.append(self._measure())
            if self._stop.wait(self._every):
                return


class LoadWatch(Sampler):
    """The machine's 1-minute load average, every second while a benchmark runs: a figure
    measured under a load well above the core count is worth less."""

    def __init__(self) -> None:
        super().__init__(lambda: os.getloadavg()[0], 1.0)

    def text(self) -> str:
        if not self.samples:
            return "not sampled"
        mean = sum(self.samples) / len(self.samples)
        return f"mean {mean:.2f}, max {max(self.samples):.2f} on {os.cpu_count()} cores"


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def publish(
    name: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    notes: dict[str, Any] | None = None,
) -> Path:
    """Print ``rows`` as a table and write them to ``bench/results/<name>.json``."""
    widths = [max(len(str(c)), *(len(_cell(r[i])) for r in rows)) for i, c in enumerate(columns)]
    print(" | ".join(str(c).ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(_cell(v).ljust(w) for v, w in zip(row, widths, strict=True)))
    for key, value in (notes or {}).items():
        print(f"{key}: {value}")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {
        "benchmark": name,
        "machine": {"python": platform.python_version(), "cpus": _cpus()},
        "columns": list(columns),
        "rows": [dict(zip(columns, row, strict=True)) for row in rows],
        "notes": notes or {},
    }
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(f"(written to {path.relative_to(RESULTS.parent.parent)})")
    return path


def _cell(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _cpus() -> int:
    return os.cpu_count() or 0
