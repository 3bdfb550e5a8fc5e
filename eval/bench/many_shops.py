"""Many small shops in one process under an index memory budget (issue 8): RSS, cold and warm latency.

One run:

1. **Build** ``shops`` generated shops of ``entries`` entries each through the product's own import
   path (``KnowledgeBase.import_file``: validation, SQLite, FAISS index, the reranker fitted and its weights
   cached), in ``build_processes`` processes. The shops are drawn from the same templates, so their
   phrasings repeat across shops (~19k distinct texts for any number of shops): each build process
   encodes a text once and reuses the vector (``MemoEncoder``), which makes 1,000 shops a 15-minute
   build instead of an hour of re-encoding the same sentences. Serving never sees the memo.
   With ``work_dir`` set, a second run reuses the shops already built there (loading each once, so
   files derived by the serving code, like the reranker's weights, are current).
2. **Serve** them with one ``smartreply serve`` process and ``SMARTREPLY_INDEX_MEMORY_BUDGET_BYTES``.
3. **Cold**: one request to every shop, in a random order, one at a time; every request finds its
   shop unloaded (never asked before), so its latency is the cold-shop first suggestion.
4. **Warm**: the ``hot_shops`` most popular shops, already loaded, at concurrency 1 and 16.
5. **Mixed**: Zipf-distributed traffic over all shops at concurrency 16: hits, misses and evictions
   as the LRU sees them (from the server's Prometheus counters), throughput and latency.

RSS (and the peak, ``VmHWM``) of the server is recorded after each phase.
"""

from __future__ import annotations

import multiprocessing
import random
import re
import secrets
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

from .load import run_load
from .servers import free_port, memory_of, running_process, work_folder
from .shopgen import generate_queries, generate_shop, shop_csv_bytes

__all__ = ["ManyShopsConfig", "MemoEncoder", "build_shops", "run_many_shops", "format_many_shops", "zipf_shops"]


@dataclass
class ManyShopsConfig:
    shops: int = 1000
    entries: int = 500
    phrasings: int = 4
    memory_budget_mib: int = 512  # the product's default SMARTREPLY_INDEX_MEMORY_BUDGET_BYTES
    hot_shops: int = 20
    requests: int = 2000  # per warm / mixed level (upper bound)
    seconds: float = 30.0  # per warm / mixed level (upper bound)
    zipf_s: float = 1.1
    build_processes: int = 2
    seed: int = 0
    work_dir: Path | None = None
    server_env: dict[str, str] = field(default_factory=lambda: {"SMARTREPLY_ACTIVE_VERSION_TTL": "1",
                                                                "SMARTREPLY_RATE_LIMIT_PER_SECOND": "0"})


def shop_ids(n: int) -> list[str]:
    return [f"s{i:04d}" for i in range(n)]


class MemoEncoder:
    """The real encoder, encoding each distinct text once (the generated shops share their phrasings)."""

    def __init__(self, encoder) -> None:  # noqa: ANN001 - any Encoder
        self.encoder = encoder
        self.model_id = encoder.model_id
        self.dim = encoder.dim
        self._memo: dict[str, np.ndarray] = {}

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._memo))
        if missing:
            for text, vector in zip(missing, self.encoder.encode(missing, batch_size=batch_size)):
                self._memo[text] = vector
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._memo[t] for t in texts])


def _build_part(data_dir: str, ids: list[str], built: list[str], entries: int, phrasings: int, seed: int) -> float:
    """One build process: import ``ids`` through the product's import path, and load each of the
    ``built`` shops once so the derived files of this code version (reranker weights, gram tables,
    search graph) exist before the cold phase measures loading; returns its seconds."""
    from service.pipeline import Settings, encoder_from, warm

    from ..systems import EvalPipeline

    started = time.perf_counter()
    # A 1-byte budget: the warm-up after each import loads one shop and drops the one before.
    settings = Settings(data_dir=Path(data_dir), index_memory_budget_bytes=1)
    served = EvalPipeline.create(settings, MemoEncoder(encoder_from(settings)))
    try:
        for shop_id in ids:
            shop = generate_shop(shop_id, entries, phrasings, seed=seed)
            served.kb.import_file(shop_id, "faq.csv", shop_csv_bytes(shop))  # warms the version (fits the ranker)
        failed = [w for w in warm(served.fresh_pipeline(memory_budget=1).shops, built) if w.error is not None]
        if failed:
            raise RuntimeError(f"{len(failed)} built shops could not be loaded, e.g. {failed[0].shop_id}: "
                               f"{failed[0].error}")
    finally:
        served.close()
    return time.perf_counter() - started


