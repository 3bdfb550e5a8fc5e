"""What a task run produces, whatever the task: one result per system, plus the data to plot."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = ["SystemResult", "TaskResult", "Progress", "no_progress"]

T = TypeVar("T")
# progress(iterable, label, total) → the same items, reporting as they are consumed.
Progress = Callable[[Iterable[T], str, int], Iterator[T]]


def no_progress(items: Iterable[T], label: str = "", total: int = 0) -> Iterator[T]:
    yield from items


@dataclass
class SystemResult:
    """One system on one task.

    ``metrics`` holds the headline numbers (flat name → number, what ``eval compare`` diffs);
    ``details`` holds everything else that goes into metrics.json (curves, per-class reports);
    ``plots`` holds per-item arrays for the HTML report only (not written to metrics.json).
    """

    label: str
    kind: str  # "baseline" | "system"
    config: dict[str, Any]
    metrics: dict[str, Any]
    details: dict[str, Any] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    fit_seconds: float = 0.0
    run_seconds: float = 0.0
    plots: dict[str, Any] = field(default_factory=dict)


@dataclass
class TaskResult:
    task: str
    title: str
    dataset: dict[str, Any]
    systems: list[SystemResult]
    headline: list[tuple[str, str]]  # (metric key, column title) in table order
    notes: list[str] = field(default_factory=list)
    predictions: list[dict[str, Any]] = field(default_factory=list)  # → predictions.jsonl
