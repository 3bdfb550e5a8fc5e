"""Latency-vs-concurrency plot of a bench report (matplotlib, imported only here)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["plot_latency"]


def plot_latency(report: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_lat, ax_tp) = plt.subplots(1, 2, figsize=(11, 4.2))
    targets = sorted({r["target"] for r in report["runs"]})
    for t in targets:
        runs = sorted((r for r in report["runs"] if r["target"] == t), key=lambda r: r["concurrency"])
        cs = [r["concurrency"] for r in runs]
        line = ax_lat.plot(cs, [r["client_ms"].get("p50", float("nan")) for r in runs], "o-", label=f"{t} p50")[0]
        ax_lat.plot(cs, [r["client_ms"].get("p99", float("nan")) for r in runs], "s--", color=line.get_color(),
                    label=f"{t} p99")
        ax_tp.plot(cs, [r["throughput"] for r in runs], "o-", color=line.get_color(), label=t)
    for ax in (ax_lat, ax_tp):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrent clients")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    ax_lat.set_yscale("log")
    ax_lat.set_ylabel("client-side latency (ms, log)")
    ax_tp.set_ylabel("suggestions / s")
    shop = report.get("shop", {})
    fig.suptitle(f"smartreply vs naive baseline: {shop.get('entries')} entries, {shop.get('phrasings')} phrasings, "
                 f"{report.get('machine', {}).get('cpus')} CPUs, loopback")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
