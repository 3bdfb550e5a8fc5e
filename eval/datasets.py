"""Loaders for the raw formats of the public data sets, and the protocols that turn them into tasks.

Every loader takes any file of its format by path: nothing here knows a particular file's name,
size or content. The formats (see ``../shared/data/*/SOURCE.md``):

========================  ===============================================================
CSDS-topic (JSON)         array of ``{"Dialogue", "Topic", "QASumm", "AllTopic"}``
KB file + queries JSONL   any FAQ file the product imports + ``{"query", "gold_entry_id"}``
JDDC 2019 dev             ``dev_question.txt`` (sessions: context, ``<Qn>`` turns) +
                          ``dev_answer.txt`` (one line per ``<Qn>``: refs split by ``<sep>``)
JDDC 2019 chat log        TSV, 7 columns: session, user, waiter_send (0 buyer/1 agent),
                          is_transfer, is_repeat, sku, content
JDDC 2018 pairs           ``*Questions.txt`` (context segments joined by ``,``) +
                          ``*Answers.txt`` (the next agent reply), line-aligned
question pairs            ATEC (TSV ``id s1 s2 label``, BOM, CRLF), BQ (CSV with header
                          ``sentence1,sentence2,label``), LCQMC (TSV ``s1 s2 label``)
========================  ===============================================================
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from knowledge_base.chatlogs import Turn
from knowledge_base.parsing import parse_kb_file
from knowledge_base.schema import FaqEntry
from models.errors import InvalidUpload

from .errors import DatasetError
from .text import canonical_placeholders

__all__ = [
    "CsdsRow",
    "FaqDataset",
    "FaqQuery",
    "ReplyTurn",
        "ReplyPair",
    "TextPair",
    "IntentExample",
    "load_csds",
    "buyer_question",
    "agent_answer",
    "csds_faq",
    "csds_intent_examples",
    "load_kb_queries",
    "load_faq",
    "load_jddc_dev",
    "load_jddc_chat",
    "chat_reply_pairs",
    "load_jddc2018_pairs",
    "load_reply_bank",
    "reply_bank_entries",
    "load_pairs",
    "sniff_faq_format",
    "split_csds_by_dialogue",
]

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------- CSDS-topic


@dataclass(frozen=True)
class CsdsRow:
    topic: str
    qa_summary: str
    dialogue: str
    all_topics: tuple[str, ...]


def load_csds(path: Path) -> list[CsdsRow]:
    """Rows of a CSDS-topic JSON file (a list of objects with ``Topic`` and ``QASumm``)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except ValueError as exc:
        raise DatasetError(f"{path}: not a CSDS-topic JSON file ({exc})") from exc
    if not isinstance(data, list):
        raise DatasetError(f"{path}: a CSDS-topic file is a JSON array of rows")
    rows = []
    for i, obj in enumerate(data):
        if not isinstance(obj, dict) or "Topic" not in obj or "QASumm" not in obj:
            raise DatasetError(f"{path}: row {i} lacks 'Topic' or 'QASumm'")
        rows.append(CsdsRow(
            topic=str(obj["Topic"]).strip(),
            qa_summary=str(obj["QASumm"]).strip(),
            dialogue=str(obj.get("Dialogue", "")),
            all_topics=tuple(t for t in str(obj.get("AllTopic", "")).split("，") if t),
        ))
    return rows


# The summaries report speech ("用户询问…", "商家希望…"); a buyer would say only what follows.
_SUBJECT = r"(?:用户|顾客|买家|客户|商家)"
_REPORTING = ("想知道", "想了解", "询问", "咨询", "想问", "提问", "表示", "希望", "想要", "要求", "请求",
              "需要", "反映", "反馈", "告知", "提出", "查询", "说", "问", "称")
_QUESTION_PREFIX = re.compile(rf"^{_SUBJECT}(?:{'|'.join(_REPORTING)})[：:，,\s]*")


