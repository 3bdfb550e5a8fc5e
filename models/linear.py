"""Softmax-linear models over sentence vectors (the intent and escalation models): fitting with
scikit-learn, predicting in numpy, and their folder on disk (``<name>.npz`` + ``manifest.json``,
never pickle), written atomically and refused when it was made for another encoder or format."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.errors import ArtifactMismatch, NotFound

__all__ = ["fit_softmax", "softmax_proba", "save_model_folder", "load_model_folder"]


def fit_softmax(vectors: np.ndarray, labels: Sequence[str], **params: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(classes, coef, intercept) of a logistic regression (``params``: scikit-learn's), as a softmax over
    every class, two classes included."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(**params)
    model.fit(vectors, list(labels))
    classes = np.array(model.classes_, dtype=str)
    coef, intercept = model.coef_.astype(np.float32), model.intercept_.astype(np.float32)
    if len(classes) == 2:  # sklearn stores one row for two classes; keep the softmax form
        coef = np.vstack([-coef, coef]) / 2
        intercept = np.array([-intercept[0], intercept[0]], dtype=np.float32) / 2
    return classes, coef, intercept


def softmax_proba(vectors: np.ndarray, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    logits = np.asarray(vectors, dtype=np.float32) @ coef.T + intercept
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def save_model_folder(folder: Path, npz_name: str, arrays: dict[str, np.ndarray], manifest: dict[str, Any]) -> Path:
    """Write ``npz_name`` + ``manifest.json`` into ``folder`` atomically."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    np.savez(tmp / npz_name, **arrays)
    (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), "utf-8")
    # A directory cannot be replaced over a non-empty one: move the old aside first. A crash in
    # between leaves no model at `folder` (load then says so) but never a half-written one.
    old = folder.with_name(f".{folder.name}.old")
    if folder.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)
    return folder


def load_model_folder(folder: Path, npz_name: str, *, fmt: str, encoder_id: str, what: str,
                      command: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(manifest, arrays) of a folder ``save_model_folder`` wrote; ``what`` / ``command`` name the model
    and how to make it in the errors."""
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise NotFound(f"no {what} at {folder}; train one with `{command}`")
    manifest = json.loads(manifest_path.read_text("utf-8"))
    if manifest.get("format") != fmt:
        raise ArtifactMismatch(f"{folder}: format {manifest.get('format')!r}, expected {fmt!r}")
    if manifest.get("encoder_id") != encoder_id:
        raise ArtifactMismatch(f"{folder}: trained on vectors of {manifest.get('encoder_id')!r}, the service "
                               f"runs {encoder_id!r}; retrain with `{command}`")
    with np.load(folder / npz_name, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    return manifest, arrays
