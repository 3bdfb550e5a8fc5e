"""The candidate stages: retrieved phrasings become ranked suggestions (reranked by the shop's
``EntryRanker``, or dense-only with rerank off), and the shop's quick phrases scored beside them."""

from __future__ import annotations

import numpy as np

from models.quick_phrase_scorer import QP_FEATURES, QuickPhraseScorer, phrase_features

from .contract import Suggestion
from .shops import LoadedKb, ServedPhrases

__all__ = ["reranked", "best_per_entry", "phrase_candidates"]


def phrase_candidates(scorer: QuickPhraseScorer, phrases: ServedPhrases, vector: np.ndarray, query: str,
                      intent_proba: np.ndarray | None, top_k: int) -> list[Suggestion]:
    """The shop's quick phrases that may answer the message, with the scorer's calibrated confidence."""
    features = phrase_features(phrases.table, vector, query, intent_proba)
    confidence = scorer.predict_proba(features)
    out = []
    for i in np.argsort(-confidence, kind="stable")[: top_k + 2]:
        out.append(Suggestion(entry_id=None, question=phrases.groups[i], matched_question="",
                              answer=phrases.texts[i], score=float(features[i, 0]), category=phrases.groups[i],
                              confidence=float(confidence[i]), source="quick_phrase",
                              quick_phrase_id=phrases.ids[i],
                              features=dict(zip(QP_FEATURES, map(float, features[i])))))
    return out


def reranked(kb: LoadedKb, vector: np.ndarray, query: str, ids: np.ndarray, intent_proba: np.ndarray | None,
             top_k: int) -> list[Suggestion]:
    """The retrieved phrasings' entries, reranked by the shop's ``EntryRanker`` (calibrated confidence)."""
    ranking = kb.ranking
    out = []
    # Room for answers the decision drops (same reply text as a better one, or blocked).
    for c in ranking.ranker.rank(vector, query, ids, intent_proba, limit=2 * top_k + 10):
        entry = kb.entries[ranking.entry_ids[c.entry]]
        out.append(Suggestion(
            entry_id=entry.id, question=entry.question, matched_question=kb.phrasing_text(c.best_phrasing),
            answer=entry.answer, score=c.features.get("dense_max", 0.0), category=entry.category,
            confidence=c.confidence, intent=ranking.entry_intents[c.entry], features=c.features))
    return out


def best_per_entry(kb: LoadedKb, scores: np.ndarray, ids: np.ndarray) -> list[Suggestion]:
    """Dense-only ranking (rerank off): an entry is as good as its closest phrasing."""
    # FAISS returns phrasings best first, so the first time an entry appears is its best score.
    out: list[Suggestion] = []
    seen: set[str] = set()
    for score, pid in zip(scores, ids):
        if pid < 0:
            break
        entry_id = kb.phrasing_entry(int(pid))
        if entry_id in seen:
            continue
        seen.add(entry_id)
        entry = kb.entries[entry_id]
        out.append(Suggestion(entry_id=entry.id, question=entry.question, matched_question=kb.phrasing_text(int(pid)),
                              answer=entry.answer, score=float(score), category=entry.category,
                              confidence=float(score)))
    return out
