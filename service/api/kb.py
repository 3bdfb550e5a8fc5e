"""Knowledge-base routes: upload a FAQ file as a new version, list versions."""

from __future__ import annotations

from fastapi import APIRouter, File, UploadFile, status

from models.errors import UploadTooLarge

from .deps import RuntimeDep, ShopId
from .schemas import ErrorResponse, KbUploadResponse, KbVersionList, KbVersionPublic, Problem

router = APIRouter(prefix="/v1/shops/{shop_id}/kb", tags=["knowledge base"])

_ERRORS = {400: {"model": ErrorResponse}, 413: {"model": ErrorResponse}, 422: {"model": ErrorResponse}}


@router.post("", status_code=status.HTTP_201_CREATED, response_model=KbUploadResponse, responses=_ERRORS)
def upload_kb(shop_id: ShopId, runtime: RuntimeDep, file: UploadFile = File(
        description="FAQ as .xlsx, .csv (UTF-8 or GBK), .json or .jsonl")) -> KbUploadResponse:
    """Import a FAQ file as a new version; it becomes active once fully indexed.

    On any invalid row nothing is imported and the 422 body lists every problem with its row and column.
    """
    limit = runtime.settings.max_upload_bytes
    data = file.file.read(limit + 1)
    if len(data) > limit:
        raise UploadTooLarge(f"{file.filename}: file is larger than the {limit} byte limit")
    result = runtime.import_file(shop_id, file.filename or "upload", data)
    return KbUploadResponse(
        shop_id=result.shop_id, version=result.version, active=result.active, entries=result.entries,
        enabled_entries=result.enabled_entries, phrasings=result.phrasings, seconds=round(result.seconds, 3),
        warnings=[Problem(**w.as_dict()) for w in result.warnings],
    )


@router.get("/versions", response_model=KbVersionList, responses={404: {"model": ErrorResponse}})
def list_versions(shop_id: ShopId, runtime: RuntimeDep) -> KbVersionList:
    versions = runtime.store.list_versions(shop_id)
    return KbVersionList(
        shop_id=shop_id,
        active_version=next((v.version for v in versions if v.active), None),
        data=[KbVersionPublic(version=v.version, status=v.status, active=v.active, created_at=v.created_at,
                              source=v.source, entry_count=v.entry_count, phrasing_count=v.phrasing_count,
                              encoder_id=v.encoder_id) for v in versions],
    )
