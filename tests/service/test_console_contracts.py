"""What the consoles rely on (issue 14), through the real app in process with the fast fake encoder:
upload preview and merge, confirmation of large removals, no version for identical content, diffs
against the base version, edits published as one version, the hit test, test questions kept out of
analytics, Chinese and English messages, /v1/keys/me and the loopback-only demo keys."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from service.runtime import Runtime
from tests.conftest import OPERATOR_HEADERS, OPERATOR_KEY

HEADER = "编号,标准问题,相似问题,答案,分类\n"
ROWS = {f"E{i}": f"E{i},问题{i}号怎么办,第{i}号问题咋办,答案{i},类{i % 3}\n" for i in range(1, 11)}
FULL = HEADER + "".join(ROWS.values())


def csv(*rows: str) -> bytes:
    return (HEADER + "".join(rows)).encode()


@pytest.fixture
def client(tmp_path, fake_encoder):
    runtime = Runtime(Settings(operator_key=OPERATOR_KEY, data_dir=tmp_path, upload_confirm_remove_over=3), encoder=fake_encoder)
    with TestClient(create_app(runtime=runtime), headers=OPERATOR_HEADERS) as c:
        r = c.post("/v1/shops/s1/kb", files={"file": ("faq.csv", FULL.encode(), "text/csv")})
        assert r.status_code == 201, r.text
        c.runtime = runtime
        yield c


def post(client, data: bytes, **params):
    return client.post("/v1/shops/s1/kb", params=params, files={"file": ("f.csv", data, "text/csv")})


def versions(client) -> list[dict]:
    return client.get("/v1/shops/s1/kb/versions").json()["data"]


def test_dry_run_shows_the_change_and_stores_nothing(client):
    small = csv(ROWS["E1"], ROWS["E2"].replace("答案2", "新答案2"), "N1,新问题,,新答案,类\n")
    r = post(client, small, dry_run="true")
    assert r.status_code == 200, r.text
    p = r.json()
    assert (p["dry_run"], p["mode"], p["on_error"], p["base_version"], p["entries"]) == (True, "replace", "reject", 1, 3)
    assert [e["id"] for e in p["added"]] == ["N1"] and [c["id"] for c in p["changed"]] == ["E2"]
    assert p["changed"][0]["fields"] == ["answers"] and len(p["removed"]) == 8 and p["unchanged"] == 1
    assert p["confirm_remove_required"] is True and p["confirm_remove_limit"] == 3
    assert len(versions(client)) == 1  # nothing stored


def test_merge_adds_and_updates_by_id_and_keeps_the_rest(client):
    merge = csv(ROWS["E2"].replace("答案2", "新答案2"), "N1,新问题,,新答案,类\n")
    p = post(client, merge, dry_run="true", mode="merge").json()
    assert ([e["id"] for e in p["added"]], [c["id"] for c in p["changed"]], p["removed"], p["unchanged"]) == (
        ["N1"], ["E2"], [], 9)
    r = post(client, merge, mode="merge")
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["version"], body["entries"], body["mode"], body["added"], body["changed"], body["removed"]) == (
        2, 11, "merge", 1, 1, 0)
    entries = {e["id"]: e for e in client.get("/v1/shops/s1/kb/entries").json()["data"]}
    assert entries["E2"]["answers"] == ["新答案2"] and entries["E9"]["answers"] == ["答案9"] and "N1" in entries
    assert versions(client)[-1]["source"].startswith("merge of f.csv sha256:")


def test_merge_refuses_a_phrasing_a_kept_entry_already_has(client):
    clash = csv("N1,问题3号怎么办,,抢别人的问法,类\n")
    r = post(client, clash, mode="merge")
    assert r.status_code == 422
    (problem,) = r.json()["error"]["details"]
    assert (problem["code"], problem["row"], problem["message_code"]) == ("conflict", 2, "problem.merge_conflict")
    assert problem["reason"] == "phrasing '问题3号怎么办' is already used by kept entry 'E3'; a phrasing may belong to one entry only"


def test_removing_many_entries_needs_the_count_confirmed(client):
    small = csv(ROWS["E1"], ROWS["E2"])
    r = post(client, small)
    assert r.status_code == 409
    err = r.json()["error"]
    assert (err["code"], err["message_code"], err["params"]) == (
        "confirmation_required", "upload.confirm_remove", {"n": 8, "limit": 3})
    assert err["details"][0]["removed"] == 8 and err["details"][0]["base_version"] == 1
    assert r.json()["error"]["message"].startswith("this upload would remove 8 entries")
    zh = client.post("/v1/shops/s1/kb", files={"file": ("f.csv", small)}, headers={"Accept-Language": "zh-CN"})
    assert zh.json()["error"]["message"].startswith("这次上传会删除 8 个条目")
    assert post(client, small, confirm_remove=7).json()["error"]["message_code"] == "upload.confirm_mismatch"
    assert len(versions(client)) == 1
    ok = post(client, small, confirm_remove=8)
    assert ok.status_code == 201 and (ok.json()["removed"], ok.json()["base_version"]) == (8, 1)
    # A few removals (≤ the limit) need no confirmation.
    assert post(client, csv(ROWS["E1"])).status_code == 201


def test_identical_content_makes_no_version_and_says_so(client):
    r = post(client, FULL.encode())
    assert r.status_code == 200
    assert (r.json()["no_changes"], r.json()["version"]) == (True, 1)
    assert r.json()["message"] == "the content is identical to the active version v1: no changes, no new version"
    assert post(client, FULL.encode(), dry_run="true").json()["no_changes"] is True
    assert len(versions(client)) == 1


def test_old_mode_names_still_work(client):
    rest = "".join(ROWS[f"E{i}"] for i in range(2, 11))
    bad = csv(ROWS["E1"].replace("答案1", "改过的答案1"), "X,,,,\n", rest)
    assert post(client, bad, mode="reject").status_code == 422
    r = post(client, bad, mode="partial")
    assert r.status_code == 201 and (r.json()["mode"], r.json()["on_error"]) == ("replace", "partial")
    assert post(client, bad, mode="partial", on_error="reject").json()["error"]["code"] == "invalid_request"


def test_diff_is_against_the_version_it_was_based_on(client):
    """An edit of v1 made after a discarded v2 shows the one entry it changed, not v2 → v3."""
    assert post(client, csv(ROWS["E1"], ROWS["E2"]), confirm_remove=8).status_code == 201  # v2: most entries gone
    assert client.post("/v1/shops/s1/kb/versions/1/activate").status_code == 200  # rolled back
    r = client.patch("/v1/shops/s1/kb/entries/E5", json={"answers": ["改过的答案"]})
    assert (r.json()["version"], r.json()["base_version"]) == (3, 1)
    assert [v["base_version"] for v in versions(client)] == [None, 1, 1]
    d = client.get("/v1/shops/s1/kb/diff", params={"to": 3}).json()
    assert (d["from_version"], d["added"], d["removed"], [c["id"] for c in d["changed"]]) == (1, [], [], ["E5"])
    first = client.get("/v1/shops/s1/kb/diff", params={"to": 1}).json()
    assert first["from_version"] == 0 and len(first["added"]) == 10


def test_a_batch_of_edits_is_one_version(client):
    r = client.post("/v1/shops/s1/kb/edits", json={"operations": [
        {"op": "update", "id": "E1", "answers": ["新答案1"]}, {"op": "delete", "id": "E2"},
        {"op": "add", "id": "N1", "question": "新问题", "answers": ["新答案"]}, {"op": "update", "id": "E3", "enabled": False}]})
    assert r.status_code == 201, r.text
    assert (r.json()["version"], r.json()["base_version"]) == (2, 1)
    assert r.json()["action"] == "4 edits of v1: update E1, delete E2, add N1, disable E3"
    zh = client.get("/v1/shops/s1/kb/versions", headers={"Accept-Language": "zh"}).json()["data"][-1]
    assert zh["source"] == "基于 v1 的 4 项修改：修改 E1、删除 E2、新增 N1、停用 E3"
    assert (zh["source_code"], zh["source_params"]["n"]) == ("version.source.edits", 4)
    d = client.get("/v1/shops/s1/kb/diff").json()
    assert ([e["id"] for e in d["added"]], [e["id"] for e in d["removed"]], sorted(c["id"] for c in d["changed"])) == (
        ["N1"], ["E2"], ["E1", "E3"])
    # All or nothing: one invalid operation and no version.
    bad = client.post("/v1/shops/s1/kb/edits", json={"operations": [
        {"op": "update", "id": "E4", "answers": ["好的"]}, {"op": "update", "id": "E5", "answers": [""]}]})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["code"] == "missing_answer"
    assert len(versions(client)) == 2


def test_hit_test_applies_the_thresholds_on_the_server_and_shows_near_misses(client):
    body = {"message": "问题4号怎么办", "suggest_threshold": 0.0, "auto_reply_threshold": 1.0}
    low = client.post("/v1/shops/s1/hit-test", json=body).json()
    assert low["test"] is True and low["thresholds"] == {"suggest": 0.0, "auto_reply": 1.0}
    assert low["ranking"][0]["entry_id"] == "E4" and low["ranking"][0]["status"] == "suggested"
    high = client.post("/v1/shops/s1/hit-test", json={**body, "suggest_threshold": 0.999}).json()
    assert high["suggestions"] == [] or high["suggestions"][0]["source"] != "kb"
    near = high["ranking"][0]
    assert (near["entry_id"], near["status"], near["passes"]) == ("E4", "below_threshold", False)
    assert [w["code"] for w in near["why"]][-1] == "why.below"
    assert near["why"][-1]["text"].startswith("confidence ") and "< suggest threshold 1.00" in near["why"][-1]["text"]
    zh = client.post("/v1/shops/s1/hit-test", json=body, headers={"Accept-Language": "zh"}).json()
    assert zh["ranking"][0]["why"][0]["text"].startswith("与问法「问题4号怎么办」的语义非常接近")
    assert client.post("/v1/shops/s1/hit-test", json={**body, "suggest_threshold": 0.5, "auto_reply_threshold": 0.4}
                       ).json()["error"]["message_code"] == "request.threshold_order"


def test_test_questions_are_not_recorded_for_analytics(client):
    client.runtime.settings.unanswered_confidence = 0.99  # the fake encoder's ranker is confident about anything
    client.post("/v1/shops/s1/hit-test", json={"message": "你们家有卖猫粮吗"})
    r = client.post("/v1/shops/s1/suggestions", json={"message": "你们家有卖猫粮吗", "test": True})
    assert r.json()["test"] is True
    client.runtime.events.flush()
    assert client.get("/v1/shops/s1/analytics/unanswered").json()["data"] == []
    client.post("/v1/shops/s1/suggestions", json={"message": "你们家有卖猫粮吗"})
    client.runtime.events.flush()
    (cluster,) = client.get("/v1/shops/s1/analytics/unanswered").json()["data"]
    assert cluster["count"] == 1 and cluster["reasons"][0]["code"] == "cluster.low_confidence"


def test_keys_me_and_scope_messages(client):
    me = client.get("/v1/keys/me").json()
    assert me["scopes"] == ["operator"] and me["shop_id"] is None
    agent = client.post("/v1/shops/s1/keys", json={"scopes": ["agent"]}).json()["key"]
    headers = {"Authorization": f"Bearer {agent}", "Accept-Language": ""}  # no language asked: Chinese
    assert client.get("/v1/keys/me", headers=headers).json()["scopes"] == ["agent"]
    r = client.get("/v1/shops/s1/kb/versions", headers=headers)  # zh by default
    assert r.status_code == 403
    assert r.json()["error"]["message"] == "该操作需要具有「admin」权限的密钥（当前密钥的权限：agent）"
    assert r.headers["content-language"] == "zh"
    missing = client.get("/v1/shops/s1/kb/versions", headers={"Authorization": "", "Accept-Language": "zh"})
    assert missing.json()["error"]["message_code"] == "auth.missing_key"


def test_demo_keys_route_exists_only_with_demo(tmp_path, fake_encoder):
    runtime = Runtime(Settings(operator_key=OPERATOR_KEY, data_dir=tmp_path), encoder=fake_encoder)
    with TestClient(create_app(runtime=runtime)) as c:
        assert c.get("/v1/demo/keys").status_code == 404
        assert "/v1/demo/keys" not in c.get("/openapi.json").json()["paths"]
    on = Runtime(Settings(operator_key=OPERATOR_KEY, data_dir=tmp_path, demo_keys_route=True), encoder=fake_encoder)
    # TestClient's peer is "testclient", not loopback: refused like any remote caller.
    with TestClient(create_app(runtime=on)) as c:
        r = c.get("/v1/demo/keys", headers={"Accept-Language": "en"})
        assert r.status_code == 403 and r.json()["error"]["message_code"] == "auth.demo_only"
    with TestClient(create_app(runtime=on), client=("127.0.0.1", 5555), base_url="http://127.0.0.1:8000") as c:
        keys = c.get("/v1/demo/keys").json()
        assert keys["shop_id"] == "demo" and keys["agent"].startswith("sr_demo_") and keys["admin"] != keys["agent"]
        # DNS rebinding: a loopback connection asking for another site's name is refused.
        assert c.get("/v1/demo/keys", headers={"Host": "evil.example:8000"}).status_code == 403


def test_explain_notes_a_missing_conversation_id_only_when_it_is_missing(client):
    """The README's explain example sends conversation_id: the answer must not say it did not."""
    body = {"message": "什么时候发货呀", "at": "2025-01-03T23:30:00"}
    with_id = client.post("/v1/shops/s1/rules/explain", json={**body, "conversation_id": "c-1"}).json()
    assert with_id["notes"] == [] and with_id["rules"] == []
    without = client.post("/v1/shops/s1/rules/explain", json=body).json()
    assert without["notes"] == ["no conversation_id: cooldowns were not checked"]
