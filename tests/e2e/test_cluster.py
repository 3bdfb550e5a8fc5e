"""The local cluster of `bash scripts/cluster.sh start 3`, for real: PostgreSQL, three `smartreply serve`
replicas with separate data folders (nothing shared but the database) and HAProxy in front.

Uploads go through HAProxy and every replica answers suggestions (fetching the index from the
database onto its empty disk); one replica is SIGKILLed and another SIGTERMed (it drains) under load
with no failed request; a revoked key is refused by every replica; the per-key rate limit holds across
replicas (HAProxy's stick table), not once per replica.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from service.cluster import free_port_run
from tests.conftest import DEMO_FAQ, REPO

pytestmark = pytest.mark.slow

REPLICAS = 3
RATE, BURST = 20, 40  # per key, across the cluster (HAProxy); each replica's own bucket is twice that
# Written by us: a small shop, so each upload builds in well under a second.
SMALL_FAQ = ("编号,标准问题,相似问题,答案,分类\n"
             "F1,什么时候发货,几天能发货|多久发出,付款后48小时内发货,发货\n"
             "F2,可以开发票吗,能开票吗|发票怎么开,可以开电子发票，下单时填写抬头即可,发票\n"
             "F3,怎么退货,退货流程是什么|我想退货,七天无理由退货，在订单页申请即可,售后\n").encode()


def _skip_without_engines() -> None:
    if shutil.which("haproxy") is None:
        pytest.skip("HAProxy is not installed (Debian's haproxy; scripts/test.sh installs it with "
                    "scripts/install_haproxy.sh, which needs apt-get as root): the cluster test needs it")
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        pytest.skip("PostgreSQL is not installed (scripts/install_postgres.sh installs it with apt-get as root): "
                    "the cluster test needs it")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    _skip_without_engines()
    directory = tmp_path_factory.mktemp("cluster")
    base = free_port_run(REPLICAS + 2)
    env = {**os.environ, "SMARTREPLY_CLUSTER_DIR": str(directory), "SMARTREPLY_CLUSTER_BASE_PORT": str(base),
           "SMARTREPLY_CLUSTER_PG_PORT": str(free_port_run(1)), "SMARTREPLY_CLUSTER_SKIP_SETUP": "1",
           "SMARTREPLY_RATE_LIMIT_PER_SECOND": str(RATE), "SMARTREPLY_RATE_LIMIT_BURST": str(BURST)}
    started = subprocess.run(["bash", "scripts/cluster.sh", "start", str(REPLICAS)], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=400)
    try:
        assert started.returncode == 0, started.stderr[-3000:]
        state = json.loads((directory / "cluster.json").read_text("utf-8"))
        assert started.stdout.strip() == state["front"] == f"http://127.0.0.1:{base}"
        state["operator_key"] = (directory / "operator-key").read_text("utf-8").strip()
        state["env"] = env
        yield state
    finally:
        if (directory / "cluster.json").exists():  # absent when the start failed (it cleans up after itself)
            stopped = subprocess.run(["bash", "scripts/cluster.sh", "stop"], cwd=REPO, env=env, capture_output=True,
                                     text=True, timeout=120)
            assert stopped.returncode == 0, stopped.stderr
            assert not (directory / "cluster.json").exists()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_the_cluster_serves_uploads_and_survives_losing_replicas(cluster):
    front, op = cluster["front"], bearer(cluster["operator_key"])
    replicas = {r["name"]: r for r in cluster["replicas"]}
    with httpx.Client(base_url=front, timeout=60) as client:
        # -- uploads through HAProxy until every replica is some shop's home ------------------------------
        homes: dict[str, str] = {}  # shop -> replica that serves it through HAProxy
        with open(DEMO_FAQ, "rb") as fh:
            r = client.post("/v1/shops/demo/kb", files={"file": (DEMO_FAQ.name, fh, "text/csv")}, headers=op)
        assert r.status_code == 201 and r.json()["version"] == 1, r.text
        for i in range(24):
            r = client.post(f"/v1/shops/small-{i}/kb", files={"file": ("faq.csv", SMALL_FAQ, "text/csv")}, headers=op)
            assert r.status_code == 201, r.text
            r = client.post(f"/v1/shops/small-{i}/suggestions", json={"message": "能开发票吗"}, headers=op)
            assert r.status_code == 200 and r.json()["suggestions"][0]["entry_id"] == "F2", r.text
            homes[f"small-{i}"] = r.headers["x-served-by"]
            if len(set(homes.values())) == REPLICAS and len(homes) >= 6:
                break
        assert set(homes.values()) == set(replicas), homes
        # Shop affinity: the same shop keeps going to the same replica, on one keep-alive connection.
        for shop, home in list(homes.items())[:4]:
            served = {client.post(f"/v1/shops/{shop}/suggestions", json={"message": "怎么退货"},
                                  headers=op).headers["x-served-by"] for _ in range(3)}
            assert served == {home}

        # -- every replica serves every shop: empty disks fetch the index from PostgreSQL -----------------
        answers = set()
        for r_ in replicas.values():
            r = httpx.post(f"{r_['url']}/v1/shops/demo/suggestions", json={"message": "啥时候能发出来"}, headers=op,
                           timeout=60)  # a cold load (fetch, ranker fit) on a busy machine
            assert r.status_code == 200, r.text
            answers.add(json.dumps(r.json()["suggestions"][0]["entry_id"]))
            cache = Path(r_["data_dir"]) / "index-cache"
            assert list(cache.glob("*/demo/v000001/index.faiss")), f"{r_['name']} has no local copy of demo v1"
            assert not (Path(r_["data_dir"]) / "indexes").exists()  # nothing but the cache on its disk
        assert len(answers) == 1
        fetched = sum(_metric(httpx.get(f"{r_['url']}/metrics").text, 'smartreply_index_fetches_total{reason="missing"}')
                      for r_ in replicas.values())
        assert fetched >= 3 * (REPLICAS - 1)  # at least the replicas that did not build demo fetched its 3 files

        # -- a revoked key is refused by every replica ------------------------------------------------------
        shop = next(iter(homes))
        key = client.post(f"/v1/shops/{shop}/keys", json={"scopes": ["agent"]}, headers=op).json()
        for r_ in replicas.values():
            assert httpx.post(f"{r_['url']}/v1/shops/{shop}/suggestions", json={"message": "怎么退货"},
                              headers=bearer(key["key"]), timeout=60).status_code == 200
        assert client.delete(f"/v1/shops/{shop}/keys/{key['id']}", headers=op).status_code in (200, 204)
        for url in [front] + [r_["url"] for r_ in replicas.values()]:
            r = httpx.post(f"{url}/v1/shops/{shop}/suggestions", json={"message": "怎么退货"}, headers=bearer(key["key"]),
                           timeout=60)
            assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized", (url, r.text)

        # (keys of the load below, made now: the operator key is about to use up its rate)
        shops = list(homes)
        keys = [client_key(front, op, shops[i % len(shops)]) for i in range(12)]  # one per worker: under RATE each

        # -- the per-key limit holds across replicas ---------------------------------------------------------
        time.sleep(2.5)  # a fresh window for the operator key
        statuses, served_by = [], Counter()
        started = time.monotonic()
        for i in range(3 * BURST):
            r = client.get(f"/v1/shops/{list(homes)[i % len(homes)]}/kb/versions", headers=op)
            statuses.append(r.status_code)
            if r.status_code == 200:
                served_by[r.headers["x-served-by"]] += 1
            else:
                assert r.status_code == 429 and r.headers["retry-after"] == "1"
                assert r.json()["error"]["code"] == "rate_limited" and "(all replicas)" in r.json()["error"]["message"]
        elapsed = time.monotonic() - started
        accepted = statuses.count(200)
        # One budget for the key, wherever its requests go: a burst plus the rate over the time it took
        # (each replica alone would have let 2 x BURST through).
        assert BURST * 0.75 <= accepted <= BURST + RATE * elapsed + 2, (accepted, elapsed)
        assert len(served_by) == REPLICAS and statuses.count(429) >= BURST

    # -- kill one replica, stop another, under load: no request fails --------------------------------------
    results: list[tuple[int | str, str]] = []
    stop = threading.Event()

    def worker(shop: str, key: str) -> None:
        with httpx.Client(base_url=front, headers=bearer(key), timeout=30) as c:
            while not stop.is_set():
                try:
                    r = c.post(f"/v1/shops/{shop}/suggestions", json={"message": "几天能发货"})
                    results.append((r.status_code, r.headers.get("x-served-by", "")))
                except httpx.TransportError as exc:
                    results.append((type(exc).__name__, f"{time.time():.3f} {exc}"))
                time.sleep(0.05)

    threads = [threading.Thread(target=worker, args=(shop, key)) for shop, key in keys]
    for t in threads:
        t.start()
    victim, stopped = sorted(replicas)[0], sorted(replicas)[1]
    try:
        time.sleep(2.0)
        os.kill(replicas[victim]["pid"], signal.SIGKILL)  # a crash: requests in flight there are retried
        killed_at = len(results)
        time.sleep(2.5)
        os.kill(replicas[stopped]["pid"], signal.SIGTERM)  # a graceful stop: it drains first
        time.sleep(0.5)
        r = httpx.get(f"{replicas[stopped]['url']}/healthz")
        assert r.status_code == 503 and r.json()["status"] == "draining"  # out of HAProxy's rotation
        assert httpx.post(f"{replicas[stopped]['url']}/v1/shops/demo/suggestions", json={"message": "可以开发票吗"},
                          headers=op, timeout=60).status_code == 200  # but still answering what reaches it
        deadline = time.monotonic() + 20
        while _alive(replicas[stopped]["pid"]):
            assert time.monotonic() < deadline, "the SIGTERMed replica did not stop"
            time.sleep(0.1)
        stopped_at = len(results)
        time.sleep(2.0)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    failures = [r for r in results if r[0] != 200]
    assert not failures, (f"{len(failures)} of {len(results)} requests failed: {Counter(failures).most_common(5)}; "
                          f"HAProxy's log:\n{_haproxy_events(cluster)}")
    assert len(results) > 50
    survivor = sorted(replicas)[2]
    assert {s for _, s in results[stopped_at:]} == {survivor}  # everything went to the last replica
    assert victim in {s for _, s in results[:killed_at]}  # and the victim served before it died
    status = subprocess.run([str(REPO / ".venv" / "bin" / "smartreply"), "cluster", "status", "--json"], cwd=REPO,
                            env=cluster["env"], capture_output=True, text=True, timeout=30)
    assert status.returncode == 1  # two replicas are down
    seen = {r["name"]: r for r in json.loads(status.stdout)["replicas"]}
    assert not seen[victim]["alive"] and not seen[stopped]["alive"] and seen[survivor]["healthz"] == 200
    assert seen[victim]["haproxy"]["status"].startswith("DOWN") and seen[survivor]["haproxy"]["status"] == "UP"


def client_key(front: str, op: dict[str, str], shop: str) -> tuple[str, str]:
    r = httpx.post(f"{front}/v1/shops/{shop}/keys", json={"scopes": ["agent"]}, headers=op, timeout=60)
    assert r.status_code == 201, r.text
    return shop, r.json()["key"]


def _haproxy_events(cluster: dict) -> str:
    """What HAProxy saw go wrong: server state changes, and requests not answered 2xx/401/429 or cut short."""
    lines = Path(cluster["haproxy"]["log"]).read_text("utf-8", "replace").splitlines()
    odd = [line for line in lines if " replicas/" in line and (line.split()[5] not in ("200", "201", "401", "429")
                                                              or line.split()[9] != "----" or "/+" in line)]
    return "\n".join([line for line in lines if line.startswith("[WARNING]")] + odd[-30:])


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0