def _built(data_dir: Path) -> set[str]:
    """Shops that already have an active version in ``data_dir`` (a reused work folder)."""
    db = data_dir / "smartreply.db"
    if not db.is_file():
        return set()
    from knowledge_base.store import KbStore

    store = KbStore.for_sqlite_file(db)
    try:
        return store.shops_with_active_version()
    finally:
        store.close()


def build_shops(cfg: ManyShopsConfig, data_dir: Path, progress: Callable[[str], None] | None = None) -> dict:
    """Build the shops that ``data_dir`` does not have yet; returns what was built and how fast."""
    data_dir.mkdir(parents=True, exist_ok=True)
    wanted = shop_ids(cfg.shops)
    done = _built(data_dir)
    todo = [s for s in wanted if s not in done]
    reused = [s for s in wanted if s in done]
    out = {"shops": cfg.shops, "reused": len(reused), "built": len(todo), "seconds": 0.0}
    if progress:
        progress(f"building {len(todo)} shops of {cfg.entries} entries (and loading {len(reused)} built "
                 f"before once) in {cfg.build_processes} process(es)")
    started = time.perf_counter()
    n = cfg.build_processes
    parts = [(todo[p::n], reused[p::n]) for p in range(n)]
    parts = [p for p in parts if p[0] or p[1]]
    args = [(str(data_dir), new, old, cfg.entries, cfg.phrasings, cfg.seed) for new, old in parts]
    if len(args) == 1:
        _build_part(*args[0])
    elif args:
        # spawn: a fresh interpreter per builder (no forked ONNX/FAISS thread state).
        with multiprocessing.get_context("spawn").Pool(len(args)) as pool:
            pool.starmap(_build_part, args)
    out["seconds"] = round(time.perf_counter() - started, 1)
    if todo and out["seconds"]:
        out["shops_per_s"] = round(len(todo) / out["seconds"], 2)
    return out


def zipf_shops(n_shops: int, n: int, s: float, rng: random.Random) -> list[int]:
    """``n`` shop indices, shop i drawn with probability ∝ 1 / (i + 1)^s (shop 0 the most popular)."""
    weights = [1.0 / (i + 1) ** s for i in range(n_shops)]
    return rng.choices(range(n_shops), weights=weights, k=n)


def _queries_of(cfg: ManyShopsConfig, shop_id: str, n: int):
    return generate_queries(generate_shop(shop_id, cfg.entries, cfg.phrasings, seed=cfg.seed), n, seed=cfg.seed)


_CACHE_LINE = re.compile(r'^smartreply_index_cache_total\{result="(hit|miss)"\} ([0-9.e+]+)$', re.M)
_EVICT_LINE = re.compile(r"^smartreply_index_cache_evictions_total ([0-9.e+]+)$", re.M)


def _cache_counters(base: str) -> dict[str, float]:
    text = httpx.get(f"{base}/metrics", timeout=10).text
    out = {k: float(v) for k, v in _CACHE_LINE.findall(text)}
    m = _EVICT_LINE.search(text)
    out["evict"] = float(m.group(1)) if m else 0.0
    return {k: out.get(k, 0.0) for k in ("hit", "miss", "evict")}


def _peak_rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def run_many_shops(cfg: ManyShopsConfig, progress: Callable[[str], None] | None = None) -> dict:
    with work_folder(cfg.work_dir, "smartreply-shops-") as work:
        return _run(cfg, work, progress)


