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

from models.messages import render

__all__ = ["Violation", "ComplianceResult", "check_text", "KINDS"]

KINDS = ("link", "phone", "wechat", "qq", "off_platform", "absolute_term")

# One sentence per kind, in the message catalogue (Chinese, the platform's language, by default).
_REASONS = {kind: render(f"compliance.{kind}", {}, "zh") for kind in KINDS}


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

    def reason(self, lang: str = "zh") -> str:
        """Why the text is refused, one sentence per kind of violation, in ``lang``."""
        return ("；" if lang == "zh" else "; ").join(
            dict.fromkeys(render(f"compliance.{v.kind}", {}, lang) for v in self.violations))


# Look-alikes NFKC leaves alone (Cyrillic, Greek, Canadian syllabics, math symbols) → the Latin
# letter they imitate.
_HOMOGLYPHS = str.maketrans({
    "а": "a", "в": "v", "с": "c", "е": "e", "һ": "h", "і": "i", "ј": "j", "к": "k", "м": "m", "н": "h",
    "о": "o", "р": "p", "ԛ": "q", "ѕ": "s", "т": "t", "у": "y", "х": "x", "ν": "v", "ѵ": "v",
    "∨": "v", "√": "v", "ⅴ": "v", "ω": "w", "ш": "w", "ѡ": "w", "ο": "o", "α": "a", "κ": "k", "τ": "t",
    "χ": "x", "ᐯ": "v", "ᐱ": "a", "Ꮃ": "w", "Ꮩ": "v", "◯": "o", "〇": "0",
})
# Characters agents insert to break up a handle or a number; dropped in the compact view. Commas
# and full stops are kept: they separate real numbers ("尾号1234，48小时内发货").
_SEPARATORS = set(" \t\r\n\u3000\u200b\u200c\u200d\u2060\ufeff\ufe0f\u20e3-_.·•*/\\|~'\"`^+=#、()[]{}<>「」『』【】《》〈〉～—…")
_CN_DIGITS = str.maketrans({"零": "0", "〇": "0", "一": "1", "幺": "1", "壹": "1", "二": "2", "贰": "2", "两": "2",
                            "三": "3", "叁": "3", "四": "4", "肆": "4", "五": "5", "伍": "5", "六": "6",
                            "陆": "6", "七": "7", "柒": "7", "八": "8", "捌": "8", "九": "9", "玖": "9",
                            "l": "1", "i": "1", "o": "0"})
# Pinyin, homophones and slang for trigger words → the word itself (applied to the compact view).
_SLANG = [
    (r"zui|蕞|醉(?=好|便宜|低|强)", "最"), (r"jue(?=对)", "绝"), (r"ding(?=级)", "顶"), (r"弟一|di一|滴一", "第一"),
    (r"天花板级", "顶级"), (r"独一无[二2]", "独一无二"), (r"n0(?=1)", "no"),
    (r"(?:v|威|薇|微|徽|维|围|卫|危|为)(?:❤|♥|💗|💚|xin|x(?![a-z]))", "微信"), (r"卫星(?=号|[a-z0-9])", "微信"),
    (r"(?:绿|🟢)(?:色)?(?:泡泡|软件|app)", "微信"), (r"公众号", "微信"),
    (r"寇寇|抠抠|扣扣|加扣|小企鹅|企鹅|球球", "qq"),
    (r"某宝|tb(?=搜|店|上)|橙色软件", "淘宝"), (r"某东", "京东"), (r"某多多|pdd", "拼多多"),
    (r"si(?=聊)|s(?=l一下)", "私"), (r"(?<=私)l", "聊"), (r"zfb|支付宝", "支付宝"), (r"裙(?=号|领|里)|(?<=进)裙", "群"),
]
_NEGATION = re.compile(r"(不|别|勿|禁止|谨防|小心|防止|拒绝|没有)[^，。！？,.!?]{0,10}$")


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


def _drop_spaces(view: _View) -> _View:
    keep = [i for i, c in enumerate(view.text) if not c.isspace()]
    return _View("".join(view.text[i] for i in keep), [view.origin[i] for i in keep])


def _compact(view: _View) -> _View:
    keep = [i for i, c in enumerate(view.text) if c not in _SEPARATORS]
    return _View("".join(view.text[i] for i in keep), [view.origin[i] for i in keep])


def _substitute(view: _View, rules: list[tuple[str, str]]) -> _View:
    """Apply regex rewrites, keeping each new character's origin at the start of what it replaced."""
    for pattern, replacement in rules:
        chars: list[str] = []
        origin: list[int] = []
        last = 0
        for m in re.finditer(pattern, view.text):
            chars.extend(view.text[last:m.start()])
            origin.extend(view.origin[last:m.start()])
            for k, c in enumerate(replacement):
                chars.append(c)
                origin.append(view.origin[min(m.start() + k, m.end() - 1)])
            last = m.end()
        chars.extend(view.text[last:])
        origin.extend(view.origin[last:])
        view = _View("".join(chars), origin)
    return view


def _digits(view: _View) -> _View:
    # Spelled-out numbers (一三八…, l38OO…) become digits only inside a run of 7+ numeral-like
    # characters holding at least 3 real digits or Chinese numerals, so 第一次 or "hello" stay text.
    text = view.text
    out = list(text)
    for m in re.finditer(r"[0-9零〇一幺壹二贰两三叁四肆五伍六陆七柒八捌九玖lio]{7,}", text):
        run = m.group()
        if sum(not c.isascii() or c.isdigit() for c in run) >= 3:
            for i in range(m.start(), m.end()):
                out[i] = text[i].translate(_CN_DIGITS)
    return _View("".join(out), view.origin)


