"""Per-shop entry ranker: features of (message, FAQ entry) fused by a logistic model into a confidence.

Retrieval alone (nearest phrasing) ignores most of what a shop's knowledge base says about an entry.
For every candidate entry this module computes:

``dense_max``     cosine of the message and the entry's closest phrasing
``dense_knn``     mean cosine of its three closest phrasings
``centroid``      cosine with the mean of the entry's phrasings (a per-shop prototype, the cheapest
                  "adapter" learnt from the merchant's 相似问; as good as a per-entry classifier here)
``lexical``       IDF-weighted share of the message's characters and character bigrams found in the
                  entry's best-matching phrasing (IDF over the shop's own phrasings)
``intent``        probability, under the platform intent model, of the entry's intent
``gap_max``/``gap_centroid``  how far the entry is behind the best candidate (calibration needs it)
``prior``         log of the entry's number of phrasings, scaled to [0, 1] within the shop: merchants
                  write more 相似问 for the questions buyers ask most, so it is a popularity prior
``centroid_hub``  the centroid cosine minus the entry's *hubness* (mean cosine of its centroid to the
                  ten nearest phrasings of other entries): a broad entry sits close to everything and
                  attracted unsure messages (on CSDS one such entry took 19 % of all top-1 answers,
                  half of them wrong); this is the CSLS correction of cross-lingual retrieval

The fusion weights are learnt per shop: each sampled phrasing is held out of its entry and used as a
pseudo-query (leave-one-out), which gives labelled (query, candidate) pairs. Learned examples (real
buyer messages an agent's pick labelled, ``knowledge_base/learning.py``) are phrasings too, marked
``learned``: they are all used as pseudo-queries, and once there are ``min_real_calibration`` of them
the temperature and the "none of these" logit are fitted on them alone, so the confidence is calibrated
on the distribution it is used on rather than on the merchant's own phrasings. The logistic output is
the calibrated probability that a candidate is the right entry, which the service compares with its
thresholds.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.sparse import csr_matrix

if TYPE_CHECKING:
    import faiss

__all__ = ["FEATURES", "LEXICON_FORMAT", "Candidate", "EntryRanker", "RankerFit", "char_grams", "entry_hubness"]

FEATURES = ("dense_max", "dense_knn", "centroid", "lexical", "intent", "gap_max", "gap_centroid", "prior",
            "centroid_hub")
# Used when a shop is too small to learn from (fewer than two entries with two phrasings); fitted on
# the demo shop and rounded, so the default behaves like a learned model rather than a guess.
DEFAULT_WEIGHTS = {"dense_max": 6.0, "dense_knn": 2.0, "centroid": 4.0, "lexical": 2.0, "intent": 1.0,
                   "gap_max": 10.0, "gap_centroid": 8.0, "prior": 0.0, "centroid_hub": 0.0}
DEFAULT_BIAS = -13.0
DEFAULT_NULL_LOGIT = 12.0
EXACT_MATCH_CONFIDENCE = 0.95
RANKER_FORMAT = "smartreply-entry-ranker/4"  # 3: the prior feature; 4: centroid_hub
LEXICON_FORMAT = "sorted-char-grams/1"  # bump when char_grams or the IDF changes: cached tables go stale
_NOT_TEXT = re.compile(r"[\s\W_]+", re.UNICODE)


def char_grams(text: str) -> tuple[str, ...]:
    """Distinct characters and character bigrams of ``text`` without spaces or punctuation, sorted.

    Sorted, not a set: a set's order follows PYTHONHASHSEED, and with it the order of every float
    sum over grams, so the same message scored differently (by one ulp) after a restart.
    """
    text = _NOT_TEXT.sub("", text)
    return tuple(sorted(set(text) | {text[i:i + 2] for i in range(len(text) - 1)}))


@dataclass(frozen=True)
class Candidate:
    entry: int  # index into EntryRanker.entry_ids
    best_phrasing: int  # FAISS id of the closest phrasing
    features: dict[str, float]
    confidence: float


@dataclass(frozen=True)
class RankerFit:
    pseudo_queries: int
    pairs: int
    learned: bool
    train_hit1: float


class EntryRanker:
    """Built once per loaded shop version from its phrasing vectors and texts.

    ``phrasing_entry[i]`` is the entry index of FAISS id ``i``; ``entry_intent[e]`` the intent index
    of entry ``e`` (or -1), used with the message's intent probabilities.
    """

    def __init__(self, vectors: np.ndarray, phrasing_entry: Sequence[int], phrasing_texts: Sequence[str],
                 entry_ids: Sequence[str], *, entry_intent: np.ndarray | None = None,
                 centroid_candidates: int = 10, features: Sequence[str] = FEATURES,
                 lexicon: Mapping[str, np.ndarray] | None = None, learned: np.ndarray | None = None,
                 hubness: np.ndarray | None = None) -> None:
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.phrasing_entry = np.asarray(phrasing_entry, dtype=np.int64)
        self.entry_ids = list(entry_ids)
        self.centroid_candidates = centroid_candidates
        self.features = tuple(features)
        n_entries = len(self.entry_ids)
        order = np.argsort(self.phrasing_entry, kind="stable")
        bounds = np.searchsorted(self.phrasing_entry[order], np.arange(n_entries + 1))
        self.rows = [order[bounds[e]:bounds[e + 1]] for e in range(n_entries)]
        n_phrasings = len(self.phrasing_entry)
        # Which phrasings are learned examples (real buyer messages), not the merchant's own text.
        self.learned = (np.zeros(n_phrasings, bool) if learned is None
                        else np.asarray(learned, dtype=bool).reshape(n_phrasings))
        own = ~self.learned
        # The entry prototypes (centroids, and the hubness measured with them) are the merchant's
        # phrasings only. Learned examples act as instances — the nearest-phrasing features — where they
        # help as they help plain retrieval; mixed into the prototypes they pulled the broad entries'
        # centroids toward the middle of the shop, and those entries attracted still more messages the
        # more agents confirmed (the replay protocol, docs/evaluation.md).
        # Entries x phrasings membership: per-entry sums in one sparse product (np.add.at took ~15 ms
        # of a 500-entry shop's ~60 ms cold load).
        membership = csr_matrix((own.astype(np.float32), (self.phrasing_entry, np.arange(n_phrasings))),
                                shape=(n_entries, n_phrasings))
        sums = np.asarray(membership @ self.vectors, dtype=np.float32).reshape(n_entries, self.vectors.shape[1])
        self._sums = sums
        self.counts = np.bincount(self.phrasing_entry, minlength=n_entries).astype(np.float32)
        self.centroids = _normalise_rows(sums)
        self.hubness = (np.asarray(hubness, dtype=np.float32) if hubness is not None and len(hubness) == n_entries
                        else entry_hubness(self.centroids, self.vectors[own], self.phrasing_entry[own]))
        # The popularity prior counts the merchant's own phrasings only. Learned examples come from the
        # suggestions agents accepted, so counting them would make what is suggested often look ever more
        # popular, and broad entries more attractive, the longer a shop is used (rich get richer).
        self.prior_counts = np.bincount(self.phrasing_entry[~self.learned], minlength=n_entries).astype(np.float32)
        self._log_max_count = float(np.log1p(self.prior_counts.max(initial=1.0)))
        # A message identical to a listed phrasing means that entry, whatever the features say:
        # pseudo-queries are always held out, so the learned weights never see this case.
        self.exact = {t: int(e) for t, e in zip(phrasing_texts, self.phrasing_entry)}
        n = max(len(phrasing_texts), 1)
        if lexicon is not None and len(lexicon["indptr"]) == len(phrasing_texts) + 1:
            # Saved by ``lexicon()`` next to the index: the gram tables were ~2/3 of a cold shop load.
            grams = lexicon["grams"].tolist()
            self._vocab = {g: i for i, g in enumerate(grams)}
            self.idf = dict(zip(grams, lexicon["idf"].tolist()))
            self._gram_matrix = csr_matrix((lexicon["data"], lexicon["indices"], lexicon["indptr"]),
                                           shape=tuple(int(x) for x in lexicon["shape"]))
        else:
            gram_rows = [char_grams(t) for t in phrasing_texts]
            df = Counter(g for row in gram_rows for g in row)
            self.idf = {g: math.log(1 + n / c) for g, c in df.items()}
            # Phrasings x character grams, IDF-weighted: the character overlap of a message with any
            # set of phrasings is one sparse product.
            self._vocab = {g: i for i, g in enumerate(sorted(self.idf))}
            cols = [self._vocab[g] for row in gram_rows for g in row]
            rows_of = np.repeat(np.arange(len(gram_rows)), [len(row) for row in gram_rows])
            weights = np.array([self.idf[g] for row in gram_rows for g in row], dtype=np.float32)
            self._gram_matrix = csr_matrix((weights, (rows_of, np.asarray(cols, dtype=np.int64))),
                                           shape=(len(gram_rows), max(len(self._vocab), 1)), dtype=np.float32)
        self._default_idf = math.log(1 + n)
        self.entry_intent = entry_intent if entry_intent is not None else np.full(n_entries, -1)
        self.weights = np.array([DEFAULT_WEIGHTS[f] for f in self.features], dtype=np.float32)
        self.bias = DEFAULT_BIAS
        self.null_logit = DEFAULT_NULL_LOGIT
        # An approximate nearest-neighbour index over ``centroids`` (a FAISS index whose ids are entry
        # numbers; large shops, set by the service): the exact scan reads every centroid per message,
        # ~0.8 ms of a ~5 ms request at 5,000 entries.
        self.centroid_graph: faiss.Index | None = None
        self.centroid_graph_nbytes = 0

    @property
    def nbytes(self) -> int:
        """Estimated memory: the arrays, plus ~100 bytes per key of the gram and exact-text dicts."""
        arrays = sum(a.nbytes for a in (self.vectors, self._sums, self.centroids, self.counts, self.prior_counts,
                                        self.phrasing_entry,
                                        self.learned, self.hubness,
                                        self._gram_matrix.data, self._gram_matrix.indices,
                                        self._gram_matrix.indptr))
        arrays += sum(r.nbytes + 112 for r in self.rows)
        return int(arrays + 2 * 100 * len(self._vocab) + sum(100 + 4 * len(t) for t in self.exact)
                   + self.centroid_graph_nbytes)

    def lexicon(self) -> dict[str, np.ndarray]:
        """The character-gram tables as plain arrays (``np.savez``-able, no pickle); pass them back as
        ``lexicon=`` with the same phrasing texts to skip rebuilding them."""
        grams = sorted(self._vocab, key=self._vocab.__getitem__)
        m = self._gram_matrix
        return {"grams": np.array(grams, dtype=np.str_), "idf": np.array([self.idf[g] for g in grams]),
                "data": m.data, "indices": m.indices, "indptr": m.indptr, "shape": np.array(m.shape)}

    # -- features ------------------------------------------------------------------------------
    def candidate_entries(self, query: np.ndarray, top_phrasing_ids: np.ndarray) -> np.ndarray:
        """Entries of the nearest phrasings ∪ the entries with the nearest centroids."""
        from_phrasings = self.phrasing_entry[top_phrasing_ids[top_phrasing_ids >= 0]]
        k = min(self.centroid_candidates, len(self.entry_ids))
        if k == 0:
            return from_phrasings[:0]
        if self.centroid_graph is not None:
            found = self.centroid_graph.search(np.ascontiguousarray(query[None, :], dtype=np.float32), k)[1][0]
            from_centroids = found[found >= 0]
        else:
            from_centroids = np.argpartition(-(self.centroids @ query), k - 1)[:k]
        return np.unique(np.concatenate([from_phrasings, from_centroids]))

    def feature_matrix(self, query: np.ndarray, query_text: str, entries: np.ndarray,
                       intent_proba: np.ndarray | None = None, *, exclude: int = -1
                       ) -> tuple[np.ndarray, np.ndarray]:
        """(features (len(entries), len(FEATURES)), best phrasing id per entry; -1 if none is left).

        ``exclude`` leaves one phrasing out (the pseudo-query itself, when learning the weights).
        One matrix product over the candidates' phrasings and one sparse product for the character
        overlap: a per-candidate Python loop held the GIL for ~1 ms per request.
        """
        n = len(entries)
        out = np.zeros((n, len(FEATURES)), dtype=np.float32)
        best = np.full(n, -1, dtype=np.int64)
        if n == 0:
            return out[:, [FEATURES.index(f) for f in self.features]], best
        entries = np.asarray(entries, dtype=np.int64)
        lengths = np.array([len(self.rows[e]) for e in entries])
        rows = np.concatenate([self.rows[e] for e in entries]) if lengths.sum() else np.zeros(0, np.int64)
        owner = np.repeat(np.arange(n), lengths)
        if exclude >= 0:
            keep = rows != exclude
            rows, owner = rows[keep], owner[keep]
        sims = self.vectors[rows] @ query
        q_grams = char_grams(query_text)
        q_weight = sum(self.idf.get(g, self._default_idf) for g in q_grams) or 1.0
        q_vec = np.zeros(self._gram_matrix.shape[1], dtype=np.float32)
        q_vec[[self._vocab[g] for g in q_grams if g in self._vocab]] = 1.0
        lexical = (self._gram_matrix[rows] @ q_vec) / q_weight
        # Pad each candidate's phrasings into one row of a matrix (-inf where it has fewer).
        counts = np.bincount(owner, minlength=n)
        width = max(int(counts.max()), 1)
        slot = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
        grid = np.full((n, width), -np.inf, dtype=np.float32)
        grid[owner, slot] = sims
        lex = np.zeros((n, width), dtype=np.float32)
        lex[owner, slot] = lexical
        ids = np.full((n, width), -1, dtype=np.int64)
        ids[owner, slot] = rows
        has = counts > 0
        order = np.argsort(-grid, axis=1)
        top = np.take_along_axis(grid, order[:, :3], axis=1)
        k = np.minimum(counts, 3)
        out[:, 0] = np.where(has, top[:, 0], -1)
        out[:, 1] = np.where(has, np.where(np.isfinite(top), top, 0).sum(axis=1) / np.maximum(k, 1), -1)
        out[:, 3] = np.where(has, lex.max(axis=1), 0)
        best[has] = ids[has, order[has, 0]]
        centroid = self.centroids[entries] @ query
        if exclude >= 0 and not self.learned[exclude]:  # a learned example is not in the prototype
            own = np.flatnonzero(entries == self.phrasing_entry[exclude])
            if len(own):
                reduced = self._sums[entries[own[0]]] - self.vectors[exclude]
                norm = np.linalg.norm(reduced)
                centroid[own[0]] = reduced @ query / norm if norm > 0 else 0.0
        out[:, 2] = np.where(has, centroid, -1)
        # Not reduced for a held-out pseudo-query: the prior stands for how often buyers ask, and
        # pseudo-queries are drawn in proportion to it already. Counting one less for the right entry
        # only would tell the learner which candidate is right (all of a uniform shop's entries but
        # one would read 4 phrasings, the right one 3), and it would lean on that instead.
        out[:, 7] = np.log1p(self.prior_counts[entries]) / self._log_max_count
        if intent_proba is not None:
            intents = self.entry_intent[entries]
            out[:, 4] = np.where(has & (intents >= 0), intent_proba[np.maximum(intents, 0)], 0)
        out[:, 5] = np.where(has, out[:, 0] - out[has, 0].max(initial=-1), 0)
        out[:, 6] = np.where(has, out[:, 2] - out[has, 2].max(initial=-1), 0)
        out[:, 8] = np.where(has, out[:, 2] - self.hubness[entries], -1)
        return out[:, [FEATURES.index(f) for f in self.features]], best

    # -- scoring -------------------------------------------------------------------------------
    def rank(self, query: np.ndarray, query_text: str, top_phrasing_ids: np.ndarray,
             intent_proba: np.ndarray | None = None, *, limit: int | None = None) -> list[Candidate]:
        """Candidate entries, most confident first; only the best ``limit`` are returned (building a
        ``Candidate`` with its features for each of ~50 entries cost more than ranking them)."""
        entries = self.candidate_entries(query, top_phrasing_ids)
        exact = self.exact.get(query_text)
        if exact is not None and exact not in entries:
            entries = np.append(entries, exact)
        x, best = self.feature_matrix(query, query_text, entries, intent_proba)
        confidence = _softmax_with_null(x @ self.weights, self.null_logit)
        if exact is not None:
            confidence[entries == exact] = max(float(confidence[entries == exact][0]), EXACT_MATCH_CONFIDENCE)
        order = np.argsort(-confidence, kind="stable")
        order = order[best[order] >= 0][:limit]
        return [Candidate(entry=int(entries[i]), best_phrasing=int(best[i]), confidence=float(confidence[i]),
                          features=dict(zip(self.features, map(float, x[i])))) for i in order]

    # -- learning ------------------------------------------------------------------------------
    def fit(self, phrasing_texts: Sequence[str], *, intent_proba: np.ndarray | None = None,
            max_queries: int = 600, candidates: int = 50, out_of_kb_share: float = 0.2,
            min_real_calibration: int = 30, seed: int = 0) -> RankerFit:
        """Learn the fusion weights from leave-one-out pseudo-queries of the shop's phrasings.

        Each sampled phrasing is held out of its entry and ranks the candidates (its entry is the
        right answer). A further ``out_of_kb_share`` of pseudo-queries have their whole entry removed:
        for them the right answer is "none of these", which teaches the ranker to abstain. Learned
        examples (real messages) are always among the pseudo-queries (up to ``max_queries``); with at
        least ``min_real_calibration`` of them, the temperature and the null logit are fitted on them
        alone. ``intent_proba`` (n_phrasings, n_intents): the intent model's probabilities per phrasing.
        """
        usable = self.counts[self.phrasing_entry] >= 2
        eligible = np.flatnonzero(usable).astype(np.int64)
        if len(eligible) < 20 or len({int(self.phrasing_entry[i]) for i in eligible}) < 3:
            return RankerFit(pseudo_queries=len(eligible), pairs=0, learned=False, train_hit1=float("nan"))
        rng = np.random.default_rng(seed)
        real = np.flatnonzero(usable & self.learned)
        own = np.flatnonzero(usable & ~self.learned)
        if len(real) > max_queries:
            real = rng.choice(real, size=max_queries, replace=False)
        # The merchant's phrasings keep at least a third of the sample: they cover every entry, the
        # learned examples only the entries buyers asked about so far.
        room = max(max_queries - len(real), max_queries // 3)
        if len(own) > room:
            own = rng.choice(own, size=room, replace=False)
        eligible = np.sort(np.concatenate([real, own]))
        n_out = int(round(len(eligible) * out_of_kb_share / (1 - out_of_kb_share)))
        out_of_kb = rng.choice(eligible, size=min(n_out, len(eligible)), replace=False)
        queries = np.concatenate([eligible, out_of_kb])
        is_out = np.concatenate([np.zeros(len(eligible), bool), np.ones(len(out_of_kb), bool)])
        sims = self.vectors[queries] @ self.vectors.T
        sims[np.arange(len(queries)), queries] = -np.inf  # a phrasing never retrieves itself
        k = min(candidates, self.vectors.shape[0] - 1)
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        groups: list[tuple[np.ndarray, np.ndarray]] = []  # (features, is-right) per pseudo-query
        for p, top_ids, out in zip(queries, top, is_out):
            query = self.vectors[p]
            gold = self.phrasing_entry[p]
            entries = self.candidate_entries(query, top_ids)
            if out:
                entries = entries[entries != gold]
            elif gold not in entries:
                entries = np.append(entries, gold)
            x, best = self.feature_matrix(query, phrasing_texts[p], entries,
                                          None if intent_proba is None else intent_proba[p], exclude=int(p))
            ok = best >= 0
            groups.append((x[ok], (entries == gold)[ok]))
        in_kb = [g for g, out in zip(groups, is_out) if not out]
        x_all = np.concatenate([x for x, _ in in_kb])
        y_all = np.concatenate([y for _, y in in_kb])
        if y_all.all() or not y_all.any():
            return RankerFit(len(queries), len(y_all), False, float("nan"))
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=1.0, max_iter=1000).fit(x_all, y_all)
        weights = model.coef_[0].astype(np.float64)
        # The pointwise model ranks well, but its scale is not a probability over the candidates of
        # one message. A temperature and a "none of these" logit, fitted on the same pseudo-queries
        # (minimum log-loss of the softmax at the right answer, the null one for out-of-KB queries),
        # turn it into a calibrated confidence that can abstain.
        is_real = self.learned[queries]
        if int((is_real & ~is_out).sum()) >= min_real_calibration and int((is_real & is_out).sum()) >= 5:
            # Calibrate on the distribution the confidence is used on: real buyer messages.
            calibration = [g for g, r in zip(groups, is_real) if r]
        else:
            calibration = groups
        width = max(len(y) for _, y in calibration)
        z = np.full((len(calibration), width), -np.inf)
        right = np.zeros((len(calibration), width), bool)
        for r, (x, y) in enumerate(calibration):
            z[r, :len(y)] = x @ weights
            right[r, :len(y)] = y
        finite = z[np.isfinite(z)]
        null_right = ~right.any(axis=1)
        best_nll, best_t, best_c = np.inf, 1.0, float(finite.max())
        for c in np.quantile(finite, np.linspace(0.5, 1.0, 26)):
            for t in np.geomspace(0.25, 32, 29):
                logits = np.concatenate([np.full((len(calibration), 1), t * c), t * z], axis=1)
                top_logit = logits.max(axis=1, keepdims=True)
                log_norm = np.log(np.exp(logits - top_logit).sum(axis=1)) + top_logit[:, 0]
                gold_logit = np.where(null_right, t * c, np.where(right, t * z, -np.inf).max(axis=1))
                nll = float(np.mean(log_norm - gold_logit))
                if nll < best_nll:
                    best_nll, best_t, best_c = nll, float(t), float(c)
        self.weights = (weights * best_t).astype(np.float32)
        self.null_logit = best_t * best_c
        self.bias = float(model.intercept_[0])
        hits = [bool(y[np.argmax(x @ weights)]) for x, y in in_kb if len(y)]
        return RankerFit(len(queries), len(y_all), True, float(np.mean(hits)))

    # -- persistence (a few numbers: JSON) -----------------------------------------------------
    def to_json(self) -> str:
        return json.dumps({"format": RANKER_FORMAT, "features": list(self.features),
                           # Full precision: a restarted replica must rank exactly like the one that fit.
                           "weights": [float(w) for w in self.weights], "bias": self.bias,
                           "null_logit": self.null_logit})

    def load_weights(self, text: str) -> bool:
        """Use saved weights if they are for the same features; returns whether they were used."""
        data = json.loads(text)
        if data.get("format") != RANKER_FORMAT or tuple(data.get("features", ())) != self.features:
            return False
        self.weights = np.array(data["weights"], dtype=np.float32)
        self.bias = float(data["bias"])
        self.null_logit = float(data.get("null_logit", DEFAULT_NULL_LOGIT))
        return True


def entry_hubness(centroids: np.ndarray, vectors: np.ndarray, phrasing_entry: np.ndarray, *, k: int = 10,
                  chunk: int = 256) -> np.ndarray:
    """Per entry: the mean cosine of its centroid to the ``k`` nearest phrasings of *other* entries.

    A product of (entries x phrasings) in chunks of entries: ~30 ms for 500 entries and 2,000 phrasings;
    the service caches the result beside the index (``hub.npz``), so a shop pays it once per version.
    """
    n_entries, n = len(centroids), len(vectors)
    out = np.zeros(n_entries, dtype=np.float32)
    if n_entries == 0 or n == 0:
        return out
    for start in range(0, n_entries, chunk):
        stop = min(start + chunk, n_entries)
        sims = centroids[start:stop] @ vectors.T
        sims[phrasing_entry[None, :] == np.arange(start, stop)[:, None]] = -np.inf
        kk = min(k, n)
        top = -np.partition(-sims, kk - 1, axis=1)[:, :kk]
        finite = np.isfinite(top)
        # An entry with fewer than k other phrasings around (a tiny shop): the mean of those there are.
        out[start:stop] = np.where(finite, top, 0).sum(axis=1) / np.maximum(finite.sum(axis=1), 1)
    return out


def _normalise_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


def _softmax_with_null(z: np.ndarray, null_logit: float) -> np.ndarray:
    """Probabilities of the candidates when "none of these" (logit ``null_logit``) is also an answer."""
    if len(z) == 0:
        return z
    top = max(float(z.max()), null_logit)
    e = np.exp(z - top)
    return e / (e.sum() + np.exp(null_logit - top))
