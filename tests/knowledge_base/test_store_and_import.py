from __future__ import annotations

import threading

import pytest

from knowledge_base.importer import import_kb_file
from knowledge_base.index import index_dir
from knowledge_base.store import KbStore
from models.errors import InvalidUpload, NoActiveKnowledgeBase, ShopNotFound

GOOD = "编号,标准问题,相似问题,答案\nA,包邮吗,免运费吗|邮费多少,全场包邮\nB,什么时候发货,几天发,48小时内发货\n"
BAD = "编号,标准问题,答案\nA,包邮吗,\n"


@pytest.fixture
def store(tmp_path, database_url):
    s = KbStore(database_url) if database_url else KbStore.for_sqlite_file(tmp_path / "db.sqlite")
    yield s
    s.close()


def test_import_creates_an_active_version_with_its_index(store, tmp_path, fake_encoder):
    result = import_kb_file(store, tmp_path / "idx", fake_encoder, "shop1", "faq.csv", GOOD.encode())
    assert (result.version, result.active, result.entries, result.phrasings) == (1, True, 2, 5)
    assert store.active_version("shop1") == 1
    assert [e.id for e in store.entries("shop1", 1)] == ["A", "B"]
    assert (index_dir(tmp_path / "idx", "shop1", 1) / "index.faiss").is_file()
    (version,) = store.list_versions("shop1")
    assert (version.status, version.active, version.encoder_id) == ("ready", True, "fake-char-ngram")
    assert version.source.startswith("faq.csv sha256:")


def test_each_import_is_a_new_version_and_entries_keep_their_ids(store, tmp_path, fake_encoder):
    import_kb_file(store, tmp_path, fake_encoder, "shop1", "a.csv", GOOD.encode())
    second = import_kb_file(store, tmp_path, fake_encoder, "shop1", "b.csv", GOOD.replace("全场包邮", "满59包邮").encode())
    assert second.version == 2 and store.active_version("shop1") == 2
    assert store.entries("shop1", 1)[0].answer == "全场包邮"  # the old version is kept for rollback
    assert store.entries("shop1", 2)[0].answer == "满59包邮"


def test_invalid_upload_stores_nothing_and_keeps_the_active_version(store, tmp_path, fake_encoder):
    import_kb_file(store, tmp_path, fake_encoder, "shop1", "a.csv", GOOD.encode())
    with pytest.raises(InvalidUpload) as info:
        import_kb_file(store, tmp_path, fake_encoder, "shop1", "bad.csv", BAD.encode())
    assert info.value.details == [{"reason": "answer is empty", "severity": "error", "row": 2, "column": "答案",
                                    "code": "missing_answer", "message_code": "problem.missing_answer", "params": {}}]
    assert store.active_version("shop1") == 1 and store.count_versions("shop1") == 1


def test_failure_while_indexing_marks_the_version_failed(store, tmp_path, fake_encoder):
    import_kb_file(store, tmp_path, fake_encoder, "shop1", "a.csv", GOOD.encode())

    class Broken:
        model_id, dim = fake_encoder.model_id, fake_encoder.dim

        def encode(self, texts, batch_size=64):
            raise RuntimeError("encoder crashed")

    with pytest.raises(RuntimeError):
        # different content: an identical upload would make no version at all
        import_kb_file(store, tmp_path, Broken(), "shop1", "b.csv", GOOD.replace("全场包邮", "满99包邮").encode())
    versions = store.list_versions("shop1")
    assert [(v.version, v.status, v.active) for v in versions] == [(1, "ready", True), (2, "failed", False)]
    assert "encoder crashed" in versions[1].note


def test_concurrent_uploads_get_distinct_versions_and_the_newest_wins(store, tmp_path, fake_encoder):
    results = []

    def upload(i):
        results.append(import_kb_file(store, tmp_path, fake_encoder, "shop1", f"{i}.csv",
                                      GOOD.replace("全场包邮", f"答案{i}").encode()))

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.version for r in results) == [1, 2, 3, 4]
    assert store.active_version("shop1") == 4
    for r in results:  # every version holds exactly the entries of the file it was made from
        file_number = store.get_version("shop1", r.version).source.split(".")[0]
        assert store.entries("shop1", r.version)[0].answer == f"答案{file_number}"


def test_unknown_shop_and_shop_without_kb(store):
    with pytest.raises(ShopNotFound):
        store.active_version("nope")
    store.ensure_shop("empty")
    with pytest.raises(NoActiveKnowledgeBase, match="no active knowledge base"):
        store.require_active_version("empty")
