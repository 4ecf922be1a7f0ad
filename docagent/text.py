"""How docagent splits text into words: one rule for the lexical index, retrieval, grounding and extraction.

A word is a run of Unicode letters and digits, the way SQLite FTS5's ``unicode61`` tokenizer (the lexical
index) splits text: "Straße", "naïve", "10,431.54" -> ``["straße"]``, ``["naïve"]``, ``["10", "431", "54"]``.
``_`` separates words too.
"""

from __future__ import annotations

import re

__all__ = ["WORD", "words"]

WORD = re.compile(r"[^\W_]+", re.UNICODE)
"""One word: letters and digits of any script; everything else (``_`` included) separates words."""


def words(text: str) -> list[str]:
    """The lower-cased words of ``text``, in order."""
    return WORD.findall(text.lower())
