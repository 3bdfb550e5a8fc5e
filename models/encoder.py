"""Sentence encoders: ONNX Runtime for serving, sentence-transformers for reference and training.

Both back ends of one source model produce the same vector space, so they share one ``model_id``
(``"<slug>@<content-hash-12>"``) and indexes built with one can be queried with the other.

Serving imports this module without torch: the ONNX path needs only onnxruntime, ``tokenizers``
and numpy, and the location of an exported artifact (:func:`encoder_artifact_dir`) is computed from
the model's file hash alone. torch / sentence-transformers are imported lazily by
:class:`SentenceTransformerEncoder`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np

from models.errors import ArtifactMismatch, ConfigError, EncoderError, EncoderNotExported
from models.model_source import (
    DEFAULT_MODEL,
    model_content_hash,
    model_slug,
    resolve_model_path,
)

if TYPE_CHECKING:
    import onnxruntime
    from tokenizers import Encoding, Tokenizer

__all__ = [
    "ARTIFACT_FORMAT",
    "ARTIFACT_FORMAT_VERSION",
    "DEFAULT_MAX_SEQ_LENGTH",
    "EXPORT_COMMAND",
    "EXPORT_RECIPE_VERSION",
    "MANIFEST_NAME",
    "PRECISION_FILES",
    "TOKENIZER_FILE",
    "Backend",
    "Precision",
    "Encoder",
    "OnnxEncoder",
    "SentenceTransformerEncoder",
    "encoder_artifact_dir",
    "file_sha256",
    "load_encoder",
    "model_id_for",
    "read_manifest",
]

logger = logging.getLogger(__name__)

Precision = Literal["int8", "fp32"]
Backend = Literal["onnx", "sentence-transformers"]

MANIFEST_NAME = "manifest.json"
TOKENIZER_FILE = "tokenizer.json"
ARTIFACT_FORMAT = "smartreply-onnx-encoder"
ARTIFACT_FORMAT_VERSION = 1
# Bump when the export pipeline changes in a way that changes the produced graph or its numbers
# (wrapper, opset, fusion, quantisation settings): old artifacts then get a new directory.
EXPORT_RECIPE_VERSION = "2"  # 2: int8 weights with reduce_range (AVX2-only CPUs)
# Chat messages are short; m3e's config allows 512, which only costs latency on pasted essays.
DEFAULT_MAX_SEQ_LENGTH = 128
PRECISION_FILES: dict[str, str] = {"fp32": "model.onnx", "int8": "model.int8.onnx"}
EXPORT_COMMAND = "smartreply train export-onnx"

# ONNX input name -> attribute of a tokenizers.Encoding that feeds it.
_ENCODING_FIELDS = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}
_REQUIRED_MANIFEST_KEYS = (
    "model_id",
    "dim",
    "max_seq_length",
    "input_names",
    "output_name",
    "files",
    "precisions",
    "tokenizer",
)
_ORT_INT_TYPES = {"tensor(int64)": np.int64, "tensor(int32)": np.int32}


@runtime_checkable
class Encoder(Protocol):
    """Turns texts into L2-normalised float32 vectors of one vector space."""

    model_id: str
    """Identifies the vector space; indexes are keyed on it."""
    dim: int

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Return a float32 array of shape ``(len(texts), dim)`` with unit-length rows."""
        ...


def model_id_for(model: str, content_hash: str) -> str:
    """The vector-space id of ``model``: the same for every back end and precision."""
    return f"{model_slug(model)}@{content_hash[:12]}"


def encoder_artifact_dir(
    artifacts_dir: Path, model: str, *, max_seq_length: int = DEFAULT_MAX_SEQ_LENGTH
) -> Path:
    """Folder holding the ONNX export of ``model``: ``artifacts_dir/encoders/<slug>-<hash12>``.

    The hash covers the model files, the export recipe and ``max_seq_length``, so changing any of
    them selects a fresh folder instead of silently reusing a stale export. No torch needed.
    """
    content_hash = model_content_hash(resolve_model_path(model))
    key = f"{content_hash}\n{EXPORT_RECIPE_VERSION}\n{max_seq_length}".encode()
    hash12 = hashlib.sha256(key).hexdigest()[:12]
    return Path(artifacts_dir) / "encoders" / f"{model_slug(model)}-{hash12}"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(artifact_dir: Path) -> dict[str, Any]:
    """Read and check the manifest of an exported encoder; ArtifactMismatch if it is not one."""
    path = Path(artifact_dir) / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactMismatch(
            f"{artifact_dir} is not an exported encoder: no {MANIFEST_NAME}."
        ) from None
    except (OSError, ValueError) as exc:
        raise ArtifactMismatch(f"Unreadable encoder manifest {path}: {exc}") from exc
    if not isinstance(manifest, dict):
        raise ArtifactMismatch(f"Encoder manifest {path} is not a JSON object.")
    fmt, version = manifest.get("format"), manifest.get("format_version")
    if fmt != ARTIFACT_FORMAT or version != ARTIFACT_FORMAT_VERSION:
        raise ArtifactMismatch(
            f"{path} has format {fmt!r} version {version!r}; this smartreply reads "
            f"{ARTIFACT_FORMAT!r} version {ARTIFACT_FORMAT_VERSION}. Re-export with "
            f"`{EXPORT_COMMAND} --force`."
        )
    return manifest


