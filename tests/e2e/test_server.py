"""The product end to end: a real server, the real m3e-small ONNX encoder, the demo FAQ over HTTP."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.conftest import DEMO_FAQ, PARAPHRASES
from tests.e2e.server import OPERATOR_HEADERS, running_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory, real_encoder):  # real_encoder: makes sure the ONNX export exists
    with running_server(tmp_path_factory.mktemp("server")) as (base, log):
        yield base


@pytest.fixture(scope="module")
def uploaded(server):
    with open(DEMO_FAQ, "rb") as fh:
        r = httpx.post(f"{server}/v1/shops/shop-e2e/kb", files={"file": (DEMO_FAQ.name, fh, "text/csv")}, headers=OPERATOR_HEADERS, timeout=120)
    assert r.status_code == 201, r.text
    return r.json()


def ask(server: str, message: str, top_k: int = 3) -> dict:
    r = httpx.post(f"{server}/v1/shops/shop-e2e/suggestions", json={"message": message, "top_k": top_k}, headers=OPERATOR_HEADERS, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def test_upload_reports_counts(uploaded):
    assert uploaded["version"] == 1 and uploaded["active"] is True
    assert uploaded["entries"] >= 60
    assert uploaded["phrasings"] > 4 * uploaded["enabled_entries"]


@pytest.mark.parametrize(("message", "gold"), [
    ("啥时候能发出来", "FAQ-003"),
    ("衣服小了能换大一码吗", "FAQ-024"),
])
def test_unseen_paraphrases_rank_the_right_entry_first(server, uploaded, message, gold):
    body = ask(server, message)
    top = body["suggestions"][0]
    assert top["entry_id"] == gold, body
    assert top["source"] == "kb" and top["confidence"] >= 0.5 and body["abstained"] is False
    answers = [s["answer"] for s in body["suggestions"]]
    assert len(set(answers)) == len(answers)  # never two suggestions with the same reply


def test_held_out_paraphrases_mostly_rank_first(server, uploaded):
    """Every paraphrase the team wrote (none is in the FAQ): most must be answered by the right entry."""
    rows = [json.loads(line) for line in PARAPHRASES.read_text("utf-8").splitlines() if line.strip()]
    ranks = []
    for row in rows:
        ids = [s["entry_id"] for s in ask(server, row["query"], top_k=3)["suggestions"]]
        ranks.append(ids.index(row["gold_entry_id"]) + 1 if row["gold_entry_id"] in ids else None)
    hit1 = sum(r == 1 for r in ranks) / len(ranks)
    hit3 = sum(r is not None for r in ranks) / len(ranks)
    print(f"demo paraphrases: n={len(ranks)} hit@1={hit1:.3f} hit@3={hit3:.3f}")
    assert hit1 >= 0.75 and hit3 >= 0.9, (hit1, hit3)


def test_disabled_entries_are_never_suggested(server, uploaded):
    body = ask(server, "双11活动还有吗", top_k=10)
    assert not {"FAQ-053", "FAQ-054"} & {s["entry_id"] for s in body["suggestions"]}


def test_health_names_the_real_encoder(server):
    body = httpx.get(f"{server}/healthz", headers=OPERATOR_HEADERS).json()
    assert body["encoder"].startswith("m3e-small@") and body["dim"] == 512


def test_run_command_loads_the_demo_shop_once(tmp_path, real_encoder):
    """`serve --demo` (the README's run command) imports the demo FAQ and creates the demo keys once; a
    restart re-imports nothing and keeps the keys; the README's curl flow works with them."""
    seen = []
    for _ in range(2):
        with running_server(tmp_path, "--demo", env={"SMARTREPLY_OPERATOR_KEY": ""}) as (base, log):
            keys = json.loads((tmp_path / "demo-keys.json").read_text("utf-8"))
            seen.append(keys)
            agent = {"Authorization": f"Bearer {keys['agent']}"}
            body = httpx.post(f"{base}/v1/shops/demo/suggestions", json={"message": "可以开发票吗"},
                              headers=agent).json()
            assert body["kb_version"] == 1
            assert body["suggestions"][0]["category"] == "发票"
            assert httpx.post(f"{base}/v1/shops/demo/suggestions", json={"message": "可以开发票吗"}).status_code == 401
            # the agent key cannot administer; the admin key can (X-API-Key works too)
            assert httpx.get(f"{base}/v1/shops/demo/kb/versions", headers=agent).status_code == 403
            assert httpx.get(f"{base}/v1/shops/demo/kb/versions", headers={"X-API-Key": keys["admin"]}).status_code == 200
    assert seen[0] == seen[1]
