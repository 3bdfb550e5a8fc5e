"""Capacity model: how many replicas a platform of S shops needs at Q suggestions/s (docs/scaling.md).

Traffic: shop i (1-based popularity rank) gets a share ∝ 1 / i^s of the Q requests/s (Zipf), each
request independent of the last (the independent reference model). A *replica* is one ``serve``
process on one core, with an index memory budget M, behind HAProxy (one HAProxy server per
process: inside one process the shops share one LRU).

Cache: each replica's loaded shops are an LRU bounded in bytes. Its hit rate follows Che's
approximation: with shop i's request rate λᵢ at that replica and memory mᵢ, the cache's
characteristic time T solves Σᵢ mᵢ (1 − e^(−λᵢT)) = M, and shop i hits with probability
1 − e^(−λᵢT). Under **consistent hashing** every shop has one home: replica j sees a 1/R sample
of the shops at their full rates, so the R caches together act as one LRU of R·M bytes over all
shops. Under **random routing** every replica sees every shop at λᵢ/R, which is the single-cache
equation with M: adding replicas adds no cache, the hit rate is that of one replica.

Replicas: R is the smallest count whose cores keep up, Q·(cpu + miss rate × load time) ≤ R × u,
with u the average utilisation allowed (the bounded-load factor f of HAProxy caps a replica at f×
the average, so u = u_max / f), and, for a hit-rate target, whose memory reaches it. A shop whose
own traffic needs more than one replica's core is spread over k replicas by the bounded load, each
holding a copy: its k − 1 extra copies are taken out of the cache.

PostgreSQL: per request one key lookup (``api_keys``, by hash) and, batched, one analytics row;
per shop and replica and ``SMARTREPLY_ACTIVE_VERSION_TTL``, a few small lookups (active version,
rules revision, time zone); per cold load the shop's entries and its artifact list; per upload the
version, its entries and its index files. Those rates against a primary's capacity (an input, not
measured here) say where the database becomes the limit.

Measured inputs are read from the benchmark reports in ``docs/bench/`` (``measured_inputs``); the
rest are stated assumptions with their defaults. Sums over millions of shops use log-spaced rank
bins (exact below ``EXACT_BELOW`` shops); ``simulate_lru`` runs the real thing on small cases.
"""

from __future__ import annotations

import json
import math
import random
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

__all__ = ["Workload", "Inputs", "Plan", "zipf_bins", "che_hit_rate", "cluster_hit_rate", "simulate_lru",
           "plan", "upload_cpu_s_per_s", "measured_inputs", "scaling_table", "format_table", "EXACT_BELOW"]

EXACT_BELOW = 20_000  # shops: below this, every shop is its own bin (above: log-spaced bins)
_BINS = 4000


@dataclass(frozen=True)
class Workload:
    shops: int
    requests_per_s: float
    zipf_s: float = 1.0


