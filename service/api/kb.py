"""Knowledge-base routes: upload, versions, diff, rollback, export, single-entry edits, the template."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, File, Path, Query, UploadFile, status
from fastapi.responses import JSONResponse, Response

from knowledge_base.editing import EntryDiff
from knowledge_base.export import MEDIA_TYPES, template_file
from knowledge_base.importer import EditResult
from knowledge_base.schema import FaqEntry, KbVersion
from knowledge_base.store import BuildJob
from models.errors import UploadTooLarge

from .deps import MAX_NUMBER, AdminShop, EntryId, RuntimeDep, VersionNo
from .schemas import (
    BuildJobPublic,
    EntryChange,
    EntryEditResponse,
    EntryIn,
    EntryList,
    EntryPatch,
    EntryPublic,
    ErrorResponse,
    KbDiff,
    KbUploadResponse,
    KbVersionList,
    KbVersionPublic,
    Problem,
)

router = APIRouter(prefix="/v1/shops/{shop_id}/kb", tags=["knowledge base"])
template_router = APIRouter(prefix="/v1/kb", tags=["knowledge base"])

_ERRORS = {400: {"model": ErrorResponse}, 413: {"model": ErrorResponse}, 422: {"model": ErrorResponse}}
_NOT_FOUND = {404: {"model": ErrorResponse}}
_EDIT_ERRORS = {404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}}
Format = Literal["xlsx", "csv"]


def read_upload(file: UploadFile, limit: int) -> bytes:
    """The uploaded bytes, refusing more than ``limit`` without reading further."""
    data = file.file.read(limit + 1)
    if len(data) > limit:
        raise UploadTooLarge(f"{file.filename}: file is larger than the {limit} byte limit (SMARTREPLY_MAX_UPLOAD_BYTES)")
    return data


def file_response(data: bytes, fmt: str, filename: str) -> Response:
    return Response(content=data, media_type=MEDIA_TYPES[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _entry(e: FaqEntry) -> EntryPublic:
    return EntryPublic(id=e.id, question=e.question, similar=list(e.similar), answers=list(e.answers),
                       category=e.category, enabled=e.enabled)


def _version(v: KbVersion) -> KbVersionPublic:
    return KbVersionPublic(version=v.version, status=v.status, active=v.active, created_at=v.created_at,
                           source=v.source, entry_count=v.entry_count, phrasing_count=v.phrasing_count,
                           encoder_id=v.encoder_id, note=v.note)


def _edit(r: EditResult) -> EntryEditResponse:
    return EntryEditResponse(shop_id=r.shop_id, version=r.version, base_version=r.base_version, active=r.active,
                             action=r.action, entry=_entry(r.entry) if r.entry else None, phrasings=r.phrasings,
                             embedded=r.embedded, seconds=round(r.seconds, 3))


def _job(job: BuildJob) -> BuildJobPublic:
    return BuildJobPublic(job_id=job.job_id, shop_id=job.shop_id, version=job.version, status=job.status,
                          done=job.done, total=job.total, attempts=job.attempts, active=job.active, error=job.error,
                          created_at=job.created_at, updated_at=job.updated_at)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=KbUploadResponse,
             responses={**_ERRORS, 202: {"model": BuildJobPublic,
                                         "description": "Queued (wait=false, when builds run as jobs)."}})
def upload_kb(
    shop_id: AdminShop, runtime: RuntimeDep,
    file: UploadFile = File(description="FAQ as .xlsx, .csv (UTF-8 or GBK), .json or .jsonl"),
    mode: Literal["reject", "partial"] = Query("reject", description="reject: any error row rejects the whole "
                                               "file; partial: import the valid rows and report the rest."),
    wait: bool = Query(True, description="true: answer once the version is built and active (201). false: "
                       "answer 202 with the build job as soon as the file is validated and stored, when builds "
                       "run as jobs (SMARTREPLY_BUILD_JOBS: on by default with PostgreSQL; set it to 'on' for upload progress "
                       "on SQLite too); otherwise the build always runs in the request."),
) -> KbUploadResponse | JSONResponse:
    """Import a FAQ file as a new version; it becomes active once fully validated, embedded and indexed.

    In reject mode, on any invalid row nothing is imported and the 422 body lists every problem with
    its sheet, row, column, code and reason.
    """
    data = read_upload(file, runtime.settings.max_upload_bytes)
    if not wait and runtime.uses_build_jobs:
        submitted = runtime.submit_file(shop_id, file.filename or "upload", data, mode=mode)
        job = runtime.store.get_build_job(shop_id, submitted.job_id)
        return JSONResponse(status_code=status.HTTP_202_ACCEPTED, content=_job(job).model_dump(mode="json"),
                            headers={"Location": f"/v1/shops/{shop_id}/kb/jobs/{job.job_id}"})
    result = runtime.import_file(shop_id, file.filename or "upload", data, mode=mode)
    return KbUploadResponse(
        shop_id=result.shop_id, version=result.version, active=result.active, entries=result.entries,
        enabled_entries=result.enabled_entries, phrasings=result.phrasings, seconds=round(result.seconds, 3),
        warnings=[Problem(**w.as_dict()) for w in result.warnings], mode=result.mode,
        skipped_rows=result.skipped_rows, skipped=[Problem(**p.as_dict()) for p in result.skipped],
    )


@router.get("/jobs/{job_id}", response_model=BuildJobPublic, responses=_NOT_FOUND)
def get_build_job(shop_id: AdminShop, runtime: RuntimeDep,
                  job_id: str = Path(max_length=32, pattern=r"^[0-9a-f]{1,32}$")) -> BuildJobPublic:
    """An upload's index build: queued, running (done/total phrasings embedded), done or failed."""
    return _job(runtime.store.get_build_job(shop_id, job_id))


