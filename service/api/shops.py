"""Per-shop settings (the time zone rule windows are judged in)."""

from __future__ import annotations

from fastapi import APIRouter

from .deps import AdminShop, RuntimeDep
from .schemas import ErrorResponse, ShopSettingsIn, ShopSettingsPublic

router = APIRouter(prefix="/v1/shops/{shop_id}/settings", tags=["auto-reply rules"])


@router.get("", response_model=ShopSettingsPublic, responses={404: {"model": ErrorResponse}})
def get_settings(shop_id: AdminShop, runtime: RuntimeDep) -> ShopSettingsPublic:
    runtime.store.require_shop(shop_id)
    return ShopSettingsPublic(shop_id=shop_id, timezone=runtime.rules.timezone(shop_id))


@router.put("", response_model=ShopSettingsPublic, responses={422: {"model": ErrorResponse}})
def put_settings(shop_id: AdminShop, body: ShopSettingsIn, runtime: RuntimeDep) -> ShopSettingsPublic:
    return ShopSettingsPublic(shop_id=shop_id, timezone=runtime.rules.set_timezone(shop_id, body.timezone))
