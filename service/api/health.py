"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Response

from .deps import RuntimeDep
from .schemas import Health

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health, responses={
    503: {"model": Health, "description": "Draining: the process got SIGTERM and is about to stop; a load "
          "balancer takes it out of rotation (requests already sent are still answered)."}})
def healthz(runtime: RuntimeDep, response: Response) -> Health:
    """Ready when the encoder is loaded (it is loaded at start-up, so this answers fast); 503 while draining."""
    encoder = runtime.encoder
    if runtime.draining:
        response.status_code = 503
    return Health(status="draining" if runtime.draining else "ok", encoder=encoder.model_id,
                  encoder_backend=runtime.settings.encoder_backend, dim=encoder.dim)