def buyer_question(qa_summary: str) -> str:
    """The buyer question of a QASumm: its first sentence (before the first 。) with a leading
    "用户询问/用户咨询/用户想知道/用户表示…" (subject + reporting verb) removed."""
    first = qa_summary.split("。", 1)[0].strip()
    return _QUESTION_PREFIX.sub("", first).strip()


def agent_answer(qa_summary: str) -> str:
    """The agent half of a QASumm's first exchange: the sentences after the first one, up to the
    next one the buyer says (empty if the summary has none)."""
    sentences = [s.strip() for s in qa_summary.split("。")[1:] if s.strip()]
    out = []
    for s in sentences:
        if out and re.match(_SUBJECT, s):
            break
        out.append(s + "。")
    return "".join(out)


@dataclass(frozen=True)
class FaqQuery:
    text: str
    gold_entry_id: str
    # Where the query stands in its file (CSDS: the row's index in the JSON array; queries JSONL: the
    # line number): the order buyers asked in, which the replay streams them in.
    position: int | None = None


@dataclass
class FaqDataset:
    """A knowledge base and labelled queries against it."""

    entries: list[FaqEntry]
    queries: list[FaqQuery]
    stats: dict[str, int | float | str] = field(default_factory=dict)


def _topic_rows(rows: Sequence[CsdsRow], min_rows: int) -> dict[str, list[CsdsRow]]:
    by_topic: dict[str, list[CsdsRow]] = defaultdict(list)
    for row in rows:
        by_topic[row.topic].append(row)
    return {t: rs for t, rs in by_topic.items() if len(rs) >= min_rows}


def csds_faq(rows: Sequence[CsdsRow], *, min_rows: int = 5, similar_share: float = 0.4) -> FaqDataset:
    """The CSDS FAQ-retrieval protocol.

    Topics with ≥ ``min_rows`` rows become entries (topic name = standard question, agent half of
    the topic's first row = answer). Per topic, in file order, the first ceil(``similar_share``)
    of its buyer questions are the entry's 相似问 and the rest are queries whose gold is the topic.
    Queries come grouped by topic; each keeps its row's index (``position``) for the file's order.
    """
    entries: list[FaqEntry] = []
    queries: list[FaqQuery] = []
    empty = 0
    position = {id(r): i for i, r in enumerate(rows)}
    for topic, topic_rows in _topic_rows(rows, min_rows).items():  # dict keeps first-seen order
        asked = [(buyer_question(r.qa_summary), position[id(r)]) for r in topic_rows]
        empty += sum(1 for q, _ in asked if not q)
        asked = [(q, i) for q, i in asked if q]
        questions = [q for q, _ in asked]
        n_similar = math.ceil(similar_share * len(questions))
        similar = tuple(dict.fromkeys(q for q in questions[:n_similar] if q != topic))
        answer = agent_answer(topic_rows[0].qa_summary) or topic
        entries.append(FaqEntry(id=topic, question=topic, similar=similar, answers=(answer,), category=topic))
        queries.extend(FaqQuery(q, topic, i) for q, i in asked[n_similar:])
    if not entries:
        raise DatasetError(f"no topic has ≥ {min_rows} rows; nothing to evaluate")
    stats = {"rows": len(rows), "topics": len({r.topic for r in rows}), "entries": len(entries),
             "phrasings": sum(len(e.phrasings) for e in entries), "queries": len(queries),
             "empty_questions_skipped": empty, "min_rows": min_rows, "similar_share": similar_share}
    return FaqDataset(entries=entries, queries=queries, stats=stats)


@dataclass(frozen=True)
class IntentExample:
    text: str
    label: str


