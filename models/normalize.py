"""Text normalisation applied identically to indexed phrasings and to buyer messages.

Each step is a switch (``Normalisation``) so the evaluation can ablate it; the default turns all
on. Indexes record ``Normalisation.signature()``: change a step and they must be rebuilt.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass
from functools import lru_cache

__all__ = ["Normalisation", "DEFAULT_NORMALISATION", "normalize_text", "understandable"]

_SPACES = re.compile(r"\s+")
# Runs of one punctuation mark ("？？？", "!!!", "。。。。") carry tone, not meaning.
_REPEATED_PUNCT = re.compile(r"([!?.,~。，！？、…～·])\1+")
# Feige/Douyin emoji codes are a bracketed name of 1-4 Chinese characters ("[捂脸]", "[玫瑰]");
# desensitised placeholders in chat logs look the same but are longer or Latin ("[订单编号]" is
# kept as it is meaningful: 4 characters, so it is listed explicitly).
_EMOJI_CODE = re.compile(r"\[(?!订单编号|数字|金额|地址|姓名|电话|邮箱|链接)[\u4e00-\u9fff]{1,4}\]")
_EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\uFE0F\u200d]+")
# Openers and politeness that say nothing about the question. Only leading ones are removed, and
# never when nothing would be left ("在吗" alone is itself a greeting).
_FILLER = re.compile(r"^(?:(?:请问一下|请问|问一下|麻烦问下|亲亲|亲爱的|亲|您好|你好|哈喽|hello|hi|在吗|在不在|客服|老板|掌柜的?)"
                     r"[\s,，.。!！?？~～呀啊呢哈]*)+")


@dataclass(frozen=True)
class Normalisation:
    width_case: bool = True  # NFKC (full-width → half-width letters, digits, punctuation) + lower case
    traditional: bool = True  # traditional → simplified Chinese (OpenCC t2s)
    punctuation: bool = True  # collapse repeated punctuation
    emoji: bool = True  # drop emoji characters and [表情] codes
    fillers: bool = True  # drop leading 请问/亲/在吗 …

    def signature(self) -> str:
        """A short string naming the switched-on steps (stored in index manifests)."""
        return "norm2:" + ",".join(k for k, v in asdict(self).items() if v)

    def __call__(self, text: str) -> str:
        return normalize_text(text, self)


DEFAULT_NORMALISATION = Normalisation()


@lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def normalize_text(text: str, options: Normalisation = DEFAULT_NORMALISATION) -> str:
    if options.width_case:
        text = unicodedata.normalize("NFKC", text).lower()
    if options.traditional:
        text = _t2s().convert(text)
    if options.emoji:
        text = _EMOJI.sub(" ", _EMOJI_CODE.sub(" ", text))
    if options.punctuation:
        text = _REPEATED_PUNCT.sub(r"\1", text)
    text = _SPACES.sub(" ", text).strip()
    if options.fillers:
        stripped = _FILLER.sub("", text).strip()
        if len(stripped) >= 2:
            text = stripped
    return text


def understandable(normalised: str) -> bool:
    """Is anything left to understand in a normalised message: at least one letter or digit?

    False for whitespace (ideographic spaces too), zero-width and other invisible characters, NUL and
    other controls, punctuation, symbols and emoji: a suggestion for such a message would be a reply
    to nothing (the nearest FAQ entry of an empty vector), so the service abstains instead.
    """
    return any(unicodedata.category(ch)[0] in "LN" for ch in normalised)
