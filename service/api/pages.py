"""The agent and merchant console pages: static HTML + ES modules + CSS served by the service itself.

No build step: the files in ``service/static`` are sent as they are; the pages call the JSON API.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

from models.errors import NotFound
from models.messages import M

__all__ = ["router", "STATIC_DIR"]

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
# Only these kinds of files are served, with an explicit type (no guessing from the OS's mime table).
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".json": "application/json"}
# Pages change with the service version; ask the browser to revalidate instead of caching blindly.
_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}

router = APIRouter(include_in_schema=False)


def _file(name: str) -> FileResponse:
    path = (STATIC_DIR / name).resolve()
    if STATIC_DIR not in path.parents or path.suffix not in _TYPES or not path.is_file():
        raise NotFound(M("nf.console_file", name=name))
    return FileResponse(path, media_type=_TYPES[path.suffix], headers=_HEADERS)


@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse("/console/", status_code=307)


@router.get("/console/")
def index() -> FileResponse:
    return _file("index.html")


@router.get("/console/agent")
def agent_console() -> FileResponse:
    """客服工作台: conversations, buyer simulator, suggestions, compliance check of the draft."""
    return _file("agent.html")


@router.get("/console/merchant")
def merchant_console() -> FileResponse:
    """知识库管理: uploads, versions, entries, hit test, quick phrases, rules, analytics."""
    return _file("merchant.html")


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    """Browsers ask for /favicon.ico whatever the page says; the consoles' icon is an SVG."""
    return _file("favicon.svg")


@router.get("/console/static/{name}")
def static_file(name: str) -> FileResponse:
    return _file(name)
