"""Training the intent model on the team's examples, with the real encoder (a subset, to stay fast)."""

from __future__ import annotations

import json

import pytest

from models.intent import IntentClassifier
from training.train_intent import DEFAULT_INTENT_DATA, DEFAULT_INTENT_TEST, load_labelled, train_intent

pytestmark = pytest.mark.slow
INTENTS = {"发货时间", "催发货", "发票", "退款进度", "催退款", "换货", "尺码推荐", "转人工"}


def _subset(src, dst):
    rows = [json.loads(line) for line in src.read_text("utf-8").splitlines() if line.strip()]
    dst.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows if r["intent"] in INTENTS), "utf-8")
    return dst


def test_team_data_covers_the_taxonomy():
    texts, labels = load_labelled(DEFAULT_INTENT_DATA)
    test_texts, test_labels = load_labelled(DEFAULT_INTENT_TEST)
    counts = {label: labels.count(label) for label in set(labels)}
    assert len(counts) >= 25 and min(counts.values()) >= 30
    assert set(test_labels) == set(labels) and not set(texts) & set(test_texts)


def test_train_measure_cache_and_reload(tmp_path, real_encoder):
    data = _subset(DEFAULT_INTENT_DATA, tmp_path / "train.jsonl")
    test = _subset(DEFAULT_INTENT_TEST, tmp_path / "test.jsonl")
    first = train_intent(data, real_encoder, tmp_path / "model", test=test)
    assert (first.cached, first.examples, first.intents) == (False, 40 * len(INTENTS), len(INTENTS))
    print(f"intent subset held-out accuracy {first.test_accuracy:.3f} macro-F1 {first.test_macro_f1:.3f}")
    assert first.test_accuracy >= 0.85
    again = train_intent(data, real_encoder, tmp_path / "model", test=test)
    assert again.cached and again.test_accuracy == first.test_accuracy
    model = IntentClassifier.load(tmp_path / "model", encoder_id=real_encoder.model_id)
    assert model.predict_one(real_encoder.encode(["开个发票给我"])[0]).intent == "发票"
    assert model.predict_one(real_encoder.encode(["退款都三天了怎么还没到账，快点处理"])[0]).intent == "催退款"


def test_the_labelled_files_name_the_bad_line(tmp_path):
    """One JSONL reader for every team-written training file: a bad line is refused with its number."""
    from models.errors import UploadError
    from training.train_escalation import load_escalation
    from training.train_quick_phrases import load_phrases

    good = tmp_path / "good.jsonl"
    good.write_text('\ufeff{"text": "啥时候发货", "intent": "发货时间"}\n\n{"text": "能开发票吗", "intent": "发票"}\n',
                    encoding="utf-8")
    assert load_labelled(good) == (["啥时候发货", "能开发票吗"], ["发货时间", "发票"])
    assert [p["text"] for p in load_phrases(good)] == ["啥时候发货", "能开发票吗"]
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "a", "intent": "b", "label": "none"}\n{"text": \n', encoding="utf-8")
    for load in (load_labelled, load_phrases, load_escalation):
        with pytest.raises(UploadError, match="broken.jsonl: line 2 is not valid JSON"):
            load(broken)
    listed = tmp_path / "list.jsonl"
    listed.write_text('["a", "b"]\n', encoding="utf-8")
    with pytest.raises(UploadError, match="line 1 is not a JSON object"):
        load_labelled(listed)
