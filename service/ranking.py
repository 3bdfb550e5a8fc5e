"""Suggestion steps after retrieval: rerank, decide, render, guard (no web framework in here).

``Suggester`` (service/pipeline.py) loads a shop and retrieves candidate phrasings; this module turns
them into what an agent sees: entries reranked by the shop's learned ``EntryRanker`` with a
calibrated confidence, at most one suggestion per answer, answer variables filled from the order
context, anything that fails the compliance guard removed (and reported), keyword rules first and an
intent template when the knowledge base has nothing good.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import re
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import numpy as np

from knowledge_base.compliance import check_text
from knowledge_base.index import GRAPH_M, ShopIndex, graph_nbytes, hnsw_graph, index_dir
from knowledge_base.learning import LearnedLayer
from models.intent import IntentClassifier, intent_tag
from models.messages import M, Msg
from models.normalize import DEFAULT_NORMALISATION, Normalisation, normalize_text
from models.ranker import FEATURES, LEXICON_FORMAT, EntryRanker

__all__ = [
    "PipelineOptions", "SuggestContext", "Turn", "ShopRanking", "build_shop_ranking", "attach_centroid_graph",
    "render_variables", "intent_template", "guard", "why",
]

logger = logging.getLogger(__name__)

_VARIABLE = re.compile(r"\{([^{}\s]{1,20})\}")


@dataclass(frozen=True)
class PipelineOptions:
    """The pipeline's switches (each a setting, so an evaluation ablation is one flag)."""

    rerank: bool = True
    feature_centroid: bool = True
    feature_lexical: bool = True
    feature_intent: bool = True
    feature_prior: bool = True
    feature_hub: bool = True
    suggest_threshold: float = 0.1
    auto_reply_threshold: float = 0.9
    context_weight: float = 0.5
    context_max_chars: int = 8
    templates: bool = True
    rules: bool = True
    quick_phrases: bool = True
    guard: bool = True

    def features(self) -> tuple[str, ...]:
        off = set()
        if not self.feature_centroid:
            off |= {"centroid", "gap_centroid"}
        if not self.feature_lexical:
            off.add("lexical")
        if not self.feature_intent:
            off.add("intent")
        if not self.feature_prior:
            off.add("prior")
        if not self.feature_hub:
            off.add("centroid_hub")
        return tuple(f for f in FEATURES if f not in off)


@dataclass(frozen=True)
class Turn:
    role: str  # buyer | agent
    text: str
    at: datetime | None = None  # when it was sent, if the caller knows (repeated unanswered asks)


@dataclass
class SuggestContext:
    """What the agent UI knows besides the message."""

    turns: list[Turn] = field(default_factory=list)  # earlier turns, oldest first
    variables: dict[str, str] = field(default_factory=dict)  # {买家昵称}, {订单尾号}, {物流公司} …
    conversation_id: str | None = None
    at: datetime | None = None

    def previous_buyer_text(self) -> str | None:
        for turn in reversed(self.turns):
            if turn.role == "buyer" and turn.text.strip():
                return turn.text
        return None


@dataclass
class ShopRanking:
    ranker: EntryRanker
    entry_ids: list[str]
    entry_intents: list[str | None]


