"""Per-shop settings: the time zone rule windows are judged in, the response-time targets the agent
console highlights and the performance report measures against, and whether agents' picks are
auto-approved as learned examples."""

from __future__ import annotations

from fastapi import APIRouter

from knowledge_base.shop_settings import ShopSettings

from .deps import AdminShop, AgentShop, ShopSettingsDep
from .openapi import error_responses
from .schemas import ShopSettingsIn, ShopSettingsPublic

router = APIRouter(prefix="/v1/shops/{shop_id}/settings", tags=["shop settings"])


def _public(s: ShopSettings) -> ShopSettingsPublic:
    return ShopSettingsPublic(shop_id=s.shop_id, timezone=s.timezone,
                              first_response_target_seconds=s.targets.first_response_seconds,
                              reply_deadline_hours=s.targets.reply_deadline_hours,
                              deadline_warning_hours=s.targets.deadline_warning_hours,
                              learning_auto_approve=s.learning_auto_approve)


@router.get("", response_model=ShopSettingsPublic, responses=error_responses(404))
def get_settings(shop_id: AgentShop, shop_settings: ShopSettingsDep) -> ShopSettingsPublic:
    """The shop's settings (agent keys may read them: the agent console needs the targets)."""
    return _public(shop_settings.get(shop_id))


@router.put("", response_model=ShopSettingsPublic, responses=error_responses(404, 422))
def put_settings(shop_id: AdminShop, body: ShopSettingsIn, shop_settings: ShopSettingsDep) -> ShopSettingsPublic:
    """Change the fields sent (targets are checked together first: nothing changes on an error)."""
    targets = {name: getattr(body, field) for name, field in (
        ("first_response_seconds", "first_response_target_seconds"), ("reply_deadline_hours", "reply_deadline_hours"),
        ("deadline_warning_hours", "deadline_warning_hours")) if field in body.model_fields_set}
    return _public(shop_settings.change(shop_id, timezone=body.timezone, targets=targets,
                                       learning_auto_approve=body.learning_auto_approve))