class OnnxEncoder:
    """Encoder running an exported ONNX graph (tokenise -> transformer -> pooling -> L2 norm).

    Thread-safe: the tokenizer's truncation is configured once at load and never changed after,
    padding is done here in numpy, and ``InferenceSession.run`` may be called concurrently.
    """

    def __init__(
        self,
        *,
        session: onnxruntime.InferenceSession,
        tokenizer: Tokenizer,
        manifest: dict[str, Any],
        precision: Precision,
        artifact_dir: Path,
    ) -> None:
        self._session = session
        self._tokenizer = tokenizer
        self.manifest = manifest
        self.precision: Precision = precision
        self.artifact_dir = Path(artifact_dir)
        self.model_id: str = str(manifest["model_id"])
        self.dim: int = int(manifest["dim"])
        self.max_seq_length: int = int(manifest["max_seq_length"])
        self._output_name: str = str(manifest["output_name"])
        self._pad_id: int = int(manifest["tokenizer"]["pad_id"])
        dtypes = {i.name: i.type for i in session.get_inputs()}
        self._inputs: list[tuple[str, type[np.integer]]] = [
            (name, _ORT_INT_TYPES[dtypes[name]]) for name in manifest["input_names"]
        ]

    @classmethod
    def load(
        cls,
        artifact_dir: Path,
        precision: Precision = "int8",
        threads: int = 1,
        *,
        verify_checksums: bool = True,
    ) -> OnnxEncoder:
        """Open an exported encoder; ``threads`` is ONNX Runtime's intra-op thread count.

        ``verify_checksums`` re-hashes the chosen graph and the tokenizer against the manifest
        (a fraction of a second) so a truncated copy fails here, not with odd vectors later.
        """
        import onnxruntime as ort
        from tokenizers import Tokenizer

        artifact_dir = Path(artifact_dir)
        manifest = read_manifest(artifact_dir)
        if precision not in PRECISION_FILES:
            raise ConfigError(
                f"Unknown encoder precision {precision!r}; use one of {sorted(PRECISION_FILES)}."
            )
        missing = [k for k in _REQUIRED_MANIFEST_KEYS if k not in manifest]
        if missing:
            raise ArtifactMismatch(f"Encoder manifest in {artifact_dir} lacks {', '.join(missing)}.")
        try:
            model_file = artifact_dir / manifest["precisions"][precision]
            tokenizer_file = artifact_dir / manifest["tokenizer"]["file"]
            files: dict[str, Any] = manifest["files"]
            input_names = list(manifest["input_names"])
        except (KeyError, TypeError) as exc:
            raise ArtifactMismatch(f"Encoder manifest in {artifact_dir} lacks {exc}.") from exc
        unknown = [n for n in input_names if n not in _ENCODING_FIELDS]
        if unknown:
            raise ArtifactMismatch(f"Encoder in {artifact_dir} wants unsupported inputs {unknown}.")

        for path in (model_file, tokenizer_file):
            if not path.is_file():
                raise ArtifactMismatch(
                    f"Encoder artifact {artifact_dir} is incomplete: {path.name} missing."
                )
            if verify_checksums:
                expected = (files.get(path.name) or {}).get("sha256")
                if expected != file_sha256(path):
                    raise ArtifactMismatch(
                        f"{path} does not match its manifest checksum; re-export with "
                        f"`{EXPORT_COMMAND} --force`."
                    )

        tokenizer = Tokenizer.from_file(str(tokenizer_file))
        # Padding is done per batch in encode(); the shared tokenizer only truncates, and its
        # state is never touched again, which keeps concurrent encode() calls safe.
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=int(manifest["max_seq_length"]))

        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, int(threads))
        # Request-level parallelism comes from the web server; nested parallel graph branches
        # would only fight for the same cores.
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            session = ort.InferenceSession(
                str(model_file), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # noqa: BLE001 - ORT raises its own untyped errors
            raise EncoderError(f"ONNX Runtime cannot load {model_file}: {exc}") from exc

        session_inputs = {i.name: i.type for i in session.get_inputs()}
        if set(session_inputs) != set(input_names) or any(
            t not in _ORT_INT_TYPES for t in session_inputs.values()
        ):
            raise ArtifactMismatch(
                f"{model_file} takes inputs {session_inputs}, manifest lists {input_names}."
            )
        if manifest["output_name"] not in {o.name for o in session.get_outputs()}:
            raise ArtifactMismatch(f"{model_file} has no output {manifest['output_name']!r}.")

        logger.info(
            "loaded ONNX encoder %s (%s, %d threads) from %s",
            manifest["model_id"], precision, threads, artifact_dir,
        )
        return cls(
            session=session,
            tokenizer=tokenizer,
            manifest=manifest,
            precision=precision,
            artifact_dir=artifact_dir,
        )

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Encode ``texts`` into unit-length float32 rows, in input order."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of strings, not a single string")
        texts = list(texts)
        n = len(texts)
        out = np.empty((n, self.dim), dtype=np.float32)
        if n == 0:
            return out
        batch_size = max(1, int(batch_size))

        encodings = self._tokenizer.encode_batch(texts, add_special_tokens=True)
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=n)
        # Batching neighbours in length order keeps padding (wasted attention work) small.
        order = np.argsort(lengths, kind="stable")
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            feeds = self._feeds([encodings[i] for i in idx], int(lengths[idx].max()))
            try:
                vectors = self._session.run([self._output_name], feeds)[0]
            except Exception as exc:  # noqa: BLE001 - ORT raises its own untyped errors
                raise EncoderError(f"ONNX encoder {self.model_id} failed: {exc}") from exc
            out[idx] = vectors
        return _l2_normalise(out)

    def _feeds(self, encodings: list[Encoding], width: int) -> dict[str, np.ndarray]:
        feeds: dict[str, np.ndarray] = {}
        for name, dtype in self._inputs:
            pad = self._pad_id if name == "input_ids" else 0
            array = np.full((len(encodings), width), pad, dtype=dtype)
            field = _ENCODING_FIELDS[name]
            for row, enc in enumerate(encodings):
                values = getattr(enc, field)
                array[row, : len(values)] = values
            feeds[name] = array
        return feeds

    def __repr__(self) -> str:
        return f"OnnxEncoder({self.model_id!r}, precision={self.precision!r}, dim={self.dim})"


