"""Export a sentence-transformers encoder to ONNX (fused fp32 + dynamic int8) for serving.

The whole sentence-transformers pipeline (transformer, its own pooling module, L2 normalisation)
is traced into one graph, so serving needs no knowledge of how a model pools: m3e (mean) and bge
(CLS) export the same way. The graph is fused with ``onnxruntime.transformers.optimizer`` and then
quantised; both precisions are checked against sentence-transformers before the artifact appears.

Exporter choice: the TorchScript exporter (``dynamo=False``). Measured on m3e-small with torch 2.13
it yields a graph the ORT BERT optimizer fully fuses (1 EmbedLayerNormalization, 4 Attention,
8 SkipLayerNormalization, 4 BiasGelu), while the default dynamo exporter's graph gets no Attention
or SkipLayerNormalization fusion at all. Dynamo is kept only as a fallback should the TorchScript
exporter be unavailable.

The artifact is built in a temporary sibling folder and moved into place with ``os.replace``, so an
interrupted export never leaves a half-written artifact at the path serving looks at.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from models.encoder import (
    ARTIFACT_FORMAT,
    ARTIFACT_FORMAT_VERSION,
    DEFAULT_MAX_SEQ_LENGTH,
    EXPORT_RECIPE_VERSION,
    MANIFEST_NAME,
    PRECISION_FILES,
    TOKENIZER_FILE,
    OnnxEncoder,
    encoder_artifact_dir,
    file_sha256,
    model_id_for,
    read_manifest,
)
from models.errors import ArtifactMismatch, EncoderError
from models.model_source import model_content_hash, resolve_model_path

__all__ = [
    "ExportResult",
    "MIN_MEAN_COSINE",
    "VERIFICATION_SENTENCES",
    "export_encoder",
]

logger = logging.getLogger(__name__)

MIN_MEAN_COSINE = 0.99
OUTPUT_NAME = "sentence_embedding"
# 17 is the first opset with LayerNormalization, which the BERT fusions build on.
ONNX_OPSET = 17
_RAW_FILE = "model.raw.onnx"

# Fixed probe set for the export check: short customer-service messages as they arrive in chat,
# plus a few long ones beyond 128 tokens so truncation is exercised too.
VERIFICATION_SENTENCES: tuple[str, ...] = (
    "什么时候发货？",
    "今天下单今天能发吗",
    "我的快递到哪里了",
    "物流三天没更新了怎么回事",
    "可以发顺丰吗？需要补运费吗",
    "包邮吗",
    "偏远地区包邮不",
    "怎么申请退款",
    "退款多久能到账",
    "我不想要了，能退货吗",
    "七天无理由退货怎么操作",
    "退货运费谁出",
    "收到的衣服有破洞，要求换货",
    "尺码怎么选？我身高165体重50公斤",
    "这款鞋子偏大还是偏小",
    "平时穿38码的拿哪个码",
    "有没有优惠券",
    "满减活动什么时候结束",
    "能便宜点吗亲",
    "可以开发票吗？要增值税专用发票",
    "发票抬头写错了怎么改",
    "地址填错了可以修改吗",
    "还没发货的话帮我取消订单",
    "订单显示已签收但我没收到",
    "快递被别人签收了怎么办",
    "这个是正品吗",
    "有质检报告吗",
    "保质期到什么时候",
    "生产日期是哪天的",
    "颜色和图片一样吗，会不会有色差",
    "这个面料是纯棉的吗",
    "洗了会缩水吗",
    "手机壳适合iPhone 15 Pro吗",
    "充电器支持快充吗？多少瓦",
    "保修期多久",
    "坏了可以寄回来修吗",
    "安装说明书在哪里下载",
    "客服在吗",
    "人工客服",
    "你好",
    "谢谢，没问题了",
    "赠品怎么没有",
    "少发了一件",
    "发错颜色了，我要的是黑色",
    "什么时候补货",
    "预售的什么时候发",
    "能不能加急",
    "支持货到付款吗",
    "可以用花呗分期吗",
    "价格保护怎么申请，昨天买的今天降价了",
    "会员积分怎么用",
    "包装能不能不要写商品名称",
    "可以寄到国外吗",
    "今天发货明天能到北京吗",
    "Size M 和 L 差多少 cm？",
    "订单号 20240612123456789 麻烦查一下",
    (
        "你好，我上周三在你们店里买了一件羊毛大衣和两条围巾，当时客服说48小时内发货，"
        "可是到今天已经过去五天了物流信息还是显示待揽收，我打电话给快递公司他们说没有收到包裹，"
        "我这边着急要用，下周要出差去哈尔滨，如果这周六之前到不了的话我只能申请退款了，"
        "麻烦你们尽快帮我核实一下到底是什么情况，另外如果能发顺丰的话我愿意补运费差价，"
        "请给我一个明确的答复，谢谢。"
    ),
    (
        "收到货以后发现鞋盒有压痕，鞋子左脚的鞋头有一道明显的划痕，鞋带也是脏的，"
        "看起来像是别人退回来的二手货，我买的是全新正品，价格也不便宜，这样的质量让人很失望，"
        "我已经拍了照片和开箱视频，想问一下是直接给我换一双新的，还是需要我先寄回去你们检查，"
        "寄回的运费由谁承担，换货大概需要多长时间，能不能先把新的发给我，"
        "因为我周末要参加婚礼必须穿这双鞋，如果来不及的话请直接全额退款并赔偿运费。"
    ),
    (
        "想咨询一下这款儿童安全座椅，我家宝宝现在十个月大，体重九公斤，身高七十五厘米，"
        "车是二零一九年的大众朗逸，不确定有没有ISOFIX接口，请问这个座椅能不能反向安装，"
        "可以用到几岁，有没有3C认证和欧洲ECE认证，面料能不能拆下来洗，夏天会不会很闷热，"
        "另外你们现在有没有赠送遮阳篷或者收纳袋的活动，下单之后多久发货，"
        "偏远一点的地区比如新疆能不能包邮，如果安装不上可以退吗，谢谢耐心解答。"
    ),
    (
        "Hi, I ordered the wireless earbuds (model X200, white) last Monday and paid with a "
        "Visa card. The tracking number you sent does not work on the courier website and "
        "I have not received any update since. Could you please check the shipment, tell me "
        "the expected delivery date, and confirm whether the package includes the charging "
        "case and the USB-C cable? If it is lost, I would prefer a replacement rather than "
        "a refund, because I need them before my trip to Shanghai next Friday. Thank you!"
    ),
)


@dataclass(frozen=True)
class ExportResult:
    """Outcome of :func:`export_encoder`; cosines are per-sentence vs sentence-transformers."""

    artifact_dir: Path
    cached: bool
    mean_cosine_fp32: float
    mean_cosine_int8: float
    min_cosine_int8: float
    seconds: float


def export_encoder(
    model: str,
    artifacts_dir: Path,
    *,
    max_seq_length: int = DEFAULT_MAX_SEQ_LENGTH,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> ExportResult:
    """Export ``model`` to ``artifacts_dir/encoders/<slug>-<hash12>`` unless a verified export exists.

    Raises EncoderError (and leaves nothing behind) if either precision's mean cosine against
    sentence-transformers on :data:`VERIFICATION_SENTENCES` is below :data:`MIN_MEAN_COSINE`.
    """
    started = time.perf_counter()

    def report(message: str) -> None:
        logger.info("%s", message)
        if progress is not None:
            progress(message)

    target = encoder_artifact_dir(artifacts_dir, model, max_seq_length=max_seq_length)
    if not force:
        cached = _cached_result(target, started)
        if cached is not None:
            report(f"encoder export up to date: {target}")
            return cached

    source_path = resolve_model_path(model)
    content_hash = model_content_hash(source_path)
    report(f"exporting {model} ({source_path}) to ONNX, max_seq_length={max_seq_length}")

    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    # mkdtemp makes the folder private (0700); the service may run as another user.
    work.chmod(0o755)
    try:
        manifest = _build(
            model=model,
            source_path=source_path,
            content_hash=content_hash,
            max_seq_length=max_seq_length,
            work=work,
            report=report,
        )
        _install(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise

    seconds = time.perf_counter() - started
    verification = manifest["verification"]
    report(f"encoder exported to {target} in {seconds:.1f}s")
    return ExportResult(
        artifact_dir=target,
        cached=False,
        mean_cosine_fp32=verification["fp32"]["mean_cosine"],
        mean_cosine_int8=verification["int8"]["mean_cosine"],
        min_cosine_int8=verification["int8"]["min_cosine"],
        seconds=seconds,
    )


def _cached_result(target: Path, started: float) -> ExportResult | None:
    """A result for an existing verified artifact at ``target``, or None. Needs no torch."""
    try:
        manifest = read_manifest(target)
        verification = manifest["verification"]
        if verification.get("passed") is not True:
            return None
        if not all((target / name).is_file() for name in manifest["files"]):
            return None
        return ExportResult(
            artifact_dir=target,
            cached=True,
            mean_cosine_fp32=float(verification["fp32"]["mean_cosine"]),
            mean_cosine_int8=float(verification["int8"]["mean_cosine"]),
            min_cosine_int8=float(verification["int8"]["min_cosine"]),
            seconds=time.perf_counter() - started,
        )
    except (ArtifactMismatch, KeyError, TypeError, AttributeError, ValueError):
        return None


def _build(
    *,
    model: str,
    source_path: Path,
    content_hash: str,
    max_seq_length: int,
    work: Path,
    report: Callable[[str], None],
) -> dict[str, Any]:
    """Write the full artifact (graphs, tokenizer, manifest) into ``work``; return the manifest."""
    # torch is imported here, after the cache check, so an up-to-date export costs no torch import.
    import torch
    from sentence_transformers import SentenceTransformer

    st_model = SentenceTransformer(str(source_path), device="cpu")
    first = st_model[0]
    auto_model = getattr(first, "auto_model", None)
    hf_tokenizer = getattr(first, "tokenizer", None)
    if auto_model is None or hf_tokenizer is None:
        raise EncoderError(
            f"{model!r} does not start with a transformers text module; only sentence-transformers "
            "models built on a Hugging Face transformer can be exported."
        )
    # SDPA attention traces into a graph the ORT fusion passes do not recognise; eager attention
    # is the pattern they were written for.
    auto_model.set_attn_implementation("eager")
    own_limit = st_model.max_seq_length
    if own_limit and max_seq_length > own_limit:
        logger.warning(
            "max_seq_length %d exceeds the model's %d; using %d", max_seq_length, own_limit, own_limit
        )
    effective_max_len = min(max_seq_length, own_limit) if own_limit else max_seq_length
    st_model.max_seq_length = effective_max_len
    st_model.eval()

    backend_tokenizer = getattr(hf_tokenizer, "backend_tokenizer", None)
    if backend_tokenizer is None:
        raise EncoderError(f"{model!r} has no fast tokenizer (tokenizer.json); serving needs one.")

    reference = np.asarray(
        st_model.encode(
            list(VERIFICATION_SENTENCES),
            batch_size=32,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        ),
        dtype=np.float32,
    )
    dim = int(reference.shape[1])

    # Two texts of different lengths, so the traced graph sees real padding.
    example = hf_tokenizer(
        ["什么时候发货？", "收到的衣服有破洞，要求换货，运费谁出"],
        padding=True,
        truncation=True,
        max_length=effective_max_len,
        return_tensors="pt",
    )
    input_names = [name for name in hf_tokenizer.model_input_names if name in example]
    wrapper = _sentence_embedding_module(st_model, input_names).eval()
    args = tuple(example[name] for name in input_names)

    raw_path = work / _RAW_FILE
    report("tracing the sentence-transformers pipeline to ONNX")
    with torch.no_grad():
        exporter, opset = _export_graph(wrapper, args, input_names, raw_path)

    fp32_path = work / PRECISION_FILES["fp32"]
    fused_ops = _optimise(raw_path, fp32_path, auto_model.config)
    raw_path.unlink()
    report("fused operators: " + (", ".join(f"{k}={v}" for k, v in fused_ops.items() if v) or "none"))
    if not (fused_ops.get("Attention", 0) or fused_ops.get("MultiHeadAttention", 0)):
        logger.warning("ORT fused no attention for %s; the graph works but runs slower", model)

    int8_path = work / PRECISION_FILES["int8"]
    report("quantising to int8 (dynamic, per-channel)")
    _quantise(fp32_path, int8_path)

    from tokenizers import Tokenizer

    # A copy without the padding/truncation state the HF wrapper may have left on it; serving
    # configures truncation itself from the manifest.
    tokenizer = Tokenizer.from_str(backend_tokenizer.to_str())
    tokenizer.no_padding()
    tokenizer.no_truncation()
    tokenizer.save(str(work / TOKENIZER_FILE))

    pad_id = hf_tokenizer.pad_token_id
    manifest: dict[str, Any] = {
        "format": ARTIFACT_FORMAT,
        "format_version": ARTIFACT_FORMAT_VERSION,
        "export_recipe_version": EXPORT_RECIPE_VERSION,
        "source_model": model,
        "source_path": str(source_path),
        "model_content_hash": content_hash,
        "model_id": model_id_for(model, content_hash),
        "dim": dim,
        "max_seq_length": effective_max_len,
        "input_names": input_names,
        "output_name": OUTPUT_NAME,
        "pipeline": [type(module).__name__ for module in st_model],
        "tokenizer": {
            "file": TOKENIZER_FILE,
            "pad_id": int(pad_id) if pad_id is not None else 0,
            "pad_token": hf_tokenizer.pad_token,
        },
        "precisions": dict(PRECISION_FILES),
        "files": {
            name: {"sha256": file_sha256(work / name), "bytes": (work / name).stat().st_size}
            for name in (*PRECISION_FILES.values(), TOKENIZER_FILE)
        },
        "exporter": {"name": exporter, "opset": opset},
        "fused_operators": fused_ops,
        "verification": {"passed": False},
        "versions": _versions(),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    _write_manifest(work, manifest)

    verification = _verify(work, reference, report)
    manifest["verification"] = verification
    _write_manifest(work, manifest)
    return manifest


def _sentence_embedding_module(st_model: Any, input_names: list[str]) -> Any:
    """nn.Module: (input tensors in ``input_names`` order) -> L2-normalised sentence embedding."""
    import torch

    class SentenceEmbedding(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.st_model = st_model
            self.input_names = tuple(input_names)

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            # Running the SentenceTransformer itself keeps whatever modules follow the
            # transformer (mean/CLS pooling, Dense, Normalize) in the graph.
            features = self.st_model(dict(zip(self.input_names, inputs, strict=True)))
            return torch.nn.functional.normalize(features[OUTPUT_NAME], p=2.0, dim=-1)

    return SentenceEmbedding()


def _export_graph(
    wrapper: Any, args: tuple[Any, ...], input_names: list[str], path: Path
) -> tuple[str, int]:
    """Export with the TorchScript exporter (fuses fully in ORT), dynamo only as a fallback.

    Returns the exporter's name and the opset used.
    """
    import torch

    try:
        with warnings.catch_warnings():
            # Tracer warnings flag shape checks in transformers' mask code and ST pooling that
            # always hold for an encoder; the verification step covers many batch/length shapes.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
            warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
            # Pooling indexes with non-negative positions only, the case this warning allows.
            warnings.filterwarnings("ignore", message="Exporting aten::index operator")
            torch.onnx.export(
                wrapper,
                args,
                str(path),
                dynamo=False,
                input_names=input_names,
                output_names=[OUTPUT_NAME],
                dynamic_axes={
                    **{name: {0: "batch", 1: "sequence"} for name in input_names},
                    OUTPUT_NAME: {0: "batch"},
                },
                opset_version=ONNX_OPSET,
                do_constant_folding=True,
            )
        return "torchscript", ONNX_OPSET
    except Exception as exc:  # noqa: BLE001 - any failure of the legacy path -> try dynamo
        logger.warning("TorchScript ONNX export failed (%s); falling back to the dynamo exporter", exc)

    # The dynamo exporter's translation library starts at opset 18.
    opset = max(ONNX_OPSET, 18)
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
    torch.onnx.export(
        wrapper,
        args,
        str(path),
        dynamo=True,
        external_data=False,
        input_names=input_names,
        output_names=[OUTPUT_NAME],
        # forward(*inputs) takes one varargs tuple, so the shapes nest one level deeper.
        dynamic_shapes=(tuple({0: batch, 1: sequence} for _ in input_names),),
        opset_version=opset,
    )
    return "dynamo", opset


def _optimise(raw_path: Path, out_path: Path, config: Any) -> dict[str, int]:
    """Fuse the graph with ORT's BERT optimizer; return its fused operator counts."""
    from onnxruntime.transformers import optimizer

    optimized = optimizer.optimize_model(
        str(raw_path),
        model_type="bert",
        # 0 lets the optimizer detect them from the graph when the config does not say.
        num_heads=int(getattr(config, "num_attention_heads", 0) or 0),
        hidden_size=int(getattr(config, "hidden_size", 0) or 0),
        # Level 1 (basic) only: hardware-independent rewrites, the session applies the rest.
        opt_level=1,
    )
    stats = {str(k): int(v) for k, v in optimized.get_fused_operator_statistics().items()}
    optimized.save_model_to_file(str(out_path))
    return stats


