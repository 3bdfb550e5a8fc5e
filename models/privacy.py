"""Buyer PII masking: applied to every message before it is logged or stored for analytics.

``mask_pii`` replaces phones (also spaced, dashed or full-width digits, +86), long digit runs (order and
tracking numbers, ID cards), e-mail addresses, Chinese postal addresses (省/市/区/县/镇/路/街/号/小区/
栋/单元/室 patterns) and names after 我叫 / 收件人 / 姓名 / 联系人 with placeholders in JDDC's style
(``[电话]``, ``[订单号]``, ``[地址]``, ``[姓名]``, ``[邮箱]``). It errs on the side of masking: a
masked size or price costs an analytics example some detail, a leaked phone costs the buyer.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["mask_pii", "PII_PLACEHOLDERS"]

PII_PLACEHOLDERS = ("[电话]", "[订单号]", "[地址]", "[姓名]", "[邮箱]")

_SEP = r"[\s\-–—_.·]*"
# 11-digit mobile numbers starting 1[3-9], optionally +86 / 86, with separators between digits.
_PHONE = re.compile(rf"(?:(?:\+|00)?86{_SEP})?1{_SEP}[3-9](?:{_SEP}\d){{9}}(?!\d)")
# Landlines: 0xx-xxxxxxx(x).
_LANDLINE = re.compile(rf"(?<!\d)0\d{{2,3}}{_SEP}\d{{7,8}}(?!\d)")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Order / waybill / id-card numbers: 8+ digits (letters allowed around, e.g. SF1234567890, 11010519491231002X).
_LONG_DIGITS = re.compile(r"(?:[A-Za-z]{1,4})?\d(?:[\s-]?\d){7,}[Xx]?")
_ADDRESS_UNITS = "省市区县镇乡村路街道巷弄号楼栋幢单元室苑园庄府"
# An address: a run of CJK/digits containing at least one unit character, ending in a strong unit
# (路/街/号/栋/单元/室/小区/村...). Anchored on a unit so ordinary sentences stay intact.
_ADDRESS = re.compile(
    r"(?:[\u4e00-\u9fff]{1,10}(?:省|自治区))?(?:[\u4e00-\u9fff]{1,10}市)?(?:[\u4e00-\u9fff]{1,10}(?:区|县))?"
    r"[\u4e00-\u9fff\dA-Za-z\-]{0,20}?(?:\d+|[一二三四五六七八九十百]+)?(?:路|街|大道|巷|弄|胡同|村|小区|花园|公寓|大厦)"
    r"(?:[\u4e00-\u9fff\dA-Za-z\-]{0,12}?(?:\d+|[一二三四五六七八九十百]+)(?:号|栋|幢|楼|单元|室|层))*"
)
_ADDRESS_NUMBERED = re.compile(r"\d+(?:号楼|号|栋|幢|单元)(?:\d+(?:单元|室|层|楼|号)?)*")
_ADMIN_AREA = re.compile(r"[\u4e00-\u9fff]{2,6}(?:省|自治区)[\u4e00-\u9fff]{1,8}?市(?:[\u4e00-\u9fff]{1,8}?(?:区|县))?")
_NAME = re.compile(
    r"(我叫|我是|本人|收件人|收货人|联系人|姓名|名字|寄件人)(\s*[:：是为]?\s*)([\u4e00-\u9fff]{2,4}|[A-Za-z][A-Za-z ]{1,30})")


_FULLWIDTH = frozenset(chr(c) for c in [*range(0xFF10, 0xFF1A), *range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B),
                                          0xFF0B, 0xFF0D, 0xFF20, 0xFF0E, 0x3000])


def _to_halfwidth_digits(text: str) -> str:
    # Full-width digits and letters → ASCII, so "１３８ ００１３ ８０００" is found like "13800138000".
    # Only digits, letters, + - @ . (punctuation such as ，？ stays as it was written).
    return "".join(unicodedata.normalize("NFKC", ch) if ch in _FULLWIDTH else ch for ch in text)


def mask_pii(text: str) -> str:
    """``text`` with buyer PII replaced by placeholders. Idempotent: masking twice changes nothing."""
    if not text:
        return text
    out = _to_halfwidth_digits(text)
    out = _EMAIL.sub("[邮箱]", out)
    out = _PHONE.sub("[电话]", out)
    out = _LANDLINE.sub("[电话]", out)
    out = _LONG_DIGITS.sub("[订单号]", out)
    out = _NAME.sub(lambda m: f"{m.group(1)}{m.group(2)}[姓名]", out)
    out = _ADMIN_AREA.sub("[地址]", out)
    out = _ADDRESS.sub(_address, out)
    out = _ADDRESS_NUMBERED.sub("[地址]", out)
    out = re.sub(r"\[地址\]\s*\d+(?:室|号)?", "[地址]", out)
    return re.sub(r"(?:\[地址\])+", "[地址]", out)


def _address(match: re.Match[str]) -> str:
    text = match.group(0)
    # Common words that end in an address unit but are not addresses.
    if text in {"道", "马路", "网路", "线路", "思路", "一路", "走路", "路", "街"} or len(text) < 2:
        return text
    return "[地址]"
