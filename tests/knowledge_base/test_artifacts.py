"""Index files in the database, cached on each replica's disk (knowledge_base/artifacts.py): written with
the version in one transaction, fetched by a replica whose disk lacks them, refetched when damaged."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest
from sqlalchemy import select, update

from knowledge_base import store as store_module
from knowledge_base.artifacts import INDEX_FILES, Fetch, index_artifacts, load_version, local_index
from knowledge_base.importer import activate_version, edit_kb, import_kb_file
from knowledge_base.editing import add_entry, clean_entry
from knowledge_base.index import index_dir, load_index
from knowledge_base.tablefile import ParseLimits
from knowledge_base.store import ArtifactFile, KbStore
from knowledge_base.tables import kb_artifact_chunks, kb_artifacts
from models.errors import ArtifactMismatch, IndexDamaged, NotFound

FAQ = "编号,标准问题,相似问题,答案\nA,包邮吗,免运费吗|邮费多少,全场包邮\nB,什么时候发货,几天发货|多久发货,48小时内发货\n"
FAQ2 = FAQ.replace("全场包邮", "满59包邮")


@pytest.fixture
def db_url(tmp_path, database_url) -> str:
    """SQLite (told to keep the files, as PostgreSQL does by default) or a fresh PostgreSQL database."""
    return database_url or f"sqlite:///{tmp_path / 'kb.db'}"


def replica(db_url: str) -> KbStore:
    return KbStore(db_url, artifacts="database")


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_postgresql_keeps_the_files_by_default_and_sqlite_does_not(tmp_path, postgres_url):
    assert KbStore(postgres_url).keeps_artifacts
    assert not KbStore.for_sqlite_file(tmp_path / "a.db").keeps_artifacts
    assert KbStore.for_sqlite_file(tmp_path / "b.db", artifacts="database").keeps_artifacts
    assert not KbStore(postgres_url, artifacts="files").keeps_artifacts


def test_a_replica_with_an_empty_disk_fetches_the_version_and_serves_the_same_index(tmp_path, db_url, fake_encoder):
    a, b = replica(db_url), replica(db_url)
    result = import_kb_file(a, tmp_path / "a", fake_encoder, "s1", "faq.csv", FAQ.encode())
    built = index_dir(tmp_path / "a", "s1", 1)
    stored = a.artifacts("s1", 1)
    assert [f.name for f in stored] == sorted(INDEX_FILES)
    assert {f.name: f.sha256 for f in stored} == {name: sha(built / name) for name in INDEX_FILES}
    assert all(f.encoder_id == fake_encoder.model_id for f in stored)

    fetched: list[Fetch] = []
    index = load_version(b, tmp_path / "b", "s1", 1, encoder_id=fake_encoder.model_id, on_fetch=fetched.append)
    assert sorted((f.name, f.reason, f.bytes) for f in fetched) == sorted(
        (name, "missing", (built / name).stat().st_size) for name in INDEX_FILES)
    copy = index_dir(tmp_path / "b", "s1", 1)
    assert {name: sha(copy / name) for name in INDEX_FILES} == {name: sha(built / name) for name in INDEX_FILES}
    original = load_index(tmp_path / "a", "s1", 1, encoder_id=fake_encoder.model_id)
    assert index.phrasings == original.phrasings and result.phrasings == index.size == 6
    np.testing.assert_array_equal(index.vectors(), original.vectors())
    assert not list(copy.glob(".*.part"))  # no temporary file left behind

    fetched.clear()  # the second load finds every file in place and verified
    load_version(b, tmp_path / "b", "s1", 1, encoder_id=fake_encoder.model_id, on_fetch=fetched.append)
    assert fetched == []


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "delete"])
def test_a_damaged_local_file_is_fetched_again(tmp_path, db_url, fake_encoder, damage):
    a = replica(db_url)
    import_kb_file(a, tmp_path / "a", fake_encoder, "s1", "faq.csv", FAQ.encode())
    path = index_dir(tmp_path / "a", "s1", 1) / "index.faiss"
    good = path.read_bytes()
    if damage == "flip a byte":
        path.write_bytes(good[:-9] + bytes([good[-9] ^ 0xFF]) + good[-8:])  # a vector component: still "readable"
    elif damage == "truncate":
        path.write_bytes(good[: len(good) // 2])
    else:
        path.unlink()
    fetched: list[Fetch] = []
    index = load_version(a, tmp_path / "a", "s1", 1, encoder_id=fake_encoder.model_id, on_fetch=fetched.append)
    assert [(f.name, f.reason) for f in fetched] == [("index.faiss", "missing" if damage == "delete" else "damaged")]
    assert path.read_bytes() == good and index.size == 6


def test_the_files_are_stored_in_the_transaction_that_makes_the_version_ready(tmp_path, db_url, fake_encoder,
                                                                                monkeypatch):
    a = replica(db_url)
    import_kb_file(a, tmp_path / "a", fake_encoder, "s1", "faq.csv", FAQ.encode())

    # Storing v2's files fails half-way (one of them changed after it was hashed): nothing of v2 is kept.
    def changed_after_hashing(store, folder):
        files = index_artifacts(store, folder)
        (folder / "phrasings.json").write_text("[]", "utf-8")
        return files

    monkeypatch.setattr("knowledge_base.importer.index_artifacts", changed_after_hashing)
    with pytest.raises(ValueError, match="changed while it was stored"):
        import_kb_file(a, tmp_path / "a", fake_encoder, "s1", "faq.csv", FAQ2.encode())
    assert a.active_version("s1") == 1
    assert [(v.version, v.status) for v in a.list_versions("s1")] == [(1, "ready"), (2, "failed")]
    assert a.artifacts("s1", 2) == []
    with a.engine.connect() as conn:
        assert conn.execute(select(kb_artifact_chunks.c.seq).where(kb_artifact_chunks.c.version == 2)).all() == []


def test_a_version_cannot_become_ready_without_its_files_when_the_database_keeps_them(tmp_path, db_url):
    a = replica(db_url)
    version = a.create_version("s1", [], source="t", encoder_id="e")
    with pytest.raises(ValueError, match="none were given"):
        a.activate("s1", version)
    assert a.get_version("s1", version).status == "building" and a.active_version("s1") is None


def test_large_files_are_stored_in_chunks_and_read_back_whole(tmp_path, db_url, fake_encoder, monkeypatch):
    monkeypatch.setattr(store_module, "ARTIFACT_CHUNK_BYTES", 500)
    a, b = replica(db_url), replica(db_url)
    import_kb_file(a, tmp_path / "a", fake_encoder, "s1", "faq.csv", FAQ.encode())
    faiss_file = index_dir(tmp_path / "a", "s1", 1) / "index.faiss"
    with a.engine.connect() as conn:
        chunks = conn.execute(select(kb_artifacts.c.chunks).where(kb_artifacts.c.name == "index.faiss")).scalar_one()
    assert chunks == -(-faiss_file.stat().st_size // 500) > 2
    load_version(b, tmp_path / "b", "s1", 1, encoder_id=fake_encoder.model_id)
    assert (index_dir(tmp_path / "b", "s1", 1) / "index.faiss").read_bytes() == faiss_file.read_bytes()


def test_a_damaged_database_copy_is_refused_by_name_and_nothing_is_put_in_place(tmp_path, db_url, fake_encoder):
    a, b = replica(db_url), replica(db_url)
    import_kb_file(a, tmp_path / "a", fake_encoder, "s1", "faq.csv", FAQ.encode())
    with a.engine.begin() as conn:
        conn.execute(update(kb_artifact_chunks).where(kb_artifact_chunks.c.name == "phrasings.json")
                     .values(data=b"[]"))
    with pytest.raises(IndexDamaged, match="database's copy of phrasings.json of shop 's1' version 1 is damaged"):
        load_version(b, tmp_path / "b", "s1", 1, encoder_id=fake_encoder.model_id)
    folder = index_dir(tmp_path / "b", "s1", 1)
    assert not (folder / "phrasings.json").exists() and not list(folder.glob(".*.part"))


def test_another_encoders_version_is_refused_before_anything_is_downloaded(tmp_path, db_url, fake_encoder):
    a, b = replica(db_url), replica(db_url)
    import_kb_file(a, tmp_path / "a", fake_encoder, "s1", "faq.csv", FAQ.encode())
    with pytest.raises(ArtifactMismatch, match="built with encoder 'fake-char-ngram' but this replica runs 'other'"):
        load_version(b, tmp_path / "b", "s1", 1, encoder_id="other")
    assert not (tmp_path / "b").exists()


def test_edits_and_rollbacks_work_on_a_replica_that_never_built_the_version(tmp_path, db_url, fake_encoder):
    a, b = replica(db_url), replica(db_url)
    import_kb_file(a, tmp_path / "a", fake_encoder, "s1", "faq.csv", FAQ.encode())
    entry, problems = clean_entry(question="可以开发票吗", answers=["可以开电子发票"], similar=["能开票吗"])
    edit = edit_kb(b, tmp_path / "b", fake_encoder, "s1", lambda entries: add_entry(entries, entry, problems, ParseLimits()))
    assert edit.version == 2 and edit.embedded == 2  # derived from v1 fetched from the database, not rebuilt
    assert {f.name for f in b.artifacts("s1", 2)} == set(INDEX_FILES)
    # replica A rolls back to v1 and forward to v2, which it never built: fetched, checked, activated
    activate_version(a, tmp_path / "a", fake_encoder.model_id, "s1", 2)
    assert a.active_version("s1") == 2 and (index_dir(tmp_path / "a", "s1", 2) / "index.faiss").is_file()


def test_a_version_built_before_the_database_kept_files_is_published_by_a_replica_that_has_them(
        tmp_path, db_url, fake_encoder):
    old = KbStore(db_url, artifacts="files")  # the shared-volume deployment before this change
    import_kb_file(old, tmp_path / "shared", fake_encoder, "s1", "faq.csv", FAQ.encode())
    assert old.artifacts("s1", 1) == []
    a, b = replica(db_url), replica(db_url)
    with pytest.raises(NotFound, match="no index files in the database nor at"):
        load_version(b, tmp_path / "b", "s1", 1, encoder_id=fake_encoder.model_id)
    load_version(a, tmp_path / "shared", "s1", 1, encoder_id=fake_encoder.model_id)  # has them: stores them
    assert {f.name for f in a.artifacts("s1", 1)} == set(INDEX_FILES)
    assert load_version(b, tmp_path / "b", "s1", 1, encoder_id=fake_encoder.model_id).size == 6
    assert not a.add_artifacts("s1", 1, fake_encoder.model_id, index_artifacts(a, index_dir(tmp_path / "b", "s1", 1)))


def test_without_files_in_the_database_the_local_folder_is_the_only_copy(tmp_path, fake_encoder):
    store = KbStore.for_sqlite_file(tmp_path / "kb.db")
    import_kb_file(store, tmp_path / "idx", fake_encoder, "s1", "faq.csv", FAQ.encode())
    assert store.artifacts("s1", 1) == [] and index_artifacts(store, index_dir(tmp_path / "idx", "s1", 1)) == []
    assert local_index(store, tmp_path / "idx", "s1", 1, encoder_id=fake_encoder.model_id) == []
    os.remove(index_dir(tmp_path / "idx", "s1", 1) / "manifest.json")
    with pytest.raises(NotFound):
        load_version(store, tmp_path / "idx", "s1", 1, encoder_id=fake_encoder.model_id)


def test_artifact_rows_describe_what_was_stored(tmp_path, db_url, fake_encoder):
    a = replica(db_url)
    import_kb_file(a, tmp_path / "a", fake_encoder, "s1", "faq.csv", FAQ.encode())
    folder = index_dir(tmp_path / "a", "s1", 1)
    assert a.artifacts("s1", 1) == [
        ArtifactFile(name=name, size=(folder / name).stat().st_size, sha256=sha(folder / name),
                     encoder_id=fake_encoder.model_id) for name in sorted(INDEX_FILES)]