@dataclass(frozen=True)
class Inputs:
    """Per-replica costs and sizes; ``source`` says where each measured value came from."""

    cpu_ms_per_request: float = 5.8  # one core, warm shop, HTTP included (docs/bench/many-shops.json warm c=16)
    bytes_per_phrasing: float = 5_900.0  # loaded: vectors, reranker, texts (many-shops.json)
    shop_overhead_bytes: float = 50_000.0  # per loaded shop beyond its phrasings (entries, Python objects)
    load_ms_per_phrasing: float = 0.012  # cold load from local disk (many-shops.json cold phase)
    load_ms_fixed: float = 2.0
    # The first load of a version on a replica also derives its reranker weights and gram tables, then
    # keeps them on its disk: ~2.4 s whatever the size on the busy 2-core machine (measure_first_load).
    derive_ms_fixed: float = 2_400.0
    derive_ms_per_phrasing: float = 0.0
    fetch_bytes_per_s: float = 100e6  # assumption: one replica streaming index files from PostgreSQL
    disk_budget_bytes: float = 200 * 2**30  # assumption: a replica's local disk for its index cache
    disk_bytes_per_phrasing: float = 2_400.0  # index.faiss + phrasings.json + lexicon (demo shop's files)
    phrasings_median: float = 500.0  # assumption: a shop's FAQ, standard + similar questions
    phrasings_sigma: float = 1.0  # lognormal spread of shop sizes (assumption)
    size_classes: int = 7
    memory_budget_bytes: float = 2 * 2**30  # SMARTREPLY_INDEX_MEMORY_BUDGET_BYTES per replica
    idle_rss_bytes: float = 300 * 2**20  # a replica's encoder, intent model, interpreter (report-round4b.json)
    max_utilisation: float = 0.75  # of a replica's core, at the busiest replica
    hash_balance_factor: float = 1.25  # HAProxy's hash-balance-factor / 100
    hit_target: float = 0.0  # if > 0: add replicas (hash routing) until this share of requests finds its shop loaded
    version_ttl_s: float = 1.0  # SMARTREPLY_ACTIVE_VERSION_TTL
    lookups_per_shop_refresh: int = 3  # active version, rules revision, time zone
    uploads_per_shop_per_day: float = 0.1  # assumption: a FAQ changes every ten days
    build_ms_per_phrasing: float = 1.7  # embedding + indexing an upload on one core (~600 phrasings/s)
    artifact_bytes_per_phrasing: float = 2_150.0  # index.faiss (2,056 B/phrasing at 512-d) + phrasings.json
    entry_row_bytes: float = 400.0  # one kb_entries row (question, similar, answers)
    phrasings_per_entry: float = 4.0
    pg_point_reads_per_s: float = 100_000.0  # assumption: one primary, indexed single-row SELECTs
    pg_rows_written_per_s: float = 50_000.0  # assumption: batched INSERTs of small rows, one primary
    pg_storage_bytes: float = 4 * 2**40  # assumption: what one primary holds comfortably
    versions_kept: int = 3  # versions whose files stay in the database (rollback)
    source: dict[str, str] = field(default_factory=dict)

    @property
    def utilisation(self) -> float:
        return self.max_utilisation / self.hash_balance_factor


def zipf_bins(shops: int, s: float, *, exact_below: int = EXACT_BELOW, bins: int = _BINS) -> tuple[np.ndarray, np.ndarray]:
    """Popularity of S shops under Zipf(s), as (probability of one shop in the bin, shops in the bin).

    Exact (one bin per shop) below ``exact_below`` shops; above, ranks are grouped in log-spaced bins
    whose shops get the mean probability of their ranks (the sum of k^-s over a bin is integrated
    exactly at its ends, so the probabilities still sum to 1).
    """
    if shops < 1:
        raise ValueError("at least one shop")
    if shops < exact_below:
        ranks = np.arange(1, shops + 1, dtype=np.float64)
        w = ranks ** -s
        return w / w.sum(), np.ones(shops)
    edges = np.unique(np.round(np.geomspace(1, shops + 1, bins + 1)).astype(np.int64))
    edges[0], edges[-1] = 1, shops + 1
    lo, hi = edges[:-1], edges[1:]
    counts = (hi - lo).astype(np.float64)
    mass = np.array([_power_sum(a, b - 1, s) for a, b in zip(lo, hi)])
    total = mass.sum()
    return mass / total / counts, counts


def _power_sum(a: int, b: int, s: float) -> float:
    """Σ_{k=a}^{b} k^-s: the first terms exactly, the rest by Euler–Maclaurin (error far below 1e-9)."""
    head_end = min(b, a + 50)
    head = float(np.sum(np.arange(a, head_end + 1, dtype=np.float64) ** -s))
    if head_end == b:
        return head
    x, y = head_end + 1, b

    def integral(u: float, v: float) -> float:
        return math.log(v / u) if abs(s - 1) < 1e-12 else (v ** (1 - s) - u ** (1 - s)) / (1 - s)

    tail = integral(x, y) + (x ** -s + y ** -s) / 2 + s * (x ** (-s - 1) - y ** (-s - 1)) / 12
    return head + tail


