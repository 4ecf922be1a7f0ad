"""Where an answer's words stand on a page: word boxes (text layer or OCR) that carry them."""

from __future__ import annotations

from docagent.retrieve import lexical_terms
from docagent.text import words
from docagent.types import Page

__all__ = ["answer_terms", "coverage", "match_boxes", "tokens"]


def tokens(text: str) -> list[str]:
    """Lower-cased words and numbers of ``text``, split as the lexical index splits them."""
    return words(text)


def answer_terms(text: str) -> set[str]:
    """Content words and numbers of ``text`` worth finding on a page (one-letter words are noise)."""
    terms = lexical_terms(text)
    long = {t for t in terms if len(t) > 1}
    return long or set(terms)


def match_boxes(page: Page, wanted: set[str], limit: int = 40) -> tuple[list[tuple[int, int, int, int]], set[str]]:
    """Page-image pixel boxes of the words of ``page`` that carry one of ``wanted``, and which terms matched."""
    boxes: list[tuple[int, int, int, int]] = []
    found: set[str] = set()
    for word in page.words:
        hits = {t for t in tokens(word.text) if t in wanted}
        if hits:
            found |= hits
            if len(boxes) < limit:
                boxes.append(page.to_pixels(word.box))
    return boxes, found


def coverage(terms: set[str], texts: list[str]) -> float:
    """Fraction of ``terms`` that occur in any of ``texts``."""
    if not terms:
        return 0.0
    present: set[str] = set()
    for text in texts:
        present |= set(tokens(text)) & terms
    return len(present) / len(terms)
