"""Auto-reply rule (自动回复) routes: CRUD, revisions, explain (dry run) and match (records cooldowns)."""

from __future__ import annotations

from fastapi import APIRouter, status

from knowledge_base.rules import Explanation, Rule, rule_from_spec, rule_to_spec
from models.messages import M

from .deps import AdminShop, AgentShop, EscalationDep, ItemId, Lang, RulesDep, SettingsDep, VersionNo
from .openapi import error_responses
from .quick_phrases import revision_list
from .schemas import (
    ExplainRequest,
    ExplainResponse,
    ReasonPublic,
    RuleChange,
    RuleDecisionPublic,
    RuleIn,
    RuleList,
    RulePatch,
    RulePublic,
    RuleWinner,
    RevisionList,
    escalation_public,
)
from .suggestions import check_message

router = APIRouter(prefix="/v1/shops/{shop_id}/rules", tags=["auto-reply rules"])
_ERRORS = error_responses(404, 409, 422)


def _public(rule: Rule) -> RulePublic:
    return RulePublic(id=rule.id, **rule_to_spec(rule))


def _explanation(shop_id: str, revision: int | None, message: str, e: Explanation, lang: str) -> ExplainResponse:
    winner = e.winner
    return ExplainResponse(
        shop_id=shop_id, rules_revision=revision, timezone=e.timezone, local_time=e.local_time,
        weekday=e.local_time.isoweekday(), message=message,
        winner=RuleWinner(rule_id=winner.rule.id, name=winner.rule.name, reply=winner.rule.reply) if winner else None,
        rules=[RuleDecisionPublic(
            rule_id=d.rule.id, name=d.rule.name, priority=d.rule.priority, enabled=d.rule.enabled, fires=d.fires,
            reasons=[ReasonPublic(code=r.code, message=r.msg.text(lang), message_code=r.msg.code,
                                  params=dict(r.msg.params), data=r.data) for r in d.reasons],
            matched=[m.text(lang) for m in d.matched_msgs],
            matched_codes=[{"code": m.code, "params": dict(m.params)} for m in d.matched_msgs],
            similarity=None if d.similarity is None else round(d.similarity, 4),
            best_example=d.best_example) for d in e.decisions],
        notes=[m.text(lang) for m in e.note_msgs])


@router.get("", response_model=RuleList, responses=_ERRORS)
def list_rules(shop_id: AdminShop, rules: RulesDep) -> RuleList:
    revision, items = rules.list(shop_id)
    return RuleList(shop_id=shop_id, revision=revision, timezone=rules.timezone(shop_id),
                    data=[_public(r) for r in items])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=RuleChange, responses=_ERRORS)
def create_rule(shop_id: AdminShop, body: RuleIn, rules: RulesDep) -> RuleChange:
    rule = rule_from_spec(body.id or "", body.model_dump(mode="json", exclude={"id"}))
    revision, rule = rules.create(shop_id, rule)
    return RuleChange(shop_id=shop_id, revision=revision, rule=_public(rule))


def _escalated(response: ExplainResponse, escalation, lang: str) -> ExplainResponse:  # noqa: ANN001
    """An escalated message is never auto-replied: no winner, and why."""
    response.escalate = escalation_public(escalation)
    if escalation is not None:
        response.winner = None
        response.notes.append(M("rules.escalated", reasons=[M(f"escalation.{c}") for c in escalation.codes]).text(lang))
    return response


@router.post("/explain", response_model=ExplainResponse, responses=_ERRORS)
def explain(shop_id: AgentShop, body: ExplainRequest, escalation_check: EscalationDep, rules: RulesDep,
            settings: SettingsDep, lang: Lang) -> ExplainResponse:
    """For every rule: does it fire for this message at this time, and exactly why not. Records nothing."""
    check_message(body.message, settings.max_message_chars)
    escalation, vector = escalation_check(body.message)
    revision, e = rules.explain(shop_id, body.message, body.at, body.conversation_id, query_vector=vector)
    return _escalated(_explanation(shop_id, revision, body.message, e, lang), escalation, lang)


@router.post("/match", response_model=ExplainResponse, responses=_ERRORS)
def match(shop_id: AgentShop, body: ExplainRequest, escalation_check: EscalationDep, rules: RulesDep,
          settings: SettingsDep, lang: Lang) -> ExplainResponse:
    """The live decision: like explain, and the winner's firing is recorded for the conversation's cooldown.
    An escalated message gets no winner and records nothing: a person answers it."""
    check_message(body.message, settings.max_message_chars)
    escalation, vector = escalation_check(body.message)
    decide = rules.explain if escalation is not None else rules.match
    revision, e = decide(shop_id, body.message, body.at, body.conversation_id, query_vector=vector)
    return _escalated(_explanation(shop_id, revision, body.message, e, lang), escalation, lang)


@router.get("/revisions", response_model=RevisionList, responses=_ERRORS)
def list_revisions(shop_id: AdminShop, rules: RulesDep) -> RevisionList:
    return revision_list(shop_id, rules.revisions(shop_id))


@router.post("/revisions/{revision}/restore", response_model=RuleList, responses=_ERRORS)
def restore_revision(shop_id: AdminShop, revision: VersionNo, rules: RulesDep) -> RuleList:
    new_revision, items = rules.restore(shop_id, revision)
    return RuleList(shop_id=shop_id, revision=new_revision, timezone=rules.timezone(shop_id),
                    data=[_public(r) for r in items])


@router.get("/{rule_id}", response_model=RulePublic, responses=_ERRORS)
def get_rule(shop_id: AdminShop, rule_id: ItemId, rules: RulesDep) -> RulePublic:
    return _public(rules.get(shop_id, rule_id))


@router.patch("/{rule_id}", response_model=RuleChange, responses=_ERRORS)
def update_rule(shop_id: AdminShop, rule_id: ItemId, body: RulePatch, rules: RulesDep) -> RuleChange:
    """Replace the fields sent (a whole trigger or schedule at a time)."""
    revision, rule = rules.update(shop_id, rule_id, body.model_dump(mode="json", exclude_unset=True,
                                                                     exclude_none=True))
    return RuleChange(shop_id=shop_id, revision=revision, rule=_public(rule))


@router.delete("/{rule_id}", response_model=RuleChange, responses=_ERRORS)
def delete_rule(shop_id: AdminShop, rule_id: ItemId, rules: RulesDep) -> RuleChange:
    return RuleChange(shop_id=shop_id, revision=rules.delete(shop_id, rule_id))


__all__ = ["router"]