# -- detectors --------------------------------------------------------------------------------
_WECHAT = re.compile(
    r"(微信(?!支付|付款|扫码支付)|威信|薇信|徽信|维信|危信|为信|微心|v信|vx|wx|weixin|wechat|加v|\+v|加微|加薇|"
    r"v[:：][a-z0-9]|v我|扫.{0,8}二维码|加.{0,3}好友)"
    r"|(?<![a-z])v(?:号|[:：]?[a-z][a-z0-9_]{4,})"
)
_QQ = re.compile(r"(qq(?=[:：号群]|[0-9]{5,}|搜|上|找|联系|加)|加qq|(?<![a-z])q[:：]|加q(?![a-z]))")
_OFF_PLATFORM = re.compile(
    r"(私聊|私下|私我|私戳|加我好友|线下(?:交易|付款|转账|联系)|走(?:微信|支付宝|银行卡|v)|转账|转我|直接转|发个?红包|"
    r"py交易|加群|进群|群号|淘宝|京东|拼多多|闲鱼|小红书|站外|平台外|绕过平台|不走平台|不用走|别的平台|其他平台|"
    r"自己的app|app下单|小程序|实体店买|绿色通道)"
)
_CONTACT_ASK = re.compile(r"(留个?(?:您的)?(?:手机|电话|联系方式)|打给您|(?:店长|我的|私人)(?:手机|电话)|call我)")
_ABSOLUTE = re.compile(
    r"(最好(?!在|是|先|等|提前|别|不要|能|把|还是|选|拍|选择|反|手|用|放|不|带|及时|联系|确认|保留|当面|仔细|检查|试)|"
    r"最佳|最便宜|最低价|最优|最强|最高级|最大程度|最先进|最受欢迎|最耐|最火|最畅销|最热销|最划算|最实惠|最舒服|最保暖|"
    r"最好用|最新科技|最值|最美|最棒|"
    r"第[一1](?!次|时间|天|步|件|个|眼|单|位|批|名买家|[0-9])|no1|top1|冠军|国家级|世界级|全球首|顶级|极品|"
    r"绝对(?!不|会|没)|史上最|全网最|全网独|独一无二|万能|百分百(?:有效|正品)|100%(?:有效|正品)|首选|唯一|王牌|永久|无敌)"
)
_TLDS = r"(?:com|cn|net|org|top|xyz|cc|vip|shop|link|me|io|co|info|site|club)"
_LINK = re.compile(
    r"https?[:：]//[a-z0-9./?=&%#_:-]+"
    rf"|(?:www[.])?[a-z0-9][a-z0-9-]*(?:[.][a-z0-9-]+)*[.]{_TLDS}(?![a-z])(?:/[a-z0-9./?=&%#_-]*)?"
    r"|www[.][a-z0-9-]+|网址|官网|浏览器(?:输入|打开)|口令|[￥$][a-z0-9]{5,}[￥$]"
)
# Not after two letters: courier tracking numbers (SF1381234567890) carry a letter prefix.
_PHONE = re.compile(r"(?<![0-9])(?<![a-z][a-z])(1[3-9][0-9]{9}|0[1-9][0-9]{9,10}|[48]00[0-9]{7})(?![0-9])")
# Policy-allowed mentions: the buyer's own last four digits, a platform fan group, in-app search.
_DETECTORS: list[tuple[str, re.Pattern[str], str]] = [
    ("wechat", _WECHAT, "slang"), ("qq", _QQ, "slang"), ("off_platform", _OFF_PLATFORM, "slang"),
    ("absolute_term", _ABSOLUTE, "slang"), ("phone", _CONTACT_ASK, "slang"), ("phone", _PHONE, "numbers"),
    ("link", _LINK, "links"),
]
# Warnings and refusals name the thing they forbid ("请勿私下转账", "客服不会让您加微信").
_NEGATABLE = {"wechat", "qq", "off_platform", "absolute_term"}


def check_text(text: str) -> ComplianceResult:
    """Every violation in ``text``, each with its span in the original text and a reason."""
    canonical = _canonical(text)
    compact = _compact(canonical)
    views = {
        "slang": _substitute(compact, _SLANG),
        "numbers": _digits(compact),
        "links": _dotted(_drop_spaces(canonical)),
    }
    violations: list[Violation] = []
    for kind, pattern, view_name in _DETECTORS:
        view = views[view_name]
        for m in pattern.finditer(view.text):
            start, end = view.span(m.start(), m.end())
            if kind in _NEGATABLE and _NEGATION.search(text[max(0, start - 12):start]):
                continue
            violations.append(Violation(kind, start, end, text[start:end], _REASONS[kind]))
    return ComplianceResult(_merge(text, violations))


def _dotted(view: _View) -> _View:
    """The canonical view with 点/。/dot (and spaces around them) between a name and a TLD read as '.'."""
    chars: list[str] = []
    origin: list[int] = []
    text = view.text
    i = 0
    pattern = re.compile(rf"(?:\s*(?:点|。|dot|\(点\)|\[点\]|\(\.\)|\.)\s*)(?=(?:www|{_TLDS[3:-1]})(?![a-z]))")
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
