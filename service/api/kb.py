"""Knowledge-base routes: upload, versions, diff, rollback, export, single-entry edits, the template."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, File, Path, Query, UploadFile, status
from fastapi.responses import JSONResponse, Response

from knowledge_base.editing import EntryDiff
from knowledge_base.export import MEDIA_TYPES, template_file
from knowledge_base.importer import EditResult, UploadPlan
from knowledge_base.tablefile import file_too_large, upload_name
from knowledge_base.schema import FaqEntry, KbVersion
from knowledge_base.store import BuildJob
from models.errors import InvalidRequest
from models.messages import M, Msg

from .deps import (
    MAX_NUMBER,
    AdminShop,
    EntryId,
    KbDep,
    Lang,
    LearningDep,
    SettingsDep,
    StoreDep,
    UploadsDep,
    VersionNo,
)
from .openapi import SPREADSHEET_OK, error_responses
from .schemas import (
    BuildJobPublic,
    EditBatch,
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
    UploadPreview,
)

router = APIRouter(prefix="/v1/shops/{shop_id}/kb", tags=["knowledge base"])
template_router = APIRouter(prefix="/v1/kb", tags=["knowledge base"])

# 400/401/403/404/413/422/429 are added to every operation that can answer them (api/openapi.py).
_ERRORS = error_responses(400, 413, 422, 503)
_NOT_FOUND = error_responses(404)
_ACTIVE = error_responses(404, 409)  # reads the active version: 409 no_active_kb before the first upload
_EDIT_ERRORS = error_responses(404, 409, 422)
Format = Literal["xlsx", "csv"]


def read_upload(file: UploadFile, limit: int) -> tuple[str, bytes]:
    """The upload's file name (refused if no merchant's file can have it) and its bytes, refusing more than
    ``limit`` without reading further."""
    name = upload_name(file.filename)
    data = file.file.read(limit + 1)
    if len(data) > limit:
        raise file_too_large(name, limit)
    return name, data


def file_response(data: bytes, fmt: str, filename: str) -> Response:
    return Response(content=data, media_type=MEDIA_TYPES[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _entry(e: FaqEntry) -> EntryPublic:
    return EntryPublic(id=e.id, question=e.question, similar=list(e.similar), answers=list(e.answers),
                       category=e.category, enabled=e.enabled)


def _version(v: KbVersion, lang: str) -> KbVersionPublic:
    return KbVersionPublic(version=v.version, status=v.status, active=v.active, created_at=v.created_at,
                           source=v.source_text(lang), entry_count=v.entry_count, phrasing_count=v.phrasing_count,
                           encoder_id=v.encoder_id, note=v.note_text(lang), base_version=v.base_version,
                           source_code=v.source_msg.code if v.source_msg else None,
                           source_params=dict(v.source_msg.params) if v.source_msg else {},
                           note_code=v.note_msg.code if v.note_msg else None,
                           note_params=dict(v.note_msg.params) if v.note_msg else {})


def _edit(r: EditResult, lang: str) -> EntryEditResponse:
    return EntryEditResponse(shop_id=r.shop_id, version=r.version, base_version=r.base_version, active=r.active,
                             action=r.action.text(lang) if isinstance(r.action, Msg) else r.action,
                             entry=_entry(r.entry) if r.entry else None, phrasings=r.phrasings,
                             embedded=r.embedded, seconds=round(r.seconds, 3))


def _problems(problems, lang: str) -> list[Problem]:  # noqa: ANN001 - ValidationProblem list
    return [Problem(**p.as_dict(lang)) for p in problems]


def _change(c: EntryDiff) -> EntryChange:
    return EntryChange(id=c.entry_id, fields=list(c.fields), before=_entry(c.before), after=_entry(c.after))


UploadModeParam = Literal["replace", "merge", "reject", "partial"]


def _job(job: BuildJob) -> BuildJobPublic:
    return BuildJobPublic(job_id=job.job_id, shop_id=job.shop_id, version=job.version, status=job.status,
                          done=job.done, total=job.total, attempts=job.attempts, active=job.active, error=job.error,
                          created_at=job.created_at, updated_at=job.updated_at)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=KbUploadResponse,
             responses={**_ERRORS, 409: {"model": ErrorResponse, "description": "confirmation_required: the upload "
                                         "removes more entries than allowed without confirm_remove."},
                        200: {"model": UploadPreview | KbUploadResponse,
                              "description": "dry_run=true: the preview (UploadPreview); or no_changes: the content "
                              "equals the active version and no version was made (KbUploadResponse)."},
                        202: {"model": BuildJobPublic,
                              "description": "Queued (wait=false, when builds run as jobs)."}})
def upload_kb(
    shop_id: AdminShop, uploads: UploadsDep, kb: KbDep, settings: SettingsDep, store: StoreDep, lang: Lang,
    file: UploadFile = File(description="FAQ as .xlsx, .csv (UTF-8 or GBK), .json or .jsonl"),
    mode: UploadModeParam = Query("replace", description="replace: the file becomes the whole FAQ (entries not in "
                                  "it are removed); merge: entries are added and updated by id, every other entry "
                                  "is kept. Deprecated aliases (before on_error existed): reject = replace with "
                                  "on_error=reject, partial = replace with on_error=partial."),
    on_error: Literal["reject", "partial"] | None = Query(
        None, description="reject (default): any error row rejects the whole file (422 with every problem); "
        "partial: import the valid rows and report the rest."),
    dry_run: bool = Query(False, description="true: answer 200 with what the upload would add, change and "
                          "remove against the active version, and its validation report; nothing is stored."),
    confirm_remove: int | None = Query(None, ge=0, le=MAX_NUMBER, description="Required when the upload would "
                                       "remove more entries than SMARTREPLY_UPLOAD_CONFIRM_REMOVE_OVER: the number "
                                       "it removes (as the preview showed). Otherwise 409 confirmation_required."),
    wait: bool = Query(True, description="true: answer once the version is built and active (201). false: "
                       "answer 202 with the build job as soon as the file is validated and stored, when builds "
                       "run as jobs (SMARTREPLY_BUILD_JOBS: on by default with PostgreSQL; set it to 'on' for upload progress "
                       "on SQLite too); otherwise the build always runs in the request."),
) -> KbUploadResponse | JSONResponse:
    """Import a FAQ file as a new version; it becomes active once fully validated, embedded and indexed.

    With on_error=reject, on any invalid row nothing is imported and the 422 body lists every problem
    with its sheet, row, column, code and reason. Content identical to the active version makes no
    version (200, ``no_changes``). Preview first with ``dry_run=true``.
    """
    upload_mode, on_error = _modes(mode, on_error)
    filename, data = read_upload(file, settings.max_upload_bytes)
    if dry_run:
        preview = _preview(shop_id, kb.preview_file(shop_id, filename, data, mode=on_error,
                                                            upload_mode=upload_mode),
                           settings.upload_confirm_remove_over, lang)
        return JSONResponse(status_code=status.HTTP_200_OK, content=preview.model_dump(mode="json"))
    if not wait and uploads.jobs:
        submitted = uploads.submit_file(shop_id, filename, data, mode=on_error, upload_mode=upload_mode,
                                        confirm_remove=confirm_remove)
        if not submitted.no_changes:
            job = store.get_build_job(shop_id, submitted.job_id)
            return JSONResponse(status_code=status.HTTP_202_ACCEPTED, content=_job(job).model_dump(mode="json"),
                                headers={"Location": f"/v1/shops/{shop_id}/kb/jobs/{job.job_id}"})
    result = uploads.import_file(shop_id, filename, data, mode=on_error, upload_mode=upload_mode,
                                 confirm_remove=confirm_remove)
    diff = result.diff
    body = KbUploadResponse(
        shop_id=result.shop_id, version=result.version, active=result.active, entries=result.entries,
        enabled_entries=result.enabled_entries, phrasings=result.phrasings, seconds=round(result.seconds, 3),
        warnings=_problems(result.warnings, lang), mode=upload_mode, on_error=on_error,
        skipped_rows=result.skipped_rows, skipped=_problems(result.skipped, lang), base_version=result.base_version,
        no_changes=result.no_changes,
        message=M("upload.no_changes", version=result.version).text(lang) if result.no_changes else "",
        added=len(diff.added) if diff else 0, changed=len(diff.changed) if diff else 0,
        removed=len(diff.removed) if diff else 0)
    if result.no_changes:  # nothing was created
        return JSONResponse(status_code=status.HTTP_200_OK, content=body.model_dump(mode="json"))
    return body


def _modes(mode: str, on_error: str | None) -> tuple[str, str]:
    """(replace | merge, reject | partial) from the query; mode=reject / mode=partial are the old spelling."""
    if mode in ("reject", "partial"):
        if on_error is not None and on_error != mode:
            raise InvalidRequest(M("request.mode_alias", mode=mode, on_error=on_error))
        return "replace", mode
    return mode, on_error or "reject"


def _preview(shop_id: str, plan: UploadPlan, limit: int, lang: str) -> UploadPreview:
    d = plan.diff
    required = len(d.removed) > limit and not plan.no_changes
    summary = (M("upload.no_changes", version=plan.base_version) if plan.no_changes else
               M("upload.preview", added=len(d.added), changed=len(d.changed), removed=len(d.removed),
                 unchanged=d.unchanged))
    return UploadPreview(shop_id=shop_id, mode=plan.mode, on_error=plan.on_error, base_version=plan.base_version,
                         entries=len(plan.entries), no_changes=plan.no_changes, added=[_entry(e) for e in d.added],
                         changed=[_change(c) for c in d.changed], removed=[_entry(e) for e in d.removed],
                         unchanged=d.unchanged, confirm_remove_required=required, confirm_remove_limit=limit,
                         problems=_problems(plan.problems, lang), skipped_rows=plan.skipped_rows,
                         message=summary.text(lang))


@router.get("/jobs/{job_id}", response_model=BuildJobPublic, responses=_NOT_FOUND)
def get_build_job(shop_id: AdminShop, store: StoreDep,
                  job_id: str = Path(max_length=32, pattern=r"^[0-9a-f]{1,32}$")) -> BuildJobPublic:
    """An upload's index build: queued, running (done/total phrasings embedded), done or failed."""
    return _job(store.get_build_job(shop_id, job_id))


