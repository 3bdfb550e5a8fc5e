"""Buyer ↔ agent conversations and the chat-log files they are read from (what FAQ mining and the
evaluation read):

* the JDDC 2019 chat log: a TSV without header, 7 columns ``session_id``, ``customer_id``,
  ``waiter_send`` (0 buyer, 1 agent), ``is_transfer``, ``is_repeat``, ``sku``, ``content``;
* a generic JSONL, one conversation per line:
  ``{"conversation_id": "c1", "turns": [{"role": "buyer" | "agent", "text": "…"}, …]}``.

Consecutive messages of one speaker form one turn.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from models.errors import UploadError

__all__ = ["Turn", "Conversation", "ChatLogFormat", "read_chat_log", "read_jddc_chat", "read_jsonl_conversations"]

ChatLogFormat = Literal["auto", "jddc", "jsonl"]


@dataclass(frozen=True)
class Turn:
    """One turn of a conversation: every part of smartreply that sees conversations uses this one type
    (chat logs here, the suggestion request's ``turns``, the evaluation's dialogues)."""

    role: str  # "buyer" | "agent"
    text: str
    at: datetime | None = None  # when it was sent, if known (repeated unanswered asks)


@dataclass(frozen=True)
class Conversation:
    id: str
    turns: tuple[Turn, ...]


def _append(turns: list[Turn], role: str, text: str) -> None:
    text = " ".join(text.split())
    if not text:
        return
    if turns and turns[-1].role == role:
        turns[-1] = Turn(role, f"{turns[-1].text} {text}")
    else:
        turns.append(Turn(role, text))


def read_jddc_chat(path: Path) -> list[Conversation]:
    """Conversations of a JDDC 2019 chat-log TSV, in file order (a session's rows are contiguous or not)."""
    sessions: dict[str, list[Turn]] = {}
    with Path(path).open(encoding="utf-8-sig", newline="") as fh:
        for n, raw in enumerate(fh, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                continue
            cols = line.split("\t")
            if len(cols) < 7 or cols[2] not in ("0", "1"):
                raise UploadError(f"{path}: line {n} is not a JDDC chat-log row (7 tab-separated columns: "
                                    "session, customer, waiter_send 0/1, is_transfer, is_repeat, sku, content)")
            # A turn made of several messages is joined with !@@@! in some JDDC files.
            text = " ".join(part for part in "\t".join(cols[6:]).split("!@@@!"))
            _append(sessions.setdefault(cols[0], []), "agent" if cols[2] == "1" else "buyer", text)
    return [Conversation(sid, tuple(turns)) for sid, turns in sessions.items()]


def read_jsonl_conversations(path: Path) -> list[Conversation]:
    """Conversations of the generic JSONL format (see the module docstring)."""
    out: list[Conversation] = []
    with Path(path).open(encoding="utf-8-sig") as fh:
        for n, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
                cid = str(row.get("conversation_id") or f"line-{n}")
                turns: list[Turn] = []
                for t in row["turns"]:
                    role = t["role"]
                    if role not in ("buyer", "agent"):
                        raise ValueError(f"role must be 'buyer' or 'agent', not {role!r}")
                    _append(turns, role, str(t.get("text") or ""))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise UploadError(f"{path}: line {n} is not a conversation "
                                    '({"conversation_id", "turns": [{"role": "buyer"|"agent", "text"}]}): '
                                    f"{exc}") from exc
            out.append(Conversation(cid, tuple(turns)))
    return out


def read_chat_log(path: Path, fmt: ChatLogFormat = "auto") -> list[Conversation]:
    """Read ``path`` as JDDC TSV or generic JSONL (``auto``: by suffix, then by the first line)."""
    path = Path(path)
    if fmt == "auto":
        if path.suffix.lower() in (".jsonl", ".json"):
            fmt = "jsonl"
        else:
            with path.open(encoding="utf-8-sig") as fh:
                first = next((line for line in fh if line.strip()), "")
            fmt = "jsonl" if first.lstrip().startswith("{") else "jddc"
    if fmt == "jsonl":
        return read_jsonl_conversations(path)
    if fmt == "jddc":
        return read_jddc_chat(path)
    raise ValueError(f"unknown chat-log format {fmt!r}; use auto, jddc or jsonl")
