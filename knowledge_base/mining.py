"""Mine FAQ candidates from historical chat logs: what buyers ask most, and what agents answered.

The input is a log of buyer ↔ agent conversations (``chatlogs.py`` reads the JDDC TSV and the generic
JSONL formats). Buyer turns that ask something (not greetings,
thanks, acknowledgements or a single character) are embedded, clustered by cosine similarity, and
each cluster of at least ``min_size`` conversations becomes one FAQ entry: the most central buyer
question is the 标准问题, other distinct members the 相似问题, and the agent reply that followed
most often (the most central one on a tie) the 答案. Everything written is PII-masked; answers that
fail the compliance check are replaced by the next candidate reply or the cluster is dropped, and
both are counted. The result is written with ``export.export_faq`` and re-parsed with the upload
parser, so what ``mine`` writes is exactly what ``kb import`` accepts.

No FastAPI, no evaluation code: the CLI (``smartreply kb mine``) is the entry point.
"""

from __future__ import annotations

import logging
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from models.encoder import Encoder
from models.privacy import mask_pii

from .chatlogs import Conversation
from .compliance import check_text
from .export import export_faq
from .parsing import parse_kb_file
from .schema import FaqEntry
from .tablefile import ParseLimits

__all__ = [
    "MiningOptions", "MinedCluster", "MiningResult", "normalise_placeholders",
    "is_question_like", "has_substance", "question_pairs", "mine_faq", "cluster_vectors",
]

logger = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]  # (phase, done, total)


# -- filtering -----------------------------------------------------------------------------------------

# JD's desensitised placeholders ([订单x], [数字x], [电话x] …) → the spelling mask_pii writes, or the
# bare name ([数字], [金额]); emoji codes (#E-s33) dropped.
_PLACEHOLDER_MAP = {"订单": "[订单号]", "电话": "[电话]", "地址": "[地址]", "姓名": "[姓名]", "邮箱": "[邮箱]",
                    "身份证号": "[订单号]"}
_PLACEHOLDER = re.compile(r"\[([^\[\]\s]{1,12}?)x\]")
_EMOJI = re.compile(r"#E-[a-z]\d*(?:\[数字x?\])?")
# The order card JD's client sends when a buyer opens a chat from an order page.
_ORDER_CARD = re.compile(r"(?:咨询订单号|订单金额|下单时间|商品ID|订单编号|订单号)\s*[:：]\s*[^\s,，;；]*")
# Messages the chat client writes for the buyer (entry points, menus, empty time stamps).
_SYSTEM = re.compile(r"顾客通过点击\S*?信息发送\s*[:：]|请选择咨询订单|订单业务咨询|\[[\s，,]*\[[^\[\]]*\]\s*\]")
_SPACES = re.compile(r"\s+")


def normalise_placeholders(text: str) -> str:
    """One spelling per placeholder kind, emoji codes and order cards removed, spaces collapsed."""
    text = _EMOJI.sub(" ", text)
    text = _ORDER_CARD.sub(" ", text)
    text = _SYSTEM.sub(" ", text)
    text = _PLACEHOLDER.sub(lambda m: _PLACEHOLDER_MAP.get(m.group(1), f"[{m.group(1)}]"), text)
    return _SPACES.sub(" ", text).strip()


# Words that carry no question on their own: greetings, thanks, acknowledgements, "transfer me",
# sentence particles. A buyer turn made only of these (and placeholders) is not a question.
_CHITCHAT = re.compile(
    r"没有别的问题|没有其他问题|没别的问题|没其他问题|别的问题|其他问题|没问题|没别的|别的|没啥|没其他事|其他事|"
    r"非常|十分|真的|试试|试一下|看看|考虑|知道|看见|就是这个|这个|那个|"
    r"你好|您好|hi|hello|在吗|在不在|在么|人工客服|转人工|人工|客服|谢谢|谢了|多谢|感谢|好的|好吧|好滴|好嘞|好哒|"
    r"嗯|恩|哦|噢|额|呃|ok|okay|是的|对的|不是|没有了|没有|没了|没事|知道了|明白|了解|收到|再见|拜拜|辛苦|"
    r"麻烦|不用|算了|稍等|等一下|哈|呵|暂时|其他|其它|小妹|妹子|亲|请问|可以|行|好|对|是|在|您|你|我|"
    r"啦|了|呢|呀|吧|喔|么|嘛|啊|的|哟|滴|[a-z]",
    re.IGNORECASE,
)
_PUNCT = re.compile(r"[\s\W_]+")
_BRACKETED = re.compile(r"\[[^\[\]]{1,12}\]")