def build_shop_ranking(index: ShopIndex, intent_model: IntentClassifier | None,
                       options: PipelineOptions, *, index_root: Path | None = None,
                       normalise=lambda s: s, learned: LearnedLayer | None = None) -> ShopRanking:
    """Reranker of a loaded shop version (and its approved learned examples, phrasings after the index's
    own: ids ``index.size + i``).

    What depends on the version alone is cached next to the index, so loading a shop again costs little:
    the character-gram tables with the normalised phrasings, the entries' hubness, and the learned
    weights. With learned examples the tables and the hubness are made in memory, and the weights are
    fit again only when the number of examples has grown by about a quarter (``_learned_bucket``): a
    reload for each approved example reuses them.
    """
    vectors = index.vectors()
    entry_ids = list(dict.fromkeys(index.phrasings.entry_ids))
    position = {e: i for i, e in enumerate(entry_ids)}
    phrasing_entry = [position[e] for e in index.phrasings.entry_ids]
    folder = index_dir(index_root, index.shop_id, index.version) if index_root is not None else None
    tag = _normaliser_tag(normalise)
    lexicon_path = folder / f"lexicon.{tag}.npz" if folder is not None and tag is not None else None
    lexicon = _read_lexicon(lexicon_path, index.size)
    texts = lexicon["texts"].tolist() if lexicon is not None else [normalise(t) for t in index.phrasings.texts]
    is_learned = None
    if learned is not None and len(learned):
        vectors = np.concatenate([vectors, learned.vectors]) if len(vectors) else learned.vectors
        phrasing_entry += [position[e] for e in learned.entry_ids]
        texts = texts + list(learned.texts)
        is_learned = np.arange(len(texts)) >= index.size
        lexicon = None  # the saved tables cover the index's phrasings only
    hub_path = folder / "hub.npz" if folder is not None and is_learned is None else None
    ranker = EntryRanker(vectors, phrasing_entry, texts, entry_ids, features=options.features(), lexicon=lexicon,
                         learned=is_learned, hubness=_read_array(hub_path, "hubness", len(entry_ids)))
    if hub_path is not None and not hub_path.is_file():
        buf = io.BytesIO()
        np.savez(buf, hubness=ranker.hubness)
        _write_cache(hub_path, buf.getvalue(), "entry hubness")
    if lexicon is None and lexicon_path is not None and is_learned is None:
        buf = io.BytesIO()
        np.savez(buf, **ranker.lexicon(), texts=np.array(texts, dtype=np.str_))
        _write_cache(lexicon_path, buf.getvalue(), "character-gram tables")
    entry_intents: list[str | None] = [None] * len(entry_ids)
    phrasing_proba = None
    if intent_model is not None and len(entry_ids):
        centroid_proba = intent_model.predict_proba(ranker.centroids)
        ranker.entry_intent = centroid_proba.argmax(axis=1)
        entry_intents = [str(intent_model.classes_[i]) for i in ranker.entry_intent]
        phrasing_proba = intent_model.predict_proba(vectors)
    n_learned = 0 if is_learned is None else int(is_learned.sum())
    cache = folder / _ranker_file(options, intent_model, n_learned) if folder is not None else None
    if cache is not None and cache.is_file() and ranker.load_weights(cache.read_text("utf-8")):
        return ShopRanking(ranker, entry_ids, entry_intents)
    fit = ranker.fit(texts, intent_proba=phrasing_proba)
    logger.info("shop %s v%d: ranker %s from %d pseudo-queries (%d learned examples; KB-fold hit@1 %.3f)",
                index.shop_id, index.version, "learned" if fit.learned else "default weights", fit.pseudo_queries,
                n_learned, fit.train_hit1)
    if cache is not None:
        _write_cache(cache, ranker.to_json().encode("utf-8"), "ranker weights")
    return ShopRanking(ranker, entry_ids, entry_intents)


def attach_centroid_graph(ranking: ShopRanking, index: ShopIndex, *, index_root: Path | None,
                          ef_search: int = 64) -> None:
    """Search the entry centroids of a large shop through an HNSW graph (cached beside the index, like
    the phrasing graph): the exact scan reads all of them for every message."""
    ranker = ranking.ranker
    folder = index_dir(index_root, index.shop_id, index.version) if index_root is not None else None
    ranker.centroid_graph = hnsw_graph(
        ranker.centroids.shape, lambda: ranker.centroids,
        folder / f"centroids.hnsw{GRAPH_M}.faiss" if folder is not None else None,
        ef_search=ef_search, what=f"centroid graph for shop {index.shop_id} v{index.version}")
    ranker.centroid_graph_nbytes = graph_nbytes(*ranker.centroids.shape)


def _normaliser_tag(normalise) -> str | None:  # noqa: ANN001 - a text -> text callable
    """A file-name tag for the normalisation the cached texts went through (None: do not cache)."""
    if normalise is normalize_text:
        normalise = DEFAULT_NORMALISATION
    if not isinstance(normalise, Normalisation):
        return None
    return hashlib.sha1(f"{LEXICON_FORMAT}|{normalise.signature()}".encode()).hexdigest()[:10]


