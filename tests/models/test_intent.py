from __future__ import annotations

import json

import numpy as np
import pytest

from models.errors import ArtifactMismatch, NotFound
from models.intent import IntentClassifier, NotFitted

TEXTS = ["什么时候发货", "几天能发货", "多久发出", "可以开发票吗", "能开票吗", "发票怎么开", "退款到哪了", "退款进度", "钱退了没"]
LABELS = ["发货时间"] * 3 + ["发票"] * 3 + ["退款进度"] * 3


def test_fit_predict_and_probabilities(fake_encoder):
    model = IntentClassifier(C=10).fit(fake_encoder.encode(TEXTS), LABELS)
    assert model.classes_.tolist() == ["发票", "发货时间", "退款进度"]
    proba = model.predict_proba(fake_encoder.encode(TEXTS))
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    assert model.predict(fake_encoder.encode(TEXTS)).tolist() == LABELS  # separable training data
    pred = model.predict_one(fake_encoder.encode(["开发票"])[0])
    assert pred.intent == "发票" and pred.top[0] == (pred.intent, pred.confidence) and len(pred.top) == 3


def test_numpy_softmax_matches_sklearn(fake_encoder):
    from sklearn.linear_model import LogisticRegression

    x = fake_encoder.encode(TEXTS)
    ours = IntentClassifier(C=10).fit(x, LABELS).predict_proba(x)
    ref = LogisticRegression(C=10, max_iter=3000, random_state=0).fit(x, LABELS).predict_proba(x)
    np.testing.assert_allclose(ours, ref, atol=1e-4)


def test_two_classes_keep_the_softmax_form(fake_encoder):
    from sklearn.linear_model import LogisticRegression

    x = fake_encoder.encode(TEXTS[:6])
    ours = IntentClassifier().fit(x, LABELS[:6]).predict_proba(x)
    ref = LogisticRegression(C=10, max_iter=3000).fit(x, LABELS[:6]).predict_proba(x)
    np.testing.assert_allclose(ours, ref, atol=1e-4)


def test_unfitted_model_refuses_to_predict(fake_encoder):
    with pytest.raises(NotFitted, match="not fitted"):
        IntentClassifier().predict(fake_encoder.encode(["x"]))


def test_save_load_round_trip_is_npz_and_json(tmp_path, fake_encoder):
    x = fake_encoder.encode(TEXTS)
    model = IntentClassifier().fit(x, LABELS)
    folder = model.save(tmp_path / "intent", encoder_id="fake", metadata={"data_sha256": "abc"})
    assert sorted(p.name for p in folder.iterdir()) == ["intent.npz", "manifest.json"]
    assert json.loads((folder / "manifest.json").read_text())["classes"] == ["发票", "发货时间", "退款进度"]
    loaded = IntentClassifier.load(folder, encoder_id="fake")
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))
    model.save(folder, encoder_id="fake")  # overwriting an existing model works and leaves no temp folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["intent"]
    with pytest.raises(ArtifactMismatch, match="trained on vectors of 'fake'"):
        IntentClassifier.load(folder, encoder_id="m3e-small@x")
    with pytest.raises(NotFound, match="smartreply train intent"):
        IntentClassifier.load(tmp_path / "none", encoder_id="fake")