def _content_chars(text: str) -> str:
    """The text without placeholders, punctuation and spaces: what says something."""
    return _PUNCT.sub("", _BRACKETED.sub("", text))


def is_question_like(text: str, *, min_chars: int = 4, max_chars: int = 120) -> bool:
    """Whether a (placeholder-normalised) buyer turn asks something worth an FAQ entry: at least
    ``min_chars`` characters beyond placeholders and punctuation, of which at least two are not
    greetings, thanks, acknowledgements or particles."""
    content = _content_chars(text)
    if len(content) < min_chars or len(text) > max_chars:
        return False
    return len(_CHITCHAT.sub("", content)) >= 2


# Agent sentences that only hold the line ("稍等", "还有什么可以帮您") — a reply made only of these
# answers nothing.
_FILLER = re.compile(
    r"稍等|正在为您|为您查询|帮您查|看一下|请问还有|还有什么|有什么(?:问题|可以)|很高兴|为您服务|感谢|谢谢|不客气|"
    r"您好|你好|在的|亲爱的|客官|欢迎|祝您|生活愉快|再见|评价|满意|辛苦|抱歉|不好意思|请问|麻烦您|"
    r"^(?:好的|嗯|是的|对的|可以的|恩)$")
# Sentences, and the separate messages a merged turn is made of (joined by spaces).
_SENTENCE = re.compile(r"[^。！？!?~～\s]+[。！？!?~～]*")


def has_substance(reply: str, *, min_chars: int = 8) -> bool:
    """Whether an agent reply says something beyond greetings, hold-on and thanks."""
    kept = [s for s in _SENTENCE.findall(reply) if not _FILLER.search(s)]
    return len(_content_chars("".join(kept))) >= min_chars


# -- mining ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MiningOptions:
    threshold: float = 0.9  # cosine at which two buyer questions join one cluster
    min_size: int = 3  # conversations a cluster needs to become an entry
    max_clusters: int = 200
    max_similar: int = 10
    method: Literal["auto", "agglomerative", "leader"] = "auto"
    agglomerative_max: int = 8_000  # distinct questions above which "auto" uses leader clustering
    category: str = "挖掘"
    id_prefix: str = "M-"


@dataclass
class MinedCluster:
    id: str  # the entry id written (M-0001 = the largest cluster)
    size: int  # conversations in which a member was asked
    question: str
    similar: list[str]
    answer: str
    members: list[tuple[str, int]]  # every distinct member (masked) with its count, most central first
    replies: list[tuple[str, int]]  # distinct substantive replies (masked), most frequent first
    cohesion: float  # mean cosine of members to the centroid


@dataclass
class MiningResult:
    entries: list[FaqEntry]
    clusters: list[MinedCluster]
    stats: dict[str, int] = field(default_factory=dict)

    def to_csv(self) -> bytes:
        return export_faq(self.entries, "csv")


@dataclass(frozen=True)
class _Pair:
    conversation: str
    question: str
    reply: str  # "" when no agent turn followed


def question_pairs(conversations: Iterable[Conversation]) -> tuple[list[_Pair], Counter]:
    """Every question-like buyer turn with the agent turn that followed it, plus what was dropped."""
    dropped: Counter = Counter()
    pairs: list[_Pair] = []
    for conv in conversations:
        turns = conv.turns
        for i, turn in enumerate(turns):
            if turn.role != "buyer":
                continue
            question = normalise_placeholders(turn.text)
            if not is_question_like(question):
                dropped["not_question_like"] += 1
                continue
            reply = ""
            if i + 1 < len(turns) and turns[i + 1].role == "agent":
                reply = normalise_placeholders(turns[i + 1].text)
            pairs.append(_Pair(conv.id, question, reply))
    return pairs, dropped