def _read_lexicon(path: Path | None, phrasings: int) -> dict[str, np.ndarray] | None:
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            lexicon = {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        logger.warning("ignoring unreadable %s (%s); rebuilding it", path, exc)
        return None
    if len(lexicon.get("texts", ())) != phrasings or len(lexicon.get("indptr", ())) != phrasings + 1:
        logger.warning("ignoring %s: it does not match the index (%d phrasings)", path, phrasings)
        return None
    return lexicon


def _write_cache(path: Path, data: bytes, what: str) -> None:
    """Write beside the index, atomically (a reader sees the old file or the whole new one)."""
    try:
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as exc:  # a read-only index volume: keep it in memory only
        logger.warning("could not cache the %s at %s: %s", what, path, exc)


def _learned_bucket(n_learned: int) -> int:
    """0 without learned examples, then one bucket per ~25 % more of them (1, 2, 3, 4, 5, 7, 9, 11, 14 …)."""
    return 0 if n_learned <= 0 else 1 + int(math.log(n_learned) / math.log(1.25))


def _ranker_file(options: PipelineOptions, intent_model: IntentClassifier | None, n_learned: int = 0) -> str:
    # Weights depend on the feature set, on the intent model whose probabilities feed them, and on how
    # many real messages they were fit on.
    digest = hashlib.sha1(f"{','.join(options.features())}|{intent_tag(intent_model)}".encode()).hexdigest()[:10]
    bucket = _learned_bucket(n_learned)
    return f"ranker.{digest}.json" if bucket == 0 else f"ranker.{digest}.learned{bucket}.json"


def _read_array(path: Path | None, name: str, length: int) -> np.ndarray | None:
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            values = data[name]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        logger.warning("ignoring unreadable %s (%s); computing it again", path, exc)
        return None
    return values if len(values) == length else None


def render_variables(text: str, variables: dict[str, str]) -> tuple[str, tuple[str, ...]]:
    """Fill ``{名称}`` placeholders; returns the text and the names that could not be filled."""
    missing: list[str] = []

    def fill(m: re.Match) -> str:
        value = variables.get(m.group(1))
        if value is None or not str(value).strip():
            missing.append(m.group(1))
            return m.group(0)
        return str(value)

    return _VARIABLE.sub(fill, text), tuple(dict.fromkeys(missing))


@lru_cache(maxsize=1)
def _templates() -> dict[str, str]:
    path = Path(__file__).resolve().parent / "data" / "intent_templates.json"
    return json.loads(path.read_text("utf-8"))


def intent_template(intent: str | None) -> str | None:
    return _templates().get(intent) if intent else None


@lru_cache(maxsize=20_000)
def guard(text: str) -> tuple[bool, str, tuple[str, ...]]:
    """(allowed, reason, kinds) of the compliance check on an outgoing text.

    Cached: the same FAQ answers come back request after request, and the check costs ~0.5 ms."""
    result = check_text(text)
    return result.allowed, result.reason(), tuple(result.kinds)


def blend_context(vector: np.ndarray, context_vector: np.ndarray | None, weight: float) -> np.ndarray:
    """A short follow-up ("那要多久") borrows meaning from the buyer's previous turn."""
    if context_vector is None or weight <= 0:
        return vector
    mixed = vector + weight * context_vector
    norm = np.linalg.norm(mixed)
    return mixed / norm if norm > 0 else vector


def why(candidate, *, message_intent: str | None, neighbours: tuple[float | None, float | None],  # noqa: ANN001
        top_question: str | None, thresholds: tuple[float, float], top_k: int) -> list[Msg]:
    """The main reasons a ranked candidate (``pipeline.RankedCandidate``) stands where it does, one
    sentence each: how close its nearest phrasing is in meaning, word overlap when it is telling,
    intent agreement, its lead over (or gap to) its neighbours, then what the thresholds decided.
    ``neighbours``: the confidence of the next candidate (for the first) and of the first (for the rest).
    """
    s = candidate.suggestion
    f = s.features or {}
    out: list[Msg] = []
    dense = f.get("dense_max", s.score)
    level = "high" if dense >= 0.85 else "mid" if dense >= 0.7 else "low"
    out.append(M(f"why.dense_{level}", phrasing=s.matched_question or s.question, value=round(dense, 3)))
    lexical = f.get("lexical")
    if lexical is not None and (lexical >= 0.5 or lexical <= 0.1):
        out.append(M("why.lexical_high" if lexical >= 0.5 else "why.lexical_low", value=round(lexical, 3)))
    if s.intent and message_intent:
        out.append(M("why.intent_same", intent=s.intent) if s.intent == message_intent
                   else M("why.intent_other", intent=s.intent, message_intent=message_intent))
    following, best = neighbours
    if candidate.rank == 1 and following is not None and s.confidence - following >= 0.3:
        out.append(M("why.gap_lead", gap=round(s.confidence - following, 3)))
    elif candidate.rank > 1 and best is not None and best - s.confidence < 0.1 and top_question:
        out.append(M("why.gap_close", gap=round(best - s.confidence, 3), top=top_question))
    suggest, auto = thresholds
    conf = round(s.confidence, 3)
    if candidate.status == "suggested":
        out.append(M("why.auto", confidence=conf, threshold=auto) if candidate.auto_reply
                   else M("why.suggest", confidence=conf, threshold=suggest))
    elif candidate.status == "below_threshold":
        out.append(M("why.below", confidence=conf, threshold=suggest, missing=round(suggest - s.confidence, 3)))
    elif candidate.status == "duplicate":
        out.append(M("why.duplicate", entry=candidate.other or ""))
    elif candidate.status == "blocked":
        out.append(M("why.blocked", reason=[M(f"compliance.{k}") for k in (candidate.other or "").split(",") if k]))
    else:
        out.append(M("why.beyond_top_k", rank=candidate.rank, top_k=top_k))
    return out
