from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes import CharNgramEncoder

REPO = Path(__file__).resolve().parent.parent
DEMO_FAQ = REPO / "knowledge_base" / "demo" / "demo_shop.csv"
PARAPHRASES = REPO / "tests" / "data" / "demo_paraphrases.jsonl"
ARTIFACTS = REPO / "artifacts"


@pytest.fixture
def fake_encoder() -> CharNgramEncoder:
    return CharNgramEncoder()


@pytest.fixture(scope="session")
def real_encoder():
    """The real m3e-small int8 ONNX encoder from the repo's artifacts (exported once if missing)."""
    from models.encoder import load_encoder
    from models.errors import EncoderNotExported

    try:
        return load_encoder("m3e-small", backend="onnx", precision="int8", artifacts_dir=ARTIFACTS, threads=1)
    except EncoderNotExported:
        from training.export_onnx import export_encoder

        export_encoder("m3e-small", ARTIFACTS)
        return load_encoder("m3e-small", backend="onnx", precision="int8", artifacts_dir=ARTIFACTS, threads=1)
