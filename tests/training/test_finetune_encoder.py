"""Fine-tuning the encoder: pairs from a knowledge base, and a tiny real CoSENT run."""

from __future__ import annotations

import pytest

from knowledge_base.schema import FaqEntry
from training.finetune_encoder import finetune_encoder, kb_pairs

ENTRIES = [
    FaqEntry(id="a", question="什么时候发货", similar=("几天发货", "多久发出"), answers=("48小时",)),
    FaqEntry(id="b", question="可以开发票吗", similar=("能开票吗",), answers=("可以",)),
    FaqEntry(id="c", question="包邮吗", answers=("包邮",)),  # one phrasing: no positive pair
    FaqEntry(id="d", question="退款多久到账", similar=("钱什么时候退",), answers=("3天",), enabled=False),
]


def test_kb_pairs_positives_within_an_entry_negatives_across():
    pairs = kb_pairs(ENTRIES, negatives_per_positive=1, seed=0)
    positives = {(a, b) for a, b, label in pairs if label == 1.0}
    assert positives == {("什么时候发货", "几天发货"), ("什么时候发货", "多久发出"), ("几天发货", "多久发出"),
                         ("可以开发票吗", "能开票吗")}
    groups = {t: e.id for e in ENTRIES for t in e.phrasings}
    negatives = [(a, b) for a, b, label in pairs if label == 0.0]
    assert len(negatives) == len(positives)
    assert all(groups[a] != groups[b] for a, b in negatives)
    assert not {"退款多久到账", "钱什么时候退", "包邮吗"} & {t for p in pairs for t in p[:2]}
    assert kb_pairs(ENTRIES, seed=0) == pairs  # seeded


@pytest.mark.slow
def test_a_tiny_cosent_run_saves_a_loadable_model(tmp_path):
    from sentence_transformers import SentenceTransformer

    pairs = kb_pairs(ENTRIES, negatives_per_positive=2) * 2
    result = finetune_encoder("m3e-small", pairs, tmp_path / "tuned", epochs=1, batch_size=8)
    assert result.pairs == len(pairs) and (tmp_path / "tuned" / "smartreply_training.json").is_file()
    assert list((tmp_path / "tuned").glob("*.safetensors")), "weights are saved as safetensors, never pickle"
    vectors = SentenceTransformer(str(tmp_path / "tuned"), device="cpu").encode(["几天发货"], normalize_embeddings=True)
    assert vectors.shape == (1, 512)
