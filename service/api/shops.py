"""Per-shop settings: the time zone rule windows are judged in, the response-time targets the agent
console highlights and the performance report measures against, and whether agents' picks are
auto-approved as learned examples."""

from __future__ import annotations

from fastapi import APIRouter

from .deps import AdminShop, AgentShop, RuntimeDep
from .openapi import error_responses
from .schemas import ShopSettingsIn, ShopSettingsPublic

router = APIRouter(prefix="/v1/shops/{shop_id}/settings", tags=["shop settings"])


def _public(shop_id: str, runtime) -> ShopSettingsPublic:  # noqa: ANN001
    targets = runtime.desk.targets(shop_id)
    return ShopSettingsPublic(shop_id=shop_id, timezone=runtime.rules.timezone(shop_id),
                              first_response_target_seconds=targets.first_response_seconds,
                              reply_deadline_hours=targets.reply_deadline_hours,
                              deadline_warning_hours=targets.deadline_warning_hours,
                              learning_auto_approve=runtime.learning.auto_approve(shop_id))


@router.get("", response_model=ShopSettingsPublic, responses=error_responses(404))
def get_settings(shop_id: AgentShop, runtime: RuntimeDep) -> ShopSettingsPublic:
    """The shop's settings (agent keys may read them: the agent console needs the targets)."""
    runtime.store.require_shop(shop_id)
    return _public(shop_id, runtime)


@router.put("", response_model=ShopSettingsPublic, responses=error_responses(404, 422))
def put_settings(shop_id: AdminShop, body: ShopSettingsIn, runtime: RuntimeDep) -> ShopSettingsPublic:
    """Change the fields sent (targets are checked together first: nothing changes on an error)."""
    targets = {name: getattr(body, field) for name, field in (
        ("first_response_seconds", "first_response_target_seconds"), ("reply_deadline_hours", "reply_deadline_hours"),
        ("deadline_warning_hours", "deadline_warning_hours")) if field in body.model_fields_set}
    runtime.store.require_shop(shop_id)
    runtime.desk.check_targets(shop_id, **targets)
    if body.timezone is not None:
        runtime.rules.set_timezone(shop_id, body.timezone)  # checks the zone before storing it
    if targets:
        runtime.desk.set_targets(shop_id, **targets)
    if body.learning_auto_approve is not None:
        runtime.learning.set_auto_approve(shop_id, body.learning_auto_approve)
    return _public(shop_id, runtime)
