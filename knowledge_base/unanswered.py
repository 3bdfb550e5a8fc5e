"""What the knowledge base did not answer, against its active version: buyer messages clustered by
meaning (``EventLog.unanswered``; a message the active version now has as a phrasing counts as
answered), and the one-click fixes that turn a cluster into a new entry or into 相似问 of one."""

from __future__ import annotations

from collections.abc import Sequence

from models.encoder import Encoder
from models.errors import NotFound

from .analytics import Cluster, EventLog
from .importer import EditResult
from .manager import KnowledgeBase
from .schema import FaqEntry

__all__ = ["UnansweredReview"]


class UnansweredReview:
    """``low_confidence``: a best confidence below it is unanswered; ``threshold``: cosine similarity
    that joins two messages in a cluster; ``max_similar``: most 相似问 an entry may have."""

    def __init__(self, events: EventLog, kb: KnowledgeBase, encoder: Encoder, *, low_confidence: float,
                 threshold: float, max_similar: int) -> None:
        self.events = events
        self.kb = kb
        self.encoder = encoder
        self.low_confidence = low_confidence
        self.threshold = threshold
        self.max_similar = max_similar

    def active_entries(self, shop_id: str) -> tuple[int | None, list[FaqEntry]]:
        """The active version and its entries ((None, []) before the first upload)."""
        try:
            return self.kb.entries(shop_id)
        except NotFound:
            return None, []

    def _options(self, days: int, entries: Sequence[FaqEntry]) -> dict:
        normalise = self.kb.normalise
        return {"days": days, "low_confidence": self.low_confidence, "threshold": self.threshold,
                "normalise": normalise, "covered": {normalise(p) for e in entries for p in e.phrasings}}

    def clusters(self, shop_id: str, days: int) -> tuple[list[Cluster], list[FaqEntry]]:
        """The clusters, biggest first, and the active entries they were judged against."""
        _, entries = self.active_entries(shop_id)
        return self.events.unanswered(shop_id, self.encoder, **self._options(days, entries)), entries

    def cluster(self, shop_id: str, cluster_id: str, days: int) -> Cluster:
        return self.events.cluster(shop_id, cluster_id, self.encoder,
                                   **self._options(days, self.active_entries(shop_id)[1]))

    def add_as_entry(self, shop_id: str, cluster_id: str, *, days: int, answer: str, question: str | None = None,
                     category: str = "") -> EditResult:
        """A new entry: ``question`` (default the cluster's latest message), the other messages as 相似问."""
        cluster = self.cluster(shop_id, cluster_id, days)
        question = question or cluster.examples[0]
        similar = [m for m in cluster.examples if m != question][: self.max_similar]
        return self.kb.add_entry(shop_id, question=question, answers=[answer], similar=similar, category=category)

    def add_as_similar(self, shop_id: str, cluster_id: str, *, days: int, entry_id: str) -> EditResult:
        """The cluster's messages as 相似问 of an existing entry."""
        cluster = self.cluster(shop_id, cluster_id, days)
        _, entry = self.kb.entry(shop_id, entry_id)
        similar = list(entry.similar) + [m for m in cluster.examples if m not in entry.similar and m != entry.question]
        return self.kb.update_entry(shop_id, entry_id, {"similar": similar[: self.max_similar]})
