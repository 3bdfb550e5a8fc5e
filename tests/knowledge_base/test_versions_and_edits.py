"""Single-entry edits (incremental index), diff, rollback, partial imports and crash recovery."""

from __future__ import annotations

import numpy as np
import pytest

from knowledge_base.editing import diff_entries
from knowledge_base.index import build_index, index_dir, load_index
from knowledge_base.manager import KnowledgeBase
from knowledge_base.tablefile import ParseLimits
from knowledge_base.store import KbStore
from models.errors import InvalidItem, InvalidUpload, ItemNotFound, VersionNotActivatable
from tests.kb_files import synthetic_faq_csv

GOOD = "编号,标准问题,相似问题,答案\nA,包邮吗,免运费吗|邮费多少,全场包邮\nB,什么时候发货,几天发,48小时内发货\n"


@pytest.fixture
def kb(tmp_path, fake_encoder):
    store = KbStore.for_sqlite_file(tmp_path / "db.sqlite")
    yield KnowledgeBase(store, tmp_path / "idx", fake_encoder, ParseLimits())
    store.close()


def test_edits_embed_only_the_changed_phrasings_and_match_a_full_rebuild(kb, fake_encoder):
    kb.import_file("s", "big.csv", synthetic_faq_csv(100))  # 800 phrasings
    before = fake_encoder.texts_encoded
    result = kb.update_entry("s", "G-00007", {"similar": ["新的问法一", "新的问法二"], "answers": ["新答案"]})
    assert (result.version, result.base_version, result.embedded) == (2, 1, 2)
    assert fake_encoder.texts_encoded - before == 2  # not 800: no full re-embed
    derived = load_index(kb.index_root, "s", 2, encoder_id=fake_encoder.model_id)
    full = build_index("s", 2, kb.store.entries("s", 2), fake_encoder)
    assert derived.phrasings == full.phrasings  # FAISS ids == positions in phrasings.json
    np.testing.assert_array_equal(derived.vectors(), full.vectors())

    before = fake_encoder.texts_encoded
    assert kb.update_entry("s", "G-00008", {"enabled": False}).embedded == 0
    assert kb.delete_entry("s", "G-00009").embedded == 0
    added = kb.add_entry("s", question="全新的问题", answers=["全新的答案"], similar=["另一个问法"])
    assert added.embedded == 2 and fake_encoder.texts_encoded - before == 2
    assert added.entry.id.startswith("q-") and added.version == 5
    assert kb.update_entry("s", "G-00008", {"enabled": True}).embedded == 8  # its phrasings come back
    assert kb.store.active_version("s") == 6


def test_edits_are_validated_like_file_rows(kb):
    kb.import_file("s", "a.csv", GOOD.encode())
    with pytest.raises(InvalidItem) as info:
        kb.add_entry("s", question="运费怎么算", answers=["加微信 abc12345 详聊"], similar=["邮费多少", "a|b"])
    assert sorted(p["code"] for p in info.value.details) == ["compliance", "separator"]
    with pytest.raises(InvalidItem) as info:
        kb.add_entry("s", question="运费怎么算", answers=["满59包邮"], similar=["邮费多少"])
    assert [(p["code"], p["column"]) for p in info.value.details] == [("conflict", "similar")]
    with pytest.raises(InvalidItem, match="1 problem"):
        kb.add_entry("s", entry_id="A", question="另一个", answers=["x"])
    with pytest.raises(ItemNotFound, match="'Z' is not in the active version"):
        kb.update_entry("s", "Z", {"enabled": False})
    with pytest.raises(InvalidItem):
        kb.update_entry("s", "A", {"answers": []})
    assert kb.store.count_versions("s") == 1  # nothing stored by a refused edit


def test_diff_reports_added_changed_removed(kb):
    kb.import_file("s", "a.csv", GOOD.encode())
    kb.import_file("s", "b.csv", GOOD.replace("全场包邮", "满59包邮").replace("B,什么时候发货,几天发,48小时内发货",
                                                                        "C,可以开发票吗,,可以").encode())
    old, new, diff = kb.diff("s", 1)
    assert (old, new) == (1, 2)
    assert [e.id for e in diff.added] == ["C"] and [e.id for e in diff.removed] == ["B"]
    assert [(c.entry_id, c.fields) for c in diff.changed] == [("A", ("answers",))] and diff.unchanged == 0
    assert diff_entries(kb.store.entries("s", 1), kb.store.entries("s", 1)).unchanged == 2