class SentenceTransformerEncoder:
    """Reference / training back end: the sentence-transformers model on CPU (imports torch)."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        max_seq_length: int = DEFAULT_MAX_SEQ_LENGTH,
        device: str = "cpu",
    ) -> None:
        path = resolve_model_path(model)
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EncoderError(
                "The sentence-transformers back end needs the training extras: "
                "pip install 'smartreply[train]'."
            ) from exc

        self.model = SentenceTransformer(str(path), device=device)
        own_limit = self.model.max_seq_length
        self.model.max_seq_length = min(max_seq_length, own_limit) if own_limit else max_seq_length
        self.max_seq_length: int = int(self.model.max_seq_length)
        self.source_path = path
        self.model_id: str = model_id_for(model, model_content_hash(path))
        self.dim: int = _st_dimension(self.model)

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Encode ``texts`` into unit-length float32 rows, in input order."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of strings, not a single string")
        texts = list(texts)
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=max(1, int(batch_size)),
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return _l2_normalise(np.asarray(vectors, dtype=np.float32))

    def __repr__(self) -> str:
        return f"SentenceTransformerEncoder({self.model_id!r}, dim={self.dim})"


def load_encoder(
    model: str,
    backend: Backend,
    precision: Precision,
    artifacts_dir: Path,
    threads: int = 1,
) -> Encoder:
    """Build the configured encoder.

    ``onnx`` opens the export of ``model`` under ``artifacts_dir`` (EncoderNotExported if it has
    not been built). ``sentence-transformers`` loads the source model with torch; ``precision``
    and ``threads`` apply to ONNX only (torch's thread pool is process-global, not ours to set).
    """
    if backend == "onnx":
        artifact_dir = encoder_artifact_dir(artifacts_dir, model)
        if not (artifact_dir / MANIFEST_NAME).is_file():
            raise EncoderNotExported(
                f"The ONNX encoder for {model!r} has not been exported yet (expected in "
                f"{artifact_dir}). Run `{EXPORT_COMMAND}` (or `make run`) first."
            )
        encoder = OnnxEncoder.load(artifact_dir, precision=precision, threads=threads)
        expected_hash = model_content_hash(resolve_model_path(model))
        if encoder.manifest.get("model_content_hash") != expected_hash:
            raise ArtifactMismatch(
                f"{artifact_dir} was exported from different model files than {model!r}; "
                f"re-export with `{EXPORT_COMMAND} --force`."
            )
        return encoder
    if backend == "sentence-transformers":
        if precision != "fp32":
            logger.info("precision %r ignored: the sentence-transformers back end runs fp32", precision)
        return SentenceTransformerEncoder(model)
    raise ConfigError(f"Unknown encoder backend {backend!r}; use 'onnx' or 'sentence-transformers'.")


def _st_dimension(model: Any) -> int:
    # sentence-transformers renamed get_sentence_embedding_dimension in v6; support both.
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    dim = getter()
    if not dim:
        dim = int(model.encode(["维度"], convert_to_numpy=True).shape[1])
    return int(dim)


def _l2_normalise(vectors: np.ndarray) -> np.ndarray:
    # The graphs already normalise; renormalising is nearly free and absorbs int8 drift.
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    np.maximum(norms, 1e-12, out=norms)
    vectors /= norms
    return vectors