def _size_classes(inputs: Inputs) -> tuple[np.ndarray, np.ndarray]:
    """Shop sizes (phrasings) as equal-weight quantiles of a lognormal: (phrasings, weight)."""
    n = inputs.size_classes
    if inputs.phrasings_sigma <= 0 or n == 1:
        return np.array([inputs.phrasings_median]), np.array([1.0])
    from scipy.stats import norm

    q = (np.arange(n) + 0.5) / n
    return inputs.phrasings_median * np.exp(inputs.phrasings_sigma * norm.ppf(q)), np.full(n, 1.0 / n)


def che_hit_rate(rates: np.ndarray, sizes: np.ndarray, counts: np.ndarray, capacity: float) -> tuple[float, np.ndarray]:
    """Request hit rate of one LRU cache of ``capacity`` bytes (Che's approximation).

    ``rates`` (requests/s of one object of the group), ``sizes`` (bytes of one object) and ``counts``
    (objects in the group) are aligned arrays. Returns (hit rate over requests, per-group hit
    probability). Everything fits: 1.0.
    """
    rates, sizes, counts = (np.asarray(a, dtype=np.float64) for a in (rates, sizes, counts))
    need = float(np.sum((sizes * counts)[rates > 0]))  # objects never asked for never take room
    traffic = float(np.sum(rates * counts))
    if traffic <= 0:
        return 1.0, np.ones_like(rates)
    if capacity >= need:
        return 1.0, (rates > 0).astype(np.float64)
    if capacity <= 0:
        return 0.0, np.zeros_like(rates)

    def occupied(t: float) -> float:
        return float(np.sum(sizes * counts * -np.expm1(-rates * t)))

    lo, hi = 0.0, 1.0 / max(float(rates.max()), 1e-300)
    while occupied(hi) < capacity:
        hi *= 2
    for _ in range(200):  # bisection on log scale is not needed: occupied() is monotone and smooth
        mid = (lo + hi) / 2
        if occupied(mid) < capacity:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * hi:
            break
    per = -np.expm1(-rates * hi)
    return float(np.sum(rates * counts * per) / traffic), per


def _groups(work: Workload, inputs: Inputs, *, exact_below: int = EXACT_BELOW):
    """Aligned (rate per shop, phrasings per shop, shops) over popularity bins x size classes."""
    p, counts = zipf_bins(work.shops, work.zipf_s, exact_below=exact_below)
    phr, w = _size_classes(inputs)
    rates = np.repeat(p * work.requests_per_s, len(phr))
    n = np.outer(counts, w).ravel()
    phrasings = np.tile(phr, len(p))
    return rates, phrasings, n


