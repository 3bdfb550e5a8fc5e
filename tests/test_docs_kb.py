"""docs/knowledge-base.md cannot drift: every KB setting and every code the code can emit is in it."""

from __future__ import annotations

import re

from knowledge_base.cells import CELL_CODES
from knowledge_base.tablefile import FILE_REASONS
from service.config import Settings
from tests.conftest import REPO

DOC = (REPO / "docs" / "knowledge-base.md").read_text("utf-8")
KB_SETTINGS = ["max_upload_bytes", "max_rows", "max_xlsx_uncompressed_bytes", "max_xlsx_ratio", "max_question_chars",
               "max_answer_chars", "max_similar_per_entry", "max_answers_per_entry", "max_category_chars",
               "kb_compliance_warning_kinds", "max_quick_phrases", "max_quick_phrase_chars", "max_rules"]


def _codes(pattern: str, *files: str) -> set[str]:
    return {code for f in files for code in re.findall(pattern, (REPO / f).read_text("utf-8"))}


def test_every_kb_setting_is_documented_with_its_default():
    fields = Settings.model_fields
    for name in KB_SETTINGS:
        assert name in fields, name
        assert f"| `{name}` |" in DOC, f"{name} is not in the limits table"


def test_every_problem_reason_and_error_code_is_documented():
    sources = ["knowledge_base/parsing.py", "knowledge_base/editing.py", "knowledge_base/quick_phrases.py",
               "knowledge_base/rulebook.py", "knowledge_base/rules.py", "knowledge_base/cells.py"]
    problem_codes = _codes(r'code="(\w+)"', *sources)
    problem_codes |= _codes(r'bad\([^()]*?"[^"]*",\s*"(\w+)"', "knowledge_base/rules.py")
    problem_codes |= _codes(r'\n\s*"(\w+)"\)\n', "knowledge_base/rules.py")  # bad(..., \n "code")
    problem_codes |= _codes(r'bad\([^,]+, M\((?:[^()]|\([^()]*\))*\),\s*"(\w+)"', "knowledge_base/rules.py")  # bad(col, M(...), "code")
    reason_codes = _codes(r'Reason\(\s*"(\w+)"', "knowledge_base/rules.py") - {"semantic_unavailable"}
    error_codes = _codes(r'code = "(\w+)"', "models/errors.py") & {
        "upload_unreadable", "upload_too_large", "too_many_rows", "xlsx_too_large", "upload_invalid", "invalid_item",
        "limit_exceeded", "invalid_request", "version_not_activatable", "version_not_found", "item_not_found",
        "shop_not_found", "no_active_kb", "confirmation_required", "item_exists"}
    problem_codes |= set(FILE_REASONS) | set(CELL_CODES)
    problem_codes |= {"invalid_body", "invalid_multipart", "multipart_header_too_long", "body_too_large"}
    assert len(problem_codes) > 40 and len(reason_codes) == 9 and len(error_codes) == 15
    missing = sorted(c for c in problem_codes | reason_codes | error_codes if f"`{c}`" not in DOC)
    assert not missing, f"not documented in docs/knowledge-base.md: {missing}"
