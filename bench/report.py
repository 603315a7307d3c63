"""Printing and saving benchmark figures: one table on stdout, the same rows as JSON."""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def best_of(function: Callable[[], object], repeat: int, number: int) -> float:
    """Seconds per call: the median of ``repeat`` rounds of ``number`` calls each."""
    rounds = []
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(number):
            function()
        rounds.append((time.perf_counter() - started) / number)
    return statistics.median(rounds)


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
    import os  # noqa: PLC0415

    return os.cpu_count() or 0
