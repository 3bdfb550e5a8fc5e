"""``smartreply eval run escalation``: the labelled sets the team wrote, the task through the CLI with the
real encoder and the shipped model, buyer turns read from JDDC-format files."""

from __future__ import annotations

import json

from eval.escalation import load_buyer_turns
from models.normalize import normalize_text
from training.train_escalation import (
    DEFAULT_ESCALATION_DATA,
    DEFAULT_ESCALATION_DEV,
    DEFAULT_ESCALATION_TEST,
    load_escalation,
)

from .conftest import require_shared


def test_the_labelled_sets_are_large_enough_and_disjoint():
    test, dev, train = (load_escalation(p) for p in (DEFAULT_ESCALATION_TEST, DEFAULT_ESCALATION_DEV,
                                                       DEFAULT_ESCALATION_DATA))
    assert len(test) >= 400 and sum(1 for m in test if m.hard) >= 150
    assert 0.3 < sum(m.escalate for m in test) / len(test) < 0.6
    kinds = {m.hard for m in test if m.hard}
    assert {"polite_complaint", "sarcasm", "product_anger", "agent_anger", "calm_safety"} <= kinds
    assert {m.label for m in test} == {"none", "insult", "anger", "complaint", "report_threat", "refund_dispute",
                                       "delivery_dispute", "safety", "repeated_ask"}
    texts = [{normalize_text(m.text) for m in s} for s in (test, dev, train)]
    assert not texts[0] & texts[1] and not texts[0] & texts[2] and not texts[1] & texts[2]


LABELLED = [
    {"text": "再不处理我就打12315了", "label": "report_threat"},
    {"text": "我不会给差评的，放心", "label": "none", "hard": "negated"},
    {"text": "什么时候发货", "label": "none"},
    {"text": "人呢", "label": "repeated_ask", "turns": [{"role": "buyer", "text": "请问能开发票吗"},
                                                       {"role": "buyer", "text": "在吗"}]},
]


def test_escalation_run_beside_the_keyword_baseline(cli, tmp_path):
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in LABELLED), "utf-8")
    out = tmp_path / "run"
    r = cli("eval", "run", "escalation", "--data", str(labelled), "--data", "chat_log.txt", "--data", "dev_question.txt",
            "--system", "keywords", "--system", "lexicon", "--system", "detector", "--out", str(out))
    assert r.exit_code == 0, r.output
    doc = json.loads((out / "metrics.json").read_text("utf-8"))
    assert doc["task"] == "escalation" and list(doc["systems"]) == ["keywords", "lexicon", "detector"]
    assert doc["systems"]["detector"]["kind"] == "system" and doc["systems"]["keywords"]["kind"] == "baseline"
    assert doc["dataset"]["messages"] == 4 and doc["dataset"]["escalate"] == 2 and doc["dataset"]["with_turns"] == 1
    keywords = doc["systems"]["keywords"]["metrics"]
    # the baseline flags the threat and, without negation, the promise of no 差评; it cannot see turns
    assert (keywords["tp"], keywords["fp"], keywords["fn"], keywords["tn"]) == (1, 1, 1, 1)
    assert (keywords["precision"], keywords["recall"]) == (0.5, 0.5)
    lexicon = doc["systems"]["lexicon"]["metrics"]
    assert (lexicon["tp"], lexicon["fp"], lexicon["precision"], lexicon["recall"]) == (2, 0, 1.0, 1.0)
    assert doc["systems"]["lexicon"]["details"]["per_hard_kind"] == {"negated": {"messages": 1, "escalate": False,
                                                                                 "correct": 1}}
    real = doc["systems"]["keywords"]["details"]["real"]
    assert real["turns"] == sum(v["turns"] for v in real["by_source"].values()) > 10
    assert set(real["by_source"]) == {"chat_log.txt", "dev_question.txt"}
    preds = [json.loads(line) for line in (out / "predictions.jsonl").read_text("utf-8").splitlines()]
    assert sum(1 for p in preds if not p.get("real")) == 3 * 4
    assert {"detector", "keywords", "lexicon"} == {p["system"] for p in preds}
    assert r.stdout.splitlines()[0].split()[:4] == ["system", "precision", "recall", "F1"]


def test_a_run_needs_exactly_one_labelled_file(cli, fixtures):
    r = cli("eval", "run", "escalation", "--data", "chat_log.txt", "--system", "keywords", "--out", "/tmp/never")
    assert r.exit_code == 1 and "exactly one labelled JSONL" in r.output


def test_buyer_turns_of_both_jddc_formats(fixtures):
    chat = load_buyer_turns(fixtures / "chat_log.txt")
    assert chat and all(t.source == "chat_log.txt" for t in chat)
    first = chat[0]
    assert first.turns == () and first.text  # a session's first buyer message has no history
    dev = load_buyer_turns(fixtures / "dev_question.txt")
    # <Qn> turns were answered (in dev_answer): each is followed by an agent turn in the history
    q2 = next(t for t in dev if t.text == "什么时候能到")
    assert q2.turns[-1] == ("agent", "") and q2.turns[-2] == ("buyer", "麻烦快点")


def test_real_jddc_buyer_turns_load():
    chat, questions = require_shared("jddc-2019/chat_0.1per.txt", "jddc-2019/dev_question.txt")
    turns = load_buyer_turns(chat) + load_buyer_turns(questions)
    assert len(turns) > 5000  # counted in docs/evaluation.md; the text stays out of the repository
