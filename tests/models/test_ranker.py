from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models.ranker import FEATURES, EntryRanker, char_grams

TOPICS = {
    "ship": ["什么时候发货", "几天能发货", "多久发出", "今天能发吗", "发货要几天"],
    "refund": ["退款到哪了", "退款进度", "钱退了没", "退款怎么还没到", "退款多久到账"],
    "invoice": ["可以开发票吗", "能开票吗", "发票怎么开", "开个发票", "电子发票有吗"],
    "size": ["尺码怎么选", "我穿多大码", "偏大还是偏小", "身高170穿什么码", "码数标准吗"],
}


@pytest.fixture
def shop(fake_encoder):
    texts, entry = [], []
    for e, phrasings in enumerate(TOPICS.values()):
        texts += phrasings
        entry += [e] * len(phrasings)
    return EntryRanker(fake_encoder.encode(texts), entry, texts, list(TOPICS)), texts


def test_features_match_brute_force(shop, fake_encoder):
    ranker, texts = shop
    q = fake_encoder.encode(["退款多久能到"])[0]
    x, best = ranker.feature_matrix(q, "退款多久能到", np.arange(4))
    for e in range(4):
        rows = [i for i, r in enumerate(ranker.phrasing_entry) if r == e]
        sims = np.array([ranker.vectors[i] @ q for i in rows])
        centroid = ranker.vectors[rows].sum(0)
        assert x[e, FEATURES.index("dense_max")] == pytest.approx(sims.max(), abs=1e-5)
        assert x[e, FEATURES.index("dense_knn")] == pytest.approx(np.sort(sims)[::-1][:3].mean(), abs=1e-5)
        assert x[e, FEATURES.index("centroid")] == pytest.approx(centroid @ q / np.linalg.norm(centroid), abs=1e-5)
        assert best[e] == rows[int(np.argmax(sims))]
    assert x[:, FEATURES.index("gap_max")].max() == 0


def test_lexical_feature_is_idf_weighted_overlap(shop):
    ranker, _ = shop
    grams = char_grams("退款！ 多久")
    assert set(grams) == {"退", "款", "多", "久", "退款", "款多", "多久"}
    assert list(grams) == sorted(grams)


def test_features_do_not_depend_on_the_hash_seed(tmp_path):
    """A restarted server must score a message exactly as before (the SIGKILL test compares answers)."""
    script = (  # the demo shop's 92 entries: enough grams per row for the sum order to matter
        "import csv, hashlib\n"
        "import numpy as np\n"
        "from models.ranker import EntryRanker\n"
        "texts, owner = [], []\n"
        "for i, row in enumerate(csv.DictReader(open('knowledge_base/demo/demo_shop.csv', encoding='utf-8-sig'))):\n"
        "    for t in [row['标准问题'], *row['相似问题'].split('|')]:\n"
        "        texts.append(t); owner.append(i)\n"
        "v = np.random.default_rng(0).normal(size=(len(texts), 8)).astype(np.float32)\n"
        "v /= np.linalg.norm(v, axis=1, keepdims=True)\n"
        "r = EntryRanker(v, owner, texts, [str(i) for i in range(owner[-1] + 1)])\n"
        "x, _ = r.feature_matrix(v[3], '买了多久发出', np.arange(owner[-1] + 1))\n"
        "print(hashlib.sha256(x.tobytes()).hexdigest())\n"
    )
    outputs = set()
    for seed in ("1", "2", "3", "4", "5", "6"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                              check=True, cwd=Path(__file__).resolve().parents[2])
        outputs.add(done.stdout)
    assert len(outputs) == 1


def test_leave_one_out_excludes_the_query_phrasing(shop):
    ranker, texts = shop
    p = 0  # "什么时候发货" of entry 0
    x, best = ranker.feature_matrix(ranker.vectors[p], texts[p], np.array([0]), exclude=p)
    assert best[0] != p and x[0, FEATURES.index("dense_max")] < 0.999


def test_fit_learns_and_confidences_form_a_distribution_with_abstention(shop, fake_encoder):
    ranker, texts = shop
    fit = ranker.fit(texts)
    assert fit.learned and fit.train_hit1 > 0.5
    q = fake_encoder.encode(["退款到账要多久"])[0]
    ranked = ranker.rank(q, "退款到账要多久", np.arange(len(texts)))
    assert ranked[0].entry == list(TOPICS).index("refund")
    total = sum(c.confidence for c in ranked)
    assert 0 < total < 1  # the rest is "none of these"
    unrelated = ranker.rank(fake_encoder.encode(["哈哈哈哈"])[0], "哈哈哈哈", np.arange(len(texts)))
    assert unrelated[0].confidence < ranked[0].confidence


def test_weights_round_trip_as_json(shop):
    ranker, texts = shop
    ranker.fit(texts)
    other = EntryRanker(ranker.vectors, ranker.phrasing_entry, texts, ranker.entry_ids)
    assert other.load_weights(ranker.to_json())
    np.testing.assert_allclose(other.weights, ranker.weights, rtol=1e-5)
    assert other.null_logit == pytest.approx(ranker.null_logit, rel=1e-5)
    fewer = EntryRanker(ranker.vectors, ranker.phrasing_entry, texts, ranker.entry_ids, features=FEATURES[:3])
    assert not fewer.load_weights(ranker.to_json())  # weights of another feature set are refused


def test_a_message_equal_to_a_listed_phrasing_ranks_its_entry_first(shop, fake_encoder):
    ranker, texts = shop
    ranker.fit(texts)
    ranked = ranker.rank(fake_encoder.encode(["开个发票"])[0], "开个发票", np.arange(0))  # even if not retrieved
    assert ranked[0].entry == list(TOPICS).index("invoice") and ranked[0].confidence >= 0.95


def test_saved_lexicon_gives_the_same_features(shop, fake_encoder):
    ranker, texts = shop
    buf = io.BytesIO()
    np.savez(buf, **ranker.lexicon())
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as data:
        lexicon = {k: data[k] for k in data.files}
    again = EntryRanker(ranker.vectors, ranker.phrasing_entry, texts, ranker.entry_ids, lexicon=lexicon)
    assert again.idf == ranker.idf
    for message in ["退款多久能到", "尺码偏大吗", "完全无关的话"]:
        q = fake_encoder.encode([message])[0]
        assert np.array_equal(again.feature_matrix(q, message, np.arange(4))[0],
                              ranker.feature_matrix(q, message, np.arange(4))[0])
    # Tables of another phrasing list are not used (rebuilt instead).
    other = EntryRanker(ranker.vectors[:-1], ranker.phrasing_entry[:-1], texts[:-1], ranker.entry_ids, lexicon=lexicon)
    assert other._gram_matrix.shape[0] == len(texts) - 1


def test_prior_is_the_same_for_a_held_out_pseudo_query(fake_encoder):
    texts = ["发货", "几天发货", "多久发", "退款", "包邮吗"]
    ranker = EntryRanker(fake_encoder.encode(texts), [0, 0, 0, 1, 2], texts, ["ship", "refund", "post"])
    col = FEATURES.index("prior")
    x, _ = ranker.feature_matrix(ranker.vectors[0], texts[0], np.array([0, 1]))
    assert np.allclose(x[:, col], [1.0, np.log(2) / np.log(4)])
    # Reducing it for the held-out phrasing's entry would give the right answer away while learning.
    held_out, _ = ranker.feature_matrix(ranker.vectors[0], texts[0], np.array([0, 1]), exclude=0)
    assert np.array_equal(held_out[:, col], x[:, col])
