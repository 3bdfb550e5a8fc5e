"""API keys: random, shown once, stored as sha256, scoped (``agent``, ``admin``, ``operator``), revocable.

A key looks like ``sr_<shop>_<43 random url-safe characters>`` (``sr_op_…`` for operator keys); the shop
part is only a hint for humans, the database row decides. ``admin`` includes ``agent``; an ``operator``
key belongs to no shop and may act on every shop (the platform itself).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select, update

from models.errors import InvalidRequest, ItemNotFound
from models.messages import M

from .store import KbStore
from .tables import api_keys

__all__ = ["ApiKey", "CreatedKey", "KeyRing", "SCOPES", "hash_key", "matches_secret"]

SCOPES = ("agent", "admin", "operator")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def matches_secret(key: str, secret: str) -> bool:
    """Constant-time comparison of a presented key with a configured one (compared as hashes)."""
    return bool(secret) and hmac.compare_digest(hash_key(key), hash_key(secret))


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    shop_id: str | None
    scopes: frozenset[str]
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def is_operator(self) -> bool:
        return "operator" in self.scopes

    def allows(self, scope: str) -> bool:
        """``operator`` allows everything; ``admin`` includes ``agent``."""
        if self.is_operator:
            return True
        return scope in self.scopes or (scope == "agent" and "admin" in self.scopes)


@dataclass(frozen=True)
class CreatedKey:
    key: str  # the secret: returned once, never stored
    info: ApiKey


class KeyRing:
    """Create, verify, list and revoke API keys (stored hashed in ``api_keys``)."""

    def __init__(self, store: KbStore) -> None:
        self.store = store

    def create(self, shop_id: str | None, scopes: list[str] | tuple[str, ...], name: str = "") -> CreatedKey:
        wanted = frozenset(scopes)
        if not wanted or wanted - set(SCOPES):
            raise InvalidRequest(M("keys.bad_scopes", choices=list(SCOPES)))
        if ("operator" in wanted) != (shop_id is None):
            raise InvalidRequest(M("keys.operator_shop"))
        key = f"sr_{shop_id or 'op'}_{secrets.token_urlsafe(32)}"
        info = ApiKey(key_id=uuid.uuid4().hex[:16], shop_id=shop_id, scopes=wanted, name=name[:200],
                      prefix=(key[:len(key) - 43 + 4])[-24:], created_at=datetime.now(UTC))
        if shop_id is not None:
            self.store.ensure_shop(shop_id)
        with self.store.engine.begin() as conn:
            conn.execute(insert(api_keys).values(
                key_id=info.key_id, key_hash=hash_key(key), prefix=info.prefix[:24], shop_id=shop_id,
                scopes=" ".join(sorted(wanted)), name=info.name, created_at=info.created_at, revoked_at=None))
        return CreatedKey(key=key, info=info)

    def verify(self, key: str) -> ApiKey | None:
        """The live key with this secret, or None (unknown or revoked)."""
        if not key.startswith("sr_") or len(key) > 200:
            return None
        with self.store.engine.connect() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.key_hash == hash_key(key))).first()
        if row is None or row.revoked_at is not None:
            return None
        return _key(row)

    def list(self, shop_id: str | None) -> list[ApiKey]:
        """Keys of a shop (``None``: operator keys), revoked ones included."""
        query = select(api_keys).where(api_keys.c.shop_id.is_(None) if shop_id is None
                                       else api_keys.c.shop_id == shop_id)
        with self.store.engine.connect() as conn:
            return [_key(r) for r in conn.execute(query.order_by(api_keys.c.created_at))]

    def revoke(self, shop_id: str | None, key_id: str) -> ApiKey:
        owner = api_keys.c.shop_id.is_(None) if shop_id is None else api_keys.c.shop_id == shop_id
        with self.store.engine.begin() as conn:
            done = conn.execute(update(api_keys).where(api_keys.c.key_id == key_id, owner,
                                                       api_keys.c.revoked_at.is_(None))
                                .values(revoked_at=datetime.now(UTC))).rowcount
            row = conn.execute(select(api_keys).where(api_keys.c.key_id == key_id, owner)).first()
        if row is None:
            raise ItemNotFound(M("keys.not_found", key_id=key_id))
        del done
        return _key(row)


def _key(row) -> ApiKey:  # noqa: ANN001 - a Row of api_keys
    return ApiKey(key_id=row.key_id, shop_id=row.shop_id, scopes=frozenset(row.scopes.split()), name=row.name,
                  prefix=row.prefix, created_at=_aware(row.created_at),
                  revoked_at=_aware(row.revoked_at) if row.revoked_at else None)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
