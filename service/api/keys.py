"""Shops and API keys: the platform operator creates shops and their first keys; a shop's admin manages
its own keys. A key's secret is in the creation response only (it is stored hashed)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from knowledge_base.keys import ApiKey

from .deps import AdminShop, AnyKey, ItemId, KeysDep, Operator, StoreDep
from .openapi import error_responses
from .schemas import KeyIdentity, Timestamp

router = APIRouter(tags=["tenancy"])
_ERRORS = error_responses(401, 403, 422)


class ShopIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Shop id: letters, digits, _ and -.")
    name: str = Field("", max_length=200)


class ShopCreated(BaseModel):
    id: str
    name: str


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scopes: list[Literal["agent", "admin"]] = Field(
        min_length=1, max_length=2, description="agent: suggest, feedback, compliance; admin: everything of the "
        "shop (KB, quick phrases, rules, analytics, keys) and agent.")
    name: str = Field("", max_length=200, description="What the key is for, e.g. 'agent desk 1'.")


class KeyPublic(BaseModel):
    id: str
    shop_id: str | None
    scopes: list[str]
    name: str
    prefix: str = Field(description="The key's first characters, to recognise it.")
    created_at: Timestamp | None
    revoked_at: Timestamp | None


class KeyCreated(KeyPublic):
    key: str = Field(description="The secret. Shown once: store it now, it cannot be read again.")


class KeyList(BaseModel):
    shop_id: str
    data: list[KeyPublic]


def _public(k: ApiKey) -> KeyPublic:
    return KeyPublic(id=k.key_id, shop_id=k.shop_id, scopes=sorted(k.scopes), name=k.name, prefix=k.prefix,
                     created_at=k.created_at, revoked_at=k.revoked_at)


@router.post("/v1/shops", status_code=status.HTTP_201_CREATED, response_model=ShopCreated, responses=_ERRORS)
def create_shop(body: ShopIn, store: StoreDep, operator: Operator) -> ShopCreated:
    """Create a shop (operator only); then create its keys with ``POST /v1/shops/{shop_id}/keys``."""
    store.ensure_shop(body.id, body.name)
    return ShopCreated(id=body.id, name=body.name)


@router.post("/v1/shops/{shop_id}/keys", status_code=status.HTTP_201_CREATED, response_model=KeyCreated,
             responses=_ERRORS)
def create_key(shop_id: AdminShop, body: KeyIn, keys: KeysDep) -> KeyCreated:
    """A new key of this shop (operator or the shop's admin). The secret is in this response only."""
    created = keys.create(shop_id, body.scopes, body.name)
    return KeyCreated(**_public(created.info).model_dump(), key=created.key)


@router.get("/v1/shops/{shop_id}/keys", response_model=KeyList, responses=_ERRORS)
def list_keys(shop_id: AdminShop, keys: KeysDep) -> KeyList:
    """The shop's keys (never their secrets), revoked ones included."""
    return KeyList(shop_id=shop_id, data=[_public(k) for k in keys.list(shop_id)])


@router.delete("/v1/shops/{shop_id}/keys/{key_id}", response_model=KeyPublic,
               responses={**_ERRORS, **error_responses(404)})
def revoke_key(shop_id: AdminShop, key_id: ItemId, keys: KeysDep) -> KeyPublic:
    """Revoke a key of this shop: refused from the next request on (in every replica)."""
    return _public(keys.revoke(shop_id, key_id))


@router.get("/v1/keys/me", response_model=KeyIdentity, responses=_ERRORS)
def who_am_i(caller: AnyKey) -> KeyIdentity:
    """The key this request carries: its shop and scopes (never its secret). The consoles use it to say
    "this is an agent key; 知识库管理 needs an admin key" instead of failing later."""
    return KeyIdentity(key_id=caller.key_id, shop_id=caller.shop_id, scopes=sorted(caller.scopes), name=caller.name)
