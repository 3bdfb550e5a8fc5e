"""Training the escalation model on the team's messages with the real encoder (a subset, to stay fast):
thresholds tuned on dev, cached by data and encoder, never trained on a held-out text."""

from __future__ import annotations

import json

import pytest

from models.errors import UploadError
from models.escalation import EscalationDetector, EscalationModel
from models.normalize import normalize_text
from training.train_escalation import (
    DEFAULT_ESCALATION_DATA,
    DEFAULT_ESCALATION_DEV,
    load_escalation,
    train_escalation,
)

pytestmark = pytest.mark.slow


def _subset(src, dst, n):
    rows = [json.loads(line) for line in src.read_text("utf-8").splitlines() if line.strip()]
    by_label: dict[str, list] = {}
    for r in rows:
        by_label.setdefault(r["label"], []).append(r)
    keep = [r for items in by_label.values() for r in items[:n]]
    dst.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in keep), "utf-8")
    return dst


def test_train_tune_cache_and_reload(tmp_path, real_encoder):
    data = _subset(DEFAULT_ESCALATION_DATA, tmp_path / "train.jsonl", 25)
    dev = _subset(DEFAULT_ESCALATION_DEV, tmp_path / "dev.jsonl", 12)
    first = train_escalation(data, real_encoder, tmp_path / "model", dev=dev, extra_negatives=None,
                             normalise=normalize_text)
    assert not first.cached and first.examples == len(load_escalation(data))
    assert 0.2 <= first.weak_threshold <= first.threshold <= 0.95
    print(f"escalation subset: dev {first.dev}")
    assert first.dev["recall"] >= 0.7 and first.dev["base_rate"] == 0.05
    again = train_escalation(data, real_encoder, tmp_path / "model", dev=dev, extra_negatives=None,
                             normalise=normalize_text)
    assert again.cached and (again.threshold, again.weak_threshold) == (first.threshold, first.weak_threshold)
    model = EscalationModel.load(tmp_path / "model", encoder_id=real_encoder.model_id)
    assert model.threshold_ == first.threshold and model.manifest_["examples"] == first.examples
    detector = EscalationDetector(model)
    text = normalize_text("你们客服是不是都不长脑子，我要找你们领导")
    assert detector.detect(text, real_encoder.encode([text])[0]) is not None
    text = normalize_text("请问这件外套有L码吗")
    assert detector.detect(text, real_encoder.encode([text])[0]) is None


def test_a_held_out_text_in_the_training_data_is_refused(tmp_path, real_encoder):
    dev = _subset(DEFAULT_ESCALATION_DEV, tmp_path / "dev.jsonl", 3)
    leaked = json.loads(dev.read_text("utf-8").splitlines()[0])
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps(leaked, ensure_ascii=False) + "\n" + _subset(DEFAULT_ESCALATION_DATA, tmp_path / "t.jsonl", 3)
                    .read_text("utf-8"), "utf-8")
    with pytest.raises(UploadError, match="also in the dev/test sets"):
        train_escalation(data, real_encoder, tmp_path / "model", dev=dev, extra_negatives=None, normalise=normalize_text)
    assert not (tmp_path / "model").exists()
