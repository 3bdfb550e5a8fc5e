"""Memory per phrasing by index storage type, measured on a saved shop index and real queries.

Compares the product's ``IndexFlatIP`` (fp32) with ``IndexScalarQuantizer`` fp16 and int8 (SQ8) over
the same vectors: bytes per phrasing (serialised), search time, and whether the top-1 *entry* and the
top-1 accuracy on labelled paraphrase queries change.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np

__all__ = ["compare_storage"]


def _size_bytes(index: faiss.Index) -> int:
    with tempfile.NamedTemporaryFile(suffix=".faiss") as tmp:
        faiss.write_index(index, tmp.name)
        return Path(tmp.name).stat().st_size


def compare_storage(index_dir: Path, query_vectors: np.ndarray, expected: Sequence[str], k: int = 50) -> list[dict]:
    """One row per storage type: bytes/phrasing, µs/query (1 thread), top-1 entry agreement, top-1 accuracy."""
    faiss.omp_set_num_threads(1)
    flat_idmap = faiss.read_index(str(index_dir / "index.faiss"))
    n, d = flat_idmap.ntotal, flat_idmap.d
    vectors = flat_idmap.index.reconstruct_n(0, n)  # ids are positions (see knowledge_base.index)
    entry_of = [row["entry_id"] for row in json.loads((index_dir / "phrasings.json").read_text("utf-8"))]
    candidates = {
        "flat fp32 (IndexFlatIP, current)": faiss.IndexFlatIP(d),
        "SQ fp16 (IndexScalarQuantizer QT_fp16)": faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_fp16,
                                                                              faiss.METRIC_INNER_PRODUCT),
        "SQ int8 (IndexScalarQuantizer QT_8bit)": faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_8bit,
                                                                              faiss.METRIC_INNER_PRODUCT),
    }
    rows, reference = [], None
    q = np.ascontiguousarray(query_vectors, dtype=np.float32)
    for name, index in candidates.items():
        index.train(vectors)
        index = faiss.IndexIDMap2(index)  # as the product stores it
        index.add_with_ids(vectors, np.arange(n, dtype=np.int64))
        index.search(q[:10], k)  # warm
        t0 = time.perf_counter()
        for i in range(len(q)):
            index.search(q[i:i + 1], k)
        per_query_us = (time.perf_counter() - t0) / len(q) * 1e6
        _, ids = index.search(q, k)
        top1 = [entry_of[i[0]] for i in ids]
        if reference is None:
            reference = top1
        rows.append({
            "storage": name,
            "bytes_per_phrasing": round(_size_bytes(index) / n, 1),
            "search_us_per_query": round(per_query_us, 1),
            "top1_same_as_fp32": round(float(np.mean([a == b for a, b in zip(top1, reference)])), 4),
            "top1_accuracy": round(float(np.mean([a == b for a, b in zip(top1, expected)])), 4),
        })
    return rows
