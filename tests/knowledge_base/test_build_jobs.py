"""Index builds as jobs on PostgreSQL: SKIP LOCKED claims, leases, re-claims, the worker, the API."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from knowledge_base.importer import recover_interrupted_builds
from knowledge_base.index import index_dir
from knowledge_base.jobs import BuildWorker, run_build_job, submit_import
from knowledge_base.schema import FaqEntry
from knowledge_base.store import KbStore
from tests.conftest import OPERATOR_HEADERS, OPERATOR_KEY

FAQ = "编号,标准问题,相似问题,答案\nA,包邮吗,免运费吗|邮费多少,全场包邮\nB,什么时候发货,几天发货,48小时内发货\n".encode()
ENTRIES = [FaqEntry(id="A", question="包邮吗", answers=("全场包邮",), similar=("免运费吗",))]


@pytest.fixture
def store(postgres_url):
    store = KbStore(postgres_url)
    yield store
    store.close()


def queue(store: KbStore, n: int, shop: str = "s1") -> list[str]:
    ids = []
    for _ in range(n):
        job_id = uuid.uuid4().hex
        store.create_version(shop, ENTRIES, source="t", encoder_id="fake-char-ngram", job_id=job_id)
        ids.append(job_id)
    return ids


def test_a_row_locked_by_one_claimer_is_skipped_by_another(store, postgres_url):
    first, second = queue(store, 2)
    other = create_engine(postgres_url)
    with other.begin() as conn:  # replica A is in the middle of claiming the oldest job
        locked = conn.execute(text("SELECT job_id FROM kb_build_jobs ORDER BY created_at, job_id LIMIT 1 "
                                   "FOR UPDATE")).scalar_one()
        assert locked == first
        started = time.perf_counter()
        job = store.claim_build_job("replica-b", 60)  # does not wait for A's lock, takes the next one
        assert job.job_id == second and time.perf_counter() - started < 1.0
    other.dispose()
    assert store.claim_build_job("replica-b", 60).job_id == first
    assert store.claim_build_job("replica-b", 60) is None


def test_concurrent_claimers_never_take_the_same_job(store, postgres_url):
    jobs = set(queue(store, 30))
    replicas = [KbStore(postgres_url), KbStore(postgres_url)]
    claimed: list[list[str]] = [[], []]
    barrier = threading.Barrier(2)

    def claim_all(i: int) -> None:
        barrier.wait()
        while (job := replicas[i].claim_build_job(f"replica-{i}", 60)) is not None:
            claimed[i].append(job.job_id)

    threads = [threading.Thread(target=claim_all, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for r in replicas:
        r.close()
    assert not set(claimed[0]) & set(claimed[1])
    assert set(claimed[0]) | set(claimed[1]) == jobs and len(claimed[0]) + len(claimed[1]) == 30


def test_a_job_whose_worker_died_is_claimed_again_after_its_lease(store):
    [job_id] = queue(store, 1)
    t0 = 1_000_000.0
    a = store.claim_build_job("replica-a", 60, now=t0)
    assert (a.job_id, a.status, a.attempts, a.worker) == (job_id, "running", 1, "replica-a")
    assert store.claim_build_job("replica-b", 60, now=t0 + 59) is None  # lease still held
    assert store.build_job_progress(job_id, "replica-a", 1, 2, 60, now=t0 + 30)  # renewed to t0 + 90
    assert store.claim_build_job("replica-b", 60, now=t0 + 89) is None
    b = store.claim_build_job("replica-b", 60, now=t0 + 91)  # replica A stopped reporting: expired
    assert (b.job_id, b.attempts, b.worker) == (job_id, 2, "replica-b")
    # A comes back: it no longer holds the job and can neither report nor finish it.
    assert not store.build_job_progress(job_id, "replica-a", 2, 2, 60)
    assert not store.finish_build_job(job_id, "replica-a", ok=True, active=True)
    assert store.finish_build_job(job_id, "replica-b", ok=True, active=True)
    done = store.get_build_job("s1", job_id)
    assert (done.status, done.active, done.done, done.total) == ("done", True, 2, 2)


def test_a_job_that_keeps_losing_its_worker_fails_with_its_version(store):
    [job_id] = queue(store, 1)
    for attempt in range(3):
        assert store.claim_build_job(f"w{attempt}", 10, now=1000.0 + 20 * attempt).attempts == attempt + 1
    assert store.claim_build_job("w3", 10, now=2000.0) is None
    job = store.get_build_job("s1", job_id)
    assert job.status == "failed" and "stopped 3 time(s)" in job.error
    assert store.get_version("s1", job.version).status == "failed"


def test_a_replica_claims_only_versions_of_its_own_encoder(store):
    [job_id] = queue(store, 1)  # stored for "fake-char-ngram"
    assert store.claim_build_job("other-encoder-replica", 60, encoder_id="m3e-small-0123") is None
    assert store.claim_build_job("replica", 60, encoder_id="fake-char-ngram").job_id == job_id


def test_start_up_recovery_leaves_queued_and_running_jobs_alone(store, tmp_path):
    queue(store, 2)
    store.claim_build_job("replica-a", 60)
    report = recover_interrupted_builds(store, tmp_path)
    assert report.failed == [] and [v.status for v in store.list_versions("s1")] == ["building", "building"]


def test_worker_builds_activates_and_a_stale_worker_stops_quietly(store, tmp_path, fake_encoder):
    submitted = submit_import(store, fake_encoder.model_id, "s1", "faq.csv", FAQ)
    assert (submitted.version, submitted.entries, submitted.phrasings) == (1, 2, 5)
    assert store.get_build_job("s1", submitted.job_id).status == "queued"
    worker = BuildWorker(store, tmp_path, fake_encoder, lease_seconds=60)
    assert worker.run_once().job_id == submitted.job_id
    job = store.get_build_job("s1", submitted.job_id)
    assert (job.status, job.done, job.total, job.active) == ("done", 5, 5, True)
    assert store.active_version("s1") == 1 and (index_dir(tmp_path, "s1", 1) / "index.faiss").is_file()
    assert worker.run_once() is None

    # A worker whose lease expired and was taken over finds out at its next progress report.
    # an identical file would queue nothing (no_changes); this one changes an answer
    assert submit_import(store, fake_encoder.model_id, "s1", "faq.csv", FAQ).no_changes
    second = submit_import(store, fake_encoder.model_id, "s1", "faq.csv", FAQ.replace("48小时".encode(), "24小时".encode()))
    stale = store.claim_build_job("replica-a", 60, now=time.time() - 120)  # its lease is long over
    fresh = store.claim_build_job("replica-b", 60)
    assert stale.job_id == fresh.job_id == second.job_id
    assert not run_build_job(store, tmp_path, fake_encoder, stale, worker="replica-a", lease_seconds=60)
    assert store.get_version("s1", 2).status == "building"  # not failed: replica B owns it
    assert run_build_job(store, tmp_path, fake_encoder, fresh, worker="replica-b", lease_seconds=60)
    assert store.active_version("s1") == 2


def test_upload_api_waits_by_default_or_answers_202_with_a_job(postgres_url, tmp_path, fake_encoder):
    check_upload_api(tmp_path, fake_encoder, database_url=postgres_url)


def test_build_jobs_on_sqlite_give_the_same_api_and_progress(tmp_path, fake_encoder):
    """One process on SQLite with SMARTREPLY_BUILD_JOBS=on: upload progress through the same job API."""
    check_upload_api(tmp_path, fake_encoder, build_jobs="on")


def check_upload_api(tmp_path, fake_encoder, **settings) -> None:
    from service.app import create_app
    from service.config import Settings
    from service.runtime import Runtime

    runtime = Runtime(Settings(operator_key=OPERATOR_KEY, data_dir=tmp_path, build_poll_seconds=0.05, **settings), encoder=fake_encoder)
    assert runtime.uploads.jobs
    with TestClient(create_app(runtime=runtime), headers=OPERATOR_HEADERS) as client:
        files = {"file": ("faq.csv", FAQ, "text/csv")}
        r = client.post("/v1/shops/s1/kb", files=files)
        assert r.status_code == 201, r.text
        assert {k: r.json()[k] for k in ("version", "active", "entries", "phrasings")} == {
            "version": 1, "active": True, "entries": 2, "phrasings": 5}

        # a changed answer: the same file again would make no version at all
        changed = {"file": ("faq.csv", FAQ.replace("48小时".encode(), "24小时".encode()), "text/csv")}
        r = client.post("/v1/shops/s1/kb", params={"wait": "false"}, files=changed)
        assert r.status_code == 202, r.text
        job = r.json()
        assert job["version"] == 2 and job["status"] in ("queued", "running", "done")
        assert r.headers["Location"] == f"/v1/shops/s1/kb/jobs/{job['job_id']}"
        deadline = time.monotonic() + 10
        while job["status"] not in ("done", "failed") and time.monotonic() < deadline:
            time.sleep(0.05)
            job = client.get(f"/v1/shops/s1/kb/jobs/{job['job_id']}").json()
        assert (job["status"], job["done"], job["total"], job["active"], job["attempts"]) == ("done", 5, 5, True, 1)
        assert client.get("/v1/shops/s1/kb/versions").json()["active_version"] == 2
        r = client.get("/v1/shops/s1/kb/jobs/0123abcd")
        assert r.status_code == 404 and r.json()["error"]["code"] == "item_not_found"
