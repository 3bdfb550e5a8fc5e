"""A self-contained HTML report of one run: tables, and plots as inline PNGs (no JS, no external CSS).

The report shows numbers, plots and configuration only, never texts from the data, so a
screenshot of it can go into the docs.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from typing import Any

import numpy as np

from .results import SystemResult, TaskResult

__all__ = ["render_report"]

_COLORS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f"]

_CSS = """
body{font-family:-apple-system,"Segoe UI","Noto Sans CJK SC","Noto Sans SC","PingFang SC","Microsoft YaHei",sans-serif;
     margin:0;background:#f6f7f9;color:#1f2328}
main{max-width:1200px;margin:0 auto;padding:24px 32px 48px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
.sub{color:#57606a;font-size:13px;margin-bottom:16px}
table{border-collapse:collapse;background:#fff;font-size:13px;margin:6px 0 12px}
th,td{border:1px solid #d0d7de;padding:4px 9px;text-align:right;white-space:nowrap}
th{background:#eef1f4;font-weight:600}td.l,th.l{text-align:left}
tr.system td{background:#fff8e6}td.best{font-weight:700;color:#0b6b2b}
.tag{display:inline-block;font-size:11px;padding:0 6px;border-radius:8px;background:#e7ecf2;color:#57606a;margin-left:6px}
.tag.sys{background:#ffe7b3;color:#6b4b00}
.grid{display:flex;flex-wrap:wrap;gap:12px}.card{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:8px}
img{display:block;max-width:100%}
pre{background:#fff;border:1px solid #d0d7de;padding:8px;font-size:12px;overflow:auto;max-height:320px}
details{margin:6px 0}summary{cursor:pointer;font-weight:600;font-size:14px}
.cm td{min-width:22px;padding:2px 4px;text-align:center;font-size:11px}.cm th{font-size:11px;padding:2px 4px}
.cm th.rot{writing-mode:vertical-rl;text-orientation:upright;text-align:left;max-height:190px;overflow:hidden}
.note{font-size:13px;color:#57606a}
"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def _fmt(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return "—" if v is None else str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if math.isinf(v) or math.isnan(v):
            return "—"
        return f"{v:.2f}" if abs(v) >= 10 else f"{v:.3f}"
    return _e(v)


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False})
    return plt


# ---------------------------------------------------------------- tables


def _headline_table(result: TaskResult, keys: list[tuple[str, str]], prefix: str = "") -> str:
    """Systems × headline metrics (best in bold); then per-query latency, or for a pair file
    (``prefix`` = "<file>/") the seconds it took to score."""
    best = {}
    for key, _ in keys:
        vals = [s.metrics.get(prefix + key) for s in result.systems]
        nums = [v for v in vals if isinstance(v, (int, float)) and not isinstance(v, bool)]
        best[key] = max(nums) if nums else None
    tail = "<th>seconds</th>" if prefix else "<th>p50 ms</th><th>p99 ms</th>"
    rows = ["<tr><th class=l>system</th>" + "".join(f"<th>{_e(t)}</th>" for _, t in keys) + tail + "</tr>"]
    for s in result.systems:
        tag = '<span class="tag sys">product</span>' if s.kind == "system" else '<span class="tag">baseline</span>'
        cells = []
        for key, _ in keys:
            v = s.metrics.get(prefix + key)
            is_best = v is not None and best[key] is not None and v == best[key] and len(result.systems) > 1
            cls = " class=best" if is_best else ""
            cells.append(f"<td{cls}>{_fmt(v)}</td>")
        if prefix:
            extra = f"<td>{_fmt(s.details.get(prefix.rstrip('/'), {}).get('seconds'))}</td>"
        else:
            lat = s.details.get("latency", {})
            extra = f"<td>{_fmt(lat.get('p50_ms'))}</td><td>{_fmt(lat.get('p99_ms'))}</td>"
        rows.append(f'<tr class="{s.kind}"><td class=l>{_e(s.label)}{tag}</td>{"".join(cells)}{extra}</tr>')
    return "<table>" + "".join(rows) + "</table>"


def _kv_table(d: dict[str, Any]) -> str:
    def cell(v: Any) -> str:
        return _e(json.dumps(v, ensure_ascii=False)) if isinstance(v, dict) else _fmt(v)

    rows = "".join(f"<tr><td class=l>{_e(k)}</td><td class=l>{cell(v)}</td></tr>" for k, v in d.items())
    return f"<table>{rows}</table>"


# ---------------------------------------------------------------- plots


def _curve_plot(systems: list[SystemResult], target: float) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    from .metrics import coverage_precision_curve

    for i, s in enumerate(systems):
        curve = coverage_precision_curve(s.plots["confidence"], s.plots["correct"])
        if not curve:
            continue
        ax.plot([p.coverage for p in curve], [p.precision for p in curve], color=_COLORS[i % len(_COLORS)],
                lw=2.2 if s.kind == "system" else 1.4, label=s.label)
    ax.axhline(target, color="#888", ls="--", lw=1)
    ax.text(0.99, target + 0.01, f"precision {target:g}", ha="right", va="bottom", fontsize=8, color="#555",
            transform=ax.get_yaxis_transform())
    ax.set_xlabel("coverage (share of queries answered)")
    ax.set_ylabel("precision (top-1 right among answered)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    ax.set_title("Coverage–precision: answer when top-1 confidence ≥ t")
    return _png(fig)


def _hist_grid(systems: list[SystemResult], title: str, pos_label: str = "right", neg_label: str = "wrong") -> str:
    def spread(s: SystemResult) -> bool:
        conf = np.asarray(s.plots["confidence"], dtype=float)
        conf = conf[np.isfinite(conf)]
        return len(conf) > 0 and float(conf.max()) > float(conf.min())

    constant = [s.label for s in systems if not spread(s)]
    systems = [s for s in systems if spread(s)]
    note = (f"<p class=note>Not shown (the same confidence for every query): {_e(', '.join(constant))}.</p>"
            if constant else "")
    if not systems:
        return note
    plt = _plt()
    n = len(systems)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.5 * rows), squeeze=False)
    for ax, s in zip(axes.ravel(), systems):
        conf = np.asarray(s.plots["confidence"], dtype=float)
        ok = np.asarray(s.plots["correct"], dtype=bool)
        finite = np.isfinite(conf)
        conf, ok = conf[finite], ok[finite]
        lo, hi = (float(conf.min()), float(conf.max())) if len(conf) else (0.0, 1.0)
        if hi <= lo:
            hi = lo + 1e-6
        bins = np.linspace(lo, hi, 31)
        ax.hist(conf[ok], bins=bins, alpha=0.65, color="#59a14f", label=f"{pos_label} ({ok.sum()})")
        ax.hist(conf[~ok], bins=bins, alpha=0.55, color="#e15759", label=f"{neg_label} ({(~ok).sum()})")
        ax.set_title(s.label, fontsize=9)
        ax.legend(fontsize=7)
        ax.set_xlabel("confidence of top-1", fontsize=8)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _png(fig) + note


def _latency_plot(systems: list[SystemResult]) -> str:
    with_lat = [s for s in systems if s.latencies_ms]
    if not with_lat:
        return ""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 0.55 * len(with_lat) + 1.2))
    data = [np.maximum(np.asarray(s.latencies_ms), 1e-3) for s in with_lat]
    ax.boxplot(data, orientation="horizontal", whis=(1, 99), showfliers=True, flierprops={"markersize": 2, "alpha": 0.4})
    ax.set_yticks(range(1, len(with_lat) + 1), [s.label for s in with_lat])
    ax.set_xscale("log")
    ax.set_xlabel("ms per query (log scale; box = quartiles, whiskers = p1–p99)")
    ax.set_title("Latency per query, in process")
    ax.grid(alpha=0.3, axis="x")
    return _png(fig)


def _confusion_html(conf: dict) -> str:
    labels, columns, matrix = conf["labels"], conf["columns"], conf["matrix"]
    peak = max((v for row in matrix for v in row), default=1) or 1
    head = "<tr><th class=l>true ↓ / predicted →</th>" + "".join(f'<th class="rot">{_e(c)}</th>' for c in columns) + "</tr>"
    body = []
    for lab, row in zip(labels, matrix):
        cells = []
        for j, v in enumerate(row):
            diag = j < len(labels) and labels[j] == lab
            alpha = v / peak
            color = f"rgba(46,125,50,{alpha:.2f})" if diag else f"rgba(198,40,40,{alpha:.2f})"
            text_color = "#fff" if alpha > 0.55 else "#1f2328"
            cells.append(f'<td style="background:{color};color:{text_color}">{v or ""}</td>')
        body.append(f"<tr><th class=l>{_e(lab)}</th>{''.join(cells)}</tr>")
    return f'<table class="cm">{head}{"".join(body)}</table>'


def _per_class_html(per_class: dict, top: int = 20) -> str:
    items = sorted(per_class.items(), key=lambda kv: (-kv[1]["support"], kv[0]))[:top]
    rows = "".join(f"<tr><td class=l>{_e(k)}</td><td>{v['support']}</td><td>{v['precision']:.3f}</td>"
                   f"<td>{v['recall']:.3f}</td><td>{v['f1']:.3f}</td></tr>" for k, v in items)
    return ("<table><tr><th class=l>class</th><th>support</th><th>precision</th><th>recall</th><th>F1</th></tr>"
            f"{rows}</table>")


def _matching_plots(result: TaskResult) -> str:
    plt = _plt()
    from sklearn.metrics import roc_curve

    out = []
    for name in result.dataset:
        systems = [s for s in result.systems if name in s.plots]
        fig, axes = plt.subplots(1, len(systems) + 1, figsize=(3.3 * (len(systems) + 1), 2.7), squeeze=False)
        roc_ax = axes[0, -1]
        for i, (ax, s) in enumerate(zip(axes[0], systems)):
            scores = np.asarray(s.plots[name]["scores"])
            labels = np.asarray(s.plots[name]["labels"], dtype=bool)
            bins = np.linspace(scores.min(), scores.max() + 1e-9, 41)
            ax.hist(scores[labels], bins=bins, alpha=0.65, color="#59a14f", label="same (1)")
            ax.hist(scores[~labels], bins=bins, alpha=0.55, color="#e15759", label="different (0)")
            ax.set_title(s.label, fontsize=9)
            ax.set_xlabel("similarity", fontsize=8)
            ax.legend(fontsize=7)
            fpr, tpr, _ = roc_curve(labels, scores)
            roc_ax.plot(fpr, tpr, color=_COLORS[i % len(_COLORS)], label=s.label, lw=1.5)
        roc_ax.plot([0, 1], [0, 1], color="#aaa", ls="--", lw=1)
        roc_ax.set_title("ROC", fontsize=9)
        roc_ax.set_xlabel("false positive rate", fontsize=8)
        roc_ax.set_ylabel("true positive rate", fontsize=8)
        roc_ax.legend(fontsize=7)
        fig.suptitle(name, fontsize=10)
        fig.tight_layout()
        out.append(f"<h3>{_e(name)}</h3><div class=card>{_png(fig)}</div>")
    return "".join(out)


def _replay_pairs(systems: list[SystemResult]) -> list[tuple[str, SystemResult, SystemResult]]:
    """(spec, cold, learning) for each pipeline spec of a replay run (labels ``SPEC/cold``, ``SPEC/learning``)."""
    by_label = {s.label: s for s in systems}
    out = []
    for s in systems:
        spec, _, mode = s.label.rpartition("/")
        if mode == "cold" and f"{spec}/learning" in by_label:
            out.append((spec, s, by_label[f"{spec}/learning"]))
    return out


def _learning_curve_plot(pairs, cov_key: str, target: float) -> str:
    plt = _plt()
    panels = [("windows", "hit@1", "Hit@1 per window"), ("windows", "hit@3", "Hit@3 per window"),
              ("windows", cov_key, f"coverage @ P≥{target:g} per window"),
              ("cumulative", "hit@1", "Hit@1, cumulative"), ("cumulative", "hit@3", "Hit@3, cumulative"),
              ("cumulative", cov_key, f"coverage @ P≥{target:g}, cumulative")]
    fig, axes = plt.subplots(2, 3, figsize=(11.5, 6.2), squeeze=False)
    for ax, (kind, key, title) in zip(axes.ravel(), panels):
        for i, (spec, cold, learning) in enumerate(pairs):
            color = _COLORS[i % len(_COLORS)]
            for s, style, mode in ((learning, "-", "learning"), (cold, "--", "cold")):
                rows = s.details[kind]
                ax.plot([r["last"] for r in rows], [r[key] for r in rows], ls=style, marker="o", ms=3,
                        color=color, lw=2.0 if mode == "learning" else 1.3, label=f"{spec} {mode}")
        ax.set_title(title, fontsize=9)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.set_xlabel("queries streamed (window's last query)", fontsize=8)
    axes[0, 0].legend(fontsize=7, loc="lower right")
    fig.suptitle("Learning curve: the same stream with learning from the agent's picks (solid) and cold (dashed)",
                 fontsize=10)
    fig.tight_layout()
    return _png(fig)


def _windows_table(spec: str, cold: SystemResult, learning: SystemResult, cov_key: str, shown: int) -> str:
    head = ("<tr><th class=l>queries</th><th>learned examples</th><th>Hit@1 cold</th><th>Hit@1 learning</th>"
            "<th>Δ points</th><th>Hit@3 cold</th><th>Hit@3 learning</th><th>coverage cold</th>"
            "<th>coverage learning</th><th>shown cold</th><th>shown learning</th></tr>")
    rows = []
    for c, w in zip(cold.details["windows"], learning.details["windows"]):
        gain = 100 * (w["hit@1"] - c["hit@1"])
        rows.append(f"<tr><td class=l>{c['first']}–{c['last']}</td><td>{_fmt(w['learned'])}</td>"
                    f"<td>{_fmt(c['hit@1'])}</td><td>{_fmt(w['hit@1'])}</td><td>{gain:+.1f}</td>"
                    f"<td>{_fmt(c['hit@3'])}</td><td>{_fmt(w['hit@3'])}</td><td>{_fmt(c[cov_key])}</td>"
                    f"<td>{_fmt(w[cov_key])}</td><td>{_fmt(c['shown'])}</td><td>{_fmt(w['shown'])}</td></tr>")
    agent = learning.details.get("agent") or {}
    seconds = learning.details.get("seconds", {})
    said = (f"The simulated agent accepted a shown suggestion {agent.get('accepted', 0):,} times and picked the "
            f"entry by hand (edited) {agent.get('edited', 0):,} times; the learning shop's ranker was fit "
            f"{learning.details.get('ranker_fits', 0)} times. Its time: suggestion calls "
            f"{seconds.get('suggest', 0):.1f} s (of which reloading the shop after feedback, ranker fits included, "
            f"{seconds.get('reload', 0):.1f} s), full rankings {seconds.get('ranking', 0):.1f} s, feedback "
            f"{seconds.get('feedback', 0):.1f} s.")
    return (f"<h3>{_e(spec)}</h3><table>{head}{''.join(rows)}</table>"
            f"<p class=note>“shown”: share of the window's queries whose gold entry was among the {shown} "
            f"suggestions the agent saw. {_e(said)}</p>")


# ---------------------------------------------------------------- page


def render_report(result: TaskResult, doc: dict[str, Any]) -> str:
    parts = [f"<h1>{_e(result.title)}</h1>",
             f'<div class=sub>task <b>{_e(result.task)}</b> · {_e(doc.get("created_at", ""))} · '
             f'total {doc.get("timings", {}).get("total_seconds", 0):.1f} s · encoder '
             f'{_e(", ".join(doc.get("encoder", {}).get("model_ids", [])) or "—")} '
             f'({_e(doc.get("encoder", {}).get("precision", ""))})</div>']
    parts.append("<h2>Results</h2>")
    if result.task == "matching":
        for name in result.dataset:
            parts.append(f"<h3>{_e(name)}</h3>")
            parts.append(_headline_table(result, result.headline, prefix=f"{name}/"))
    else:
        parts.append(_headline_table(result, result.headline))
    for note in result.notes:
        parts.append(f"<p class=note>{_e(note)}</p>")
    for s in result.systems:  # where the product itself would cut, on its own confidence
        said = []
        for key, v in s.details.items():
            if key.startswith("at_"):
                right = "—" if v["precision"] is None else f"{v['precision']:.1%}"
                said.append(f"at {_e(key.removeprefix('at_'))} {v['threshold']:g} it answers "
                            f"{v['coverage']:.1%} of the queries, {right} of them right")
        if said:
            parts.append(f"<p class=note><b>{_e(s.label)}</b>: {'; '.join(said)}.</p>")

    target = float(doc.get("options", {}).get("precision_target", 0.9))
    if result.task == "replay":
        pairs = _replay_pairs(result.systems)
        cov_key = f"coverage@p{target:g}"
        if pairs:
            parts.append("<h2>Learning curve</h2><div class=card>" + _learning_curve_plot(pairs, cov_key, target)
                         + "</div>")
            parts.append(f"<h2>Per window of {_fmt(result.dataset.get('window_size'))} queries</h2>")
            parts.extend(_windows_table(spec, cold, learning, cov_key, result.dataset.get("shown_top_k", 3))
                         for spec, cold, learning in pairs)
    if result.task in ("faq", "intent", "replay"):
        parts.append("<h2>Coverage–precision</h2><div class=grid><div class=card>"
                     + _curve_plot(result.systems, target) + "</div></div>")
        parts.append("<h2>Confidence of the top answer: right vs wrong</h2><div class=card>"
                     + _hist_grid(result.systems, "top-1 confidence, split by whether top-1 is the gold") + "</div>")
    if result.task == "reply":
        parts.append("<h2>Confidence of the top suggestion: right vs wrong</h2><div class=card>"
                     + _hist_grid(result.systems, "top-1 confidence, right = best char-F ≥ 0.5") + "</div>")
    if result.task == "intent":
        parts.append("<h2>Confusion matrices (20 most frequent classes)</h2>")
        for i, s in enumerate(result.systems):
            open_ = " open" if s.kind == "system" or (i == len(result.systems) - 1) else ""
            parts.append(f"<details{open_}><summary>{_e(s.label)}</summary>"
                         + _confusion_html(s.details["confusion_top20"]) + "</details>")
        parts.append("<h2>Per-class report (20 largest classes)</h2>")
        for s in result.systems:
            parts.append(f"<details><summary>{_e(s.label)}</summary>{_per_class_html(s.details['per_class'])}</details>")
    if result.task == "matching":
        parts.append("<h2>Similarity by label, and ROC</h2>" + _matching_plots(result))
    lat = _latency_plot(result.systems)
    if lat:
        parts.append(f"<h2>Latency</h2><div class=card>{lat}</div>")

    parts.append("<h2>Dataset</h2>" + _kv_table(result.dataset))
    parts.append("<h2>Systems</h2>")
    for s in result.systems:
        timing = f"fit {s.fit_seconds:.2f} s, run {s.run_seconds:.2f} s"
        parts.append(f"<h3>{_e(s.label)} <span class=note>({s.kind}; {timing})</span></h3>"
                     f"<pre>{_e(json.dumps(s.config, ensure_ascii=False, indent=1))}</pre>")
    parts.append("<h2>Reproduce</h2>")
    parts.append(f"<pre>{_e(doc.get('command', ''))}</pre>")
    files = "".join(f"<tr><td class=l>{_e(f['role'])}</td><td class=l>{_e(f['path'])}</td><td>{f['bytes']:,}</td>"
                    f"<td class=l><code>{_e(f['sha256'][:16])}…</code></td></tr>" for f in doc.get("data", []))
    parts.append("<table><tr><th class=l>role</th><th class=l>file</th><th>bytes</th><th class=l>sha256</th></tr>"
                 f"{files}</table>")
    parts.append("<details><summary>Options and versions</summary><pre>"
                 + _e(json.dumps({"options": doc.get("options"), "versions": doc.get("versions"),
                                  "tokenizer": doc.get("tokenizer")}, ensure_ascii=False, indent=1))
                 + "</pre></details>")
    body = "\n".join(parts)
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{_e(result.title)} — smartreply eval'
            f"</title><style>{_CSS}</style></head><body><main>{body}</main></body></html>\n")
