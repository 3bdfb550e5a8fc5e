"""Quick phrases (快捷短语) routes: CRUD, bulk import/export, revisions and restore."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, File, Query, UploadFile, status
from fastapi.responses import Response

from knowledge_base.quick_phrases import QuickPhrase
from knowledge_base.store import Revision

from .deps import AdminShop, AgentShop, ItemId, QuickPhrasesDep, SettingsDep, VersionNo
from .kb import file_response, read_upload
from .openapi import SPREADSHEET_OK, error_responses
from .schemas import (
    Problem,
    QuickPhraseChange,
    QuickPhraseImportResponse,
    QuickPhraseIn,
    QuickPhraseList,
    QuickPhrasePatch,
    QuickPhrasePublic,
    RevisionList,
    RevisionPublic,
)

router = APIRouter(prefix="/v1/shops/{shop_id}/quick-phrases", tags=["quick phrases"])
_ERRORS = error_responses(404, 409, 422)


def _phrase(p: QuickPhrase) -> QuickPhrasePublic:
    return QuickPhrasePublic(id=p.id, text=p.text, group=p.group, shortcut=p.shortcut)


def revision_list(shop_id: str, revisions: list[Revision]) -> RevisionList:
    return RevisionList(shop_id=shop_id, current_revision=next((r.revision for r in revisions if r.current), None),
                        data=[RevisionPublic(revision=r.revision, created_at=r.created_at, action=r.action,
                                             item_count=r.item_count, current=r.current) for r in revisions])


@router.get("", response_model=QuickPhraseList, responses=_ERRORS)
def list_phrases(shop_id: AgentShop, quick_phrases: QuickPhrasesDep,
                 group: str | None = Query(None, description="Only this group.")) -> QuickPhraseList:
    revision, phrases = quick_phrases.list(shop_id)
    return QuickPhraseList(shop_id=shop_id, revision=revision, limit=quick_phrases.limits.max_phrases,
                           data=[_phrase(p) for p in phrases if group is None or p.group == group])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=QuickPhraseChange, responses=_ERRORS)
def create_phrase(shop_id: AdminShop, body: QuickPhraseIn, quick_phrases: QuickPhrasesDep) -> QuickPhraseChange:
    revision, phrase = quick_phrases.create(shop_id, body.text, group=body.group, shortcut=body.shortcut,
                                                    phrase_id=body.id)
    return QuickPhraseChange(shop_id=shop_id, revision=revision, phrase=_phrase(phrase))


@router.post("/import", status_code=status.HTTP_201_CREATED, response_model=QuickPhraseImportResponse,
             responses=error_responses(400, 404, 409, 413, 422))
def import_phrases(
    shop_id: AdminShop, quick_phrases: QuickPhrasesDep, settings: SettingsDep,
    file: UploadFile = File(description="Columns 分组/group, 快捷编码/shortcut, 内容/text (编号/id optional)."),
    mode: Literal["reject", "partial"] = Query("reject"),
) -> QuickPhraseImportResponse:
    """Replace the shop's quick phrases with the file's, as one new revision."""
    filename, data = read_upload(file, settings.max_upload_bytes)
    result = quick_phrases.import_file(shop_id, filename, data, mode=mode)
    return QuickPhraseImportResponse(shop_id=shop_id, revision=result.revision, phrases=result.phrases,
                                     warnings=[Problem(**p.as_dict()) for p in result.warnings],
                                     skipped=[Problem(**p.as_dict()) for p in result.skipped])


@router.get("/export", responses={**SPREADSHEET_OK, **_ERRORS})
def export_phrases(shop_id: AdminShop, quick_phrases: QuickPhrasesDep,
                   format: Literal["xlsx", "csv"] = Query("xlsx")) -> Response:  # noqa: A002 - API name
    return file_response(quick_phrases.export(shop_id, format), format, f"{shop_id}-quick-phrases.{format}")


@router.get("/revisions", response_model=RevisionList, responses=_ERRORS)
def list_revisions(shop_id: AdminShop, quick_phrases: QuickPhrasesDep) -> RevisionList:
    return revision_list(shop_id, quick_phrases.revisions(shop_id))


@router.post("/revisions/{revision}/restore", response_model=QuickPhraseList, responses=_ERRORS)
def restore_revision(shop_id: AdminShop, revision: VersionNo, quick_phrases: QuickPhrasesDep) -> QuickPhraseList:
    """Make the phrases of an older revision current again (as a new revision)."""
    new_revision, phrases = quick_phrases.restore(shop_id, revision)
    return QuickPhraseList(shop_id=shop_id, revision=new_revision, limit=quick_phrases.limits.max_phrases,
                           data=[_phrase(p) for p in phrases])


@router.get("/{phrase_id}", response_model=QuickPhrasePublic, responses=_ERRORS)
def get_phrase(shop_id: AdminShop, phrase_id: ItemId, quick_phrases: QuickPhrasesDep) -> QuickPhrasePublic:
    return _phrase(quick_phrases.get(shop_id, phrase_id))


@router.patch("/{phrase_id}", response_model=QuickPhraseChange, responses=_ERRORS)
def update_phrase(shop_id: AdminShop, phrase_id: ItemId, body: QuickPhrasePatch, quick_phrases: QuickPhrasesDep) -> QuickPhraseChange:
    revision, phrase = quick_phrases.update(shop_id, phrase_id,
                                                    body.model_dump(exclude_unset=True, exclude_none=True))
    return QuickPhraseChange(shop_id=shop_id, revision=revision, phrase=_phrase(phrase))


@router.delete("/{phrase_id}", response_model=QuickPhraseChange, responses=_ERRORS)
def delete_phrase(shop_id: AdminShop, phrase_id: ItemId, quick_phrases: QuickPhrasesDep) -> QuickPhraseChange:
    return QuickPhraseChange(shop_id=shop_id, revision=quick_phrases.delete(shop_id, phrase_id))
