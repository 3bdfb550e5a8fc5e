from __future__ import annotations

import json

import numpy as np
import pytest

from knowledge_base.index import build_index, index_dir, load_index, save_index
from knowledge_base.schema import FaqEntry
from models.errors import ArtifactMismatch, NotFound

ENTRIES = [
    FaqEntry(id="ship", question="什么时候发货", similar=("几天发货", "多久能发出"), answers=("48小时内发货",)),
    FaqEntry(id="invoice", question="可以开发票吗", similar=("能开票吗",), answers=("可以",)),
    FaqEntry(id="old", question="双11活动还有吗", answers=("已结束",), enabled=False),
]


def test_index_holds_every_phrasing_of_enabled_entries(fake_encoder):
    idx = build_index("s1", 1, ENTRIES, fake_encoder)
    assert idx.size == 5
    assert [(p.entry_id, p.text, p.is_standard) for p in idx.phrasings] == [
        ("ship", "什么时候发货", True), ("ship", "几天发货", False), ("ship", "多久能发出", False),
        ("invoice", "可以开发票吗", True), ("invoice", "能开票吗", False),
    ]


def test_search_matches_brute_force_numpy(fake_encoder):
    idx = build_index("s1", 1, ENTRIES, fake_encoder)
    query = fake_encoder.encode(["开票吗", "发货"])
    scores, ids = idx.search(query, 3)
    matrix = fake_encoder.encode([p.text for p in idx.phrasings])
    expected = query @ matrix.T
    for row in range(2):
        order = np.argsort(-expected[row], kind="stable")[:3]
        np.testing.assert_allclose(scores[row], expected[row][order], rtol=1e-5)
        assert set(ids[row]) == set(order)


def test_save_load_round_trip(tmp_path, fake_encoder):
    idx = build_index("s1", 7, ENTRIES, fake_encoder)
    path = save_index(tmp_path, idx)
    assert path == index_dir(tmp_path, "s1", 7)
    assert sorted(p.name for p in path.iterdir()) == ["index.faiss", "manifest.json", "phrasings.json"]
    assert [p.name for p in path.parent.iterdir()] == ["v000007"]  # no temp folder left behind
    loaded = load_index(tmp_path, "s1", 7, encoder_id=fake_encoder.model_id)
    assert loaded.phrasings == idx.phrasings
    q = fake_encoder.encode(["能开票吗"])
    np.testing.assert_array_equal(loaded.search(q, 2)[1], idx.search(q, 2)[1])
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["encoder_id"] == "fake-char-ngram" and manifest["count"] == 5 and manifest["dim"] == 64


def test_load_refuses_index_of_another_encoder(tmp_path, fake_encoder):
    save_index(tmp_path, build_index("s1", 1, ENTRIES, fake_encoder))
    with pytest.raises(ArtifactMismatch, match="built with encoder 'fake-char-ngram'"):
        load_index(tmp_path, "s1", 1, encoder_id="m3e-small@abc")
    with pytest.raises(NotFound, match="no index for shop 's1' version 2"):
        load_index(tmp_path, "s1", 2, encoder_id=fake_encoder.model_id)


def test_empty_index_search_returns_nothing(fake_encoder):
    idx = build_index("s1", 1, [ENTRIES[2]], fake_encoder)
    scores, ids = idx.search(fake_encoder.encode(["x"]), 3)
    assert ids.shape == (1, 0)


@pytest.mark.parametrize("name, damage", [("index.faiss", b"\x00" * 10), ("phrasings.json", b"[{"),
                                          ("manifest.json", b"")])
def test_a_damaged_index_file_is_named_with_what_to_do(tmp_path, fake_encoder, name, damage):
    from models.errors import IndexDamaged

    path = save_index(tmp_path, build_index("s1", 1, ENTRIES, fake_encoder))
    (path / name).write_bytes(damage)
    with pytest.raises(IndexDamaged) as caught:
        load_index(tmp_path, "s1", 1, encoder_id=fake_encoder.model_id)
    assert name in caught.value.message and "smartreply kb activate" in caught.value.message
    assert caught.value.code == "index_damaged"