def csds_intent_examples(rows: Sequence[CsdsRow], *, min_rows: int = 1) -> list[IntentExample]:
    """(buyer question, Topic) per row, in file order, for topics with ≥ ``min_rows`` rows.

    The buyer question is the same text the FAQ protocol uses (see :func:`buyer_question`); rows
    whose summary yields no question are dropped.
    """
    kept = _topic_rows(rows, min_rows)
    out = []
    for row in rows:
        if row.topic in kept:
            text = buyer_question(row.qa_summary)
            if text:
                out.append(IntentExample(text, row.topic))
    return out


def split_csds_by_dialogue(path: Path, *, test_share: float = 0.5, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """A CSDS-topic file's rows split in two by dialogue (all rows of one dialogue on the same side), as
    the raw JSON objects: a file-to-file protocol (train on one, test on the other) out of one file.

    A dialogue's side is decided by a seeded hash of its text, so the split does not depend on row order.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except ValueError as exc:
        raise DatasetError(f"{path}: not a CSDS-topic JSON file ({exc})") from exc
    if not isinstance(data, list) or not all(isinstance(o, dict) and "Dialogue" in o for o in data):
        raise DatasetError(f"{path}: a CSDS-topic file is a JSON array of rows with a 'Dialogue'")
    if not 0.0 < test_share < 1.0:
        raise DatasetError(f"test share must be between 0 and 1, not {test_share}")

    def side(obj: dict) -> bool:
        dialogue = obj["Dialogue"] if isinstance(obj["Dialogue"], str) else json.dumps(obj["Dialogue"], ensure_ascii=False)
        digest = hashlib.sha256(f"{seed}:{dialogue}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < test_share

    train = [o for o in data if not side(o)]
    test = [o for o in data if side(o)]
    return train, test


# ---------------------------------------------------------------- generic FAQ: KB file + queries


def load_kb_queries(path: Path) -> list[FaqQuery]:
    """A JSONL file of ``{"query": ..., "gold_entry_id": ...}`` objects (blank lines ignored)."""
    out = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8-sig").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            out.append(FaqQuery(str(obj["query"]).strip(), str(obj["gold_entry_id"]).strip(), n))
        except (ValueError, KeyError, TypeError) as exc:
            raise DatasetError(f"{path}: line {n} is not a {{\"query\", \"gold_entry_id\"}} object ({exc})") from exc
    return out


def sniff_faq_format(path: Path) -> str:
    """``csds`` for a CSDS-topic JSON array, ``kb`` for any other FAQ file the product imports."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        with path.open("rb") as fh:
            head = fh.read(4096).decode("utf-8-sig", errors="ignore")
        if head.lstrip().startswith("[") and '"QASumm"' in head and '"Topic"' in head:
            return "csds"
    return "kb"


def load_faq(data: Path, queries: Path | None = None, *, min_rows: int = 5,
             similar_share: float = 0.4) -> FaqDataset:
    """A FAQ task: a CSDS-topic file (converted by :func:`csds_faq`), or a KB file + queries JSONL."""
    if sniff_faq_format(data) == "csds":
        if queries is not None:
            raise DatasetError(f"{data} is a CSDS-topic file: its queries come from the file; drop --queries")
        return csds_faq(load_csds(data), min_rows=min_rows, similar_share=similar_share)
    if queries is None:
        raise DatasetError(f"{data} is a KB file: name its labelled queries (JSONL) with --queries")
    try:
        parsed = parse_kb_file(Path(data).name, Path(data).read_bytes())
    except InvalidUpload:
        raise
    if parsed.errors:
        reasons = "; ".join(f"row {p.row}: {p.reason}" for p in parsed.errors[:5])
        raise DatasetError(f"{data}: the product would refuse this KB file ({reasons})")
    entries = [e for e in parsed.entries if e.enabled]
    ids = {e.id for e in entries}
    qs = load_kb_queries(queries)
    unknown = Counter(q.gold_entry_id for q in qs if q.gold_entry_id not in ids)
    if unknown:
        some = ", ".join(repr(k) for k, _ in unknown.most_common(5))
        raise DatasetError(f"{queries}: {sum(unknown.values())} queries name entries not in {Path(data).name} "
                           f"(e.g. {some})")
    stats = {"entries": len(entries), "phrasings": sum(len(e.phrasings) for e in entries), "queries": len(qs)}
    return FaqDataset(entries=entries, queries=qs, stats=stats)


# ---------------------------------------------------------------- JDDC 2019 dev (multi-reference)

_SESSION_OPEN = re.compile(r"^<session ([^>]+)>$")
_SESSION_CLOSE = re.compile(r"^</session ([^>]+)>$")
_QUESTION = re.compile(r"^<Q(\d+)>(.*)</Q\1>$")
MESSAGE_SEP = "!@@@!"  # one turn made of several messages
REFERENCE_SEP = "<sep>"  # the replies of different agents


@dataclass(frozen=True)
class ReplyTurn:
    """One buyer turn to answer, with the session's context and the human replies (non-NULL)."""

    session: str
    index: int  # n of <Qn>
    context: tuple[Turn, ...]
    query: str
    references: tuple[str, ...]
    null_references: int


def join_messages(text: str) -> str:
    """A turn made of several messages (``!@@@!``) as one text, placeholders made canonical."""
    return canonical_placeholders(" ".join(m.strip() for m in text.split(MESSAGE_SEP) if m.strip()))


def load_jddc_dev(questions: Path, answers: Path) -> list[ReplyTurn]:
    """Turns of a JDDC 2019 dev/test pair of files, aligned session by session and turn by turn."""
    sessions_q = _read_sessions(questions)
    sessions_a = _read_sessions(answers)
    if list(sessions_q) != list(sessions_a):
        missing = set(sessions_q) ^ set(sessions_a)
        raise DatasetError(f"{questions} and {answers} hold different sessions "
                           f"({', '.join(sorted(missing)[:5]) or 'different order'})")
    out: list[ReplyTurn] = []
    for sid, qlines in sessions_q.items():
        context: list[Turn] = []
        turns: list[tuple[int, str]] = []
        in_context = False
        for line in qlines:
            if line == "<context>":
                in_context = True
            elif line == "</context>":
                in_context = False
            elif in_context and line.startswith("Q:"):
                context.append(Turn("buyer", join_messages(line[2:].strip())))
            elif in_context and line.startswith("A:"):
                first = next((r for r in line[2:].strip().split(REFERENCE_SEP) if r.strip() != "NULL"), "")
                if first.strip():
                    context.append(Turn("agent", join_messages(first)))
            elif m := _QUESTION.match(line):
                turns.append((int(m.group(1)), m.group(2)))
            elif line:
                raise DatasetError(f"{questions}: session {sid}: unexpected line {line[:40]!r}")
        alines = [a for a in sessions_a[sid] if a]
        if len(alines) != len(turns):
            raise DatasetError(f"session {sid}: {len(turns)} <Qn> turns in {Path(questions).name} but "
                               f"{len(alines)} answer lines in {Path(answers).name}")
        for (n, q), a in zip(turns, alines):
            refs = [r.strip() for r in a.split(REFERENCE_SEP)]
            good = tuple(join_messages(r) for r in refs if r and r != "NULL")
            good = tuple(r for r in good if r)
            out.append(ReplyTurn(session=sid, index=n, context=tuple(context), query=join_messages(q),
                                 references=good, null_references=len(refs) - len(good)))
            # Later turns see this buyer turn; the agent's actual reply is the unknown being scored.
            context.append(Turn("buyer", join_messages(q)))
    return out


def _read_sessions(path: Path) -> dict[str, list[str]]:
    sessions: dict[str, list[str]] = {}
    current: str | None = None
    for n, raw in enumerate(Path(path).read_text(encoding="utf-8-sig").splitlines(), start=1):
        line = raw.rstrip("\r")
        if m := _SESSION_OPEN.match(line.strip()):
            if current is not None:
                raise DatasetError(f"{path}: line {n}: session {m.group(1)} opens inside session {current}")
            current = m.group(1)
            if current in sessions:
                raise DatasetError(f"{path}: line {n}: session {current} appears twice")
            sessions[current] = []
        elif m := _SESSION_CLOSE.match(line.strip()):
            if m.group(1) != current:
                raise DatasetError(f"{path}: line {n}: </session {m.group(1)}> closes session {current}")
            current = None
        elif current is not None:
            sessions[current].append(line.strip() if not line.startswith(("Q:", "A:")) else line)
        elif line.strip():
            raise DatasetError(f"{path}: line {n}: text outside a <session>")
    if current is not None:
        raise DatasetError(f"{path}: session {current} is never closed")
    if not sessions:
        raise DatasetError(f"{path}: no <session …> found; is this a JDDC 2019 dev/test file?")
    return sessions


# ---------------------------------------------------------------- reply banks


@dataclass(frozen=True)
class ReplyPair:
    """A buyer turn and the agent reply that followed it in a historical chat."""

    buyer: str
    reply: str
    source: str


def load_jddc_chat(path: Path) -> dict[str, list[Turn]]:
    """Sessions of a JDDC 2019 chat log, consecutive messages of one speaker merged into a turn.

    The product's own reader (``knowledge_base.mining``, which mines FAQs from the same format)
    parses the file; placeholders are then made canonical as in the other JDDC loaders.
    """
    from knowledge_base.chatlogs import read_jddc_chat
    from models.errors import UploadError

    try:
        conversations = read_jddc_chat(Path(path))
    except UploadError as exc:
        raise DatasetError(exc.message) from exc
    sessions: dict[str, list[Turn]] = {}
    for conversation in conversations:
        turns = [Turn(t.role, join_messages(t.text)) for t in conversation.turns]
        sessions[conversation.id] = [t for t in turns if t.text]
    return sessions


def chat_reply_pairs(sessions: dict[str, list[Turn]], source: str = "") -> list[ReplyPair]:
    """Every (buyer turn → the agent turn right after it) of every session."""
    out = []
    for turns in sessions.values():
        for prev, nxt in zip(turns, turns[1:]):
            if prev.role == "buyer" and nxt.role == "agent":
                out.append(ReplyPair(prev.text, nxt.text, source))
    return out


def load_jddc2018_pairs(questions: Path, answers: Path) -> list[ReplyPair]:
    """JDDC 2018 context → reply pairs; the buyer side is the context's last segment.

    Contexts are messages joined by ``,`` (speakers not kept) and end with the buyer's last message,
    so the last segment is the message the reply answered. Lines end with a trailing ``,``.
    """
    qs = Path(questions).read_text(encoding="utf-8-sig").splitlines()
    as_ = Path(answers).read_text(encoding="utf-8-sig").splitlines()
    if len(qs) != len(as_):
        raise DatasetError(f"{questions} has {len(qs)} lines but {answers} has {len(as_)}; they must align")
    out = []
    for q, a in zip(qs, as_):
        segments = [s for s in q.rstrip("\r").rstrip(",").split(",") if s.strip()]
        reply = canonical_placeholders(a.rstrip("\r").rstrip(",").replace(",", " "))
        if segments and reply:
            buyer = canonical_placeholders(segments[-1])
            if buyer:
                out.append(ReplyPair(buyer, reply, Path(questions).name))
    return out


def load_reply_bank(paths: Iterable[str | Path]) -> list[ReplyPair]:
    """Pairs from chat logs and/or JDDC 2018 pair files.

    Each item is a chat-log file (sniffed: 7 tab-separated columns), or a JDDC 2018 questions file
    given as ``QUESTIONS,ANSWERS`` or alone, in which case its answers file is the one whose name
    has ``Answer`` where the questions file has ``Question``.
    """
    out: list[ReplyPair] = []
    for item in paths:
        item = str(item)
        if "," in item:
            q, a = (Path(p) for p in item.split(",", 1))
            out.extend(load_jddc2018_pairs(q, a))
            continue
        path = Path(item)
        if not path.is_file():
            raise DatasetError(f"reply bank file {path} does not exist")
        if _looks_like_chat_log(path):
            out.extend(chat_reply_pairs(load_jddc_chat(path), path.name))
            continue
        partner = path.with_name(path.name.replace("Question", "Answer").replace("question", "answer"))
        if partner == path or not partner.is_file():
            raise DatasetError(f"{path} is not a chat log, and no answers file {partner.name} sits beside it; "
                               f"give the pair as QUESTIONS,ANSWERS")
        out.extend(load_jddc2018_pairs(path, partner))
    return out


def _looks_like_chat_log(path: Path) -> bool:
    with path.open(encoding="utf-8-sig", errors="replace") as fh:
        first = fh.readline().rstrip("\r\n").split("\t")
    return len(first) >= 7 and first[2] in ("0", "1")


def reply_bank_entries(pairs: Sequence[ReplyPair]) -> list[FaqEntry]:
    """The reply bank as a knowledge base: one entry per distinct agent reply, whose phrasings are
    the distinct buyer turns it answered, most frequent reply first (ties in first-seen order).

    Entry ids are ``r000001``…; the category holds how often the reply was seen.
    """
    by_reply: dict[str, list[str]] = {}
    counts: Counter[str] = Counter()
    for p in pairs:
        by_reply.setdefault(p.reply, []).append(p.buyer)
        counts[p.reply] += 1
    order = sorted(by_reply, key=lambda r: -counts[r])  # sorted() is stable: ties keep first-seen order
    entries = []
    for i, reply in enumerate(order, start=1):
        phrasings = list(dict.fromkeys(by_reply[reply]))
        entries.append(FaqEntry(id=f"r{i:06d}", question=phrasings[0], similar=tuple(phrasings[1:]),
                                answers=(reply,), category=str(counts[reply])))
    return entries


# ---------------------------------------------------------------- question pairs


@dataclass(frozen=True)
class TextPair:
    a: str
    b: str
    label: int


def load_pairs(path: Path) -> list[TextPair]:
    """Labelled question pairs from an ATEC, BQ or LCQMC file (or anything shaped like them).

    The delimiter is sniffed (tab, else comma); a BOM and CRLF are dropped; a header row
    (``…,label``) is skipped; rows of 4 columns starting with a number carry an id first. Rows of
    another width (an unquoted comma inside a CSV sentence) are skipped and counted in the log.
    """
    raw = Path(path).read_bytes().decode("utf-8-sig").replace("\ufeff", "")
    lines = [ln for ln in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n") if ln.strip()]
    if not lines:
        raise DatasetError(f"{path}: empty pair file")
    delimiter = "\t" if "\t" in lines[0] else ","
    reader = csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter,
                        quoting=csv.QUOTE_MINIMAL if delimiter == "," else csv.QUOTE_NONE)
    rows = list(reader)
    if rows and rows[0] and rows[0][-1].strip().lower() == "label":
        rows = rows[1:]
    # ATEC rows are "id, s1, s2, label"; BQ and LCQMC rows "s1, s2, label".
    with_id = bool(rows) and len(rows[0]) == 4 and rows[0][0].strip().isdigit()
    width = 4 if with_id else 3
    out: list[TextPair] = []
    bad = 0
    for cols in rows:
        if len(cols) != width or cols[-1].strip() not in ("0", "1"):
            bad += 1
            continue
        a, b = cols[-3].strip(), cols[-2].strip()
        out.append(TextPair(a, b, int(cols[-1])))
    if not out:
        raise DatasetError(f"{path}: no (sentence1, sentence2, 0/1 label) rows found")
    if bad:
        logger.warning("%s: skipped %d malformed rows", path, bad)
    return out
