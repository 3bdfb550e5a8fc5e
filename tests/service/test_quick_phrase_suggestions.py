"""Quick phrases join the ranking (source quick_phrase) with the real encoder and the trained scorer."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from models.errors import ArtifactMismatch
from models.normalize import normalize_text
from models.quick_phrase_scorer import QP_FEATURES, QuickPhraseScorer
from service.app import create_app
from service.config import Settings
from service.demo_shop import DEMO_FAQ_PATH
from service.pipeline import SuggestRequest
from service.runtime import Runtime
from tests.conftest import ARTIFACTS, OPERATOR_HEADERS, OPERATOR_KEY

pytestmark = pytest.mark.slow

FAQ = "编号,标准问题,相似问题,答案,分类\nA,包邮吗,免运费吗|邮费多少,全场包邮,运费\nB,可以开发票吗,能开票吗,可以开电子发票,发票\n"


@pytest.fixture
def client(tmp_path, real_encoder):
    runtime = Runtime(Settings(operator_key=OPERATOR_KEY, data_dir=tmp_path, artifacts_dir=ARTIFACTS), encoder=real_encoder)
    assert runtime.quick_phrase_scorer is not None, "set-up trains it: smartreply train quick-phrases"
    with TestClient(create_app(runtime=runtime), headers=OPERATOR_HEADERS) as c:
        assert c.post("/v1/shops/s1/kb", files={"file": ("faq.csv", FAQ.encode(), "text/csv")}).status_code == 201
        c.runtime = runtime
        yield c


def suggestions(client, message: str, **extra) -> list[dict]:
    r = client.post("/v1/shops/s1/suggestions", json={"message": message, "top_k": 3, **extra})
    assert r.status_code == 200, r.text
    return r.json()["suggestions"]


def test_a_quick_phrase_that_answers_is_suggested_beside_the_faq(client):
    # The FAQ has nothing about shipping times; the shop's quick phrase does.
    assert not any(s["source"] == "quick_phrase" for s in suggestions(client, "什么时候发货"))
    r = client.post("/v1/shops/s1/quick-phrases", json={"text": "亲，现货付款后48小时内发货哦～", "group": "发货",
                                                        "shortcut": "/fh"})
    assert r.status_code == 201, r.text
    phrase_id = r.json()["phrase"]["id"] if "phrase" in r.json() else r.json()["id"]
    client.post("/v1/shops/s1/quick-phrases", json={"text": "感谢亲的支持，祝您生活愉快～", "group": "结束"})
    got = suggestions(client, "什么时候发货")
    quick = [s for s in got if s["source"] == "quick_phrase"]
    assert quick and quick[0]["quick_phrase_id"] == phrase_id and quick[0]["entry_id"] is None
    assert quick[0]["answer"] == "亲，现货付款后48小时内发货哦～" and quick[0]["question"] == "发货"
    assert 0.1 <= quick[0]["confidence"] <= 1 and set(quick[0]["features"]) == set(QP_FEATURES)
    assert [s["confidence"] for s in got] == sorted((s["confidence"] for s in got), reverse=True)
    # An unrelated phrase is not suggested for it, and the FAQ still answers its own questions first.
    assert all("感谢" not in s["answer"] for s in got)
    assert suggestions(client, "能开发票吗")[0]["entry_id"] == "B"


class CountingEncoder:
    """The real encoder, recording every text it is asked to encode."""

    def __init__(self, encoder) -> None:  # noqa: ANN001 - any Encoder
        self.inner, self.model_id, self.dim, self.texts = encoder, encoder.model_id, encoder.dim, []

    def encode(self, texts, batch_size: int = 64):  # noqa: ANN001
        self.texts.extend(texts)
        return self.inner.encode(texts, batch_size=batch_size)


def test_an_edit_encodes_only_the_new_phrase(tmp_path, real_encoder):
    counting = CountingEncoder(real_encoder)
    runtime = Runtime(Settings(operator_key=OPERATOR_KEY, data_dir=tmp_path, artifacts_dir=ARTIFACTS), encoder=counting)
    with TestClient(create_app(runtime=runtime), headers=OPERATOR_HEADERS) as c:
        c.post("/v1/shops/s1/kb", files={"file": ("faq.csv", FAQ.encode(), "text/csv")})
        for text in ("亲，现货付款后48小时内发货哦～", "感谢亲的支持，祝您生活愉快～"):
            c.post("/v1/shops/s1/quick-phrases", json={"text": text, "group": "发货" if "发货" in text else "结束"})
        c.post("/v1/shops/s1/suggestions", json={"message": "什么时候发货"})
        counting.texts.clear()
        c.post("/v1/shops/s1/quick-phrases", json={"text": "亲，退货地址已发您，请查收～", "group": "发货"})
        # Its group (发货) is served already: only the new text is encoded (before: every phrase and group).
        assert counting.texts == [normalize_text("亲，退货地址已发您，请查收～")]
        got = c.post("/v1/shops/s1/suggestions", json={"message": "什么时候发货"}).json()["suggestions"]
        assert any(s["source"] == "quick_phrase" and "48小时" in s["answer"] for s in got)


def test_the_switch_turns_quick_phrases_off(tmp_path, real_encoder):
    runtime = Runtime(Settings(operator_key=OPERATOR_KEY, data_dir=tmp_path, artifacts_dir=ARTIFACTS,
                               quick_phrases_in_suggestions=False), encoder=real_encoder)
    with TestClient(create_app(runtime=runtime), headers=OPERATOR_HEADERS) as c:
        c.post("/v1/shops/s1/kb", files={"file": ("faq.csv", FAQ.encode(), "text/csv")})
        c.post("/v1/shops/s1/quick-phrases", json={"text": "亲，现货付款后48小时内发货哦～", "group": "发货"})
        got = c.post("/v1/shops/s1/suggestions", json={"message": "什么时候发货"}).json()["suggestions"]
        assert not any(s["source"] == "quick_phrase" for s in got)


def test_the_demo_shop_greets_and_thanks_with_its_quick_phrases(tmp_path, real_encoder):
    runtime = Runtime(Settings(operator_key=OPERATOR_KEY, data_dir=tmp_path, artifacts_dir=ARTIFACTS), encoder=real_encoder)
    runtime.demo.ensure()
    result = runtime.suggester.suggest(SuggestRequest("demo", "谢谢啦", top_k=3))
    assert any(s.source == "quick_phrase" and "感谢" in s.answer for s in result.suggestions)
    assert DEMO_FAQ_PATH.is_file()


def test_the_scorer_refuses_another_encoders_artifact(tmp_path):
    features = np.array([[0.9, 0.0, 0.8, 0.8, 0.9], [0.7, -0.2, 0.1, 0.6, 0.0]] * 5)
    scorer = QuickPhraseScorer().fit(features, np.array([True, False] * 5))
    assert scorer.predict_proba(features[:2]).round(1).tolist()[0] > 0.5
    scorer.save(tmp_path, encoder_id="enc-a", intent_tag="t1")
    loaded = QuickPhraseScorer.load(tmp_path, encoder_id="enc-a", intent_tag="t1")
    assert loaded.predict_proba(features).tolist() == scorer.predict_proba(features).tolist()
    with pytest.raises(ArtifactMismatch, match="retrain with `smartreply train quick-phrases`"):
        QuickPhraseScorer.load(tmp_path, encoder_id="enc-b", intent_tag="t1")
