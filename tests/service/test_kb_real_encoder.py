"""The same features through the HTTP API with the real m3e-small int8 encoder (loads in < 1 s)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from tests.conftest import OPERATOR_HEADERS, OPERATOR_KEY
from service.config import Settings
from service.runtime import Runtime
from tests.conftest import REPO

pytestmark = pytest.mark.slow
DATA = REPO / "tests" / "data"


class Counting:
    """Wraps the real encoder and counts the texts it embeds (proves "no full re-embed")."""

    def __init__(self, inner) -> None:
        self.inner, self.model_id, self.dim, self.texts = inner, inner.model_id, inner.dim, 0

    def encode(self, texts, batch_size: int = 64):
        self.texts += len(texts)
        return self.inner.encode(texts, batch_size=batch_size)


@pytest.fixture
def setup(tmp_path, real_encoder):
    runtime = Runtime(Settings(operator_key=OPERATOR_KEY, data_dir=tmp_path), encoder=Counting(real_encoder))
    with TestClient(create_app(runtime=runtime), headers=OPERATOR_HEADERS) as client:
        yield client, runtime.encoder


def top(client, message: str) -> dict:
    return client.post("/v1/shops/s1/suggestions", json={"message": message, "top_k": 3}).json()["suggestions"][0]


def test_gbk_and_two_sheet_uploads_then_incremental_edit(setup):
    client, encoder = setup
    assert client.post("/v1/shops/s1/kb", files={"file": ("faq_gbk.csv", (DATA / "faq_gbk.csv").read_bytes())}
                       ).status_code == 201
    assert top(client, "几天可以发货")["entry_id"] == "S-01"
    r = client.post("/v1/shops/s1/kb", files={"file": ("two.xlsx", (DATA / "faq_two_sheets.xlsx").read_bytes())})
    assert r.status_code == 201 and r.json()["phrasings"] == 12
    assert top(client, "我想把这件退掉")["entry_id"] == "A-01"

    before = encoder.texts
    r = client.patch("/v1/shops/s1/kb/entries/P-02", json={"similar": ["我该穿多大码", "一米七穿什么码"]})
    assert r.json()["embedded"] == 1 and encoder.texts - before == 1  # only the new phrasing
    assert top(client, "一米七穿什么码")["entry_id"] == "P-02"
    client.patch("/v1/shops/s1/kb/entries/A-02", json={"enabled": False})
    assert top(client, "退款多久到账")["entry_id"] != "A-02"
    client.post("/v1/shops/s1/kb/versions/2/activate")  # rollback: A-02 is served again, unchanged
    assert top(client, "退款多久到账")["entry_id"] == "A-02"


def test_semantic_rule_with_the_real_encoder(setup):
    client, encoder = setup
    client.put("/v1/shops/s1/settings", json={"timezone": "Asia/Shanghai"})
    rule = {"id": "rush", "name": "催发货", "reply": "亲，已经在加急安排发货了",
            "trigger": {"mode": "semantic", "examples": ["怎么还不发货", "什么时候能发货", "催一下发货"], "threshold": 0.8}}
    assert client.post("/v1/shops/s1/rules", json=rule).status_code == 201
    body = client.post("/v1/shops/s1/rules/explain", json={"message": "啥时候给我发货啊"}).json()
    assert body["winner"]["rule_id"] == "rush"
    assert body["rules"][0]["similarity"] > 0.9 and body["rules"][0]["best_example"] == "什么时候能发货"
    body = client.post("/v1/shops/s1/rules/explain", json={"message": "可以开发票吗"}).json()
    (reason,) = body["rules"][0]["reasons"]
    assert reason["code"] == "below_threshold" and reason["data"]["similarity"] < 0.75
    before = encoder.texts
    client.post("/v1/shops/s1/rules/explain", json={"message": "发货"})
    assert encoder.texts - before == 1  # examples were embedded when the rule was saved, not per message