def test_rollback_activates_an_old_version_and_refuses_failed_or_missing_ones(kb, tmp_path):
    kb.import_file("s", "a.csv", GOOD.encode())
    kb.import_file("s", "b.csv", GOOD.replace("全场包邮", "满59包邮").encode())
    assert kb.activate("s", 1).active and kb.store.active_version("s") == 1
    edit = kb.update_entry("s", "B", {"answers": ["24小时内发货"]})  # edits apply to the active version
    assert edit.base_version == 1 and kb.store.entries("s", edit.version)[0].answer == "全场包邮"
    kb.store.mark_failed("s", 2, "test")
    with pytest.raises(VersionNotActivatable, match="is failed"):
        kb.activate("s", 2)
    import shutil

    shutil.rmtree(index_dir(tmp_path / "idx", "s", 1))
    with pytest.raises(VersionNotActivatable, match="cannot be served"):
        kb.activate("s", 1)


def test_partial_import_keeps_valid_rows_and_reports_the_rest(kb):
    text = GOOD + "C,,x,答\nD,电话,,打13812345678\n"
    with pytest.raises(InvalidUpload, match="2 problem"):
        kb.import_file("s", "a.csv", text.encode())
    result = kb.import_file("s", "a.csv", text.encode(), mode="partial")
    assert (result.entries, result.skipped_rows) == (2, 2)
    assert [(p.row, p.code) for p in result.skipped] == [(4, "missing_question"), (5, "compliance")]
    assert kb.version("s", 1).note == "partial import: 2 row(s) with errors left out"
    with pytest.raises(InvalidUpload, match="no valid entries"):
        kb.import_file("s", "b.csv", "标准问题,答案\n,x\n".encode(), mode="partial")


def test_recovery_fails_dead_builds_and_removes_their_files(kb, tmp_path, fake_encoder):
    kb.import_file("s", "a.csv", GOOD.encode())
    entries = kb.store.entries("s", 1)
    dead = kb.store.create_version("s", entries, source="x", encoder_id="e", builder=("this-host", 999_999))
    live = kb.store.create_version("s", entries, source="x", encoder_id="e", builder=("this-host", 4242))
    remote = kb.store.create_version("s", entries, source="x", encoder_id="e", builder=("other-host", 1))
    root = tmp_path / "idx" / "s"
    for name in (f".v{dead:06d}.abc", f".v{live:06d}.def", f"v{dead:06d}"):
        (root / name).mkdir()
    from knowledge_base.importer import recover_interrupted_builds

    report = recover_interrupted_builds(kb.store, tmp_path / "idx", host="this-host", pid=1,
                                        is_alive=lambda pid: pid == 4242)
    assert report.failed == [("s", dead)] and report.live == [("s", live), ("s", remote)]
    assert sorted(p.name for p in root.iterdir()) == [f".v{live:06d}.def", "v000001"]
    statuses = {v.version: (v.status, v.note[:10]) for v in kb.versions("s")}
    assert statuses[dead] == ("failed", "abandoned:") and statuses[live][0] == "building"
    assert kb.store.active_version("s") == 1


def test_reindex_after_an_encoder_switch_embeds_the_active_entries_again(kb, tmp_path):
    from models.errors import ArtifactMismatch
    from tests.fakes import CharNgramEncoder

    kb.import_file("s", "good.csv", GOOD.encode())
    kb.update_entry("s", "B", {"enabled": False})  # v2, the active one: B is disabled there
    other = CharNgramEncoder(dim=32, model_id="other-encoder")
    switched = KnowledgeBase(kb.store, kb.index_root, other, ParseLimits())
    with pytest.raises(ArtifactMismatch, match="smartreply kb reindex --shop s"):
        load_index(kb.index_root, "s", 2, encoder_id=other.model_id)

    before, result = switched.reindex("s")
    assert (before.version, before.encoder_id) == (2, kb.encoder.model_id)
    assert result.version == 3 and kb.store.active_version("s") == 3
    version = kb.store.get_version("s", 3)
    assert version.encoder_id == "other-encoder" and version.source == "reindex of v2"
    assert kb.store.entries("s", 3) == kb.store.entries("s", 2)  # same entries, B still disabled
    index = load_index(kb.index_root, "s", 3, encoder_id="other-encoder")
    assert index.dim == 32 and index.size == 3  # A's three phrasings; disabled B is not indexed
    # Built by this encoder already: nothing to do.
    assert switched.reindex("s") == (kb.store.get_version("s", 3), None)