def _run(cfg: ManyShopsConfig, work: Path, progress) -> dict:
    say = progress or (lambda _m: None)
    data_dir = work / "data"
    report: dict = {"config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(cfg).items()},
                    "build": build_shops(cfg, data_dir, say), "phases": [], "memory": {}}
    say(f"shops ready in {report['build']['seconds']} s ({report['build']['built']} built, "
        f"{report['build']['reused']} reused)")
    ids = shop_ids(cfg.shops)
    rng = random.Random(cfg.seed)
    operator_key = secrets.token_urlsafe(24)
    auth = {"Authorization": f"Bearer {operator_key}"}
    port = free_port()
    env = {"SMARTREPLY_DATA_DIR": str(data_dir), "SMARTREPLY_PORT": str(port), "SMARTREPLY_HOST": "127.0.0.1",
           "SMARTREPLY_LOG_LEVEL": "WARNING", "SMARTREPLY_OPERATOR_KEY": operator_key,
           "SMARTREPLY_INDEX_MEMORY_BUDGET_BYTES": str(cfg.memory_budget_mib * 2**20), **cfg.server_env}
    argv = [sys.executable, "-m", "service", "serve", "--workers", "1"]
    with running_process(argv, env=env, port=port, log_path=work / "serve-many-shops.log") as srv:
        url = f"{srv.base_url}/v1/shops/{ids[0]}/suggestions"

        def phase(name: str, picks: list[int], concurrency: int, requests: int, seconds: float) -> dict:
            per_shop: dict[int, list] = {}
            for i in set(picks):
                per_shop[i] = _queries_of(cfg, ids[i], 8)
            messages, expected, paths = [], [], []
            for n, i in enumerate(picks):
                q = per_shop[i][n % len(per_shop[i])]
                messages.append(q.message)
                expected.append(q.entry_id)
                paths.append(f"/v1/shops/{ids[i]}/suggestions")
            before = _cache_counters(srv.base_url)
            res = run_load(url, messages, expected=expected, paths=paths, concurrency=concurrency,
                           requests=requests, seconds=seconds, target=name, headers=auth).as_dict()
            after = _cache_counters(srv.base_url)
            res["cache"] = {k: int(after[k] - before[k]) for k in after}
            res["memory"] = {**memory_of(srv.pid), "peak_rss_mib": _peak_rss_mib(srv.pid)}
            report["phases"].append(res)
            say(f"{name} c={concurrency}: {res['ok']}/{res['sent']} ok, {res['throughput']}/s, client p50 "
                f"{res['client_ms'].get('p50')} p99 {res['client_ms'].get('p99')} ms, cache {res['cache']}, "
                f"RSS {res['memory'].get('rss_mib')} MiB")
            return res

        report["memory"]["idle"] = memory_of(srv.pid)
        order = list(range(cfg.shops))
        rng.shuffle(order)
        # Every shop once, never asked before: each request loads its shop (the cold path).
        phase("cold", order, 1, cfg.shops, max(cfg.seconds, cfg.shops * 2.0))
        # The hot shops, loaded first (the warm-up below), then only hits.
        hot = list(range(min(cfg.hot_shops, cfg.shops)))
        run_load(url, ["预热"] * len(hot), paths=[f"/v1/shops/{ids[i]}/suggestions" for i in hot],
                 concurrency=1, requests=len(hot), seconds=60, headers=auth)
        for c in (1, 16):
            phase("warm", [hot[j % len(hot)] for j in rng.sample(range(cfg.requests * 4), cfg.requests)], c,
                  cfg.requests, cfg.seconds)
        phase("mixed", zipf_shops(cfg.shops, cfg.requests, cfg.zipf_s, rng), 16, cfg.requests, cfg.seconds)
        report["memory"]["end"] = {**memory_of(srv.pid), "peak_rss_mib": _peak_rss_mib(srv.pid)}
    return report


def format_many_shops(report: dict) -> str:
    cfg, build = report["config"], report["build"]
    lines = [f"{cfg['shops']} shops x {cfg['entries']} entries x {cfg['phrasings']} phrasings, one process, "
             f"index memory budget {cfg['memory_budget_mib']} MiB; build: {build['built']} built "
             f"({build['seconds']} s), {build['reused']} reused",
             "", "| phase | conc. | ok | err | req/s | client p50 / p95 / p99 ms | server p50 / p99 ms | top-1 "
                 "| hits / misses / evictions | RSS MiB (peak) |",
             "| --- | ---: | ---: | ---: | ---: | --- | --- | ---: | --- | --- |"]
    for r in report["phases"]:
        c, s, m, k = r["client_ms"], r["server_ms"], r["memory"], r["cache"]
        lines.append(f"| {r['target']} | {r['concurrency']} | {r['ok']} | {r['errors']} | {r['throughput']} | "
                     f"{c.get('p50')} / {c.get('p95')} / {c.get('p99')} | {s.get('p50')} / {s.get('p99')} | "
                     f"{r['top1_accuracy']} | {k['hit']} / {k['miss']} / {k['evict']} | "
                     f"{m.get('rss_mib')} ({m.get('peak_rss_mib')}) |")
    return "\n".join(lines)
