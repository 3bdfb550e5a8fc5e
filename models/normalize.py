"""Text normalisation applied identically to indexed phrasings and to buyer messages."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["normalize_text"]

_SPACES = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """NFKC (full-width → half-width letters, digits and punctuation), lower case, single spaces.

    Both sides of a match must go through the same function; change it and the indexes must be
    rebuilt, which is why the index manifest records the encoder and this stays deliberately small.
    """
    text = unicodedata.normalize("NFKC", text)
    return _SPACES.sub(" ", text).strip().lower()
