"""Request dependencies as ``Annotated`` aliases; tests swap them with ``dependency_overrides``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from ..runtime import Runtime

__all__ = ["RuntimeDep", "ShopId", "EntryId", "ItemId", "get_runtime"]


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
# Shop ids name folders on disk, so they are restricted to a safe alphabet.
ShopId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Shop id: letters, digits, _ and -.")]
# FAQ entry ids come from merchants' files: letters (also CJK), digits and - _ . :
EntryId = Annotated[str, Path(pattern=r"^[\w\-.:]{1,64}$", description="FAQ entry id.")]
# Quick phrase and rule ids.
ItemId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Id: letters, digits, _ and -.")]
