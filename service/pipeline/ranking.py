"""The rerank stage's shop state: a loaded version's ``EntryRanker`` (models/ranker.py), built from the
files cached in the version's index folder when they are there (``knowledge_base/derived.py`` owns their
names and formats: gram tables, hubness, learned weights, the centroid graph), so loading a shop again
costs little.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from knowledge_base.derived import (
    CENTROID_GRAPH_FILE,
    HUB_FILE,
    lexicon_file,
    ranker_file,
    read_array,
    read_lexicon,
    write_cache,
)
from knowledge_base.index import ShopIndex, graph_nbytes, hnsw_graph, index_dir
from knowledge_base.learning import LearnedLayer
from models.intent import IntentClassifier, intent_tag
from models.ranker import EntryRanker

from .options import PipelineOptions

__all__ = ["ShopRanking", "build_shop_ranking", "attach_centroid_graph"]

logger = logging.getLogger(__name__)


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
    fit again only when the number of examples has grown by about a quarter (``derived.learned_bucket``): a
    reload for each approved example reuses them.
    """
    vectors = index.vectors()
    entry_ids = list(dict.fromkeys(index.phrasings.entry_ids))
    position = {e: i for i, e in enumerate(entry_ids)}
    phrasing_entry = [position[e] for e in index.phrasings.entry_ids]
    folder = index_dir(index_root, index.shop_id, index.version) if index_root is not None else None
    name = lexicon_file(normalise)
    lexicon_path = folder / name if folder is not None and name is not None else None
    lexicon = read_lexicon(lexicon_path, index.size)
    texts = lexicon["texts"].tolist() if lexicon is not None else [normalise(t) for t in index.phrasings.texts]
    is_learned = None
    if learned is not None and len(learned):
        vectors = np.concatenate([vectors, learned.vectors]) if len(vectors) else learned.vectors
        phrasing_entry += [position[e] for e in learned.entry_ids]
        texts = texts + list(learned.texts)
        is_learned = np.arange(len(texts)) >= index.size
        lexicon = None  # the saved tables cover the index's phrasings only
    hub_path = folder / HUB_FILE if folder is not None and is_learned is None else None
    ranker = EntryRanker(vectors, phrasing_entry, texts, entry_ids, features=options.features(), lexicon=lexicon,
                         learned=is_learned, hubness=read_array(hub_path, "hubness", len(entry_ids)))
    if hub_path is not None and not hub_path.is_file():
        buf = io.BytesIO()
        np.savez(buf, hubness=ranker.hubness)
        write_cache(hub_path, buf.getvalue(), "entry hubness")
    if lexicon is None and lexicon_path is not None and is_learned is None:
        buf = io.BytesIO()
        np.savez(buf, **ranker.lexicon(), texts=np.array(texts, dtype=np.str_))
        write_cache(lexicon_path, buf.getvalue(), "character-gram tables")
    entry_intents: list[str | None] = [None] * len(entry_ids)
    phrasing_proba = None
    if intent_model is not None and len(entry_ids):
        centroid_proba = intent_model.predict_proba(ranker.centroids)
        ranker.entry_intent = centroid_proba.argmax(axis=1)
        entry_intents = [str(intent_model.classes_[i]) for i in ranker.entry_intent]
        phrasing_proba = intent_model.predict_proba(vectors)
    n_learned = 0 if is_learned is None else int(is_learned.sum())
    cache = folder / ranker_file(options.features(), intent_tag(intent_model), n_learned) if folder is not None else None
    if cache is not None and cache.is_file() and ranker.load_weights(cache.read_text("utf-8")):
        return ShopRanking(ranker, entry_ids, entry_intents)
    fit = ranker.fit(texts, intent_proba=phrasing_proba)
    logger.info("shop %s v%d: ranker %s from %d pseudo-queries (%d learned examples; KB-fold hit@1 %.3f)",
                index.shop_id, index.version, "learned" if fit.learned else "default weights", fit.pseudo_queries,
                n_learned, fit.train_hit1)
    if cache is not None:
        write_cache(cache, ranker.to_json().encode("utf-8"), "ranker weights")
    return ShopRanking(ranker, entry_ids, entry_intents)


def attach_centroid_graph(ranking: ShopRanking, index: ShopIndex, *, index_root: Path | None,
                          ef_search: int = 64) -> None:
    """Search the entry centroids of a large shop through an HNSW graph (cached beside the index, like
    the phrasing graph): the exact scan reads all of them for every message."""
    ranker = ranking.ranker
    folder = index_dir(index_root, index.shop_id, index.version) if index_root is not None else None
    ranker.centroid_graph = hnsw_graph(
        ranker.centroids.shape, lambda: ranker.centroids,
        folder / CENTROID_GRAPH_FILE if folder is not None else None,
        ef_search=ef_search, what=f"centroid graph for shop {index.shop_id} v{index.version}")
    ranker.centroid_graph_nbytes = graph_nbytes(*ranker.centroids.shape)