def cluster_hit_rate(work: Workload, inputs: Inputs, replicas: int, routing: str, *,
                     exact_below: int = EXACT_BELOW) -> dict:
    """What ``replicas`` replicas see under ``routing`` (``hash``: consistent hashing on the shop,
    ``random``): the share of requests whose shop is loaded (memory, ``inputs.memory_budget_bytes`` per
    replica), cold loads/s from the local disk, fetches/s from PostgreSQL (the shop's version is not on
    the replica's disk, ``inputs.disk_budget_bytes``: fetch + derive its reranker), and their CPU."""
    rates, phrasings, n = _groups(work, inputs, exact_below=exact_below)
    mem_sizes = phrasings * inputs.bytes_per_phrasing + inputs.shop_overhead_bytes
    disk_sizes = phrasings * inputs.disk_bytes_per_phrasing
    # A shop needing more than one replica's core is spread over k replicas (bounded load): k copies.
    per_replica = inputs.utilisation * 1000.0 / inputs.cpu_ms_per_request
    copies = np.maximum(1.0, np.ceil(rates / per_replica))
    extra = float(np.sum((copies - 1) * mem_sizes * n))
    if routing == "hash":  # R caches over disjoint shops = one cache of R x the budget
        seen, mem, disk = rates, max(0.0, replicas * inputs.memory_budget_bytes - extra), replicas * inputs.disk_budget_bytes
    elif routing == "random":  # each replica sees every shop at 1/R of its rate, with its own budget
        seen, mem, disk = rates / replicas, inputs.memory_budget_bytes, inputs.disk_budget_bytes
    else:
        raise ValueError(f"routing must be 'hash' or 'random', not {routing!r}")
    hit, in_memory = che_hit_rate(seen, mem_sizes, n, mem)
    _, on_disk = che_hit_rate(seen, disk_sizes, n, disk)
    on_disk = np.maximum(on_disk, in_memory)  # what was requested recently enough to be loaded is on disk too
    traffic = rates * n
    cold = traffic * (1 - in_memory)  # requests/s that load their shop (summed over replicas)
    fetched = traffic * (1 - on_disk)  # of which the files are not on that replica's disk
    load_ms = inputs.load_ms_fixed + inputs.load_ms_per_phrasing * phrasings
    artifact = phrasings * inputs.artifact_bytes_per_phrasing
    fetch_ms = (inputs.derive_ms_fixed + inputs.derive_ms_per_phrasing * phrasings
                + 1000.0 * artifact / inputs.fetch_bytes_per_s)
    cold_per_s, fetch_per_s = float(cold.sum()), float(fetched.sum())
    return {"hit_rate": hit, "cold_loads_per_s": cold_per_s, "fetches_per_s": fetch_per_s,
            "disk_hit_rate": 1 - fetch_per_s / cold_per_s if cold_per_s else 1.0,
            "cold_cpu_s_per_s": float(np.sum(cold * load_ms) + np.sum(fetched * fetch_ms)) / 1000.0,
            "cold_load_ms_mean": float(np.sum(cold * load_ms) + np.sum(fetched * fetch_ms)) / cold_per_s
            if cold_per_s else 0.0,
            "fetch_bytes_per_s": float(np.sum(fetched * artifact)), "hot_copy_bytes": extra,
            "working_set_bytes": float(np.sum(mem_sizes * n))}


@dataclass
class Plan:
    workload: Workload
    routing: str
    replicas: int
    bound_by: str  # cpu | memory (the hit-rate target) | unreachable (random routing cannot reach it)
    hit_rate: float
    disk_hit_rate: float  # of the cold loads, the share whose files were on the replica's disk
    cold_loads_per_s: float
    fetches_per_s: float
    cpu_cores: float  # busy cores: requests, cold loads and fetches, uploads
    memory_bytes_total: float
    pg: dict

    def as_dict(self) -> dict:
        return asdict(self)


def upload_cpu_s_per_s(work: Workload, inputs: Inputs) -> float:
    """Cores busy with uploads: embedding each new version, and deriving its reranker twice (the replica
    that built it warms it; its home replica, usually another, fetches and derives it again)."""
    _, phr, w = _groups(Workload(1, 1.0), inputs)
    mean_phrasings = float(np.sum(phr * w))
    uploads = work.shops * inputs.uploads_per_shop_per_day / 86_400.0
    per_upload_ms = (mean_phrasings * (inputs.build_ms_per_phrasing + 2 * inputs.derive_ms_per_phrasing)
                     + 2 * inputs.derive_ms_fixed)
    return uploads * per_upload_ms / 1000.0


def _cpu_replicas(work: Workload, inputs: Inputs, cold_cpu_s_per_s: float) -> int:
    busy_s = (work.requests_per_s * inputs.cpu_ms_per_request / 1000.0 + cold_cpu_s_per_s
              + upload_cpu_s_per_s(work, inputs))
    return max(1, math.ceil(busy_s / inputs.utilisation))


