"""``GET /v1/demo/keys``: the demo shop's keys for the consoles, so `serve --demo` needs no copying of
keys by hand. Registered only when the demo is on (``serve --demo``), answered only to this machine.
"""

from __future__ import annotations

import ipaddress

from fastapi import APIRouter, Request

from models.errors import Forbidden
from models.messages import M

from .deps import DemoDep
from .schemas import DemoKeys, ErrorResponse

router = APIRouter(tags=["demo"])


def _loopback(host: str) -> bool:
    host = host.strip().strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_of(header: str) -> str:
    """The host of a Host header: ``127.0.0.1:8000`` → 127.0.0.1, ``[::1]:8000`` → ::1."""
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


@router.get("/v1/demo/keys", response_model=DemoKeys, responses={403: {"model": ErrorResponse}})
def demo_keys(request: Request, demo: DemoDep) -> DemoKeys:
    """The demo shop's agent and admin keys (``serve --demo`` only). Both the connection and the Host the
    browser asked for must be loopback: a page from another site that resolves its name to 127.0.0.1
    (DNS rebinding) sends its own Host and is refused."""
    client = request.client.host if request.client else ""
    if not (_loopback(client) and _loopback(_host_of(request.headers.get("host", "")))):
        raise Forbidden(M("auth.demo_only"))
    keys = demo.ensure_keys()
    return DemoKeys(shop_id=keys["shop_id"], agent=keys["agent"], admin=keys["admin"])
