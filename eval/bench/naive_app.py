"""The naive baseline the benchmark compares against (not part of the product).

The obvious first implementation: the same FastAPI route shape, ``SentenceTransformer.encode``
(PyTorch, default threads) and a FAISS search with FAISS's default OpenMP threads per request.
It serves the *same* phrasings as the product: it reads the product's saved index folder for the
shop (vectors + phrasing → entry map), so both search identical vectors and only the per-request
path differs. Run: ``python -m eval.bench.naive_app --index-dir DIR --faq CSV --port P``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import time
from pathlib import Path

from fastapi import FastAPI
from pydantic import BaseModel

from knowledge_base.cells import unescape_csv_cell

__all__ = ["create_naive_app"]


class _Body(BaseModel):
    message: str
    top_k: int = 3


def create_naive_app(index_dir: Path, faq_csv: Path, model_path: str) -> FastAPI:
    import faiss  # default OpenMP threads: the naive choice
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(model_path, device="cpu")
    index = faiss.read_index(str(index_dir / "index.faiss"))
    phrasings = json.loads((index_dir / "phrasings.json").read_text("utf-8"))
    # The shop file is the service's CSV (cells.csv_bytes: a BOM, formula-like cells escaped).
    answers = {row["编号"]: {k: unescape_csv_cell(v) for k, v in row.items()}
               for row in csv.DictReader(io.StringIO(faq_csv.read_text("utf-8-sig")))}
    app = FastAPI(title="naive baseline")

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    @app.post("/v1/shops/{shop_id}/suggestions")
    def suggest(shop_id: str, body: _Body) -> dict:
        t0 = time.perf_counter()
        vector = model.encode([body.message], normalize_embeddings=True, convert_to_numpy=True)
        scores, ids = index.search(vector, 50)
        out, seen = [], set()
        for score, pid in zip(scores[0], ids[0]):
            if pid < 0:
                break
            p = phrasings[pid]
            if p["entry_id"] in seen:
                continue
            seen.add(p["entry_id"])
            row = answers.get(p["entry_id"], {})
            out.append({"entry_id": p["entry_id"], "question": row.get("标准问题", ""), "matched_question": p["text"],
                        "answer": row.get("答案", ""), "score": float(score), "category": row.get("分类", "")})
            if len(out) == body.top_k:
                break
        return {"shop_id": shop_id, "suggestions": out,
                "timings_ms": {"total": round((time.perf_counter() - t0) * 1000, 3)}}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", type=Path, required=True, help="the product's index folder of the shop")
    parser.add_argument("--faq", type=Path, required=True, help="the FAQ CSV the index was built from")
    parser.add_argument("--model", default="", help="sentence-transformers model folder (default: m3e-small)")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    import uvicorn

    from models.model_source import resolve_model_path

    model = args.model or str(resolve_model_path("m3e-small"))
    uvicorn.run(create_naive_app(args.index_dir, args.faq, model), host="127.0.0.1", port=args.port,
                log_level="warning")


if __name__ == "__main__":
    main()