def cluster_vectors(vectors: np.ndarray, threshold: float, method: str = "agglomerative",
                    order: Sequence[int] | None = None) -> np.ndarray:
    """Cluster labels for L2-normalised rows: two rows end up together when cosine ≥ ``threshold``.

    ``agglomerative``: average linkage over cosine distance cut at ``1 - threshold`` (scikit-learn;
    O(n²) memory). ``leader``: one greedy pass in ``order`` (e.g. most frequent first) over a FAISS
    inner-product index of the leaders so far; a row joins its nearest leader if it is close enough.
    """
    n = len(vectors)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if n == 1:
        return np.zeros(1, dtype=np.int64)
    if method == "agglomerative":
        from sklearn.cluster import AgglomerativeClustering

        model = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                        distance_threshold=1.0 - threshold)
        return model.fit_predict(vectors).astype(np.int64)
    if method != "leader":
        raise ValueError(f"unknown clustering method {method!r}")
    import faiss

    labels = np.full(n, -1, dtype=np.int64)
    leaders = faiss.IndexFlatIP(vectors.shape[1])
    for i in (order if order is not None else range(n)):
        v = np.ascontiguousarray(vectors[i:i + 1], dtype=np.float32)
        if leaders.ntotal:
            score, idx = leaders.search(v, 1)
            if score[0, 0] >= threshold:
                labels[i] = idx[0, 0]
                continue
        labels[i] = leaders.ntotal
        leaders.add(v)
    return labels


def _encode(encoder: Encoder, texts: list[str], normalise: Callable[[str], str], phase: str,
            progress: Progress | None, batch_size: int = 64) -> np.ndarray:
    out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    for start in range(0, len(texts), batch_size):
        chunk = texts[start:start + batch_size]
        out[start:start + len(chunk)] = encoder.encode([normalise(t) for t in chunk], batch_size=batch_size)
        if progress is not None:
            progress(phase, start + len(chunk), len(texts))
    return out


def _dedupe_key(text: str) -> str:
    return _PUNCT.sub("", text).lower()