def _quantise(fp32_path: Path, int8_path: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet_root_logger():
        quantize_dynamic(
            str(fp32_path),
            str(int8_path),
            per_channel=True,
            weight_type=QuantType.QInt8,
            # 7-bit weights: CPUs without VNNI (AVX2-only, as this project's CI machines now are)
            # multiply u8 x s8 through an int16 intermediate that saturates with 8-bit weights.
            # Measured on an AVX2-only machine: mean cosine to fp32 0.83 without it, 0.997 with it.
            reduce_range=True,
            # The fused contrib ops carry no type info for the quantiser; without a default
            # tensor type it fails on the fused graph.
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )


class _DropRootChatter(logging.Filter):
    """Drops onnxruntime.quantization's per-tensor notes, which it logs on the root logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return False
        return "pre-processing before quantization" not in record.getMessage()


@contextmanager
def _quiet_root_logger() -> Iterator[None]:
    # A filter on the root *logger* only sees records logged on root itself, never records
    # propagated from named loggers, so nobody else's logging is affected.
    root = logging.getLogger()
    chatter = _DropRootChatter()
    root.addFilter(chatter)
    try:
        yield
    finally:
        root.removeFilter(chatter)


def _verify(work: Path, reference: np.ndarray, report: Callable[[str], None]) -> dict[str, Any]:
    """Compare both ONNX precisions with sentence-transformers; raise EncoderError if off."""
    result: dict[str, Any] = {
        "sentences": len(VERIFICATION_SENTENCES),
        "threshold_mean_cosine": MIN_MEAN_COSINE,
    }
    failures = []
    for precision in ("fp32", "int8"):
        encoder = OnnxEncoder.load(work, precision=precision, threads=1)  # type: ignore[arg-type]
        # Small batches mix padded and unpadded rows, exercising the dynamic axes.
        vectors = encoder.encode(list(VERIFICATION_SENTENCES), batch_size=8)
        cosines = np.sum(vectors * reference, axis=1)
        mean, low = float(cosines.mean()), float(cosines.min())
        result[precision] = {"mean_cosine": round(mean, 6), "min_cosine": round(low, 6)}
        report(f"verification {precision}: mean cosine {mean:.5f}, min {low:.5f}")
        if not mean >= MIN_MEAN_COSINE:
            failures.append(f"{precision} mean cosine {mean:.4f} (min {low:.4f})")
    if failures:
        raise EncoderError(
            "ONNX export does not match sentence-transformers: "
            + "; ".join(failures)
            + f" < {MIN_MEAN_COSINE}. No artifact was written."
        )
    result["passed"] = True
    return result


def _write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    text = json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=False)
    (folder / MANIFEST_NAME).write_text(text + "\n", encoding="utf-8")


def _install(work: Path, target: Path) -> None:
    """Move the finished artifact into place atomically (replacing an older one on force)."""
    if not target.exists():
        try:
            os.replace(work, target)
            return
        except OSError:
            # A concurrent export won the race; keep its artifact if it is complete.
            if _cached_result(target, time.perf_counter()) is not None:
                shutil.rmtree(work, ignore_errors=True)
                return
            raise
    # os.replace cannot overwrite a non-empty directory: move the old one aside first. The
    # target is missing only for the instant between the two renames.
    stale = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
    os.replace(target, stale)
    try:
        os.replace(work, target)
    except OSError:
        os.replace(stale, target)
        raise
    shutil.rmtree(stale, ignore_errors=True)


def _versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for dist in ("torch", "onnx", "onnxruntime", "sentence-transformers", "transformers", "tokenizers"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return versions
