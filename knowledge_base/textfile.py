"""Which encoding an uploaded text file (CSV, JSON, JSONL) is in, judged by what the decoded text looks like.

Merchants' files come as UTF-8 (with or without BOM) or GBK/GB18030 (what Chinese Excel writes for
"CSV"). Decoding alone cannot tell GBK from other double-byte encodings: Big5 or Shift-JIS bytes
are mostly valid GBK too, and decode to plausible-looking but wrong characters (mojibake that would
then be served to buyers). So a decoding is accepted only when the text looks like text:

- no NUL or other control characters beyond a trace (else: binary data, or UTF-16 without a BOM);
- for GBK/GB18030: no private-use characters (GBK's user-defined areas: never in a real file) and
  most non-ASCII characters among the 7,445 of GB2312 (the characters simplified-Chinese text is
  written with; Big5 read as GBK has under half there, Shift-JIS none).

Anything else is refused with the encoding it most likely is (UTF-16/32 by BOM or by the pattern of
NUL bytes, Big5 / Shift-JIS / EUC-KR by decoding the sample with each and keeping the one whose text
is made of that language's characters, Latin-1 / Windows-1252 for Western text) and the advice to save
the file as UTF-8. We judge the decoded text ourselves instead of using a detector library: a
detector guesses among dozens of encodings from statistics that are weak on a short FAQ, while the
question here is narrower (is this really UTF-8 or GBK text?) and must be answered the same way
every time.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["TextVerdict", "detect_encoding", "SAMPLE_BYTES"]

SAMPLE_BYTES = 256 * 1024  # judged on the start of the file: enough text, and cheap on 10 MB files
_CHUNK = 1 << 20
# GB2312 share needed for GBK text, by how much non-ASCII text there is (few characters: less evidence).
_GB2312_SHARE = 0.8
_GB2312_SHARE_FEW = 0.5
_FEW = 20
_BOMS = [(codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"), (codecs.BOM_UTF16_LE, "UTF-16"),
         (codecs.BOM_UTF16_BE, "UTF-16")]


@dataclass(frozen=True)
class TextVerdict:
    """``encoding`` to decode with, or why not: ``problem`` (bad_encoding / binary_file) and ``likely``,
    the encoding the bytes most likely are (a name to show the merchant), or ``None``."""

    encoding: str | None
    problem: str | None = None
    likely: str | None = None


@lru_cache(maxsize=1)
def _gb2312() -> frozenset[str]:
    chars = set()
    for hi in range(0xA1, 0xF8):
        for lo in range(0xA1, 0xFF):
            try:
                chars.add(bytes((hi, lo)).decode("gb2312"))
            except UnicodeDecodeError:
                pass
    return frozenset(chars)


def _decodes(data: bytes, encoding: str) -> bool:
    """Does the whole file decode? In 1 MiB chunks, keeping nothing but the verdict."""
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        for start in range(0, len(data), _CHUNK):
            decoder.decode(data[start:start + _CHUNK])
        decoder.decode(b"", final=True)
        return True
    except UnicodeDecodeError:
        return False


def _sample(data: bytes, encoding: str) -> str:
    return codecs.getincrementaldecoder(encoding)(errors="replace").decode(data[:SAMPLE_BYTES])


def _controls(text: str) -> int:
    return sum(1 for ch in text if (ch < " " and ch not in "\t\r\n") or "\x7f" <= ch <= "\x9f")


def _looks_binary(text: str) -> bool:
    # A stray control character in a cell is reported per cell (row, column); many are not text at all.
    return _controls(text) > max(2, len(text) // 100)


def _is_private_use(ch: str) -> bool:
    return "\ue000" <= ch <= "\uf8ff"


def _looks_like_gbk_text(text: str) -> bool:
    wide = [ch for ch in text if ch > "\x7f"]
    if any(_is_private_use(ch) for ch in wide):
        return False
    if not wide:
        return True
    common = _gb2312()
    share = sum(1 for ch in wide if ch in common) / len(wide)
    return share >= (_GB2312_SHARE if len(wide) >= _FEW else _GB2312_SHARE_FEW)


def _utf16_by_nuls(data: bytes) -> str | None:
    head = data[:4096]
    if len(head) < 4:
        return None
    nul_even, nul_odd = head[0::2].count(0), head[1::2].count(0)
    even, odd = nul_even / len(head[0::2]), nul_odd / len(head[1::2])
    # ASCII (delimiters, digits, English headers) in UTF-16 is a byte next to a NUL byte: NULs pile up on
    # one side (17% of the odd bytes of the demo FAQ in UTF-16LE, 1% of the even ones). A few of them at
    # least: one NUL in a small UTF-8 file is a control character in a cell, reported where it is.
    if nul_odd >= 4 and odd > 0.05 and even < odd / 4:
        return "UTF-16 (little-endian, without BOM)"
    if nul_even >= 4 and even > 0.05 and odd < even / 4:
        return "UTF-16 (big-endian, without BOM)"
    return None


def _cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3000" <= ch <= "\u303f" or "\uff01" <= ch <= "\uff5e"


# Other encodings a merchant's file may be in, each with the characters its text is made of.
_CANDIDATES = [
    ("cp950", "Big5 (traditional Chinese)", _cjk),
    ("cp932", "Shift-JIS (Japanese)", lambda ch: _cjk(ch) or "\u3040" <= ch <= "\u30ff"),
    ("cp949", "EUC-KR (Korean)", lambda ch: _cjk(ch) or "\uac00" <= ch <= "\ud7af"),
]


def _likely_encoding(data: bytes) -> str | None:
    best, best_share = None, 0.0
    for codec, name, native in _CANDIDATES:
        sample = data[:SAMPLE_BYTES]
        try:
            text = codecs.getincrementaldecoder(codec)().decode(sample)  # a cut last character is fine
        except UnicodeDecodeError:
            continue
        wide = [ch for ch in text if ch > "\x7f"]
        if not wide or _looks_binary(text):
            continue
        share = sum(1 for ch in wide if native(ch)) / len(wide)
        if share > best_share:
            best, best_share = name, share
    if best is not None and best_share >= 0.9:
        return best
    try:
        text = data[:SAMPLE_BYTES].decode("cp1252")
    except UnicodeDecodeError:
        return None
    wide = [ch for ch in text if ch > "\x7f"]
    if wide and len(wide) <= len(text) * 0.3 and all(ch.isprintable() for ch in wide):
        return "Latin-1 / Windows-1252 (Western European)"
    return None


def detect_encoding(data: bytes) -> TextVerdict:
    """How to decode ``data`` (``utf-8-sig`` or ``gb18030``), or why it cannot be read as text."""
    if data.startswith(codecs.BOM_UTF8):
        if _decodes(data, "utf-8-sig"):
            text = _sample(data, "utf-8-sig")
            return TextVerdict("utf-8-sig") if not _looks_binary(text) else TextVerdict(None, "binary_file")
        return TextVerdict(None, "bad_encoding", "UTF-8 with invalid bytes")
    for bom, name in _BOMS:
        if data.startswith(bom):
            return TextVerdict(None, "bad_encoding", name)
    utf16 = _utf16_by_nuls(data)
    if utf16 is not None:
        return TextVerdict(None, "bad_encoding", utf16)
    if _decodes(data, "utf-8"):
        if _looks_binary(_sample(data, "utf-8")):
            return TextVerdict(None, "binary_file")
        return TextVerdict("utf-8-sig")
    if _decodes(data, "gb18030"):
        text = _sample(data, "gb18030")
        if not _looks_binary(text) and _looks_like_gbk_text(text):
            return TextVerdict("gb18030")
    likely = _likely_encoding(data)
    if likely is not None:
        return TextVerdict(None, "bad_encoding", likely)
    return TextVerdict(None, "binary_file")
