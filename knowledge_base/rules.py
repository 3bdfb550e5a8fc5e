"""Keyword auto-reply rules (自动回复): when a rule fires, and exactly why the others do not.

Pure functions over dataclasses: no database, no web framework, no encoder (the semantic trigger's
similarities are computed by the caller and passed in). Times are judged in the shop's time zone
(``zoneinfo``; default Asia/Shanghai).

A rule fires for a message at a time when all of these hold; ``evaluate`` reports every one that
does not, each as a ``Reason(code, message)``:

* ``disabled`` — the rule is switched off;
* ``excluded_date`` — the local date is one of the rule's excluded dates (holidays);
* ``outside_window`` — the local time is in none of the rule's windows (no windows = always);
* ``keyword_missing`` / ``keyword_order`` / ``not_exact`` / ``below_threshold`` — the trigger;
* ``cooldown`` — the rule already fired in this conversation less than ``cooldown_seconds`` ago;
* ``lower_priority`` — it would fire, but another firing rule has a higher priority (or the same
  priority and comes first in the list): only one rule answers a message.

Matching ignores case, full/half width and whitespace: both the message and the keywords go through
``match_key`` (NFKC, lower case, no spaces). ``exact`` also ignores punctuation at either end.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from models.errors import ValidationProblem
from models.messages import M, Msg

__all__ = [
    "MATCH_MODES", "DEFAULT_TIMEZONE", "Trigger", "TimeWindow", "Schedule", "Rule", "Reason", "RuleDecision",
    "Explanation", "RuleLimits", "evaluate", "match_key", "exact_key", "window_contains", "check_rule",
    "rule_to_spec", "rule_from_spec", "zone", "WEEKDAYS",
]

MATCH_MODES = ("any", "all", "exact", "contains", "semantic")
DEFAULT_TIMEZONE = "Asia/Shanghai"
WEEKDAYS = {1: "Mon", 2: "Tue", 3: "Wed", 4: "Thu", 5: "Fri", 6: "Sat", 7: "Sun"}
_EDGE_PUNCT = " \t?？!！。.,，~～…、;；:：'\"“”‘’()（）[]【】"


@dataclass(frozen=True)
class Trigger:
    mode: str  # any | all | exact | contains | semantic
    keywords: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()  # semantic: example phrasings
    threshold: float = 0.8  # semantic: cosine similarity needed (higher is better)


@dataclass(frozen=True)
class TimeWindow:
    """Active on the ISO weekdays ``days`` (1 = Monday) from ``start`` to ``end`` ("HH:MM", end may
    be "24:00"). If ``end`` is not after ``start`` the window crosses midnight and ends the next day:
    Fri 22:00–02:00 covers Friday 22:00 to Saturday 02:00. ``days`` are the days a window starts on."""

    start: str
    end: str
    days: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7)

    @property
    def start_minute(self) -> int:
        return _minutes(self.start)

    @property
    def end_minute(self) -> int:
        return _minutes(self.end)

    @property
    def crosses_midnight(self) -> bool:
        return self.end_minute <= self.start_minute

    def describe(self) -> str:
        return self.describe_msg().text("en")

    def describe_msg(self) -> Msg:
        return M("rule.window_overnight" if self.crosses_midnight else "rule.window", days=_describe_days(self.days),
                 start=self.start, end=self.end)


@dataclass(frozen=True)
class Schedule:
    windows: tuple[TimeWindow, ...] = ()  # empty: at any time
    exclude_dates: tuple[date, ...] = ()  # local dates on which the rule never fires (holidays)


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    trigger: Trigger
    reply: str
    schedule: Schedule = Schedule()
    priority: int = 0  # higher wins
    enabled: bool = True
    cooldown_seconds: int = 0  # per conversation; 0 = no cooldown


@dataclass(frozen=True)
class Reason:
    code: str
    msg: Msg  # the sentence, shown in the reader's language
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str:
        return self.msg.text("en")


@dataclass
class RuleDecision:
    rule: Rule
    fires: bool = False
    reasons: list[Reason] = field(default_factory=list)  # why it does not fire (empty when it fires)
    matched_msgs: list[Msg] = field(default_factory=list)  # what did match, e.g. "keyword '包邮' found"
    similarity: float | None = None  # semantic trigger: best cosine over the examples
    best_example: str | None = None

    @property
    def matched(self) -> list[str]:
        return [m.text("en") for m in self.matched_msgs]


@dataclass
class Explanation:
    local_time: datetime  # the message time in the shop's time zone
    timezone: str
    message_key: str  # the message as matched (match_key)
    decisions: list[RuleDecision]  # highest priority first, then list order
    note_msgs: list[Msg] = field(default_factory=list)

    @property
    def notes(self) -> list[str]:
        return [m.text("en") for m in self.note_msgs]

    @property
    def winner(self) -> RuleDecision | None:
        return next((d for d in self.decisions if d.fires), None)


@dataclass(frozen=True)
class RuleLimits:
    max_rules: int = 100
    max_keywords: int = 20
    max_keyword_chars: int = 50
    max_examples: int = 20
    max_example_chars: int = 200
    max_name_chars: int = 50
    max_reply_chars: int = 2_000
    max_windows: int = 10
    max_cooldown_seconds: int = 7 * 24 * 3600


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}; use an IANA name such as Asia/Shanghai") from exc


def match_key(text: str) -> str:
    """What keyword matching compares: NFKC (full → half width), lower case, no whitespace."""
    return "".join(unicodedata.normalize("NFKC", text).lower().split())


def exact_key(text: str) -> str:
    return match_key(text).strip(_EDGE_PUNCT)


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _describe_days(days: Sequence[int]) -> Msg:
    days = sorted(set(days))
    if days == list(range(1, 8)):
        return M("rule.every_day")
    if len(days) > 2 and days == list(range(days[0], days[-1] + 1)):
        return M("rule.days_range", first=M(f"weekday.{days[0]}"), last=M(f"weekday.{days[-1]}"))
    return M("rule.days_list", days=[M(f"weekday.{d}") for d in days])


def window_contains(window: TimeWindow, local: datetime) -> bool:
    """Is the local time inside the window (start inclusive, end exclusive)?"""
    minute = local.hour * 60 + local.minute
    day = local.isoweekday()
    if not window.crosses_midnight:
        return day in window.days and window.start_minute <= minute < window.end_minute
    previous_day = (day - 2) % 7 + 1
    return (day in window.days and minute >= window.start_minute) or (
        previous_day in window.days and minute < window.end_minute)


def _schedule_reasons(schedule: Schedule, local: datetime, tz_name: str) -> tuple[list[Reason], list[Msg]]:
    reasons: list[Reason] = []
    matched: list[Msg] = []
    if local.date() in schedule.exclude_dates:
        reasons.append(Reason("excluded_date", M("rule.excluded_date", date=local.date().isoformat()),
                              {"date": local.date().isoformat()}))
    if schedule.windows:
        inside = [w for w in schedule.windows if window_contains(w, local)]
        when = M("rule.when", weekday=M(f"weekday.{local.isoweekday()}"), time=f"{local:%H:%M}", tz=tz_name)
        if inside:
            matched.append(M("rule.matched.window", when=when, window=inside[0].describe_msg()))
        else:
            reasons.append(Reason(
                "outside_window", M("rule.outside_window", when=when, windows=[w.describe_msg() for w in schedule.windows]),
                {"local_time": local.isoformat(), "windows": [w.describe() for w in schedule.windows]}))
    return reasons, matched


def _trigger_reasons(rule: Rule, message: str, similarity: tuple[float, str] | None) -> tuple[list[Reason], list[Msg]]:
    trigger = rule.trigger
    key = match_key(message)
    reasons: list[Reason] = []
    matched: list[Msg] = []
    if trigger.mode == "semantic":
        if similarity is None:
            reasons.append(Reason("semantic_unavailable", M("rule.semantic_unavailable")))
            return reasons, matched
        score, example = similarity
        if score >= trigger.threshold:
            matched.append(M("rule.matched.similar", example=example, similarity=score, threshold=trigger.threshold))
        else:
            reasons.append(Reason(
                "below_threshold", M("rule.below_threshold", example=example, similarity=score,
                                     threshold=trigger.threshold),
                {"similarity": round(score, 4), "example": example, "threshold": trigger.threshold}))
        return reasons, matched
    keys = [(k, match_key(k)) for k in trigger.keywords]
    if trigger.mode == "exact":
        target = exact_key(message)
        hit = next((k for k, _ in keys if exact_key(k) == target), None)
        if hit is not None:
            matched.append(M("rule.matched.exact", keyword=hit))
        else:
            inside = [k for k, kk in keys if kk and kk in key]
            hint = M("rule.not_exact_hint", keyword=inside[0]) if inside else ""
            reasons.append(Reason("not_exact", M("rule.not_exact", keywords=[k for k, _ in keys], hint=hint),
                                  {"keywords": [k for k, _ in keys]}))
        return reasons, matched
    if trigger.mode == "any":
        found = [k for k, kk in keys if kk in key]
        if found:
            matched.append(M("rule.matched.keyword", keyword=found[0]))
        else:
            reasons.append(Reason("keyword_missing", M("rule.none_of", keywords=[k for k, _ in keys]),
                                  {"missing": [k for k, _ in keys]}))
        return reasons, matched
    if trigger.mode == "all":
        for k, kk in keys:
            if kk in key:
                matched.append(M("rule.matched.keyword", keyword=k))
            else:
                reasons.append(Reason("keyword_missing", M("rule.keyword_missing", keyword=k), {"keyword": k}))
        return reasons, matched
    # contains: every keyword, in the order given (gaps allowed); one keyword = plain substring.
    position = 0
    previous: str | None = None
    for k, kk in keys:
        at = key.find(kk, position)
        if at >= 0:
            matched.append(M("rule.matched.keyword_after", keyword=k, after=previous) if previous
                           else M("rule.matched.keyword", keyword=k))
            position = at + len(kk)
        elif kk in key:
            reasons.append(Reason("keyword_order", M("rule.keyword_order", keyword=k, after=previous),
                                  {"keyword": k, "after": previous}))
        else:
            reasons.append(Reason("keyword_missing", M("rule.keyword_missing", keyword=k), {"keyword": k}))
        previous = k
    return reasons, matched


def _cooldown_reason(rule: Rule, last: datetime | None, at: datetime, tz: ZoneInfo) -> Reason | None:
    if not rule.cooldown_seconds or last is None:
        return None
    elapsed = (at - last).total_seconds()
    if 0 <= elapsed < rule.cooldown_seconds:
        left = rule.cooldown_seconds - elapsed
        return Reason("cooldown",
                      M("rule.cooldown", last=f"{last.astimezone(tz):%Y-%m-%d %H:%M:%S}", elapsed=round(elapsed),
                        cooldown=rule.cooldown_seconds, left=round(left)),
                      {"last_fired": last.isoformat(), "seconds_left": round(left)})
    return None


def evaluate(
    rules: Sequence[Rule],
    message: str,
    at: datetime,
    *,
    timezone: str = DEFAULT_TIMEZONE,
    last_fired: Mapping[str, datetime] | None = None,
    similarities: Mapping[str, tuple[float, str]] | None = None,
) -> Explanation:
    """Decide, for every rule, whether it fires for ``message`` at ``at`` (an aware datetime).

    ``last_fired``: when each rule last fired in this conversation (None: cooldowns not checked).
    ``similarities``: rule id → (best cosine, example) for semantic triggers.
    The rules are listed highest priority first (ties keep their list order); at most one fires.
    """
    tz = zone(timezone)
    if at.tzinfo is None:
        at = at.replace(tzinfo=tz)
    local = at.astimezone(tz)
    similarities = similarities or {}
    order = sorted(range(len(rules)), key=lambda i: (-rules[i].priority, i))
    decisions: list[RuleDecision] = []
    winner: Rule | None = None
    for i in order:
        rule = rules[i]
        decision = RuleDecision(rule=rule)
        if not rule.enabled:
            decision.reasons.append(Reason("disabled", M("rule.disabled")))
        reasons, matched = _schedule_reasons(rule.schedule, local, timezone)
        decision.reasons += reasons
        decision.matched_msgs += matched
        reasons, matched = _trigger_reasons(rule, message, similarities.get(rule.id))
        decision.reasons += reasons
        decision.matched_msgs += matched
        if rule.id in similarities:
            decision.similarity, decision.best_example = similarities[rule.id]
        if last_fired is not None:
            cooldown = _cooldown_reason(rule, last_fired.get(rule.id), at, tz)
            if cooldown:
                decision.reasons.append(cooldown)
        if not decision.reasons:
            if winner is None:
                winner = rule
                decision.fires = True
            else:
                code = "rule.lower_priority" if winner.priority > rule.priority else "rule.lower_priority_tie"
                decision.reasons.append(Reason("lower_priority", M(code, winner_name=winner.name,
                                                                   winner_priority=winner.priority,
                                                                   priority=rule.priority),
                                               {"winner": winner.id}))
        decisions.append(decision)
    notes = [] if last_fired is not None else [M("rule.note.no_conversation")]
    return Explanation(local_time=local, timezone=timezone, message_key=match_key(message), decisions=decisions,
                       note_msgs=notes)


# -- validation and storage form -------------------------------------------------------------
def _valid_time(text: str, *, end: bool) -> bool:
    try:
        hours, minutes = text.split(":")
        h, m = int(hours), int(minutes)
    except ValueError:
        return False
    if len(hours) != 2 or len(minutes) != 2:
        return False
    if end and (h, m) == (24, 0):
        return True
    return 0 <= h <= 23 and 0 <= m <= 59


_RULE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def check_rule(rule: Rule, limits: RuleLimits) -> list[ValidationProblem]:
    """Every problem of one rule, located by field (``column``), e.g. ``trigger.keywords``."""
    problems: list[ValidationProblem] = []

    def bad(column: str, msg: Msg, code: str = "invalid", value: str | None = None) -> None:
        problems.append(ValidationProblem.of(msg, column=column, code=code, value=value))

    if not _RULE_ID.match(rule.id):  # it names the rule in URLs (/rules/{rule_id})
        bad("id", M("problem.qp_bad_id", id=rule.id[:80]), "bad_id", rule.id[:80])
    if not rule.name.strip():
        bad("name", M("problem.missing_name"), "missing_name")
    elif len(rule.name) > limits.max_name_chars:
        bad("name", M("problem.name_too_long", n=len(rule.name), limit=limits.max_name_chars), "too_long")
    t = rule.trigger
    if t.mode not in MATCH_MODES:
        bad("trigger.mode", M("problem.bad_mode", mode=t.mode, choices=list(MATCH_MODES)), "bad_mode", t.mode)
    elif t.mode == "semantic":
        if not t.examples:
            bad("trigger.examples", M("problem.missing_examples"), "missing_examples")
    elif not [k for k in t.keywords if match_key(k)]:
        bad("trigger.keywords", M("problem.missing_keywords", mode=t.mode), "missing_keywords")
    # Checked in every mode: it is stored, and a later switch to semantic must not inherit a bad one.
    if not 0 < t.threshold <= 1:
        bad("trigger.threshold", M("problem.bad_threshold", threshold=t.threshold), "bad_threshold")
    if len(t.keywords) > limits.max_keywords:
        bad("trigger.keywords", M("problem.too_many_keywords", n=len(t.keywords), limit=limits.max_keywords),
            "too_many")
    for k in t.keywords:
        if not match_key(k):
            bad("trigger.keywords", M("problem.keyword_empty"), "missing_keywords")
        elif len(k) > limits.max_keyword_chars:
            bad("trigger.keywords", M("problem.keyword_too_long", n=len(k), limit=limits.max_keyword_chars),
                "too_long", k[:80])
    if len(t.examples) > limits.max_examples:
        bad("trigger.examples", M("problem.too_many_examples", n=len(t.examples), limit=limits.max_examples),
            "too_many")
    for e in t.examples:
        if not e.strip():
            bad("trigger.examples", M("problem.example_empty"), "missing_examples")
        elif len(e) > limits.max_example_chars:
            bad("trigger.examples", M("problem.example_too_long", n=len(e), limit=limits.max_example_chars),
                "too_long", e[:80])
    if not rule.reply.strip():
        bad("reply", M("problem.missing_reply"), "missing_reply")
    elif len(rule.reply) > limits.max_reply_chars:
        bad("reply", M("problem.reply_too_long", n=len(rule.reply), limit=limits.max_reply_chars), "too_long")
    if len(rule.schedule.windows) > limits.max_windows:
        bad("schedule.windows", M("problem.too_many_windows", n=len(rule.schedule.windows), limit=limits.max_windows),
            "too_many")
    for n, w in enumerate(rule.schedule.windows):
        column = f"schedule.windows[{n}]"
        if not _valid_time(w.start, end=False) or not _valid_time(w.end, end=True):
            bad(column, M("problem.bad_time", start=w.start, end=w.end), "bad_time")
        elif w.start_minute == w.end_minute:
            bad(column, M("problem.same_time", time=w.start), "bad_time")
        if not w.days or any(d not in WEEKDAYS for d in w.days):
            bad(column, M("problem.bad_days", days=list(w.days)), "bad_days")
    if not 0 <= rule.cooldown_seconds <= limits.max_cooldown_seconds:
        bad("cooldown_seconds", M("problem.bad_cooldown", limit=limits.max_cooldown_seconds), "bad_cooldown")
    return problems


def rule_to_spec(rule: Rule) -> dict[str, Any]:
    """The JSON form stored in the database and sent over the API (without the id)."""
    return {
        "name": rule.name,
        "trigger": {"mode": rule.trigger.mode, "keywords": list(rule.trigger.keywords),
                    "examples": list(rule.trigger.examples), "threshold": rule.trigger.threshold},
        "reply": rule.reply,
        "schedule": {"windows": [{"days": list(w.days), "start": w.start, "end": w.end}
                                 for w in rule.schedule.windows],
                     "exclude_dates": [d.isoformat() for d in rule.schedule.exclude_dates]},
        "priority": rule.priority,
        "enabled": rule.enabled,
        "cooldown_seconds": rule.cooldown_seconds,
    }


def rule_from_spec(rule_id: str, spec: Mapping[str, Any]) -> Rule:
    trigger = spec.get("trigger") or {}
    schedule = spec.get("schedule") or {}
    return Rule(
        id=rule_id,
        name=str(spec.get("name", "")).strip(),
        trigger=Trigger(mode=str(trigger.get("mode", "")), keywords=tuple(str(k).strip() for k in trigger.get("keywords", [])),
                        examples=tuple(str(e).strip() for e in trigger.get("examples", [])),
                        threshold=float(trigger.get("threshold", 0.8))),
        reply=str(spec.get("reply", "")).strip(),
        schedule=Schedule(
            windows=tuple(TimeWindow(start=str(w["start"]), end=str(w["end"]),
                                     days=tuple(int(d) for d in w.get("days", range(1, 8))))
                          for w in schedule.get("windows", [])),
            exclude_dates=tuple(d if isinstance(d, date) else date.fromisoformat(str(d))
                                for d in schedule.get("exclude_dates", []))),
        priority=int(spec.get("priority", 0)),
        enabled=bool(spec.get("enabled", True)),
        cooldown_seconds=int(spec.get("cooldown_seconds", 0)),
    )