@router.get("/versions", response_model=KbVersionList, responses=_NOT_FOUND)
def list_versions(shop_id: AdminShop, kb: KbDep, lang: Lang) -> KbVersionList:
    """Every version, oldest first: building, ready (one of them active) or failed (with the reason in note)."""
    versions = kb.versions(shop_id)
    return KbVersionList(shop_id=shop_id, active_version=next((v.version for v in versions if v.active), None),
                         data=[_version(v, lang) for v in versions])


@router.get("/versions/{version}", response_model=KbVersionPublic, responses=_NOT_FOUND)
def get_version(shop_id: AdminShop, version: VersionNo, kb: KbDep, lang: Lang) -> KbVersionPublic:
    return _version(kb.version(shop_id, version), lang)


@router.post("/versions/{version}/activate", response_model=KbVersionPublic,
             responses=_ACTIVE)
def activate_version(shop_id: AdminShop, version: VersionNo, kb: KbDep, lang: Lang) -> KbVersionPublic:
    """Serve this (older) version again: a rollback. Atomic; nothing is rebuilt. 409 if it is not ready
    or its index is gone."""
    return _version(kb.activate(shop_id, version), lang)


@router.get("/diff", response_model=KbDiff, responses=_ACTIVE)
def diff_versions(
    shop_id: AdminShop, kb: KbDep,
    from_version: int | None = Query(None, alias="from", ge=1, le=MAX_NUMBER, description="The older version; "
                                     "default the version `to` was based on (its base_version: what an edit "
                                     "changed, what an upload replaced), 0 in the answer for a first version."),
    to_version: int | None = Query(None, alias="to", ge=1, le=MAX_NUMBER, description="The newer version; default the active one."),
) -> KbDiff:
    """Entries added, removed and changed (matched by id) from one version to another."""
    old, new, diff = kb.diff(shop_id, from_version, to_version)
    return KbDiff(shop_id=shop_id, from_version=old, to_version=new, added=[_entry(e) for e in diff.added],
                  removed=[_entry(e) for e in diff.removed], changed=[_change(c) for c in diff.changed],
                  unchanged=diff.unchanged)


