"""Every sentence the service writes for a person, in Chinese and English: one catalogue.

A message is a stable ``code`` plus ``params`` (``Msg``); the text is made only where it is shown,
in the reader's language (``render``): the API picks it from ``Accept-Language`` (Chinese by
default) and also returns the code and params, so a client can translate on its own. Domain code
builds ``Msg`` values and never a finished sentence, so nothing has to be translated back.

Templates are ``str.format`` templates over the params, with two additions: ``{x!q}`` quotes a
value the way the language does (「x」 / 'x'), and a list value is joined (、 / , ), its items
quoted one by one under ``!q``. ``tests/models/test_messages.py`` fails when a code used anywhere
lacks a template in either language, or when the two languages disagree on the params they use.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Msg", "M", "render", "CATALOGUE", "LANGUAGES", "DEFAULT_LANGUAGE", "pick_language", "template_fields"]

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"


@dataclass(frozen=True)
class Msg:
    """A message for a person: a catalogue code and the values its templates fill in."""

    code: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def text(self, lang: str = "en") -> str:
        return render(self.code, self.params, lang)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "params": dict(self.params)}

    def __str__(self) -> str:  # logs and the CLI read English
        return self.text("en")


def M(code: str, **params: Any) -> Msg:  # noqa: N802 - reads like a constructor at the many call sites
    """``Msg(code, params)``; a message inside the params is kept as its JSON form (code + params)."""
    return Msg(code, {k: _plain(v) for k, v in params.items()})


def _plain(value: Any) -> Any:
    if isinstance(value, Msg):
        return value.as_dict()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _is_msg(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"code", "params"}


class _Formatter(string.Formatter):
    def __init__(self, lang: str) -> None:
        self.lang = lang

    def _quote(self, value: Any) -> str:
        return f"「{value}」" if self.lang == "zh" else repr(value) if isinstance(value, str) else f"'{value}'"

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion == "q":
            if isinstance(value, (list, tuple)):
                return [self._quote(v) for v in value]
            return self._quote(value)
        return super().convert_field(value, conversion)

    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, (list, tuple)):
            return ("、" if self.lang == "zh" else ", ").join(self.format_field(v, format_spec) for v in value)
        if isinstance(value, Msg):
            return value.text(self.lang)
        if _is_msg(value):
            return render(value["code"], value["params"], self.lang)
        return super().format_field(value, format_spec)


def render(code: str, params: Mapping[str, Any] | None, lang: str = "en") -> str:
    """The text of ``code`` in ``lang`` (zh or en). A missing param shows as its name in braces
    rather than failing: a message is never worth a 500."""
    lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
    templates = CATALOGUE.get(code)
    if templates is None:
        return code if not params else f"{code} {dict(params)}"
    params = {k: Msg(v["code"], v["params"]) if _is_msg(v) else v for k, v in (params or {}).items()}
    try:
        return _Formatter(lang).vformat(templates[lang], (), _Defaulting(params))
    except (ValueError, TypeError, IndexError):
        return templates[lang]


class _Defaulting(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def template_fields(template: str) -> set[str]:
    return {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(template) if name}


def pick_language(accept_language: str | None) -> str:
    """zh or en from an ``Accept-Language`` header (RFC 9110 q-values); Chinese when nothing fits."""
    best, best_q = DEFAULT_LANGUAGE, -1.0
    for part in (accept_language or "").split(","):
        tag, _, rest = part.strip().partition(";")
        q = 1.0
        for p in rest.split(";"):
            name, _, value = p.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        lang = tag.strip().lower().split("-")[0]
        if lang in LANGUAGES and q > best_q:
            best, best_q = lang, q
    return best


# code: (zh, en). Grouped by where the message comes from; English keeps the wording the API
# always had, so existing English clients read the same sentences.
_C: dict[str, tuple[str, str]] = {
    # -- errors without a specific message: the class's code, the English detail kept as is
    "error.error": ("出错了：{detail}", "{detail}"),
    "error.config_error": ("配置错误：{detail}", "{detail}"),
    "error.encoder_error": ("编码模型出错：{detail}", "{detail}"),
    "error.encoder_not_exported": ("编码模型尚未导出：{detail}", "{detail}"),
    "error.artifact_mismatch": ("模型或索引文件不匹配：{detail}", "{detail}"),
    "error.index_damaged": ("索引文件已损坏：{detail}", "{detail}"),
    "error.upload_unreadable": ("无法读取上传的文件：{detail}", "{detail}"),
    "error.upload_too_large": ("上传的文件太大：{detail}", "{detail}"),
    "error.too_many_rows": ("行数超过上限：{detail}", "{detail}"),
    "error.xlsx_too_large": ("XLSX 解压后过大：{detail}", "{detail}"),
    "error.upload_invalid": ("文件有问题，未导入：{detail}", "{detail}"),
    "error.invalid_item": ("内容有问题，未保存：{detail}", "{detail}"),
    "error.invalid_request": ("请求无效：{detail}", "{detail}"),
    "error.limit_exceeded": ("超过上限：{detail}", "{detail}"),
    "error.conflict": ("与当前状态冲突：{detail}", "{detail}"),
    "error.version_not_activatable": ("该版本无法启用：{detail}", "{detail}"),
    "error.build_failed": ("索引构建失败：{detail}", "{detail}"),
    "error.not_found": ("未找到：{detail}", "{detail}"),
    "error.shop_not_found": ("店铺不存在：{detail}", "{detail}"),
    "error.no_active_kb": ("店铺还没有生效的知识库：{detail}", "{detail}"),
    "error.version_not_found": ("版本不存在：{detail}", "{detail}"),
    "error.item_not_found": ("未找到该条目：{detail}", "{detail}"),
    "error.request_not_found": ("未找到该推荐请求：{detail}", "{detail}"),
    "error.auth_error": ("认证失败：{detail}", "{detail}"),
    "error.unauthorized": ("未授权：{detail}", "{detail}"),
    "error.forbidden": ("无权访问：{detail}", "{detail}"),
    "error.rate_limited": ("请求过于频繁：{detail}", "{detail}"),
    "error.cluster_error": ("本地集群出错：{detail}", "{detail}"),
    "error.confirmation_required": ("需要确认：{detail}", "{detail}"),
    "error.internal_error": ("服务内部错误，请查看服务日志", "internal error; see the server log"),
    "error.http": ("请求失败（HTTP {status}）：{detail}", "{detail} (HTTP {status})"),
    "error.not_found_route": ("没有这个地址", "Not Found"),
    "error.method_not_allowed": ("不支持该请求方法", "Method Not Allowed"),
    "error.too_large": ("请求内容超过 {limit} 字节的上限", "request body larger than {limit} bytes"),
    "error.request_field": ("{field}：{reason}", "{field}: {reason}"),
    # -- why a request field is invalid (pydantic's error types; service/api/errors.py picks the code)
    "invalid.missing": ("必填", "required"),
    "invalid.extra_forbidden": ("不认识这个字段", "unknown field"),
    "invalid.string_type": ("应为文本", "must be a string"),
    "invalid.int_type": ("应为整数", "must be an integer"),
    "invalid.float_type": ("应为数字", "must be a number"),
    "invalid.bool_type": ("应为 true 或 false", "must be true or false"),
    "invalid.list_type": ("应为列表", "must be a list"),
    "invalid.dict_type": ("应为对象", "must be an object"),
    "invalid.datetime_type": ("应为 ISO 8601 时间（如 2025-01-03T23:30:00）",
                              "must be an ISO 8601 time (e.g. 2025-01-03T23:30:00)"),
    "invalid.literal_error": ("只能是 {expected}", "must be {expected}"),
    "invalid.string_too_short": ("至少 {min_length} 个字符", "at least {min_length} characters"),
    "invalid.string_too_long": ("最多 {max_length} 个字符", "at most {max_length} characters"),
    "invalid.too_short": ("至少 {min_length} 项", "at least {min_length} items"),
    "invalid.too_long": ("最多 {max_length} 项", "at most {max_length} items"),
    "invalid.greater_than": ("应大于 {gt}", "must be greater than {gt}"),
    "invalid.greater_than_equal": ("应不小于 {ge}", "must be at least {ge}"),
    "invalid.less_than": ("应小于 {lt}", "must be less than {lt}"),
    "invalid.less_than_equal": ("应不大于 {le}", "must be at most {le}"),
    "invalid.string_pattern_mismatch": ("格式不符（{pattern}）", "does not match {pattern}"),
    "invalid.json_invalid": ("不是有效的 JSON", "not valid JSON"),
    "invalid.edit_needs_id": ("{op} 需要条目编号 id", "{op} needs the entry's id"),
    "invalid.edit_needs_question": ("新增条目需要标准问题 question", "add needs a question"),
    "invalid.other": ("取值无效：{detail}", "{detail}"),
    # -- auth and tenancy
    "auth.missing_key": ("缺少 API 密钥：请发送 'Authorization: Bearer <密钥>'（或 'X-API-Key: <密钥>'）",
                         "missing API key: send 'Authorization: Bearer <key>' (or 'X-API-Key: <key>')"),
    "auth.unknown_key": ("API 密钥无效或已被吊销", "unknown or revoked API key"),
    "auth.other_shop": ("该 API 密钥属于另一个店铺", "this API key belongs to another shop"),
    "auth.scope": ("该操作需要具有{scope!q}权限的密钥（当前密钥的权限：{scopes}）",
                   "this route needs a key with the {scope!q} scope (this key has: {scopes})"),
    "auth.rate_limited": ("该密钥的请求超过每秒 {rate:g} 次的限制，请稍后再试",
                          "rate limit of {rate:g} requests/s for this key exceeded"),
    "auth.demo_only": ("演示密钥只在 serve --demo 且从本机访问时提供", "the demo keys are served only by serve --demo to this machine"),
    "keys.bad_scopes": ("scopes：请从 {choices} 中选择", "scopes: choose from {choices}"),
    "keys.operator_shop": ("scopes：平台（operator）密钥不属于任何店铺；店铺密钥只能是 agent 和/或 admin",
                           "scopes: operator keys belong to no shop; shop keys are agent and/or admin"),
    "keys.not_found": ("没有编号为{key_id!q}的密钥", "no key {key_id!q}"),
    # -- not found
    "nf.shop": ("店铺{shop!q}不存在：请先上传知识库", "shop {shop!q} does not exist; upload a knowledge base first"),
    "nf.no_active_kb": ("店铺{shop!q}还没有生效的知识库：请先上传", "shop {shop!q} has no active knowledge base yet; upload one"),
    "nf.version": ("店铺{shop!q}没有版本 {version}", "shop {shop!q} has no version {version}"),
    "nf.entry": ("店铺{shop!q}的版本 {version} 中没有条目{entry!q}", "entry {entry!q} is not in version {version} of shop {shop!q}"),
    "nf.entry_active": ("当前生效的版本中没有条目{entry!q}", "entry {entry!q} is not in the active version"),
    "nf.quick_phrase": ("店铺{shop!q}没有快捷短语{item!q}", "shop {shop!q} has no quick phrase {item!q}"),
    "nf.rule": ("店铺{shop!q}没有自动回复规则{item!q}", "shop {shop!q} has no rule {item!q}"),
    "nf.revision": ("店铺{shop!q}的 {kind} 没有第 {revision} 次修订", "shop {shop!q} has no {kind} revision {revision}"),
    "nf.build_job": ("店铺{shop!q}没有构建任务{job!q}", "shop {shop!q} has no build job {job!q}"),
    "nf.request": ("店铺{shop!q}没有推荐请求{request!q}", "shop {shop!q} has no suggestion request {request!q}"),
    "nf.cluster": ("店铺{shop!q}的未回答问题分组{cluster!q}已不在统计时间范围内（或已被处理）",
                   "no unanswered cluster {cluster!q} in shop {shop!q} (it may have left the window)"),
    "nf.learned_example": ("店铺{shop!q}没有学习样本{item!q}", "shop {shop!q} has no learned example {item!q}"),
    # -- learned examples (agents' picks)
    "learning.bad_status": ("status：请从 {choices} 中选择", "status: one of {choices}"),
    "learning.move_needs_entry": ("entry_id：移动样本需要指定目标条目", "entry_id: needed to move an example to another entry"),
    "learning.unknown_entry": ("entry_id：当前生效的知识库中没有条目{entry!q}",
                               "entry_id: the active knowledge base has no entry {entry!q}"),
    "learning.duplicate": ("entry_id：条目{entry!q}已有这条买家消息（样本 {other}）",
                           "entry_id: {entry!q} already has this message as example {other}"),
    "learning.not_promotable": ("学习样本 {item} {status}：请先通过审核，再加入知识库",
                                "learned example {item} is {status}: approve it before adding it to the knowledge base"),
    "learning.status.rejected": ("已被拒绝", "rejected"),
    "learning.status.promoted": ("已加入知识库", "promoted"),
    "nf.console_file": ("没有页面文件{name!q}", "no console file {name!q}"),
    # -- index files kept in the database (knowledge_base/artifacts.py)
    "index.other_encoder": (
        "店铺{shop!q}的版本 {version} 是用编码模型{built!q}建的，本副本运行的是{running!q}：请用 "
        "`smartreply kb reindex --shop {shop}` 重建（或重新上传知识库）",
        "shop {shop!q} version {version} was built with encoder {built!q} but this replica runs {running!q}; "
        "rebuild it with `smartreply kb reindex --shop {shop}` (or upload the FAQ again)"),
    "index.database_copy_damaged": (
        "数据库中店铺{shop!q}版本 {version} 的 {name} 已损坏（{size} 字节，sha256 {sha}…；应为 {expected_size} 字节，"
        "{expected_sha}…）：请启用其他版本（`smartreply kb activate`）或重新上传知识库",
        "the database's copy of {name} of shop {shop!q} version {version} is damaged ({size} bytes, sha256 {sha}…; "
        "expected {expected_size} bytes, {expected_sha}…); activate another version (`smartreply kb activate`) "
        "or upload the FAQ again"),
    "index.no_files": (
        "店铺{shop!q}的版本 {version} 在数据库和 {folder} 中都没有索引文件：请启用其他版本或重新上传知识库",
        "shop {shop!q} version {version} has no index files in the database nor at {folder}; activate another "
        "version or upload the FAQ again"),
    # -- versions
    "version.not_ready": ("店铺{shop!q}的版本 {version} 的状态是「{status}」，只有就绪的版本才能启用",
                          "version {version} of shop {shop!q} is {status}; only ready versions can be activated"),
    "version.unservable": ("店铺{shop!q}的版本 {version} 无法启用：{detail}；请重新上传",
                           "version {version} of shop {shop!q} cannot be served: {detail}; re-upload it instead"),
    "version.source.file": ("文件 {filename}（sha256:{digest}）", "{filename} sha256:{digest}"),
    "version.source.merge": ("合并文件 {filename}（sha256:{digest}）", "merge of {filename} sha256:{digest}"),
    "version.source.edit": ("基于 v{base} 编辑：{action}", "edit of v{base}: {action}"),
    "version.source.edits": ("基于 v{base} 的 {n} 项修改：{actions}", "{n} edits of v{base}: {actions}"),
    "version.source.reindex": ("重新编码 v{base}", "reindex of v{base}"),
    "version.source.text": ("{text}", "{text}"),
    "version.note.partial": ("部分导入：{rows} 行有错误，未导入", "partial import: {rows} row(s) with errors left out"),
    "version.note.reindexed": ("已用 {encoder} 重新编码（原为 {previous}）", "re-embedded with {encoder} (was {previous})"),
    "version.note.abandoned": ("已放弃：构建该版本的进程在完成前停止（启动时发现）；之前生效的版本继续提供服务",
                               "abandoned: the process building this version stopped before it finished "
                               "(found at start-up); the previous active version stayed in service"),
    "version.note.shutdown": ("服务在该版本构建完成前停止", "shutdown: the server stopped before this build finished"),
    "version.note.failed": ("构建失败：{detail}", "{detail}"),
    "version.note.text": ("{text}", "{text}"),
    "edit.add": ("新增 {entry}", "add {entry}"),
    "edit.update": ("修改 {entry}", "update {entry}"),
    "edit.update_nochange": ("修改 {entry}（无变化）", "update {entry} (no change)"),
    "edit.enable": ("启用 {entry}", "enable {entry}"),
    "edit.disable": ("停用 {entry}", "disable {entry}"),
    "edit.delete": ("删除 {entry}", "delete {entry}"),
    # -- uploads
    "upload.invalid": ("{filename}：发现 {n} 处问题，未导入任何内容。请修改所列的行后重新上传（或用 on_error=partial 只导入有效行）。",
                       "{filename}: {n} problem(s) found; nothing was imported. Fix the rows listed and upload again "
                       "(or import the valid rows with on_error=partial)."),
    "upload.no_valid": ("{filename}：没有有效的条目，未导入任何内容", "{filename}: no valid entries found; nothing was imported"),
    "upload.needs_column": ("{field}（{described}）", "a {field} column ({described})"),
    "upload.confirm_remove": ("这次上传会删除 {n} 个条目（超过 {limit} 个需要确认）：请带上 confirm_remove={n} 再提交",
                              "this upload would remove {n} entries (more than {limit} needs a confirmation): "
                              "send it again with confirm_remove={n}"),
    "upload.confirm_mismatch": ("confirm_remove={given} 与这次上传实际删除的条目数 {n} 不符：请重新预览后确认",
                                "confirm_remove={given} does not match the {n} entries this upload would remove: "
                                "preview again and confirm"),
    "upload.preview": ("预览：新增 {added} · 修改 {changed} · 删除 {removed} · 未变 {unchanged}（尚未保存）",
                       "preview: {added} added · {changed} changed · {removed} removed · {unchanged} unchanged (nothing stored yet)"),
    "request.mode_alias": ("mode={mode} 是旧写法，等于 on_error={mode}，与 on_error={on_error} 矛盾",
                           "mode={mode} is the old spelling of on_error={mode} and contradicts on_error={on_error}"),
    "upload.no_changes": ("内容与当前生效的版本 v{version} 完全相同：没有变化，未创建新版本",
                          "the content is identical to the active version v{version}: no changes, no new version"),
    "quick.invalid_file": ("{filename}：发现 {n} 处问题，未导入任何内容。请修改所列的行后重新上传（或用 mode=partial 只导入有效行）。",
                           "{filename}: {n} problem(s) found; nothing was imported. Fix the rows listed and upload again "
                           "(or import the valid rows with mode=partial)."),
    "quick.no_rows": ("{filename}：文件没有数据行", "{filename}: the file has no data rows"),
    "quick.no_valid": ("{filename}：没有有效的快捷短语，未导入任何内容", "{filename}: no valid quick phrases found; nothing was imported"),
    "quick.limit": ("每个店铺最多 {limit} 条快捷短语（SMARTREPLY_MAX_QUICK_PHRASES）",
                    "a shop may have at most {limit} quick phrases (SMARTREPLY_MAX_QUICK_PHRASES)"),
    "quick.file_limit": ("{filename}：{n} 条快捷短语，每个店铺最多 {limit} 条（SMARTREPLY_MAX_QUICK_PHRASES）",
                         "{filename}: {n} quick phrases; a shop may have at most {limit} (SMARTREPLY_MAX_QUICK_PHRASES)"),
    "item.invalid": ("{subject}：{n} 处问题，未做任何修改", "{subject}: {n} problem(s); nothing was changed"),
    "item.entry": ("条目{name!q}", "entry {name!q}"),
    "item.quick_phrase": ("快捷短语{name!q}", "quick phrase {name!q}"),
    "item.rule": ("规则{name!q}", "rule {name!q}"),
    "item.kb_full": ("知识库已有 {n} 个条目，达到上限（SMARTREPLY_MAX_ROWS）",
                     "the knowledge base already holds {n} entries, the limit (SMARTREPLY_MAX_ROWS)"),
    "item.edits_empty": ("没有要发布的修改", "no edits to publish"),
    "rule.id_used": ("规则编号{id!q}已被使用", "rule id {id!q} is already used"),
    "rule.limit": ("每个店铺最多 {limit} 条规则（SMARTREPLY_MAX_RULES）", "a shop may have at most {limit} rules (SMARTREPLY_MAX_RULES)"),
    "request.too_long": ("{field}：超过 {limit} 个字符", "{field}: longer than {limit} characters"),
    "request.at_most": ("{field}：最多 {limit}", "{field}: at most {limit}"),
    "request.threshold_order": ("自动回复阈值（{auto}）不能低于推荐阈值（{suggest}）",
                                "auto_reply_threshold ({auto}) may not be below suggest_threshold ({suggest})"),
    # -- a file that cannot be read at all (knowledge_base/parsing.py FILE_REASONS: file.<code>)
    "file.refused": ("{filename}{place}：{reason}", "{filename}{place}: {reason}"),
    "file.in_sheet": (" 工作表{sheet!q}", " sheet {sheet!q}"),
    "file.at_row": (" 第 {row} 行", " row {row}"),
    "file.in_sheet_row": (" 工作表{sheet!q}第 {row} 行", " sheet {sheet!q} row {row}"),
    "file.bad_filename": ("文件名{problem}；请重命名（最多 {limit} 个字符，不含文件夹路径和不可见字符）后重新上传",
                          "the file name {problem}; rename the file (at most {limit} characters, no folders, no "
                          "unprintable characters) and upload it again"),
    "file.name_missing": ("为空", "is missing"),
    "file.name_too_long": ("长达 {n} 个字符", "is {n} characters long"),
    "file.name_unprintable": ("含有不可见字符 {character}", "contains the unprintable character {character}"),
    "file.name_folder": ("含有文件夹路径", "contains a folder path"),
    "file.unsupported_type": ("不支持的文件类型{suffix!q}；请上传 {supported} 之一",
                              "unsupported file type {suffix!q}; upload one of {supported}"),
    "file.empty_file": ("文件是空的", "the file is empty"),
    "file.bad_encoding": ("文本看起来是 {encoding} 编码，不是 UTF-8 或 GBK/GB18030：导入后会变成乱码。请另存为 UTF-8"
                          "（Excel：另存为 →「CSV UTF-8」）后重新上传",
                          "the text looks like {encoding}, not UTF-8 or GBK/GB18030: it would be imported as garbled "
                          "characters. Save the file as UTF-8 (Excel: Save As → \"CSV UTF-8\") and upload it again"),
    "file.binary_file": ("这不是文本文件（二进制数据{kind}）；请上传另存为 UTF-8 文本的 .csv、.json 或 .jsonl，或 .xlsx 工作簿",
                         "this is not a text file (binary data{kind}); upload a .csv, .json or .jsonl saved as UTF-8 "
                         "text, or an .xlsx workbook"),
    "file.kind_zip": ("：是 zip 压缩包，也许是 .xlsx 工作簿？请用 .xlsx 后缀上传",
                      " — a zip archive: an .xlsx workbook? Upload it with the .xlsx suffix"),
    "file.kind_xls": ("：是旧版 Excel .xls 工作簿，请另存为 .xlsx", " — an old Excel .xls workbook: save it as .xlsx"),
    "file.kind_pdf": ("：是 PDF 文档", " — a PDF document"),
    "file.not_xlsx": ("不是可读取的 .xlsx 工作簿（{detail}）", "not a readable .xlsx workbook ({detail})"),
    "file.is_not_zip": ("它不是 zip 压缩包：也许是改了后缀的 CSV 或文本文件？请用真实的后缀上传",
                        "it is not a zip archive; a CSV or text file renamed to .xlsx? Upload it with its real suffix"),
    "file.is_xls": ("这是旧版 Excel .xls 工作簿，请另存为 .xlsx", "an old Excel .xls workbook: save it as .xlsx"),
    "file.is_pdf": ("这是 PDF 文档", "a PDF document"),
    "file.is_zip": ("这是 zip 压缩包", "a zip archive"),
    "file.zip_not_workbook": ("是 zip 压缩包但不是工作簿：{detail}", "a zip archive but not a workbook: {detail}"),
    "file.missing_columns": ("表头缺少必需的列：{needs}；实际表头为{found!q}。可用的列：{known}",
                             "the header row needs {needs}; found [{found!q}]. Known columns: {known}"),
    "file.no_data_sheet": ("没有任何工作表的表头包含 {marker} 列（{spellings}）",
                           "no sheet has a header row with a {marker} column ({spellings})"),
    "file.bad_csv": ("第 {line} 行无法按 CSV 读取（{detail}）", "line {line} cannot be read as CSV ({detail})"),
    "file.cell_too_large": ("第 {line} 行：有一个单元格超过 {limit} 个字符，远超任何问题或答案；请检查这一行附近的引号"
                            "（未闭合的引号会把文件其余部分并入一个单元格）",
                            "line {line}: a cell is longer than {limit} characters, far beyond any question or answer; "
                            "check the quotes around this line (an unclosed quote joins the rest of the file into one cell)"),
    "file.invalid_json": ("JSON 格式错误{at}：{detail}", "invalid JSON{at}: {detail}"),
    "file.at_line_column": ("（第 {line} 行第 {column} 列）", " at line {line} column {column}"),
    "file.on_line": ("（第 {line} 行）", " on line {line}"),
    "file.json_too_deep": ("JSON{at}嵌套超过 {limit} 层；FAQ 文件应是对象列表，其值为文本或文本列表",
                           "JSON{at} is nested more than {limit} levels deep; an FAQ file is a list of objects whose "
                           "values are texts or lists of texts"),
    "file.not_a_list": ("需要一个条目列表（JSON 数组），或带 \"entries\" 列表的对象",
                        "expected a JSON list of entries or an object with an \"entries\" list"),
    "file.not_an_object": ("第 {item} 项不是 JSON 对象", "item {item} is not a JSON object"),
    "file.nested_value": ("第 {item} 项的字段{field!q}：值必须是文本、数字或文本列表，不能是{kind}",
                          "item {item}, field {field!q}: a value must be a text, a number or a list of texts, not {kind}"),
    "file.kind_nested_list": ("嵌套的列表", "a nested list"),
    "file.kind_object": ("对象", "an object"),
    "file.too_many_rows": ("行数过多：超过 {limit} 行的上限（SMARTREPLY_MAX_ROWS）；请拆分文件",
                           "too many rows: more than {limit} data rows (the limit, SMARTREPLY_MAX_ROWS); split the file"),
    "file.xlsx_too_large": ("工作簿解压后约 {size_mib} MiB（{parts} 个部分），上限为 {limit_mib} MiB"
                            "（SMARTREPLY_MAX_XLSX_UNCOMPRESSED_BYTES）。请删除不用的工作表或图片",
                            "the workbook would expand to {size_mib} MiB in {parts} parts; the limit is {limit_mib} MiB "
                            "(SMARTREPLY_MAX_XLSX_UNCOMPRESSED_BYTES). Remove unused sheets or images"),
    "file.xlsx_ratio": ("部分 {part} 解压后膨胀 {ratio} 倍（上限 {limit} 倍，SMARTREPLY_MAX_XLSX_RATIO）：看起来是压缩炸弹，不是表格",
                        "part {part} expands {ratio}x (limit {limit}x, SMARTREPLY_MAX_XLSX_RATIO); this looks like a "
                        "zip bomb, not a spreadsheet"),
    "file.file_too_large": ("文件超过 {limit} 字节的上限（SMARTREPLY_MAX_UPLOAD_BYTES）",
                            "file is larger than the {limit} byte limit (SMARTREPLY_MAX_UPLOAD_BYTES)"),
    # -- a request body that cannot be parsed (service/api/errors.py)
    "body.invalid_body": ("请求内容无法解析（{detail}）：请发送 UTF-8 JSON（Content-Type: application/json），嵌套不要太深",
                          "the request body cannot be parsed ({detail}): send UTF-8 JSON with Content-Type "
                          "application/json, nested at most a few levels"),
    "body.invalid_multipart": ("上传内容不是有效的 multipart/form-data（{detail}）；请把文件放在表单字段 file 中发送",
                               "the upload is not valid multipart/form-data ({detail}); send the file as the form field 'file'"),
    "body.multipart_header_too_long": ("上传内容中某个分段的头部过长（{detail}），通常是文件名有几百个字符：请重命名文件"
                                       "（最多 255 个字符）后重新上传",
                                       "a part header of the multipart upload is longer than the parser accepts ({detail}); "
                                       "usually a file name of hundreds of characters: rename the file (at most 255 "
                                       "characters) and upload it again"),
    "error.method_not_allowed_use": ("不支持 {method} 方法；请使用 {allowed}", "{method} is not allowed here; use {allowed}"),
    "error.upload_body_too_large": ("上传内容超过 {limit} 字节的上限（SMARTREPLY_MAX_UPLOAD_BYTES）；未读取或保存任何内容",
                                    "the upload is larger than the {limit} byte limit (SMARTREPLY_MAX_UPLOAD_BYTES); "
                                    "nothing was read or stored"),
    "error.item_exists": ("已存在：{detail}", "{detail}"),
    # -- problems in a file row or an API item (ValidationProblem.code, one template per variant)
    "problem.no_rows": ("文件没有数据行", "the file has no data rows"),
    "problem.duplicate_id": ("编号{id!q}重复（第 {first} 行已使用）", "duplicate id {id!q} (first used on row {first})"),
    "problem.duplicate_id_api": ("编号{id!q}已被使用", "duplicate id {id!q} (already used)"),
    "problem.conflict": ("问法{text!q}已被条目{owner!q}{on_row} 使用；一个问法只能属于一个条目",
                         "phrasing {text!q} is already used by entry {owner!q}{on_row}; a phrasing may belong to one entry only"),
    "problem.on_row": ("（第 {row} 行）", " on row {row}"),
    "problem.id_empty": ("编号为空", "id is empty"),
    "problem.bad_id": ("编号{id!q}最多 {limit} 个字符，只能包含字母、数字或 - _ . :",
                       "id {id!q} must be at most {limit} letters, digits or - _ . :"),
    "problem.missing_question": ("标准问题为空", "standard question is empty"),
    "problem.missing_answer": ("答案为空", "answer is empty"),
    "problem.question_too_long": ("标准问题有 {n} 个字符，上限为 {limit}", "standard question is {n} characters; the limit is {limit}"),
    "problem.answer_too_long": ("答案有 {n} 个字符，上限为 {limit}", "answer is {n} characters; the limit is {limit}"),
    "problem.similar_too_long": ("相似问有 {n} 个字符，上限为 {limit}", "similar question is {n} characters; the limit is {limit}"),
    "problem.category_too_long": ("分类有 {n} 个字符，上限为 {limit}", "category is {n} characters; the limit is {limit}"),
    "problem.too_many_answers": ("{n} 个答案，每个条目最多 {limit} 个", "{n} answers; the limit is {limit} per entry"),
    "problem.too_many_similar": ("{n} 个相似问，每个条目最多 {limit} 个", "{n} similar questions; the limit is {limit} per entry"),
    "problem.too_many_entries": ("条目过多", "too many entries"),
    "problem.formula": ("单元格看起来是电子表格公式（可能是公式注入）：以{start!q}开头；请删除开头的 =、+、- 或 @，或在前面加上文字",
                        "cell looks like a spreadsheet formula (possible formula injection): it starts with {start!q}; "
                        "remove the leading =, +, - or @ or put text before it"),
    "problem.control_character": ("单元格第 {position} 个字符是控制字符 {character}（{name}），表格无法显示；请删除",
                                  "cell contains the control character {character} ({name}) at position {position}, which "
                                  "a spreadsheet cannot show; remove it"),
    "problem.compliance": ("内容未通过合规检查（{found}）：{reason}", "text fails the compliance check ({found}): {reason}"),
    "problem.bad_status": ("状态{value!q}无法识别；请填写 启用 或 停用", "status {value!q} is not understood; use 启用 or 停用"),
    "problem.unknown_column": ("未知列{name!q}已忽略（可用的列：{known}）", "unknown column {name!q} is ignored (known: {known})"),
    "problem.separator": ("{field} 中的一项包含 '|' 或换行（文件用它们分隔多个值）；请分成多项发送",
                          "{field} item contains '|' or a line break, which files use to separate several values; "
                          "send them as separate list items"),
    "problem.qp_bad_id": ("编号{id!q}只能是 1–64 个字母、数字、_ 或 -", "id {id!q} must be 1-64 letters, digits, _ or -"),
    "problem.missing_text": ("内容为空", "text is empty"),
    "problem.text_too_long": ("内容有 {n} 个字符，上限为 {limit}", "text is {n} characters; the limit is {limit}"),
    "problem.group_too_long": ("分组有 {n} 个字符，上限为 {limit}", "group is {n} characters; the limit is {limit}"),
    "problem.bad_shortcut": ("快捷编码{shortcut!q}只能是 1–16 个字母、数字或 _ / # . -",
                             "shortcut {shortcut!q} must be 1-16 letters, digits or _ / # . -"),
    "problem.qp_duplicate_id": ("编号{id!q}重复", "duplicate id {id!q}"),
    "problem.duplicate_shortcut": ("快捷编码{shortcut!q}已被短语{owner!q}使用", "shortcut {shortcut!q} is already used by phrase {owner!q}"),
    "problem.duplicate_text": ("该分组中已有相同的内容", "the same text is already in this group"),
    "problem.bad_timezone": ("未知的时区{name!q}：请使用 IANA 时区名，如 Asia/Shanghai",
                             "unknown time zone {name!q}; use an IANA name such as Asia/Shanghai"),
    "problem.invalid": ("{detail}", "{detail}"),
    "problem.missing_name": ("名称为空", "name is empty"),
    "problem.name_too_long": ("名称有 {n} 个字符，上限为 {limit}", "name is {n} characters; the limit is {limit}"),
    "problem.bad_mode": ("匹配方式{mode!q}不是 {choices} 之一", "mode {mode!q} is not one of {choices}"),
    "problem.missing_examples": ("语义触发至少需要一个例句", "a semantic trigger needs at least one example phrasing"),
    "problem.bad_threshold": ("阈值 {threshold} 必须在 (0, 1] 之间", "threshold {threshold} must be in (0, 1]"),
    "problem.missing_keywords": ("匹配方式 {mode} 至少需要一个关键词", "mode {mode} needs at least one keyword"),
    "problem.keyword_empty": ("有一个关键词为空", "a keyword is empty"),
    "problem.too_many_keywords": ("{n} 个关键词，上限为 {limit}", "{n} keywords; the limit is {limit}"),
    "problem.keyword_too_long": ("关键词有 {n} 个字符，上限为 {limit}", "keyword is {n} characters; the limit is {limit}"),
    "problem.too_many_examples": ("{n} 个例句，上限为 {limit}", "{n} examples; the limit is {limit}"),
    "problem.example_too_long": ("例句有 {n} 个字符，上限为 {limit}", "example is {n} characters; the limit is {limit}"),
    "problem.missing_reply": ("回复为空", "reply is empty"),
    "problem.reply_too_long": ("回复有 {n} 个字符，上限为 {limit}", "reply is {n} characters; the limit is {limit}"),
    "problem.too_many_windows": ("{n} 个时间段，上限为 {limit}", "{n} windows; the limit is {limit}"),
    "problem.bad_time": ("时间必须是 HH:MM（00:00-23:59，结束时间可以是 24:00），而不是{start!q}–{end!q}",
                         "times must be HH:MM (00:00-23:59, end may be 24:00), not {start!q}–{end!q}"),
    "problem.example_empty": ("有一个例句为空", "an example is empty"),
    "problem.same_time": ("开始和结束都是 {time}；全天请用 00:00–24:00", "start and end are both {time}; for a whole day use 00:00–24:00"),
    "problem.bad_days": ("星期必须是 1（周一）到 7（周日），而不是 [{days}]",
                         "days must be ISO weekdays 1 (Monday) to 7 (Sunday), not [{days}]"),
    "problem.no_days": ("时间段至少需要一天", "a window needs at least one day"),
    "problem.bad_date": ("排除日期{value!q}必须是 YYYY-MM-DD", "excluded date {value!q} must be YYYY-MM-DD"),
    "problem.bad_cooldown": ("冷却时间必须在 0 到 {limit} 秒之间", "cooldown must be 0 to {limit} seconds"),
    "problem.bad_priority": ("优先级必须在 -1000 到 1000 之间", "priority must be -1000 to 1000"),
    "problem.merge_conflict": ("问法{text!q}已被保留的条目{owner!q}使用；合并后一个问法只能属于一个条目",
                               "phrasing {text!q} is already used by kept entry {owner!q}; a phrasing may belong to one entry only"),
    # -- auto-reply rules: why a rule fires or not (explain)
    "rule.disabled": ("规则已停用", "the rule is disabled"),
    "rule.excluded_date": ("{date} 是该规则的排除日期", "{date} is one of the rule's excluded dates"),
    "rule.outside_window": ("{when} 不在该规则的任何时间段内：{windows}", "{when} is outside every window of the rule: {windows}"),
    "rule.semantic_unavailable": ("没有为该语义触发计算相似度", "no similarity was computed for this semantic trigger"),
    "rule.below_threshold": ("最接近的例句{example!q}相似度为 {similarity:.3f}，低于阈值 {threshold:.2f}",
                             "the closest example {example!q} has similarity {similarity:.3f}, below the threshold {threshold:.2f}"),
    "rule.not_exact": ("消息不完全等于{keywords!q}中的任何一个{hint}", "the message is not exactly one of [{keywords!q}]{hint}"),
    "rule.not_exact_hint": ("；消息包含{keyword!q}，但完全匹配要求整条消息就是关键词（想匹配更长的消息请用 any 或 contains）",
                            "; it contains {keyword!q}, but exact mode needs the whole message to be a keyword "
                            "(use mode any or contains to match inside longer messages)"),
    "rule.none_of": ("消息中没有任何关键词{keywords!q}", "none of the keywords [{keywords!q}] is in the message"),
    "rule.keyword_missing": ("缺少关键词{keyword!q}", "keyword {keyword!q} is missing"),
    "rule.keyword_order": ("关键词{keyword!q}只出现在{after!q}之前；contains 方式要求关键词按给定顺序出现",
                           "keyword {keyword!q} appears only before {after!q}; contains mode needs the keywords in the order given"),
    "rule.cooldown": ("本会话已在 {last} 触发过（{elapsed} 秒前）；冷却时间 {cooldown} 秒，还剩 {left} 秒",
                      "already fired in this conversation at {last} ({elapsed} s ago); cooldown is {cooldown} s, {left} s left"),
    "rule.lower_priority": ("规则{winner_name!q}也匹配且优先级更高（{winner_priority} > {priority}）",
                            "rule {winner_name!q} also matches and has a higher priority ({winner_priority} > {priority})"),
    "rule.lower_priority_tie": ("规则{winner_name!q}也匹配，优先级相同（{priority}）且排在前面",
                                "rule {winner_name!q} also matches and has the same priority ({priority}) and comes first in the list"),
    "rule.matched.window": ("{when} 在时间段 {window} 内", "{when} is inside {window}"),
    "rule.matched.similar": ("与例句{example!q}相似（{similarity:.3f} ≥ {threshold:.2f}）",
                             "similar to example {example!q} ({similarity:.3f} ≥ {threshold:.2f})"),
    "rule.matched.exact": ("消息正好是{keyword!q}", "the message is exactly {keyword!q}"),
    "rule.matched.keyword": ("找到关键词{keyword!q}", "keyword {keyword!q} found"),
    "rule.matched.keyword_after": ("在{after!q}之后找到关键词{keyword!q}", "keyword {keyword!q} found after {after!q}"),
    "rule.note.no_conversation": ("请求没有带 conversation_id：未检查冷却时间", "no conversation_id: cooldowns were not checked"),
    "rule.when": ("{weekday} {time}（{tz}）", "{weekday} {time} ({tz})"),
    "rule.window": ("{days} {start}–{end}", "{days} {start}–{end}"),
    "rule.window_overnight": ("{days} {start}–次日{end}", "{days} {start}–{end} next day"),
    "rule.every_day": ("每天", "every day"),
    "rule.days_range": ("{first}至{last}", "{first}–{last}"),
    "rule.days_list": ("{days}", "{days}"),
    "weekday.1": ("周一", "Mon"), "weekday.2": ("周二", "Tue"), "weekday.3": ("周三", "Wed"), "weekday.4": ("周四", "Thu"),
    "weekday.5": ("周五", "Fri"), "weekday.6": ("周六", "Sat"), "weekday.7": ("周日", "Sun"),
    # -- compliance (one sentence per kind of violation)
    "compliance.link": ("含外部链接或网址（平台禁止引导站外）", "contains an external link or web address (the platform forbids leading buyers off-platform)"),
    "compliance.phone": ("含电话号码（平台禁止站外联系方式）", "contains a phone number (the platform forbids off-platform contact details)"),
    "compliance.wechat": ("含微信/VX等站外联系方式", "contains a WeChat/VX handle or similar off-platform contact"),
    "compliance.qq": ("含QQ等站外联系方式", "contains a QQ number or similar off-platform contact"),
    "compliance.off_platform": ("引导私下或站外交易", "invites private or off-platform trading"),
    "compliance.absolute_term": ("含广告法禁用的极限词", "contains an absolute term banned by the Advertising Law"),
    "compliance.other": ("未通过合规检查（{kind}）", "fails the compliance check ({kind})"),
    # -- the hit test: why a candidate ranks where it does (one sentence per main reason)
    "why.dense_high": ("与问法{phrasing!q}的语义非常接近（相似度 {value:.2f}）", "means almost the same as {phrasing!q} (similarity {value:.2f})"),
    "why.dense_mid": ("与问法{phrasing!q}的意思相近（相似度 {value:.2f}）", "is close in meaning to {phrasing!q} (similarity {value:.2f})"),
    "why.dense_low": ("与最接近的问法{phrasing!q}意思相差较远（相似度 {value:.2f}）",
                      "is far in meaning from its closest phrasing {phrasing!q} (similarity {value:.2f})"),
    "why.lexical_high": ("和问题的用字大量重合（字面得分 {value:.2f}）", "shares many of the message's words (lexical score {value:.2f})"),
    "why.lexical_low": ("和问题几乎没有相同的字词（字面得分 {value:.2f}）", "shares almost no words with the message (lexical score {value:.2f})"),
    "why.intent_same": ("意图一致：都是「{intent}」", "same intent: both are “{intent}”"),
    "why.intent_other": ("意图不同：问题像是「{message_intent}」，该条目是「{intent}」",
                         "different intent: the message looks like “{message_intent}”, the entry is “{intent}”"),
    "why.gap_lead": ("明显领先下一名（置信度高出 {gap:.2f}）", "clearly ahead of the next candidate (confidence {gap:.2f} higher)"),
    "why.gap_close": ("与第一名{top!q}只差 {gap:.2f}，难以区分", "only {gap:.2f} behind the best match {top!q}: hard to tell apart"),
    "why.auto": ("置信度 {confidence:.2f} ≥ 自动回复阈值 {threshold:.2f}：可以不经人工直接发送",
                 "confidence {confidence:.2f} ≥ auto-reply threshold {threshold:.2f}: safe to send without a person"),
    "why.suggest": ("置信度 {confidence:.2f} ≥ 推荐阈值 {threshold:.2f}：会推荐给客服",
                    "confidence {confidence:.2f} ≥ suggest threshold {threshold:.2f}: shown to the agent"),
    "why.below": ("置信度 {confidence:.2f} < 推荐阈值 {threshold:.2f}：不会推荐（差 {missing:.2f}）",
                  "confidence {confidence:.2f} < suggest threshold {threshold:.2f}: not shown ({missing:.2f} short)"),
    "why.duplicate": ("答案与排名更高的{entry!q}相同：不重复推荐", "same answer as the higher-ranked {entry!q}: not shown twice"),
    "why.blocked": ("答案未通过合规检查：{reason}", "the answer fails the compliance check: {reason}"),
    "why.beyond_top_k": ("排在第 {rank} 位，超出了显示的前 {top_k} 条", "ranked {rank}, beyond the {top_k} shown"),
    "why.disabled": ("该条目已停用", "the entry is disabled"),
    # -- analytics: why a question is listed as unanswered
    "cluster.low_confidence": ("{n} 次没有足够相近的答案（置信度低于 {threshold:.2f}）",
                               "{n}× no answer close enough (confidence below {threshold:.2f})"),
    "cluster.ignored": ("{n} 次推荐了答案，但客服没有采用（可能答案不对）",
                        "{n}× an answer was suggested but the agent did not use it (it may be wrong)"),
    # -- the desk around the suggestions: routing tables, escalation, targets, desk events (docs/desk.md)
    "item.routing": ("分流表", "routing table"),
    "item.shop_settings": ("店铺设置", "shop settings"),
    "item.events": ("接待事件", "events"),
    "routing.groups_empty": ("至少需要一个客服分组", "name at least one group"),
    "routing.groups_max": ("最多 {limit} 个分组", "at most {limit} groups"),
    "routing.group_name": ("分组名称不能为空，前后不能有空格", "a group name must be non-empty text without surrounding spaces"),
    "routing.group_too_long": ("分组名称超过 {limit} 个字符", "longer than {limit} characters"),
    "routing.group_twice": ("分组{group!q}出现了两次", "group {group!q} is named twice"),
    "routing.unknown_group": ("{group!q}不是已有的分组（{groups}）", "{group!q} is not one of the groups ({groups})"),
    "routing.unknown_intent": ("{intent!q}不是平台意图", "{intent!q} is not a platform intent"),
    "routing.handoff_in_intents": ("转人工请用 handoff_group（转人工 → 分组）设置", "转人工 goes to handoff_group; set that instead"),
    "routing.categories_max": ("最多 {limit} 个分类", "at most {limit} categories"),
    "routing.category_empty": ("分类名称不能为空", "an empty category name"),
    "routing.keyword_rules_max": ("最多 {limit} 条关键词规则", "at most {limit} keyword rules"),
    "routing.keywords_empty": ("关键词规则至少需要一个关键词", "a keyword rule needs at least one keyword"),
    "routing.keywords_max": ("每条规则最多 {limit} 个关键词", "at most {limit} keywords per rule"),
    "routing.keyword_length": ("关键词须为 1–{limit} 个字符", "a keyword must be 1-{limit} characters"),
    "routing.confidence_range": ("须在 0 到 1 之间", "must be between 0 and 1"),
    "desk.target_range": ("须在 {low} 到 {high} 之间", "must be between {low} and {high}"),
    "desk.warning_before_deadline": ("须小于回复时限 reply_deadline_hours（{deadline}）",
                                     "must be less than reply_deadline_hours ({deadline})"),
    "desk.event_type": ("type 须为 {types} 之一", "type must be one of {types}"),
    "desk.event_future": ("at 比服务器时钟快 {ahead} 秒（最多允许 {limit} 秒）",
                          "'at' is {ahead} s ahead of the server's clock (at most {limit} s)"),
    "desk.event_old": ("at 早于 {days} 天前", "'at' is more than {days} days ago"),
    "desk.message_at": ("message_at 只用于 message_shown，且不能晚于 at", "message_at is for message_shown, and not after 'at'"),
    "desk.action": ("action 只用于 reply_sent，须为 {actions} 之一", "action is for reply_sent: one of {actions}"),
    "desk.agent_needed": ("{type} 需要 agent_id", "{type} needs the agent_id"),
    "desk.event_twice": ("同一请求中 event_id 重复", "event_id twice in one request"),
    "request.window_order": ("since 必须早于 until", "since: must be before until"),
    "request.window_max": ("时间范围最长 {days} 天", "since: the window is at most {days} days"),
    "rules.escalated": ("消息已升级（{reasons}）：需要人工处理，不会自动回复",
                        "escalated ({reasons}): a person must answer; no rule auto-replies"),
    "escalation.safety": ("安全问题", "safety"), "escalation.report_threat": ("投诉/举报威胁", "threat to report"),
    "escalation.insult": ("辱骂", "insult"), "escalation.anger": ("情绪激动", "anger"),
    "escalation.complaint": ("投诉不满", "complaint"), "escalation.refund_dispute": ("退款纠纷", "refund dispute"),
    "escalation.delivery_dispute": ("物流纠纷", "delivery dispute"),
    "escalation.repeated_ask": ("多次追问未回复", "repeated unanswered asks"),
}

CATALOGUE: dict[str, dict[str, str]] = {code: {"zh": zh, "en": en} for code, (zh, en) in _C.items()}
