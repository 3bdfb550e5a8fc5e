"""Real-model tests of the encoder: ONNX export, both precisions vs sentence-transformers, loading.

The export runs once per session into a temporary artifacts folder (about 15 s on a laptop CPU).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from models.encoder import (
    MANIFEST_NAME,
    Encoder,
    OnnxEncoder,
    SentenceTransformerEncoder,
    encoder_artifact_dir,
    load_encoder,
)
from models.errors import ArtifactMismatch, ConfigError, EncoderNotExported
from models.model_source import model_content_hash, resolve_model_path
from training.export_onnx import VERIFICATION_SENTENCES, ExportResult, export_encoder

REPO = Path(__file__).resolve().parents[2]
MODEL = "m3e-small"
DIM = 512

# Deliberately not in VERIFICATION_SENTENCES: the export already passed on those.
HELD_OUT = [
    "请问这款羽绒服含绒量是多少",
    "拍下后多久能收到货",
    "我要换一个大一号的尺码",
    "快递员说找不到我家地址",
    "退款申请被拒绝了为什么",
    "优惠券领了用不了",
    "这个杯子能放进洗碗机吗",
    "商品页面写的是现货，为什么要等十天",
    "发的是韵达还是中通",
    "收货后发现少了一个配件，螺丝没有",
    "亲，周末发货吗",
    "能帮我备注一下送货前打电话吗",
    "电池容量多少毫安",
    "孕妇可以用吗",
    "order still not shipped after 5 days",
    "😀 好评返现还有吗",
]

slow = pytest.mark.slow


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("artifacts")


@pytest.fixture(scope="session")
def exported(artifacts: Path) -> ExportResult:
    return export_encoder(MODEL, artifacts)


@pytest.fixture(scope="session")
def onnx_encoders(exported: ExportResult) -> dict[str, OnnxEncoder]:
    return {p: OnnxEncoder.load(exported.artifact_dir, precision=p, threads=1) for p in ("fp32", "int8")}


@pytest.fixture(scope="session")
def reference() -> SentenceTransformerEncoder:
    return SentenceTransformerEncoder(MODEL)


def test_held_out_sentences_are_not_the_verification_set() -> None:
    assert not set(HELD_OUT) & set(VERIFICATION_SENTENCES)


@slow
def test_export_writes_a_verified_fused_artifact(exported: ExportResult) -> None:
    assert not exported.cached
    manifest = json.loads((exported.artifact_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert manifest["verification"]["passed"] is True
    assert exported.mean_cosine_fp32 >= 0.99
    assert exported.mean_cosine_int8 >= 0.99
    for name in manifest["files"]:
        assert (exported.artifact_dir / name).is_file()
    # Unfused attention still gives right answers, only slower; catch the regression here.
    assert manifest["fused_operators"]["Attention"] + manifest["fused_operators"]["MultiHeadAttention"] > 0
    # No temp or half-replaced folders next to the artifact.
    assert [p.name for p in exported.artifact_dir.parent.iterdir()] == [exported.artifact_dir.name]


@slow
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_onnx_matches_sentence_transformers(
    precision: str, onnx_encoders: dict[str, OnnxEncoder], reference: SentenceTransformerEncoder
) -> None:
    ours = onnx_encoders[precision].encode(HELD_OUT)
    ref = reference.encode(HELD_OUT)
    cosines = np.sum(ours * ref, axis=1)
    assert cosines.min() >= 0.99, cosines


@slow
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_outputs_are_normalised_float32_512d(precision: str, onnx_encoders: dict[str, OnnxEncoder]) -> None:
    vectors = onnx_encoders[precision].encode(HELD_OUT)
    assert vectors.dtype == np.float32
    assert vectors.shape == (len(HELD_OUT), DIM)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


@slow
def test_reference_outputs_are_normalised_512d(reference: SentenceTransformerEncoder) -> None:
    vectors = reference.encode(HELD_OUT[:4])
    assert vectors.shape == (4, DIM) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert reference.model.max_seq_length == 128


@slow
def test_fp32_batch_equals_one_by_one(onnx_encoders: dict[str, OnnxEncoder]) -> None:
    encoder = onnx_encoders["fp32"]
    batched = encoder.encode(HELD_OUT, batch_size=5)
    single = np.vstack([encoder.encode([text]) for text in HELD_OUT])
    np.testing.assert_allclose(batched, single, atol=1e-4)


@slow
def test_int8_batch_close_to_one_by_one(onnx_encoders: dict[str, OnnxEncoder]) -> None:
    # Dynamic int8 quantises activations with one scale per tensor, i.e. per batch, so a text's
    # vector depends slightly on its batch mates. Exact equality holds only for fp32.
    encoder = onnx_encoders["int8"]
    batched = encoder.encode(HELD_OUT, batch_size=5)
    single = np.vstack([encoder.encode([text]) for text in HELD_OUT])
    assert np.sum(batched * single, axis=1).min() >= 0.99


@slow
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_empty_input(precision: str, onnx_encoders: dict[str, OnnxEncoder]) -> None:
    vectors = onnx_encoders[precision].encode([])
    assert vectors.shape == (0, DIM) and vectors.dtype == np.float32


@slow
def test_reference_empty_input(reference: SentenceTransformerEncoder) -> None:
    assert reference.encode([]).shape == (0, DIM)


@slow
def test_order_preserved_despite_length_sorting(onnx_encoders: dict[str, OnnxEncoder]) -> None:
    encoder = onnx_encoders["fp32"]
    texts = ["一段很长很长的关于物流延误和退款流程的咨询内容，希望尽快回复", "好", "发货了吗", "退款"]
    forward = encoder.encode(texts, batch_size=2)
    backward = encoder.encode(texts[::-1], batch_size=2)[::-1]
    np.testing.assert_allclose(forward, backward, atol=1e-4)
    # Each row is its own text's vector, not a neighbour's.
    for i, text in enumerate(texts):
        assert float(forward[i] @ encoder.encode([text])[0]) > 0.9999


@slow
def test_long_input_is_truncated_not_rejected(onnx_encoders: dict[str, OnnxEncoder]) -> None:
    long_text = "请问什么时候发货" * 200
    vectors = onnx_encoders["int8"].encode([long_text, "你好"])
    assert vectors.shape == (2, DIM)
    assert np.isfinite(vectors).all()


@slow
def test_concurrent_encode_is_safe(onnx_encoders: dict[str, OnnxEncoder]) -> None:
    encoder = onnx_encoders["int8"]
    expected = [encoder.encode([text]) for text in HELD_OUT]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda t: encoder.encode([t]), HELD_OUT * 4))
    for i, vectors in enumerate(got):
        np.testing.assert_array_equal(vectors, expected[i % len(HELD_OUT)])


@slow
def test_semantic_sanity(onnx_encoders: dict[str, OnnxEncoder]) -> None:
    query, paraphrase, unrelated = onnx_encoders["int8"].encode(["什么时候发货", "几天能发出来", "可以开发票吗"])
    assert float(query @ paraphrase) > float(query @ unrelated)


@slow
def test_model_id_is_shared_by_backends_and_precisions(
    onnx_encoders: dict[str, OnnxEncoder], reference: SentenceTransformerEncoder
) -> None:
    ids = {onnx_encoders["fp32"].model_id, onnx_encoders["int8"].model_id, reference.model_id}
    assert len(ids) == 1
    (model_id,) = ids
    assert model_id.startswith("m3e-small@") and len(model_id.split("@")[1]) == 12
    for encoder in (*onnx_encoders.values(), reference):
        assert isinstance(encoder, Encoder)
        assert encoder.dim == DIM


@slow
def test_second_export_is_a_cache_hit(exported: ExportResult, artifacts: Path) -> None:
    started = time.perf_counter()
    again = export_encoder(MODEL, artifacts)
    assert again.cached
    assert again.artifact_dir == exported.artifact_dir
    assert again.mean_cosine_int8 == pytest.approx(exported.mean_cosine_int8)
    assert time.perf_counter() - started < 5


@slow
def test_load_encoder_finds_the_export(exported: ExportResult, artifacts: Path) -> None:
    encoder = load_encoder(MODEL, backend="onnx", precision="int8", artifacts_dir=artifacts, threads=1)
    assert isinstance(encoder, OnnxEncoder)
    assert encoder.artifact_dir == exported.artifact_dir
    assert encoder.precision == "int8"


@slow
def test_serving_path_never_imports_torch(exported: ExportResult, artifacts: Path) -> None:
    # Serving installs have no torch: loading, encoding and the export cache check must not need it.
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from models.encoder import load_encoder\n"
        "from training.export_onnx import export_encoder\n"
        f"artifacts = Path({str(artifacts)!r})\n"
        "assert export_encoder('m3e-small', artifacts).cached\n"
        "enc = load_encoder('m3e-small', 'onnx', 'int8', artifacts)\n"
        "assert enc.encode(['什么时候发货']).shape == (1, 512)\n"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=120)


@slow
def test_load_refuses_unknown_format(exported: ExportResult, tmp_path: Path) -> None:
    manifest = json.loads((exported.artifact_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    manifest["format"] = "some-other-format"
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ArtifactMismatch, match="format"):
        OnnxEncoder.load(tmp_path)


def test_load_refuses_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(ArtifactMismatch):
        OnnxEncoder.load(tmp_path)


@slow
def test_load_refuses_corrupted_file(exported: ExportResult, tmp_path: Path) -> None:
    for name in (MANIFEST_NAME, "tokenizer.json", "model.int8.onnx"):
        shutil.copy(exported.artifact_dir / name, tmp_path / name)
    with (tmp_path / "tokenizer.json").open("a", encoding="utf-8") as fh:
        fh.write(" ")
    with pytest.raises(ArtifactMismatch, match="checksum"):
        OnnxEncoder.load(tmp_path, precision="int8")


def test_load_encoder_without_export_names_the_command(tmp_path: Path) -> None:
    with pytest.raises(EncoderNotExported) as info:
        load_encoder(MODEL, backend="onnx", precision="int8", artifacts_dir=tmp_path)
    assert "smartreply train export-onnx" in str(info.value)


def test_unknown_backend_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_encoder(MODEL, backend="tensorflow", precision="int8", artifacts_dir=tmp_path)  # type: ignore[arg-type]


def test_resolve_bogus_model_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="local path"):
        resolve_model_path("definitely-not-a-model-xyz")


def test_resolve_packaged_model_and_directory() -> None:
    packaged = resolve_model_path(MODEL)
    assert (packaged / "config.json").is_file()
    assert resolve_model_path(str(packaged)) == packaged


def test_artifact_dir_depends_on_model_and_max_seq_length(tmp_path: Path) -> None:
    default = encoder_artifact_dir(tmp_path, MODEL)
    assert default.parent == tmp_path / "encoders"
    assert default.name.startswith("m3e-small-")
    assert encoder_artifact_dir(tmp_path, str(resolve_model_path(MODEL))) == default
    assert encoder_artifact_dir(tmp_path, MODEL, max_seq_length=256) != default


def test_content_hash_ignores_docs_and_sees_weights(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    (tmp_path / "model.bin").write_bytes(b"\x00\x01")
    before = model_content_hash(tmp_path)
    (tmp_path / "README.md").write_text("docs", encoding="utf-8")
    (tmp_path / ".gitattributes").write_text("*.bin lfs", encoding="utf-8")
    assert model_content_hash(tmp_path) == before
    (tmp_path / "model.bin").write_bytes(b"\x00\x02")
    assert model_content_hash(tmp_path) != before