@router.get("/export", responses={**SPREADSHEET_OK, **_ACTIVE})
def export_kb(
    shop_id: AdminShop, kb: KbDep, learning: LearningDep,
    format: Format = Query("xlsx", description="xlsx or csv (UTF-8 with BOM)."),  # noqa: A002 - API name
    version: int | None = Query(None, ge=1, le=MAX_NUMBER, description="Default: the active version."),
) -> Response:
    """The version's entries in the upload format: importing the file again gives the same entries. The
    XLSX also carries the shop's learned examples on a 学习样本 sheet (which an import ignores)."""
    learned = learning.list(shop_id, limit=1_000_000)[0] if format == "xlsx" else ()
    number, data = kb.export(shop_id, format, version, learned=learned)
    return file_response(data, format, f"{shop_id}-kb-v{number}.{format}")


@router.get("/entries", response_model=EntryList, responses=_ACTIVE)
def list_entries(shop_id: AdminShop, kb: KbDep,
                 version: int | None = Query(None, ge=1, le=MAX_NUMBER, description="Default: the active version.")) -> EntryList:
    number, entries = kb.entries(shop_id, version)
    return EntryList(shop_id=shop_id, version=number, data=[_entry(e) for e in entries])


@router.get("/entries/{entry_id}", response_model=EntryPublic, responses=_ACTIVE)
def get_entry(shop_id: AdminShop, entry_id: EntryId, kb: KbDep,
              version: int | None = Query(None, ge=1, le=MAX_NUMBER, description="Default: the active version.")) -> EntryPublic:
    return _entry(kb.entry(shop_id, entry_id, version)[1])


