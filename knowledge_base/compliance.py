"""Compliance guard for every outgoing text: no off-platform contact, no links, no absolute claims.

Douyin-style platforms penalise shops whose agents send phone numbers, WeChat/QQ handles, links or
off-platform trading offers, and China's advertising law forbids absolute terms (最好, 第一, 国家级 …)
in product claims. Agents (and merchants' FAQ answers) evade naive filters with spacing
(``加 V``), full-width characters (``ＶＸ``), look-alike letters (Cyrillic ``В``, ``ⅴ``), circled or
Chinese numerals (``①③⑧``, ``一三八``) and pinyin slang (威信, 扣扣, 企鹅号), so detection runs on
canonical views of the text while spans are reported in the original text.

The policy the detectors implement is documented in ``docs/compliance.md`` and measured against a
labelled set the team wrote (``eval/data/compliance_messages.jsonl``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

__all__ = ["Violation", "ComplianceResult", "check_text", "KINDS"]

KINDS = ("link", "phone", "wechat", "qq", "off_platform", "absolute_term")

_REASONS = {
    "link": "含外部链接或网址（平台禁止引导站外）",
    "phone": "含电话号码（平台禁止站外联系方式）",
    "wechat": "含微信/VX等站外联系方式",
    "qq": "含QQ等站外联系方式",
    "off_platform": "引导私下或站外交易",
    "absolute_term": "含广告法禁用的极限词",
}


@dataclass(frozen=True)
class Violation:
    kind: str
    start: int  # span in the ORIGINAL text, end exclusive
    end: int
    matched: str  # the original text of the span
    reason: str


@dataclass(frozen=True)
class ComplianceResult:
    violations: list[Violation] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return not self.violations

    @property
    def kinds(self) -> list[str]:
        return sorted({v.kind for v in self.violations}, key=KINDS.index)

    def reason(self) -> str:
        return "；".join(dict.fromkeys(v.reason for v in self.violations))


# Look-alikes NFKC leaves alone (Cyrillic, Greek, math symbols) → the Latin letter they imitate.
_HOMOGLYPHS = str.maketrans({
    "а": "a", "в": "v", "с": "c", "е": "e", "һ": "h", "і": "i", "ј": "j", "к": "k", "м": "m", "н": "h",
    "о": "o", "р": "p", "ԛ": "q", "ѕ": "s", "т": "t", "у": "y", "х": "x", "ν": "v", "ѵ": "v", "ν": "v",
    "∨": "v", "√": "v", "ⅴ": "v", "ω": "w", "ш": "w", "ѡ": "w", "ο": "o", "α": "a", "κ": "k", "τ": "t",
    "Ꮃ": "w", "Ꮩ": "v", "℃": "c", "◯": "o", "〇": "0",
})
# Characters agents insert to break up a handle or a number; dropped in the compact view.
_SEPARATORS = set(" \t\r\n\u3000\u200b\u200c\u200d\u2060\ufeff-_.·•*/\\|~'\"`^+=#、,;!?()[]{}<>「」『』【】《》〈〉～—…")
_CN_DIGITS = str.maketrans({"零": "0", "〇": "0", "一": "1", "幺": "1", "壹": "1", "二": "2", "贰": "2", "两": "2",
                            "三": "3", "叁": "3", "四": "4", "肆": "4", "五": "5", "伍": "5", "六": "6",
                            "陆": "6", "七": "7", "柒": "7", "八": "8", "捌": "8", "九": "9", "玖": "9"})


@dataclass(frozen=True)
class _View:
    text: str
    origin: list[int]  # origin[i] = index in the original text of text[i]

    def span(self, start: int, end: int) -> tuple[int, int]:
        return self.origin[start], self.origin[end - 1] + 1


def _canonical(text: str) -> _View:
    chars: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        for c in unicodedata.normalize("NFKC", ch):
            chars.append(c.lower().translate(_HOMOGLYPHS))
            origin.append(i)
    return _View("".join(chars), origin)


def _compact(view: _View) -> _View:
    keep = [i for i, c in enumerate(view.text) if c not in _SEPARATORS]
    return _View("".join(view.text[i] for i in keep), [view.origin[i] for i in keep])


def _digits(view: _View) -> _View:
    # Chinese numerals become digits only inside a run of numerals/digits of 5+ (a number being
    # spelled out), so 第一次 or 三天 stay text.
    text = view.text
    out = list(text)
    for m in re.finditer(r"[0-9零〇一幺壹二贰两三叁四肆五伍六陆七柒八捌九玖]{5,}", text):
        for i in range(m.start(), m.end()):
            out[i] = text[i].translate(_CN_DIGITS)
    return _View("".join(out), view.origin)


# -- detectors: (kind, pattern, which view) -------------------------------------------------------
_WECHAT = re.compile(
    r"(微信|威信|薇信|徽信|维信|危信|为信|微心|v信|vx|wx|weixin|wechat|加v|\+v|加微|加薇|绿泡泡|卫星号|v[:：][a-z0-9])"
    r"|(?<![a-z])v(?:号|[:：]?[a-z][a-z0-9_]{4,})"
)
_QQ = re.compile(r"(扣扣|企鹅号|球球号|qq(?=[:：号群]|[0-9]{5,}|\s*[0-9]{5,})|加q(?![a-z]))")
_OFF_PLATFORM = re.compile(
    r"(私聊|私下|私信我|私我|加我好友|线下(?:交易|付款|转账|联系)|走(?:微信|支付宝|银行卡)|转账给我|直接转账|"
    r"加群|进群|粉丝群|淘宝搜|拼多多|闲鱼|站外|绕过平台|不走平台|别的平台|其他平台)"
)
_ABSOLUTE = re.compile(
    r"(最好(?!在|是|先|等|提前|别|不要|能|把|还是|选|拍|选择)|最佳|最便宜|最低价|最优|最强|最高级|最大程度|最先进|"
    r"第[一1](?!次|时间|天|步|件|个|眼|单|位|批|名买家|[0-9])|no\.?1|top1|国家级|世界级|全球首|顶级|极品|绝对|史上最|全网最|"
    r"独一无二|万能|百分百有效|100%有效|首选|唯一|销量冠军|王牌|永久|无敌)"
)
_TLDS = r"(?:com|cn|net|org|top|xyz|cc|vip|shop|link|me|io|co|info|site|club)"
_LINK = re.compile(
    r"https?[:：]//[^\s，。]+"
    rf"|(?:www[.])?[a-z0-9][a-z0-9-]*(?:[.][a-z0-9-]+)*[.]{_TLDS}(?![a-z])(?:/[^\s，。]*)?"
    r"|www[.][a-z0-9-]+"
)
# Not after two letters: courier tracking numbers (SF1381234567890) carry a letter prefix.
_PHONE = re.compile(r"(?<![0-9])(?<![a-z][a-z])(1[3-9][0-9]{9}|0[1-9][0-9]{9,10}|[48]00[0-9]{7})(?![0-9])")


def check_text(text: str) -> ComplianceResult:
    """Every violation in ``text``, each with its span in the original text and a reason."""
    canonical = _canonical(text)
    compact = _compact(canonical)
    numbers = _digits(compact)
    violations: list[Violation] = []

    def add(kind: str, view: _View, m: re.Match) -> None:
        start, end = view.span(m.start(), m.end())
        violations.append(Violation(kind, start, end, text[start:end], _REASONS[kind]))

    for m in _WECHAT.finditer(compact.text):
        add("wechat", compact, m)
    for m in _QQ.finditer(compact.text):
        add("qq", compact, m)
    for m in _OFF_PLATFORM.finditer(compact.text):
        add("off_platform", compact, m)
    for m in _ABSOLUTE.finditer(compact.text):
        add("absolute_term", compact, m)
    for m in _PHONE.finditer(numbers.text):
        add("phone", numbers, m)
    linkable = _dotted(canonical)
    for m in _LINK.finditer(linkable.text):
        add("link", linkable, m)
    return ComplianceResult(_merge(text, violations))


def _dotted(view: _View) -> _View:
    """The canonical view with 点/。/dot (and spaces around them) between a name and a TLD read as '.'."""
    chars: list[str] = []
    origin: list[int] = []
    text = view.text
    i = 0
    pattern = re.compile(rf"(?:\s*(?:点|。|dot|\(点\)|\[点\]|\.)\s*)(?=(?:www|{_TLDS[3:-1]})(?![a-z]))")
    while i < len(text):
        m = pattern.match(text, i)
        if m and chars and re.match(r"[a-z0-9]", chars[-1]):
            chars.append(".")
            origin.append(view.origin[i])
            i = m.end()
            continue
        chars.append(text[i])
        origin.append(view.origin[i])
        i += 1
    return _View("".join(chars), origin)


def _merge(text: str, violations: list[Violation]) -> list[Violation]:
    """Merge overlapping or touching spans of one kind (``https://`` + ``x.cn`` is one link)."""
    out: list[Violation] = []
    for v in sorted(violations, key=lambda v: (v.start, v.kind)):
        for j, prev in enumerate(out):
            if prev.kind == v.kind and v.start <= prev.end + 1 and prev.start <= v.end + 1:
                start, end = min(prev.start, v.start), max(prev.end, v.end)
                out[j] = Violation(v.kind, start, end, text[start:end], v.reason)
                break
        else:
            out.append(v)
    return out