def mine_faq(
    conversations: Sequence[Conversation],
    encoder: Encoder,
    options: MiningOptions | None = None,
    *,
    normalise: Callable[[str], str] = lambda s: s,
    limits: ParseLimits | None = None,
    progress: Progress | None = None,
) -> MiningResult:
    """Cluster the buyer questions of ``conversations`` into FAQ entries, largest cluster first."""
    opts = options or MiningOptions()
    limits = limits or ParseLimits()
    pairs, dropped = question_pairs(conversations)
    stats: Counter = Counter(conversations=len(conversations), dropped_turns=dropped["not_question_like"],
                             question_turns=len(pairs))
    texts = sorted({p.question for p in pairs})
    stats["distinct_questions"] = len(texts)
    if not texts:
        return MiningResult([], [], dict(stats))
    position = {t: i for i, t in enumerate(texts)}
    counts = Counter(p.question for p in pairs)
    vectors = _encode(encoder, texts, normalise, "questions", progress)

    method = opts.method
    if method == "auto":
        method = "agglomerative" if len(texts) <= opts.agglomerative_max else "leader"
    order = sorted(range(len(texts)), key=lambda i: (-counts[texts[i]], i))
    labels = cluster_vectors(vectors, opts.threshold, method, order)
    if progress is not None:
        progress("clustering", 1, 1)

    members: dict[int, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        members[int(label)].append(i)
    by_label: dict[int, list[_Pair]] = defaultdict(list)
    for p in pairs:
        by_label[int(labels[position[p.question]])].append(p)
    # Size = conversations that asked it (a buyer repeating the question counts once).
    sizes = {label: len({p.conversation for p in ps}) for label, ps in by_label.items()}
    big = sorted((label for label, size in sizes.items() if size >= opts.min_size),
                 key=lambda label: (-sizes[label], min(members[label])))
    stats["clusters_total"] = len(members)
    stats["clusters_min_size"] = len(big)

    # Replies of the candidate clusters, embedded once (only substantive ones).
    reply_texts = sorted({p.reply for label in big for p in by_label[label] if p.reply and has_substance(p.reply)})
    reply_vectors = _encode(encoder, reply_texts, normalise, "replies", progress) if reply_texts else None
    reply_pos = {t: i for i, t in enumerate(reply_texts)}

    clusters: list[MinedCluster] = []
    for label in big:
        if len(clusters) >= opts.max_clusters:
            break
        rows = members[label]
        centroid = vectors[rows].mean(axis=0)
        centroid /= np.linalg.norm(centroid) or 1.0
        central = vectors[rows] @ centroid
        ranked = [rows[j] for j in np.argsort(-central, kind="stable")]
        cohesion = float(central.mean())

        # Replies: substantive, compliant after masking; most frequent first, then most central.
        reply_counts = Counter(p.reply for p in by_label[label] if p.reply in reply_pos)
        if not reply_counts:
            stats["dropped_no_reply"] += 1
            continue
        rtexts = list(reply_counts)
        rvec = reply_vectors[[reply_pos[t] for t in rtexts]]
        rcentroid = rvec.mean(axis=0)
        rcentroid /= np.linalg.norm(rcentroid) or 1.0
        rcentral = rvec @ rcentroid
        order_r = sorted(range(len(rtexts)), key=lambda j: (-reply_counts[rtexts[j]], -rcentral[j]))
        answer = ""
        blocked = 0
        for j in order_r:
            candidate = mask_pii(rtexts[j])[:limits.max_answer_chars]
            if check_text(candidate).allowed:
                answer = candidate
                break
            blocked += 1
        stats["replies_blocked_by_compliance"] += blocked
        if not answer:
            stats["dropped_compliance"] += 1
            continue

        seen: set[str] = set()
        distinct: list[tuple[str, int]] = []
        for i in ranked:
            masked = mask_pii(texts[i])
            key = _dedupe_key(masked)
            if key in seen or len(masked) > limits.max_question_chars:
                continue
            seen.add(key)
            distinct.append((masked, counts[texts[i]]))
        if not distinct:
            stats["dropped_no_question"] += 1
            continue
        # The standard question: the most central member that names no placeholder, if any does.
        plain = next((j for j, (t, _) in enumerate(distinct) if not _BRACKETED.search(t)), 0)
        distinct.insert(0, distinct.pop(plain))
        number = len(clusters) + 1
        clusters.append(MinedCluster(
            id=f"{opts.id_prefix}{number:04d}", size=sizes[label], question=distinct[0][0],
            similar=[t for t, _ in distinct[1:1 + min(opts.max_similar, limits.max_similar)]], answer=answer,
            members=distinct,
            replies=sorted(((mask_pii(t), c) for t, c in reply_counts.items()), key=lambda x: -x[1]),
            cohesion=cohesion))

    entries = [FaqEntry(id=c.id, question=c.question, answers=(c.answer,), similar=tuple(c.similar),
                        category=opts.category) for c in clusters]
    # What `kb import` would refuse (limits, formulas, compliance) is left out here, and counted.
    parsed = parse_kb_file("mined.csv", export_faq(entries, "csv"), limits)
    bad_rows = {p.row for p in parsed.errors}
    if bad_rows:
        keep = {e.id for e in parsed.entries}
        stats["dropped_invalid"] += len(entries) - len(keep)
        entries = [e for e in entries if e.id in keep]
        clusters = [c for c in clusters if c.id in keep]
    stats["entries"] = len(entries)
    logger.info("mined %d entries from %d question turns (%d distinct) in %d conversations", len(entries),
                len(pairs), len(texts), len(conversations))
    return MiningResult(entries, clusters, dict(stats))