@router.post("/entries", status_code=status.HTTP_201_CREATED, response_model=EntryEditResponse,
             responses=_EDIT_ERRORS)
def add_entry(shop_id: AdminShop, body: EntryIn, kb: KbDep, lang: Lang) -> EntryEditResponse:
    """Add one entry without re-uploading: a new version whose index embeds only this entry's phrasings."""
    return _edit(kb.add_entry(shop_id, question=body.question, answers=body.answers, similar=body.similar,
                                      category=body.category, enabled=body.enabled, entry_id=body.id), lang)


@router.post("/edits", status_code=status.HTTP_201_CREATED, response_model=EntryEditResponse,
             responses=_EDIT_ERRORS)
def edit_entries(shop_id: AdminShop, body: EditBatch, kb: KbDep, lang: Lang) -> EntryEditResponse:
    """Several adds, updates and deletes published as ONE version (the console's draft of changes), so a
    session of edits is one step in the history and one rollback. All or nothing: the first invalid
    operation rejects the batch and nothing changes."""
    ops = [op.model_dump(exclude_unset=True) for op in body.operations]
    return _edit(kb.edit_entries(shop_id, ops), lang)


@router.patch("/entries/{entry_id}", response_model=EntryEditResponse, responses=_EDIT_ERRORS)
def update_entry(shop_id: AdminShop, entry_id: EntryId, body: EntryPatch, kb: KbDep,
                 lang: Lang) -> EntryEditResponse:
    """Change (or disable / enable) one entry: a new version; only new phrasings are embedded."""
    return _edit(kb.update_entry(shop_id, entry_id, body.model_dump(exclude_unset=True, exclude_none=True)),
                 lang)


@router.delete("/entries/{entry_id}", response_model=EntryEditResponse, responses=_ACTIVE)
def delete_entry(shop_id: AdminShop, entry_id: EntryId, kb: KbDep, lang: Lang) -> EntryEditResponse:
    """Delete one entry: a new version without it (older versions keep it, for rollback)."""
    return _edit(kb.delete_entry(shop_id, entry_id), lang)


@template_router.get("/template", responses=SPREADSHEET_OK)
def download_template(format: Format = Query("xlsx", description="xlsx (with a 说明 sheet) or csv.")  # noqa: A002
                      ) -> Response:
    """The FAQ upload template: the header row, two example rows and, for xlsx, a 说明 sheet on the columns."""
    return file_response(template_file(format), format, f"faq-template.{format}")