def plan(work: Workload, inputs: Inputs, routing: str = "hash", *, exact_below: int = EXACT_BELOW) -> Plan:
    """The fewest replicas whose cores keep up with the requests and the cold loads they cause (a fixed
    point: under hash routing more replicas hold more shops, so fewer loads); with ``inputs.hit_target``,
    also enough memory for that hit rate (hash routing; random routing cannot buy it with replicas)."""
    def fits(r: int) -> tuple[bool, dict]:
        hit = cluster_hit_rate(work, inputs, r, routing, exact_below=exact_below)
        return _cpu_replicas(work, inputs, hit["cold_cpu_s_per_s"]) <= r, hit

    # need(R), the replicas the load of R replicas asks for, never grows with R (more replicas, more
    # cache under hash routing; the same hit rate under random routing): the answer is the smallest R
    # with need(R) <= R, found by doubling, then bisection.
    lo = _cpu_replicas(work, inputs, 0.0) - 1
    hi = lo + 1
    ok, hit = fits(hi)
    while not ok:
        lo, hi = hi, hi * 2
        ok, hit = fits(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        ok, mid_hit = fits(mid)
        if ok:
            hi, hit = mid, mid_hit
        else:
            lo = mid
    r, bound = hi, "cpu"
    if inputs.hit_target and hit["hit_rate"] + 1e-12 < inputs.hit_target:
        if routing == "random":
            bound = "unreachable"  # random routing cannot buy hit rate with replicas
        else:
            r, bound = _replicas_for_target(work, inputs, r, exact_below), "memory"
            hit = cluster_hit_rate(work, inputs, r, routing, exact_below=exact_below)
    return Plan(workload=work, routing=routing, replicas=r, bound_by=bound, hit_rate=hit["hit_rate"],
                disk_hit_rate=hit["disk_hit_rate"], cold_loads_per_s=hit["cold_loads_per_s"],
                fetches_per_s=hit["fetches_per_s"],
                cpu_cores=work.requests_per_s * inputs.cpu_ms_per_request / 1000.0 + hit["cold_cpu_s_per_s"]
                + upload_cpu_s_per_s(work, inputs),
                memory_bytes_total=r * (inputs.memory_budget_bytes + inputs.idle_rss_bytes),
                pg=postgres_load(work, inputs, r, routing, hit, exact_below=exact_below))


def _replicas_for_target(work: Workload, inputs: Inputs, start: int, exact_below: int) -> int:
    """Smallest R ≥ start whose hash-routed caches reach the hit target (doubling, then bisection)."""
    def reaches(r: int) -> bool:
        return cluster_hit_rate(work, inputs, r, "hash", exact_below=exact_below)["hit_rate"] >= inputs.hit_target

    lo, hi = start, start
    while not reaches(hi):
        lo, hi = hi, hi * 2
        if hi > 100_000_000:
            return hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if reaches(mid) else (mid, hi)
    return hi


def postgres_load(work: Workload, inputs: Inputs, replicas: int, routing: str, hit: dict, *,
                  exact_below: int = EXACT_BELOW) -> dict:
    """What the replicas ask of PostgreSQL per second, and the storage of index files and entries."""
    rates, phrasings, n = _groups(work, inputs, exact_below=exact_below)
    ttl = inputs.version_ttl_s
    # Shop-state lookups: each replica that sees a shop asks again once per TTL while it gets traffic.
    if routing == "hash":
        refreshes = float(np.sum(n * -np.expm1(-rates * ttl)) / ttl)
    else:
        refreshes = float(replicas * np.sum(n * -np.expm1(-rates / replicas * ttl)) / ttl)
    mean_phrasings = float(np.sum(n * phrasings) / np.sum(n))
    entries_per_shop = mean_phrasings / inputs.phrasings_per_entry
    uploads_per_s = work.shops * inputs.uploads_per_shop_per_day / 86_400.0
    # per cold load: the shop's entries and its artifact list; per fetch: the files' chunks too
    reads = work.requests_per_s + refreshes * inputs.lookups_per_shop_refresh + hit["cold_loads_per_s"] * 2
    rows_written = work.requests_per_s + uploads_per_s * (entries_per_shop + 3 + mean_phrasings
                                                          * inputs.artifact_bytes_per_phrasing / 2**20)
    artifact_bytes = work.shops * inputs.versions_kept * mean_phrasings * inputs.artifact_bytes_per_phrasing
    entry_bytes = work.shops * inputs.versions_kept * entries_per_shop * inputs.entry_row_bytes
    read_bytes_per_s = hit["cold_loads_per_s"] * entries_per_shop * inputs.entry_row_bytes + hit["fetch_bytes_per_s"]
    return {
        "point_reads_per_s": reads, "key_lookups_per_s": work.requests_per_s,
        "shop_state_lookups_per_s": refreshes * inputs.lookups_per_shop_refresh,
        "rows_written_per_s": rows_written, "uploads_per_s": uploads_per_s,
        "bytes_read_per_s": read_bytes_per_s, "storage_bytes": artifact_bytes + entry_bytes,
        "read_load": reads / inputs.pg_point_reads_per_s, "write_load": rows_written / inputs.pg_rows_written_per_s,
        "storage_load": (artifact_bytes + entry_bytes) / inputs.pg_storage_bytes,
    }


def simulate_lru(popularity: Sequence[float], sizes: Sequence[float], capacity: float, requests: int, *,
                 replicas: int = 1, routing: str = "hash", seed: int = 0, warmup: int | None = None) -> float:
    """Hit rate of real LRU caches under IRM traffic (a check on the approximation; small cases only)."""
    rng = random.Random(seed)
    shops = list(range(len(popularity)))
    home = [rng.randrange(replicas) for _ in shops]
    caches = [OrderedDict() for _ in range(replicas)]
    held = [0.0] * replicas
    warmup = requests // 5 if warmup is None else warmup
    hits = counted = 0
    draws = rng.choices(shops, weights=popularity, k=requests + warmup)
    for n, shop in enumerate(draws):
        j = home[shop] if routing == "hash" else rng.randrange(replicas)
        cache = caches[j]
        hit = shop in cache
        if hit:
            cache.move_to_end(shop)
        else:
            cache[shop] = True
            held[j] += sizes[shop]
            while held[j] > capacity and len(cache) > 1:
                old, _ = cache.popitem(last=False)
                held[j] -= sizes[old]
        if n >= warmup:
            counted += 1
            hits += hit
    return hits / counted


def measured_inputs(bench_dir: Path, base: Inputs | None = None) -> Inputs:
    """``Inputs`` with what the benchmark reports in ``bench_dir`` measured (each value's file in ``source``)."""
    inputs = base or Inputs()
    changes: dict = {}
    source: dict[str, str] = dict(inputs.source)
    many = _read(bench_dir / "many-shops.json")
    if many:
        cfg = many["config"]
        phr = cfg["entries"] * cfg["phrasings"]
        phases = {(p["target"], p["concurrency"]): p for p in many["phases"]}
        cold, warm1, warm16 = phases.get(("cold", 1)), phases.get(("warm", 1)), phases.get(("warm", 16))
        if warm16 and warm16["throughput"]:
            changes["cpu_ms_per_request"] = round(1000.0 / warm16["throughput"], 2)
            source["cpu_ms_per_request"] = "many-shops.json: one process saturated (warm phase, c=16): 1000 / req/s"
        if cold and warm1:
            # A cold request = a warm one + the load: the load is the difference of their server times.
            load_ms = cold["server_ms"]["mean"] - warm1["server_ms"]["mean"]
            held = cold["cache"]["miss"] - cold["cache"]["evict"]
            rss = cold["memory"]["rss_mib"] - many["memory"]["idle"]["rss_mib"]
            if held > 0 and rss > 0:
                changes["bytes_per_phrasing"] = round(rss * 2**20 / held / phr, 0)
                source["bytes_per_phrasing"] = f"many-shops.json: RSS over idle / {held} shops held / {phr} phrasings"
            if load_ms > 0:
                changes["load_ms_per_phrasing"] = round(max(0.0, load_ms - inputs.load_ms_fixed) / phr, 5)
                source["load_ms_per_phrasing"] = ("many-shops.json: cold minus warm mean server time, per phrasing "
                                                  f"({load_ms:.1f} ms for {phr})")
        changes["idle_rss_bytes"] = many["memory"]["idle"]["rss_mib"] * 2**20
        source["idle_rss_bytes"] = "many-shops.json: idle RSS"
    # the newest single-server build rate: the cluster run's own, else the last round's
    for name in ("cluster.json", "report-round4b.json", "report.json"):
        build = (_read(bench_dir / name) or {}).get("build") or {}
        if build.get("phrasings_per_s"):
            changes["build_ms_per_phrasing"] = round(1000.0 / build["phrasings_per_s"], 3)
            source["build_ms_per_phrasing"] = (f"{name}: {build['phrasings']} phrasings uploaded at "
                                               f"{build['phrasings_per_s']}/s")
            break
    cluster = _read(bench_dir / "cluster.json")
    first = (cluster or {}).get("cluster_cache", {}).get("first_load") or []
    if len(first) >= 2:
        # derive = first load - load with the derived files on disk; a line through the sizes measured
        x = np.array([f["phrasings"] for f in first], dtype=np.float64)
        y = np.array([f["first_load_ms"] - f["disk_load_ms"] for f in first])
        slope = max(0.0, float(np.polyfit(x, y, 1)[0]))
        changes["derive_ms_per_phrasing"] = round(slope, 4)
        changes["derive_ms_fixed"] = round(max(0.0, float(np.mean(y - slope * x))), 1)
        source["derive_ms_fixed"] = source["derive_ms_per_phrasing"] = (
            "cluster.json: first load without derived files minus load with them, "
            + ", ".join(f"{f['phrasings']} phrasings {f['first_load_ms']:.0f} vs {f['disk_load_ms']:.0f} ms"
                        for f in first))
    return replace(inputs, **changes, source=source)


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None


def scaling_table(inputs: Inputs, shops: Sequence[int] = (10_000, 1_000_000, 10_000_000),
                  rates: Sequence[float] = (1_000, 10_000, 100_000), zipf_s: float = 1.0) -> list[dict]:
    rows = []
    for s in shops:
        for q in rates:
            work = Workload(shops=s, requests_per_s=q, zipf_s=zipf_s)
            rows.append({"hash": plan(work, inputs, "hash").as_dict(), "random": plan(work, inputs, "random").as_dict()})
    return rows


def format_table(rows: list[dict]) -> str:
    """The scaling table as Markdown: per (shops, req/s), both routings side by side, then PostgreSQL."""
    lines = ["| shops | req/s | replicas (hash) | hit rate | cold loads/s | PG fetches/s | replicas (random) | hit rate "
             "| cold loads/s | PG fetches/s | PG reads/s | PG rows/s | PG storage | PG (hash) |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for row in rows:
        h, r = row["hash"], row["random"]
        w, pg = h["workload"], h["pg"]
        mark = "" if h["bound_by"] == "cpu" else f" ({h['bound_by']})"
        lines.append(
            f"| {w['shops']:,} | {w['requests_per_s']:,.0f} | {h['replicas']:,}{mark} | {h['hit_rate']:.3f} | "
            f"{h['cold_loads_per_s']:,.0f} | {h['fetches_per_s']:,.1f} | {r['replicas']:,} | {r['hit_rate']:.3f} | "
            f"{r['cold_loads_per_s']:,.0f} | {r['fetches_per_s']:,.0f} | {pg['point_reads_per_s']:,.0f} | "
            f"{pg['rows_written_per_s']:,.0f} | {pg['storage_bytes'] / 2**40:,.2f} TiB | {_pg_verdict(pg)} |")
    return "\n".join(lines)


def _pg_verdict(pg: dict) -> str:
    over = [name for name, key in (("reads", "read_load"), ("writes", "write_load"), ("storage", "storage_load"))
            if pg[key] > 1.0]
    near = [name for name, key in (("reads", "read_load"), ("writes", "write_load"), ("storage", "storage_load"))
            if 0.5 < pg[key] <= 1.0]
    if over:
        return "over one primary: " + ", ".join(over)
    if near:
        return "near the limit: " + ", ".join(near)
    return "one primary"