@router.get("/versions", response_model=KbVersionList, responses=_NOT_FOUND)
def list_versions(shop_id: AdminShop, runtime: RuntimeDep) -> KbVersionList:
    """Every version, oldest first: building, ready (one of them active) or failed (with the reason in note)."""
    versions = runtime.kb.versions(shop_id)
    return KbVersionList(shop_id=shop_id, active_version=next((v.version for v in versions if v.active), None),
                         data=[_version(v) for v in versions])


@router.get("/versions/{version}", response_model=KbVersionPublic, responses=_NOT_FOUND)
def get_version(shop_id: AdminShop, version: VersionNo, runtime: RuntimeDep) -> KbVersionPublic:
    return _version(runtime.kb.version(shop_id, version))


@router.post("/versions/{version}/activate", response_model=KbVersionPublic,
             responses={**_NOT_FOUND, 409: {"model": ErrorResponse}})
def activate_version(shop_id: AdminShop, version: VersionNo, runtime: RuntimeDep) -> KbVersionPublic:
    """Serve this (older) version again: a rollback. Atomic; nothing is rebuilt. 409 if it is not ready
    or its index is gone."""
    return _version(runtime.kb.activate(shop_id, version))


@router.get("/diff", response_model=KbDiff, responses=_NOT_FOUND)
def diff_versions(
    shop_id: AdminShop, runtime: RuntimeDep,
    from_version: int = Query(alias="from", ge=1, le=MAX_NUMBER, description="The older version."),
    to_version: int | None = Query(None, alias="to", ge=1, le=MAX_NUMBER, description="The newer version; default the active one."),
) -> KbDiff:
    """Entries added, removed and changed (matched by id) from one version to another."""
    old, new, diff = runtime.kb.diff(shop_id, from_version, to_version)

    def change(c: EntryDiff) -> EntryChange:
        return EntryChange(id=c.entry_id, fields=list(c.fields), before=_entry(c.before), after=_entry(c.after))

    return KbDiff(shop_id=shop_id, from_version=old, to_version=new, added=[_entry(e) for e in diff.added],
                  removed=[_entry(e) for e in diff.removed], changed=[change(c) for c in diff.changed],
                  unchanged=diff.unchanged)


@router.get("/export", responses={200: {"content": {MEDIA_TYPES["xlsx"]: {}, MEDIA_TYPES["csv"]: {}}}, **_NOT_FOUND})
def export_kb(
    shop_id: AdminShop, runtime: RuntimeDep,
    format: Format = Query("xlsx", description="xlsx or csv (UTF-8 with BOM)."),  # noqa: A002 - API name
    version: int | None = Query(None, ge=1, le=MAX_NUMBER, description="Default: the active version."),
) -> Response:
    """The version's entries in the upload format: importing the file again gives the same entries."""
    number, data = runtime.kb.export(shop_id, format, version)
    return file_response(data, format, f"{shop_id}-kb-v{number}.{format}")


@router.get("/entries", response_model=EntryList, responses=_NOT_FOUND)
def list_entries(shop_id: AdminShop, runtime: RuntimeDep,
                 version: int | None = Query(None, ge=1, le=MAX_NUMBER, description="Default: the active version.")) -> EntryList:
    number, entries = runtime.kb.entries(shop_id, version)
    return EntryList(shop_id=shop_id, version=number, data=[_entry(e) for e in entries])


@router.get("/entries/{entry_id}", response_model=EntryPublic, responses=_NOT_FOUND)
def get_entry(shop_id: AdminShop, entry_id: EntryId, runtime: RuntimeDep,
              version: int | None = Query(None, ge=1, le=MAX_NUMBER, description="Default: the active version.")) -> EntryPublic:
    return _entry(runtime.kb.entry(shop_id, entry_id, version)[1])


@router.post("/entries", status_code=status.HTTP_201_CREATED, response_model=EntryEditResponse,
             responses=_EDIT_ERRORS)
def add_entry(shop_id: AdminShop, body: EntryIn, runtime: RuntimeDep) -> EntryEditResponse:
    """Add one entry without re-uploading: a new version whose index embeds only this entry's phrasings."""
    return _edit(runtime.kb.add_entry(shop_id, question=body.question, answers=body.answers, similar=body.similar,
                                      category=body.category, enabled=body.enabled, entry_id=body.id))


@router.patch("/entries/{entry_id}", response_model=EntryEditResponse, responses=_EDIT_ERRORS)
def update_entry(shop_id: AdminShop, entry_id: EntryId, body: EntryPatch, runtime: RuntimeDep) -> EntryEditResponse:
    """Change (or disable / enable) one entry: a new version; only new phrasings are embedded."""
    return _edit(runtime.kb.update_entry(shop_id, entry_id, body.model_dump(exclude_unset=True, exclude_none=True)))


@router.delete("/entries/{entry_id}", response_model=EntryEditResponse, responses=_NOT_FOUND)
def delete_entry(shop_id: AdminShop, entry_id: EntryId, runtime: RuntimeDep) -> EntryEditResponse:
    """Delete one entry: a new version without it (older versions keep it, for rollback)."""
    return _edit(runtime.kb.delete_entry(shop_id, entry_id))


@template_router.get("/template", responses={200: {"content": {MEDIA_TYPES["xlsx"]: {}, MEDIA_TYPES["csv"]: {}}}})
def download_template(format: Format = Query("xlsx", description="xlsx (with a 说明 sheet) or csv.")  # noqa: A002
                      ) -> Response:
    """The FAQ upload template: the header row, two example rows and, for xlsx, a 说明 sheet on the columns."""
    return file_response(template_file(format), format, f"faq-template.{format}")
