"""Fine-tune the sentence encoder (``smartreply train encoder``) on labelled question pairs.

CoSENT loss (the one C-MTEB-style matching benchmarks reward: it orders the cosines of positive pairs
above those of negative pairs) on pairs such as ATEC/AFQMC's, or on pairs made from a shop's own
knowledge base (two phrasings of one entry = positive, of two entries = negative). The result is a
sentence-transformers folder (safetensors weights) that ``smartreply train export-onnx`` turns into
the serving encoder. A model trained on the evaluation data is an experiment artifact, never the
shipped default.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from knowledge_base.schema import FaqEntry
from models.model_source import resolve_model_path

__all__ = ["FinetuneResult", "finetune_encoder", "kb_pairs"]

logger = logging.getLogger(__name__)


@dataclass
class FinetuneResult:
    model_dir: Path
    pairs: int
    epochs: int
    seconds: float


def kb_pairs(entries: Sequence[FaqEntry], *, negatives_per_positive: int = 1, seed: int = 0
             ) -> list[tuple[str, str, float]]:
    """Pairs from a knowledge base: phrasings of one entry (1.0) and of two different entries (0.0)."""
    rng = random.Random(seed)
    groups = [list(e.phrasings) for e in entries if e.enabled and len(e.phrasings) >= 2]
    pairs: list[tuple[str, str, float]] = []
    for g, phrasings in enumerate(groups):
        for i, a in enumerate(phrasings):
            for b in phrasings[i + 1:]:
                pairs.append((a, b, 1.0))
                for _ in range(negatives_per_positive):
                    other = groups[rng.choice([k for k in range(len(groups)) if k != g])]
                    pairs.append((a, rng.choice(other), 0.0))
    rng.shuffle(pairs)
    return pairs


def finetune_encoder(
    base_model: str,
    pairs: Sequence[tuple[str, str, float]],
    out_dir: Path,
    *,
    epochs: int = 1,
    batch_size: int = 64,
    learning_rate: float = 2e-5,
    max_seq_length: int = 64,
    seed: int = 0,
    threads: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> FinetuneResult:
    """Train ``base_model`` on ``pairs`` (text, text, label in [0, 1]) and save it to ``out_dir``."""
    import torch
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, losses
    from sentence_transformers.training_args import SentenceTransformerTrainingArguments

    report = progress or (lambda message: logger.info("%s", message))
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    random.seed(seed)
    started = time.perf_counter()
    model = SentenceTransformer(str(resolve_model_path(base_model)), device="cpu")
    model.max_seq_length = max_seq_length
    data = Dataset.from_dict({"sentence1": [p[0] for p in pairs], "sentence2": [p[1] for p in pairs],
                              "score": [float(p[2]) for p in pairs]})
    args = SentenceTransformerTrainingArguments(
        output_dir=str(out_dir.parent / f".{out_dir.name}.trainer"), num_train_epochs=epochs,
        per_device_train_batch_size=batch_size, learning_rate=learning_rate, warmup_ratio=0.1, seed=seed,
        report_to="none", save_strategy="no", logging_steps=50, use_cpu=True, dataloader_drop_last=False)
    report(f"fine-tuning {base_model} on {len(pairs)} pairs, {epochs} epoch(s), batch {batch_size}")
    SentenceTransformerTrainer(model=model, args=args, train_dataset=data,
                               loss=losses.CoSENTLoss(model)).train()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save(str(out_dir), safe_serialization=True)
    seconds = time.perf_counter() - started
    (out_dir / "smartreply_training.json").write_text(json.dumps({
        "base_model": base_model, "pairs": len(pairs), "epochs": epochs, "batch_size": batch_size,
        "learning_rate": learning_rate, "max_seq_length": max_seq_length, "seed": seed, "loss": "CoSENT",
        "seconds": round(seconds, 1), "created_at": datetime.now(UTC).isoformat(),
        "note": "experiment artifact: trained on the pairs given; not the shipped default",
    }, ensure_ascii=False, indent=2), "utf-8")
    report(f"saved to {out_dir} in {seconds:.0f}s")
    return FinetuneResult(out_dir, len(pairs), epochs, seconds)
