"""Each shop's auto-reply rules: storage (revisioned, like quick phrases), embeddings of semantic
triggers, cooldown records, and ``explain`` / ``match`` over ``rules.evaluate``.

Example phrasings of a semantic trigger are embedded when the rule is saved and stored with it
(base64 of little-endian float32, tagged with the encoder id); a rule saved under another encoder is
re-embedded on first use. ``match`` is what live traffic calls: it records when the winning rule
fired in the conversation, which is what cooldowns read. ``explain`` is the same decision as a dry
run: it reads cooldowns but records nothing.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import available_timezones

import numpy as np

from models.encoder import Encoder
from models.errors import InvalidItem, ItemExists, ItemNotFound, LimitExceeded, ValidationProblem
from models.messages import M

from .cells import cell_problems
from .revisioned import RevisionedBook
from .rules import (
    DEFAULT_TIMEZONE,
    Explanation,
    Rule,
    RuleLimits,
    check_rule,
    evaluate,
    rule_from_spec,
    rule_to_spec,
    zone,
)
from .store import KbStore
from .tablefile import ParseLimits
from .validation import compliance_problems

__all__ = ["RuleBook", "encode_vectors", "decode_vectors"]

logger = logging.getLogger(__name__)

_KIND = "rules"


def encode_vectors(vectors: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(vectors, dtype="<f4").tobytes()).decode("ascii")


def decode_vectors(text: str, dim: int) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f4").reshape(-1, dim)


class RuleBook(RevisionedBook[Rule]):
    """Each shop's rules (list, get, delete, restore and revisions: ``RevisionedBook``), their semantic
    triggers' vectors, and which rule fires for a message."""

    kind = _KIND

    def __init__(
        self,
        store: KbStore,
        encoder: Encoder,
        *,
        normalise: Callable[[str], str] = lambda s: s,
        limits: RuleLimits | None = None,
        parse_limits: ParseLimits | None = None,
        state_ttl: float = 0.0,
        cached_revisions: int = 4096,
    ) -> None:
        super().__init__(store)
        self.encoder = encoder
        self.normalise = normalise
        self.limits = limits or RuleLimits()
        self.parse_limits = parse_limits or ParseLimits()
        # (shop, revision) → rules and example vectors; revisions never change, so no invalidation.
        # Least recently used first, at most ``cached_revisions`` (a process serving many shops must
        # not keep every shop's every revision it ever saw).
        self._cache: OrderedDict[tuple[str, int], tuple[list[Rule], dict[str, np.ndarray]]] = OrderedDict()
        self.cached_revisions = cached_revisions
        self._cache_lock = threading.Lock()
        # Every buyer message asks for the shop's current rule revision and time zone (three queries,
        # ~0.5 ms). With ``state_ttl`` > 0 the answer is reused that long, like the suggester's active
        # version: a change made through this object is seen at once, one made by another process
        # within the TTL.
        self.state_ttl = state_ttl
        self._states: dict[str, tuple[int | None, str, float]] = {}

    # -- settings ---------------------------------------------------------------------------
    def timezone(self, shop_id: str) -> str:
        return self.store.shop_timezone(shop_id) or DEFAULT_TIMEZONE

    def set_timezone(self, shop_id: str, name: str) -> str:
        try:
            if name not in available_timezones():  # ZoneInfo also opens file paths such as "posix/…"
                raise ValueError(f"unknown time zone {name!r}; use an IANA name such as Asia/Shanghai")
            zone(name)
        except ValueError as exc:
            msg = M("problem.bad_timezone", name=name)
            raise InvalidItem(msg, [ValidationProblem.of(msg, column="timezone", value=name,
                                                         code="bad_timezone")]) from exc
        self.store.set_shop_timezone(shop_id, name)
        self._states.pop(shop_id, None)
        return name

    # -- the collection ---------------------------------------------------------------------
    def _from_item(self, item: dict[str, Any]) -> Rule:
        return rule_from_spec(item["rule_id"], _spec(item))

    def _not_found(self, shop_id: str, item_id: str) -> ItemNotFound:
        return ItemNotFound(M("nf.rule", shop=shop_id, item=item_id))

    def _change(self, shop_id: str, change: Callable[[list[dict]], tuple[list[dict], str]]) -> tuple[int, list[dict]]:
        try:
            return super()._change(shop_id, change)
        finally:
            self._states.pop(shop_id, None)

    def _validate(self, rule: Rule) -> None:
        problems = check_rule(rule, self.limits)
        problems += compliance_problems(rule.reply, self.parse_limits, column="reply", where={})
        # Rules never reach a spreadsheet (no formula check), but their texts reach agents and buyers.
        texts = [("name", rule.name), ("reply", rule.reply), *(("trigger.keywords", k) for k in rule.trigger.keywords),
                 *(("trigger.examples", e) for e in rule.trigger.examples)]
        problems += [p for column, text in texts for p in cell_problems(text, column=column, where={})
                     if p.code == "control_character"]
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            raise InvalidItem(M("item.invalid", subject=M("item.rule", name=rule.name or rule.id), n=len(errors)),
                              problems)

    def _item(self, rule: Rule) -> dict[str, Any]:
        vectors = None
        if rule.trigger.mode == "semantic" and rule.trigger.examples:
            vectors = encode_vectors(self.encoder.encode([self.normalise(e) for e in rule.trigger.examples]))
        return {"rule_id": rule.id, "spec": rule_to_spec(rule), "vectors": vectors,
                "encoder_id": self.encoder.model_id if vectors else ""}

    def create(self, shop_id: str, rule: Rule) -> tuple[int, Rule]:
        if not rule.id:
            rule = replace(rule, id=f"rule-{uuid.uuid4().hex[:10]}")
        self._validate(rule)
        item = self._item(rule)

        def change(items: list[dict]) -> tuple[list[dict], str]:
            if any(i["rule_id"] == rule.id for i in items):
                msg = M("rule.id_used", id=rule.id)
                raise ItemExists(msg, [ValidationProblem.of(msg, column="id", value=rule.id, code="duplicate_id")])
            if len(items) >= self.limits.max_rules:
                raise LimitExceeded(M("rule.limit", limit=self.limits.max_rules))
            return [*items, item], f"create {rule.id}"

        revision, _ = self._change(shop_id, change)
        return revision, rule

    def update(self, shop_id: str, rule_id: str, changes: dict[str, Any]) -> tuple[int, Rule]:
        """Replace the given top-level fields of the rule's spec (name, trigger, reply, schedule, …)."""
        self.store.require_shop(shop_id)
        result: list[Rule] = []

        def change(items: list[dict]) -> tuple[list[dict], str]:
            for n, item in enumerate(items):
                if item["rule_id"] == rule_id:
                    spec = {**_spec(item), **changes}
                    try:
                        rule = rule_from_spec(rule_id, spec)
                    except (KeyError, TypeError, ValueError) as exc:
                        msg = M("problem.invalid", detail=str(exc))
                        raise InvalidItem(msg, [ValidationProblem.of(msg, code="invalid")]) \
                            from exc
                    self._validate(rule)
                    old_trigger = _spec(item).get("trigger")
                    new_item = (self._item(rule) if spec.get("trigger") != old_trigger or not item.get("vectors")
                                else {**item, "spec": rule_to_spec(rule)})
                    result.append(rule)
                    return [*items[:n], new_item, *items[n + 1:]], f"update {rule_id}"
            raise self._not_found(shop_id, rule_id)

        revision, _ = self._change(shop_id, change)
        return revision, result[0]

    # -- deciding ---------------------------------------------------------------------------
    def _state(self, shop_id: str) -> tuple[int | None, str]:
        """(current rule revision, time zone) of the shop."""
        now = time.monotonic()
        cached = self._states.get(shop_id)
        if cached is not None and cached[2] > now:
            return cached[0], cached[1]
        self.store.require_shop(shop_id)
        revision, timezone = self.store.current_revision(shop_id, _KIND), self.timezone(shop_id)
        if self.state_ttl > 0:
            self._states[shop_id] = (revision, timezone, now + self.state_ttl)
        return revision, timezone

    def _loaded(self, revision: int, shop_id: str) -> tuple[list[Rule], dict[str, np.ndarray]]:
        key = (shop_id, revision)
        with self._cache_lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
        if cached is None:
            _, items = self.store.collection(shop_id, _KIND, revision)
            rules = [rule_from_spec(i["rule_id"], _spec(i)) for i in items]
            vectors: dict[str, np.ndarray] = {}
            for item, rule in zip(items, rules):
                if rule.trigger.mode != "semantic" or not rule.trigger.examples:
                    continue
                if item.get("vectors") and item.get("encoder_id") == self.encoder.model_id:
                    vectors[rule.id] = decode_vectors(item["vectors"], self.encoder.dim)
                else:  # saved under another encoder: embed again (a few short texts)
                    logger.info("rule %s of shop %s: re-embedding examples for %s", rule.id, shop_id,
                                self.encoder.model_id)
                    vectors[rule.id] = self.encoder.encode([self.normalise(e) for e in rule.trigger.examples])
            cached = (rules, vectors)
            with self._cache_lock:
                self._cache[key] = cached
                while len(self._cache) > self.cached_revisions:
                    self._cache.popitem(last=False)
        return cached

    def explain(self, shop_id: str, message: str, at: datetime | None = None,
                conversation_id: str | None = None, *, query_vector: np.ndarray | None = None,
                ) -> tuple[int | None, Explanation]:
        """Every rule with whether it fires and why not. A dry run: records nothing.

        ``query_vector``: the normalised message's embedding when the caller has it already (the
        suggestion pipeline), so semantic triggers do not encode the message a second time."""
        revision, timezone = self._state(shop_id)
        rules, vectors = self._loaded(revision, shop_id) if revision is not None else ([], {})
        at = _aware(at, timezone)
        similarities: dict[str, tuple[float, str]] = {}
        if vectors:
            query = query_vector if query_vector is not None else self.encoder.encode([self.normalise(message)])[0]
            for rule in rules:
                if rule.id in vectors:
                    scores = vectors[rule.id] @ query
                    best = int(np.argmax(scores))
                    similarities[rule.id] = (float(scores[best]), rule.trigger.examples[best])
        # With a conversation_id, cooldowns are checked (an empty record when there is nothing to read):
        # the "no conversation_id" note is for requests without one, never for a shop without rules.
        last = (self.store.last_fires(shop_id, conversation_id) if rules else {}) if conversation_id else None
        return revision, evaluate(rules, message, at, timezone=timezone, last_fired=last, similarities=similarities)

    def match(self, shop_id: str, message: str, at: datetime | None = None,
              conversation_id: str | None = None, *, query_vector: np.ndarray | None = None,
              ) -> tuple[int | None, Explanation]:
        """``explain``, then record the winner's firing in the conversation (for its cooldown)."""
        revision, explanation = self.explain(shop_id, message, at, conversation_id, query_vector=query_vector)
        winner = explanation.winner
        if winner is not None and conversation_id:
            self.store.record_fire(shop_id, conversation_id, winner.rule.id, explanation.local_time)
        return revision, explanation

    def fire(self, shop_id: str, message: str, *, at: datetime | None = None, conversation_id: str | None = None,
             query_vector: np.ndarray | None = None) -> Rule | None:
        """The rule that fires for ``message`` (``match``'s winner), if any: what the suggestion pipeline asks."""
        _, explanation = self.match(shop_id, message, at, conversation_id, query_vector=query_vector)
        return None if explanation.winner is None else explanation.winner.rule


def _spec(item: dict[str, Any]) -> dict[str, Any]:
    spec = item["spec"]
    if isinstance(spec, str):  # some drivers hand JSON back as text
        import json

        spec = json.loads(spec)
    return dict(spec)


def _aware(at: datetime | None, timezone: str) -> datetime:
    if at is None:
        return datetime.now(UTC)
    if at.tzinfo is None:  # a time without offset is the shop's local time
        return at.replace(tzinfo=zone(timezone))
    return at
