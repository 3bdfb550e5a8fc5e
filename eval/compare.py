"""Compare two runs: every headline metric of every system, side by side, with B − A."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import DatasetError

__all__ = ["load_run", "compare_runs", "format_comparison"]


def load_run(path: Path) -> dict[str, Any]:
    """A run's metrics.json, from the run folder or the file itself."""
    path = Path(path)
    file = path / "metrics.json" if path.is_dir() else path
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"{file} does not exist; give a run folder written by `smartreply eval run`") from None
    except ValueError as exc:
        raise DatasetError(f"{file} is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict) or "systems" not in doc:
        raise DatasetError(f"{file} is not a smartreply eval metrics.json")
    return doc


def _rows(doc: dict[str, Any]) -> dict[tuple[str, str], float]:
    out = {}
    for system, body in doc["systems"].items():
        for metric, value in body.get("metrics", {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out[(system, metric)] = float(value)
        p50 = body.get("details", {}).get("latency", {}).get("p50_ms")
        if p50 is not None:
            out[(system, "latency p50 ms")] = float(p50)
    return out


def compare_runs(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, str, float | None, float | None]]:
    """(system, metric, value in A, value in B) for the union of both runs, in A's order then B's."""
    ra, rb = _rows(a), _rows(b)
    keys = list(ra) + [k for k in rb if k not in ra]
    return [(s, m, ra.get((s, m)), rb.get((s, m))) for s, m in keys]


def _num(v: float | None) -> str:
    if v is None:
        return "—"
    return f"{v:.4f}" if abs(v) < 10 else f"{v:.2f}"


def format_comparison(a: dict[str, Any], b: dict[str, Any], name_a: str = "A", name_b: str = "B") -> str:
    rows = compare_runs(a, b)
    header = ("system", "metric", name_a, name_b, "Δ (B−A)")
    body = []
    for s, m, va, vb in rows:
        delta = "—" if va is None or vb is None else f"{vb - va:+.4f}" if abs(vb - va) < 10 else f"{vb - va:+.2f}"
        body.append((s, m, _num(va), _num(vb), delta))
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(5)]
    lines = []
    if a.get("task") != b.get("task"):
        lines.append(f"warning: comparing a {a.get('task')} run with a {b.get('task')} run")
    if [f.get("sha256") for f in a.get("data", [])] != [f.get("sha256") for f in b.get("data", [])]:
        lines.append("note: the two runs read different data files")
    fmt = lambda r: "  ".join(c.ljust(widths[i]) if i < 2 else c.rjust(widths[i]) for i, c in enumerate(r))  # noqa: E731
    lines.append(fmt(header))
    lines.append("  ".join("-" * w for w in widths))
    lines.extend(fmt(r) for r in body)
    return "\n".join(lines)
