"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter

from .deps import RuntimeDep
from .schemas import Health

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health)
def healthz(runtime: RuntimeDep) -> Health:
    """Ready when the encoder is loaded (it is loaded at start-up, so this answers fast)."""
    encoder = runtime.encoder
    return Health(status="ok", encoder=encoder.model_id, encoder_backend=runtime.settings.encoder_backend,
                  dim=encoder.dim)
