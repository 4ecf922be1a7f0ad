"""Tables found in a page's word boxes: rows, columns, header rows and the exact numbers their cells state.

One detector serves born-digital pages (the text layer's words) and scans (OCR words), so it reads nothing
but word boxes, and optionally the page's ruling lines (:meth:`docagent.ingest.base.Source.rules`) as a hint:

1. Words are grouped into lines, and each line into *segments*: runs of words closer together than a cell gap
   (2.5 word spaces, between half and three quarters of the text height). Prose has one segment a line; a table
   row has one per filled cell. OCR lines of one- and two-letter specks (text it could not read) are dropped.
2. Runs of nearby lines, two or more of them with two or more segments, are table candidates (pages without
   two such lines leave here, after one pass over their words). A run is cut before a sentence, a row of
   underscores, or a second header after rows of numbers. A page set in two columns is searched a column at a
   time (and whole, for tables across both).
3. Columns are the x-ranges the body lines' segments cover (the header is left out: a spanning header would
   bridge its columns); a ``$`` or ``%`` printed in a column of its own joins the number beside it.
4. Lines become rows: header lines at the top (above the first labelled line of figures), a label that wraps
   onto lines without values joins its row, and in a table ruled between every row, the rules close rows.
   A header segment over several columns (or over a group of repeating subheads) spans them.
5. A candidate is kept only when it looks like data: two or more columns, two or more body rows with
   values, short cells, labels that are no sentences. Paragraphs, bullet lists, two-column prose, ``key: value``
   forms, tables of contents, code listings, a plot's tick labels and matrices are turned down.

Ruling lines are read (when passed as a function) only once a candidate is plausible without them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from statistics import median
from typing import overload

from docagent.types import Box, Page, Table, TableCell, Word

__all__ = ["find_tables", "grid_table", "link_continuations", "parse_number", "scale_of", "states_nothing"]

# -- numbers ----------------------------------------------------------------------------------------------------

_CURRENCY_SYMBOLS = {"$": "$", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR", "₩": "KRW", "₽": "RUB"}
_CURRENCY_CODES = ("USD", "EUR", "GBP", "JPY", "CNY", "RMB", "INR", "CHF", "CAD", "AUD", "HKD", "SEK", "NOK", "DKK",
                   "KRW", "BRL", "RUB", "SGD", "MXN", "ZAR", "NZD")
_NONE_TEXTS = {"", "-", "–", "—", "−", "n/a", "na", "n.a.", "nm", "n.m.", "--", "---", "*", "nil", "一", "_"}
"""Texts that say a cell holds no value (``一`` is how OCR often reads a dash)."""
_PREFIX_UNITS = re.compile(r"^(?:US\$|A\$|C\$|HK\$|S\$|R\$|[$€£¥₹₩₽]|(?:" + "|".join(_CURRENCY_CODES) + r")\b)\s*")
_SUFFIX_UNITS = re.compile(r"\s*(?:%|[$€£¥₹₩₽]|(?:" + "|".join(_CURRENCY_CODES) + r")\b|pp|bps?|x)$", re.IGNORECASE)
_NUMBER = re.compile(r"^(?P<int>\d{1,3}(?:[, \u00a0\u202f]\d{3})+|\d+)(?P<frac>\.\d+)?$")
_FOOTNOTE = re.compile(r"^(?P<body>.*?\d\)?%?)\s*(?:\(\w\)|\*{1,3}|[†‡§¶]|\[\d{1,2}\]|[¹²³⁴⁵⁶⁷⁸⁹⁰]+)$")
_UNIT_NAMES = {"$": "$", "us$": "USD"}


def _unit_name(text: str) -> str:
    """A currency as units are named: ``€`` -> ``EUR``, ``usd`` -> ``USD``; ``$`` stays ``$`` (which dollar it is,
    the document says)."""
    text = text.strip()
    return _UNIT_NAMES.get(text.lower(), _CURRENCY_SYMBOLS.get(text, text.upper() if text.isalpha() else text))


def parse_number(text: str, scale: Decimal = Decimal(1)) -> tuple[Decimal | None, str]:
    """The exact number ``text`` states, times ``scale``, and its unit: ``"(1,234)"`` -> ``(-1234, "")``,
    ``"12.5%"`` -> ``(12.5, "%")``, ``"$ 3.2"`` -> ``(3.2, "$")``, ``"€1 234"`` -> ``(1234, "EUR")``. A footnote
    mark printed after the number (``12(a)``, ``7*``, ``3†``) is not part of it. Dashes and ``n/a`` state no number:
    ``(None, "")``; so does any text that is more than a number and its unit. A percentage is not scaled."""
    s = " ".join(text.replace("\u2212", "-").replace("\u2013", "-").replace("\u2014", "-").split())
    if s.lower() in _NONE_TEXTS:
        return None, ""
    m = _FOOTNOTE.match(s)
    if m and not re.fullmatch(r"\(\d+\)", s):
        s = m.group("body").strip()
    negative, unit = False, ""
    for _ in range(3):  # signs, parentheses and units wrap one another in any order: "$(1.5)", "(3.1)%", "-€5"
        before = s
        if s.startswith("(") and s.endswith(")"):
            negative, s = True, s[1:-1].strip()
        if s[:1] in ("-", "+"):
            negative, s = negative or s[0] == "-", s[1:].strip()
        if not unit and (m := _PREFIX_UNITS.match(s)):
            unit, s = _unit_name(m.group().strip()), s[m.end():].strip()
        if not unit and (m := _SUFFIX_UNITS.search(s)):
            unit = m.group().strip() if m.group().strip() == "%" else _unit_name(m.group())
            s = s[:m.start()].strip()
        if s == before:
            break
    m = _NUMBER.match(s)
    if not m:
        return None, ""
    digits = re.sub(r"[, \u00a0\u202f]", "", m.group("int")) + (m.group("frac") or "")
    try:
        value = Decimal(digits)
    except InvalidOperation:
        return None, ""
    if negative:
        value = -value
    if unit != "%":
        value *= scale
    return value, unit


_SCALES = (
    (r"billions?|bn\b", Decimal(10) ** 9),
    (r"millions?|mn\b|mio\b|mm\b|^\$?\s*m$", Decimal(10) ** 6),
    (r"thousands?|000s|000[’']s|'000|’000", Decimal(1000)),
)
_SCALE = re.compile(
    r"\(?\s*(?:(?:[$€£¥]|\b[A-Z]{3})\s+)?in\s+(?:(?:[A-Z]{3}|[$€£¥])\s+)?(?P<word>billions|millions|thousands)\b"
    r"(?:\s+of\s+\w+)?(?:[^)\n]{0,40}\))?"
    r"|\((?P<short>000s|000[’']s|'000|’000|\$?\s*000s?|\$?\s*millions?|\$?\s*m|\$?\s*bn|\$?\s*billions?)\)"
    r"|(?P<bare>'000|’000)",
    re.IGNORECASE,
)


def scale_of(text: str) -> tuple[Decimal, str]:
    """The scale a caption or header states, and the words that state it: ``"(in millions)"`` ->
    ``(1000000, "in millions")``, ``"in thousands of euros"``, ``"$ in billions"``, ``"(000s)"``, ``"'000"``;
    ``(1, "")`` when none does."""
    m = _SCALE.search(text)
    if not m:
        return Decimal(1), ""
    said = (m.group("word") or m.group("short") or m.group("bare")).lower().strip()
    for pattern, factor in _SCALES:
        if re.search(pattern, said):
            stated = m.group().strip().strip("()").strip()
            return factor, stated
    return Decimal(1), ""


def _states_scale(text: str) -> bool:
    """Whether ``text`` is a scale caption and little else: "(In millions, except per share data)",
    "(Dollars in thousands)"."""
    stated = scale_of(text)[1]
    if not stated:
        return False
    text = text.strip()
    rest = re.sub(r"[()\s]", "", text.replace(stated, "", 1))
    return (len(rest) <= 4 or bool(re.match(r"(?:dollars|amounts|\$|us\$|usd)?,?except", rest, re.I))
            or (text.startswith("(") and text.endswith(")")))


def states_nothing(text: str) -> bool:
    """Whether a cell's text is a dash or ``n/a``: printed to say there is no value."""
    return " ".join(text.split()).lower() in _NONE_TEXTS


def _is_number(text: str) -> bool:
    return parse_number(text)[0] is not None


def _is_year(text: str) -> bool:
    return bool(re.fullmatch(r"(?:FY\s?|fiscal\s)?(19|20)\d{2}[A-Za-z*]?|(19|20)\d{2}\s?[-/–]\s?\d{2,4}", text.strip(), re.IGNORECASE))


_WITH_SPREAD = re.compile(r"[-−+]?\d+(?:\.\d+)?%?\s?\((?:±\s?)?(?:\d+(?:\.\d+)?|[-–—−])\)")
"""A result printed with its spread: ``53.8(0.5)``, ``62.6 (2.7)``, ``57.2(−)``."""


def _is_data(text: str) -> bool:
    """A number that is data rather than a heading (a year heads a column), or a result with its spread."""
    return (_is_number(text) and not _is_year(text)) or _WITH_SPREAD.fullmatch(text) is not None


# -- geometry ---------------------------------------------------------------------------------------------------

@dataclass
class _Segment:
    """Words of one line close enough together to be one cell's text."""

    words: list[Word]
    x0: float = 0.0
    x1: float = 0.0
    y0: float = 0.0
    y1: float = 0.0

    def __post_init__(self) -> None:
        boxes = [w.box for w in self.words]
        self.x0 = min(b[0] for b in boxes)
        self.x1 = max(b[2] for b in boxes)
        self.y0 = min(b[1] for b in boxes)
        self.y1 = max(b[3] for b in boxes)

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)


@dataclass
class _Line:
    words: list[Word]
    segments: list[_Segment] = field(default_factory=list)
    y0: float = 0.0
    y1: float = 0.0

    def __post_init__(self) -> None:
        n = len(self.words) // 2  # the middle word's band: sub- and superscripts aside
        self.y0 = sorted(w.box[1] for w in self.words)[n]
        self.y1 = sorted(w.box[3] for w in self.words)[n]

    @property
    def x0(self) -> float:
        return self.segments[0].x0

    @property
    def x1(self) -> float:
        return self.segments[-1].x1


def _lines(words: Sequence[Word]) -> list[_Line]:
    """Words grouped into lines by vertical overlap (tolerant of a slightly skewed scan), top to bottom."""
    open_lines: list[list] = []  # [top, bottom, words]: a line's band, the running mean of its words' bands
    for w in sorted(words, key=lambda w: w.box[1] + w.box[3]):
        _, y0, _, y1 = w.box
        h = y1 - y0
        best, best_overlap = None, 0.5
        for line in reversed(open_lines[-3:]):  # the last line first: most words belong to it
            top, bottom = line[0], line[1]
            overlap = ((y1 if y1 < bottom else bottom) - (y0 if y0 > top else top)) / max(min(h, bottom - top), 0.1)
            if overlap > best_overlap:
                best, best_overlap = line, overlap
                if overlap > 0.9:
                    break
        if best is None:
            open_lines.append([y0, y1, [w]])
        else:
            best[2].append(w)
            n = len(best[2])  # the mean keeps a skewed line's band close to its words
            best[0] += (y0 - best[0]) / n
            best[1] += (y1 - best[1]) / n
    return sorted((_Line(sorted(ws, key=lambda w: w.box[0])) for _, _, ws in open_lines), key=lambda ln: ln.y0)


def _mark(line: _Line, h: float) -> bool:
    """Whether a line is only a footnote mark set above a line (the "1" of "FEVEROUS¹" on a line of its own):
    one short mark in small type."""
    return (len(line.words) == 1 and re.fullmatch(r"[\d*†‡§¶]{1,2}", line.words[0].text) is not None
            and line.y1 - line.y0 < 0.75 * h)


def _specks(line: _Line) -> bool:
    """Whether a line is mostly one- and two-letter fragments: OCR of a line it could not read."""
    short = sum(len(w.text) <= 2 and w.text.isalpha() for w in line.words)
    return len(line.words) >= 5 and short >= 0.6 * len(line.words)


def _segment(line: _Line, gap: float) -> None:
    """Split a line's words into segments wherever two stand more than ``gap`` apart."""
    groups: list[list[Word]] = [[line.words[0]]]
    for w in line.words[1:]:
        sign_after_number = w.text in ("$", "€", "£", "¥") and (_is_number(groups[-1][-1].text) or states_nothing(groups[-1][-1].text))
        if w.box[0] - groups[-1][-1].box[2] > gap or sign_after_number:  # "9,889 $ 8,348": the $ is the next cell's
            groups.append([w])
        else:
            groups[-1].append(w)
    line.segments = [_Segment(part) for g in groups for part in _figures_apart(g)]


_FIGURE = re.compile(r"[-−+(]?[$€£¥]?\d(?:[\d,.]*\d)?%?\)?(?:\([^\s)]*\))?|[-–—−]|n/?a", re.IGNORECASE)
"""One printed figure: ``53.8``, ``(1,234)``, ``12.5%``, ``53.8(0.5)`` (a value and its spread), a dash."""


def _figures_apart(words: list[Word]) -> list[list[Word]]:
    """A run of figures set a single space apart ("53.8(0.5) 54.0(1.4) 55.9(0.5)", as dense results tables print
    them) as one cell each; a group of thousands ("1 234") stays whole."""
    if len(words) < 2 or not all(_FIGURE.fullmatch(w.text) for w in words):
        return [words]
    if any(re.fullmatch(r"\d{3}(?:[.,]\d+)?%?\)?", b.text) and re.fullmatch(r"[-−+(]?[$€£¥]?\d{1,3}", a.text)
           for a, b in zip(words, words[1:], strict=False)):
        return [words]
    return [[w] for w in words]


# -- candidates -------------------------------------------------------------------------------------------------

_MARKER = re.compile(r"^(?:[•●◦▪■□‣∙·*–—-]|\(?\d{1,2}[.)]|\(?[a-zA-Z][.)]|\(?[ivxIVX]{1,4}[.)])$")


@dataclass
class _Row:
    lines: list[_Line]
    cells: dict[int, list[_Segment]] = field(default_factory=dict)
    spanning: list[tuple[int, int, _Segment]] = field(default_factory=list)
    grouped: bool = False
    """A line of group heads ("Micro", "Macro"), each centred over the run of columns it heads."""

    @property
    def y0(self) -> float:
        return min(ln.y0 for ln in self.lines)

    @property
    def y1(self) -> float:
        return max(ln.y1 for ln in self.lines)

    def text(self, col: int) -> str:
        return " ".join(s.text for s in self.cells.get(col, ()))


def _runs(lines: list[_Line], h: float) -> list[list[_Line]]:
    """Runs of lines, each close to the one above, holding at least two lines of two or more segments. Inside a
    run, one single-segment line may come between rows, or two when they are close and narrow (a label wrapped
    over three lines); up to four lines just above a run join it (a caption, header cells of several lines, a
    spanning header), which :func:`_build` sorts out."""
    runs: list[list[_Line]] = []
    run: list[_Line] = []
    lead: list[_Line] = []
    singles = 0
    for line in lines:
        multi = len(line.segments) >= 2
        heading = not multi and not singles and _section_heading(line, run, h)  # under a row, not under prose
        if heading and line.y0 - run[-1].y1 <= 3 * h:  # "Current liabilities:" between a statement's rows
            run.append(line)
            continue
        if run and line.y0 - run[-1].y1 > (2.2 if multi else 1.2) * h:
            if sum(len(ln.segments) >= 2 for ln in run) >= 2:
                runs.append(run)
                lead = []
            else:  # one line of cells: the column heads, set apart from the body by a blank line
                lead = run[-4:]
            run = []
        if multi:
            if not run and lead:
                keep = len(lead)  # the lead lines just above, each close to the next; cells only over the values
                while keep > 0 and (keep == len(lead) or lead[keep].y0 - lead[keep - 1].y1 < 2.2 * h) and (
                        len(lead[keep - 1].segments) < 2 or lead[keep - 1].segments[-1].x0 >= line.segments[1].x0 - 2 * h):
                    keep -= 1
                run = lead[keep:]
            run.append(line)
            singles, lead = 0, []
            continue
        if run:
            width = max(ln.x1 for ln in run) - min(ln.x0 for ln in run)
            wrapped = singles == 1 and line.y0 - run[-1].y1 < 0.6 * h and line.x1 - line.x0 < 0.5 * width
            if singles == 0 or wrapped:
                run.append(line)
                singles += 1
                continue
            if sum(len(ln.segments) >= 2 for ln in run) >= 2:
                runs.append(run)
                lead = []
            else:  # one line of cells so far: a header, kept to lead the run below
                lead = run
            run = []
        near = (2.2 if lead and len(lead[-1].segments) >= 2 else 1.2) * h  # under column heads: a blank line
        lead = [*lead, line][-4:] if lead and line.y0 - lead[-1].y1 < near else [line]
    runs.append(run)
    out = []
    for r in runs:
        last = max((i for i, ln in enumerate(r) if len(ln.segments) >= 2), default=0)
        end = last + 1  # lines after the last row of cells are prose, unless they end its label
        while end < len(r) and r[end].y0 - r[end - 1].y1 < 0.6 * h and not r[end].segments[0].text[:1].isupper() \
                and r[end].x1 < r[last].segments[1].x0:
            end += 1
        r = r[:end]
        if sum(len(ln.segments) >= 2 for ln in r) >= 2:
            out.append(r)
    return out


_HEADING = re.compile(r"^[^\W\d_][^:]{1,80}:$|^[^a-z]*[A-Z]{2}[^a-z]*$")
"""A section heading inside a statement: a short line ending in a colon ("Current liabilities:") or in capitals
("LIABILITIES AND STOCKHOLDERS' EQUITY")."""


def _section_heading(line: _Line, run: list[_Line], h: float) -> bool:
    """Whether ``line`` (of one segment) is a section heading of the table ``run`` is building: short, left of
    every value column, ending in a colon or in capitals; or a few words from a capital at the labels' left edge
    ("Liabilities and stockholders' equity")."""
    multi = [ln for ln in run if len(ln.segments) >= 2]
    if not multi or len(line.segments) != 1:
        return False
    text = line.segments[0].text
    data = [ln for ln in multi if any(_is_data(s.text) for s in ln.segments[1:])]
    values = min(ln.segments[1].x0 for ln in data) if data else min(ln.segments[-1].x0 for ln in multi)
    if len(text.split()) > (14 if text.endswith(":") else 8) or scale_of(text)[1] or line.x1 >= values - h:
        return False
    if _HEADING.match(text):
        return True  # at the labels' left edge or centred over them ("ASSETS:")
    left = min(ln.x0 for ln in data) if data else None
    return (left is not None and abs(line.x0 - left) <= 2 * h and len(text.split()) <= 6 and text[:1].isupper()
            and not text.endswith(".") and not re.search(r"\d{3}", text))  # "Assets", "Contingencies (Note 13)"


_LEADERS = re.compile(r"\s*(?:\.\s*){3,}(?:[$€£¥]\s*)?$")
"""Dot leaders ending a label (and a ``$`` after them), set close ("........") or spaced (". . . ."): no sentence's
full stop, and no part of the label's text."""


def _split(run: list[_Line]) -> list[list[_Line]]:
    """A run cut where one table ends and another begins: before a sentence (a footnote, the prose between two
    tables) or a rule typed as underscores, and before a new header (a line of column heads with no label,
    after rows of numbers)."""
    pieces: list[list[_Line]] = [[]]
    data = 0
    label_x1 = median(ln.segments[0].x1 for ln in run if len(ln.segments) >= 2)
    for line in run:
        text = " ".join(s.text for s in line.segments)
        sentence = any(len(s.words) >= 8 and s.text.endswith(".") and not _LEADERS.search(s.text) for s in line.segments)
        underscores = bool(re.fullmatch(r"[_\s]{4,}", text))
        restart = (data >= 2 and len(line.segments) >= 2 and line.x0 > label_x1
                   and not any(_is_data(s.text) for s in line.segments))
        if sentence or underscores or restart:
            pieces.append([] if sentence or underscores else [line])
            data = 0
            continue
        pieces[-1].append(line)
        data += len(line.segments) >= 2 and any(_is_data(s.text) for s in line.segments[1:])
    return [p for p in pieces if sum(len(ln.segments) >= 2 for ln in p) >= 2]


def _columns(body: list[_Line], left: float, right: float) -> list[tuple[float, float]]:
    """x-ranges the body lines' segments cover, merged where they touch."""
    spans = sorted((s.x0, s.x1) for ln in body for s in ln.segments)
    cols: list[list[float]] = []
    for x0, x1 in spans:
        if cols and x0 <= cols[-1][1] + 0.5:
            cols[-1][1] = max(cols[-1][1], x1)
        else:
            cols.append([x0, x1])
    return [(a, b) for a, b in cols if b >= left and a <= right]


def _overlaps(seg: _Segment, cols: list[tuple[float, float]]) -> list[int]:
    """The columns ``seg`` lies over (by a quarter of the narrower of the two at least)."""
    x0, x1 = seg.x0, seg.x1
    out = []
    for k, (a, b) in enumerate(cols):
        if a < x1 and x0 < b:
            if (x1 if x1 < b else b) - (x0 if x0 > a else a) > 0.25 * min(x1 - x0, b - a):
                out.append(k)
    return out


def _nearest(seg: _Segment, cols: list[tuple[float, float]]) -> int:
    mid = (seg.x0 + seg.x1) / 2
    return min(range(len(cols)), key=lambda k: 0 if cols[k][0] <= mid <= cols[k][1] else min(abs(mid - cols[k][0]), abs(mid - cols[k][1])))


def _merge_symbol_columns(body: list[_Line], cols: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """A column holding only currency signs (``$`` printed apart from its number) or ``%`` signs joins the
    column of numbers beside it."""
    texts: dict[int, list[str]] = {}
    for ln in body:
        for s in ln.segments:
            for k in _overlaps(s, cols) or [_nearest(s, cols)]:
                texts.setdefault(k, []).append(s.text)
    out = list(cols)
    for k in range(len(cols) - 1, 0, -1):
        ts = texts.get(k, [])
        if ts and sum(t in ("$", "€", "£", "¥") for t in ts) >= 0.8 * len(ts) and k + 1 < len(out):
            out[k:k + 2] = [(out[k][0], out[k + 1][1])]
        elif ts and all(t == "%" for t in ts):
            out[k - 1:k + 1] = [(out[k - 1][0], out[k][1])]
    return out


def _cut_at_rules(lines: list[_Line], rules: Sequence[Box], x0: float, x1: float) -> list[float]:
    """y positions of horizontal rules that run across most of ``x0..x1`` within the lines' extent."""
    top, bottom = lines[0].y0 - 4, lines[-1].y1 + 4
    width = x1 - x0
    return sorted({round((r[1] + r[3]) / 2, 1) for r in rules
                   if r[3] - r[1] < 3 and r[2] - r[0] > 0.3 * width and top <= r[1] <= bottom
                   and min(r[2], x1) - max(r[0], x0) > 0.3 * width})


def _full_rules(run: list[_Line], rules: Sequence[Box], left: float, right: float) -> list[float]:
    """y positions of horizontal rules across the whole of ``left..right`` (a table's top, middle and bottom rules,
    as LaTeX's booktabs draws them) within the lines' extent."""
    top, bottom, width = run[0].y0 - 4, run[-1].y1 + 4, right - left
    return sorted({round((r[1] + r[3]) / 2, 1) for r in rules
                   if r[3] - r[1] < 3 and top <= r[1] <= bottom and min(r[2], right) - max(r[0], left) >= 0.9 * width})


_CAPTION = re.compile(r"(?i)^(?:table|tab\.|exhibit)\s*[0-9ivxlc]+\b")
"""A table's caption: "Table 3:", "TABLE I", "Exhibit 2"."""


def _middle_rule(run: list[_Line], full: list[float]) -> int | None:
    """In a table of words ruled across its whole width, the first line under the first such rule below its first
    line of cells (the middle rule): no figures tell the heads from the body there. None without one."""
    first = next(i for i, ln in enumerate(run) if len(ln.segments) >= 2)
    mid = next((y for y in full if y > run[first].y1 - 1 and sum(len(ln.segments) >= 2 for ln in run if ln.y0 > y) >= 2),
               None)
    return None if mid is None else next(i for i, ln in enumerate(run) if ln.y0 > mid)


def _top_rule(run: list[_Line], first_data: int, full: list[float]) -> tuple[list[_Line], int]:
    """The lines above the topmost rule across the whole table over its heads (the top rule), when they are its
    caption ("TABLE I" / "SUMMARY OF RAG METHODS": lines of one segment, the first naming the table), not heads:
    ``run`` and ``first_data`` without them."""
    top = next((y for y in full if y < run[first_data].y0 and any(ln.y0 > y for ln in run[:first_data])), None)
    if top is None:
        return run, first_data
    above = [ln for ln in run[:first_data] if ln.y1 <= top + 1]
    if not above or any(len(ln.segments) > 1 for ln in above) or not _CAPTION.match(above[0].segments[0].text):
        return run, first_data  # heads over a rule under them ("Three Months Ended" / "Nine Months Ended")
    return run[len(above):], first_data - len(above)


def _build(run: list[_Line], h: float, rules: Sequence[Box]) -> tuple[list[tuple[float, float]], list[_Row], int] | None:
    """Columns, rows and the number of header rows of a run of lines, or None when it is no table."""
    most = max((len(ln.segments) for ln in run if any(_is_data(s.text) for s in ln.segments[1:])), default=0)
    if most:  # a line of more cells than any row of numbers: OCR's garbled prose, words far apart
        run = [ln for ln in run if len(ln.segments) <= most + 1]
    multi = [ln for ln in run if len(ln.segments) >= 2]
    if len(multi) < 2:
        return None
    width = max(ln.x1 for ln in multi) - min(ln.x0 for ln in multi)
    start = next(i for i, ln in enumerate(run) if len(ln.segments) >= 2)
    label_end = median(ln.segments[1].x0 for ln in multi)
    for i, ln in enumerate(run):
        if i > start and any(len(s.words) >= 6 and s.x1 - s.x0 > 0.4 * width and s.x0 < label_end < s.x1
                             for s in ln.segments):
            run = run[:i]  # a sentence across the columns: the prose after the table
            break
    while len(run[-1].segments) < 2 and (run[-1].segments[0].text[:1].isupper() or run[-1].x1 - run[-1].x0 > 0.5 * width):
        run = run[:-1]  # prose left above the cut; a lower-case line ending the last label stays
    multi = [ln for ln in run if len(ln.segments) >= 2]
    if len(multi) < 2:
        return None
    first_multi = next(i for i, ln in enumerate(run) if len(ln.segments) >= 2)
    label_x0 = min(ln.x0 for ln in multi)
    value_x0 = min(ln.segments[1].x0 for ln in multi)

    def in_label(ln: _Line) -> bool:  # starts in the label column: at its left edge, or centred in it
        return ln.x0 - label_x0 < 12 or ln.segments[0].x1 < value_x0 - 2

    labelled = any(in_label(ln) for ln in multi[1:])
    first_data = next((i for i, ln in enumerate(run) if len(ln.segments) >= 2 and (in_label(ln) or not labelled) and (
        any(_is_data(s.text) for s in ln.segments[1:])  # a labelled line of figures; or one of numbers below a header
        or (i > first_multi and all(_is_number(s.text) for s in ln.segments[1:])))), None)
    left, right = min(ln.x0 for ln in multi), max(ln.x1 for ln in multi)
    full = _full_rules(run, rules, left, right) if rules else []
    if first_data is None:  # a table of words: its first line heads it, or all above its middle rule
        first_data = _middle_rule(run, full) or first_multi + 1
        if first_data >= len(run):
            return None
    body = [ln for ln in run[first_data:] if len(ln.segments) >= 2]
    if len(body) < 2:
        return None
    cols = _merge_symbol_columns(body, _columns(body, left, right))
    if len(cols) < 2:
        return None
    captions = [i for i, ln in enumerate(run[:first_data]) if len(ln.segments) == 1 and _states_scale(ln.segments[0].text)]
    if captions:  # "(In millions, except per share data)" between the title and the column heads: the caption's
        run = [ln for i, ln in enumerate(run) if i not in captions]
        first_data -= len(captions)
    while first_data and (not any(_overlaps(s, cols[1:]) or s.x0 > cols[0][1] for s in run[0].segments)
                          or (len(run[0].segments) == 1 and (run[0].x0 <= cols[0][1] or run[0].x1 <= cols[1][0] + 2
                                                             or (run[0].x0 < cols[1][0] - h
                                                                 and _aligned(run[0].segments[0], cols) is None)))):
        run, first_data = run[1:], first_data - 1  # a caption or prose above the table, not a header line
    while first_data > 1 and len(run[first_data - 1].segments) == 1 and run[first_data - 1].x1 < cols[1][0] \
            and _HEADING.match(run[first_data - 1].segments[0].text) \
            and any(s.x0 > cols[0][1] for ln in run[:first_data - 1] for s in ln.segments):
        first_data -= 1  # section headings under the column heads ("ASSETS", "Current assets:") are body rows
    while first_data > 1:  # the first lines of a label whose values stand on its last line are body, not header
        above, below = run[first_data - 1], run[first_data]
        if not (len(above.segments) == 1 and above.x0 - cols[0][0] < 12 and above.x1 < cols[1][0]
                and below.y0 - above.y1 < 0.6 * h and not scale_of(above.segments[0].text)[1]):
            break
        first_data -= 1
    if full:
        run, first_data = _top_rule(run, first_data, full)
    hlines = _cut_at_rules(run, rules, left, right) if rules else []
    body_top, valued = run[first_data].y0, sum(len(ln.segments) >= 2 for ln in run[first_data:])
    if sum(body_top < y < run[-1].y1 for y in hlines) < 0.8 * (valued - 1):
        hlines = []  # rules above and below the header, not between the rows: rows are told apart by their text

    rows: list[_Row] = []
    header_rows = 0
    pending: list[_Line] = []  # header lines not yet in a row (multi-line header cells)

    def place(row: _Row, line: _Line, header: bool) -> None:
        spanning = spans.get(id(line), set()) if header else set()
        for s in line.segments:
            ks = _overlaps(s, cols)
            if header and len(ks) == 2 and ks[0] == 0:
                ks = ks[1:]  # a right-aligned column head reaching over the longest labels
            if id(s) in spanning:
                row.spanning.append((min(ks) if ks else -1, max(ks) if ks else -1, s))
            else:
                flush = _aligned(s, cols) if header and len(ks) >= 2 else None
                k = flush if flush is not None else ks[0] if len(ks) == 1 else _nearest(s, cols)
                row.cells.setdefault(k, []).append(s)

    def flush_header() -> None:
        nonlocal header_rows
        if pending:
            row = _Row(list(pending), grouped=any(id(ln) in grouped for ln in pending))
            for ln in pending:
                place(row, ln, True)
            rows.append(row)
            header_rows += 1
            pending.clear()

    heads = run[:first_data]
    for line in heads:
        _split_at_columns(line, cols, 0.3 * h)
    spans = {id(ln): _spanning(ln, heads[i + 1] if i + 1 < len(heads) else None, cols, rules)
             for i, ln in enumerate(heads)}
    grouped = {id(ln) for i, ln in enumerate(heads)  # group heads no rule or repeat told
               if i + 1 < len(heads) and not spans[id(ln)] and _group_heads(ln, heads[i + 1], cols)}
    for line in heads:
        if id(line) in grouped:
            spans[id(line)] = {id(seg) for seg in line.segments}
        if spans[id(line)]:
            flush_header()
            pending.append(line)
            flush_header()
        else:
            if pending and line.y0 - pending[-1].y1 > 0.6 * h:
                flush_header()
            pending.append(line)
    flush_header()

    def ruled_apart(a: _Line, b: _Line) -> bool:
        return any(a.y1 - 2 <= y <= b.y0 + 2 for y in hlines)

    body_lines = run[first_data:]
    for i, line in enumerate(body_lines):
        label_only = all(_overlaps(s, cols) in ([0], []) and s.x1 <= cols[1][0] for s in line.segments)
        prev = rows[-1] if len(rows) > header_rows else None
        gap = line.y0 - prev.y1 if prev else 99.0
        clash = prev and any(_is_number(prev.text(k)) for s in line.segments for k in _overlaps(s, cols) if k > 0)
        if hlines and prev and not ruled_apart(prev.lines[-1], line) and not clash:
            for s in line.segments:  # inside one ruled band: one row
                ks = _overlaps(s, cols)
                prev.cells.setdefault(ks[0] if len(ks) == 1 else _nearest(s, cols), []).append(s)
            prev.lines.append(line)
            continue
        wrapped_caps = (prev is not None and len(prev.cells) == 1 and prev.text(0).isupper() and gap < 0.6 * h
                        and not prev.text(0).endswith(":") and line.segments[0].text.isupper())
        if label_only and len(line.segments) == 1 and _HEADING.match(line.segments[0].text) and prev is not None \
                and not wrapped_caps:
            row = _Row([line], {0: [line.segments[0]]})  # a section heading, wherever it is set over the labels
            rows.append(row)
            continue
        if label_only and not hlines:
            text = line.segments[0].text
            nxt = body_lines[i + 1] if i + 1 < len(body_lines) else None
            nxt_label = next((s.text for s in nxt.segments if _overlaps(s, cols) == [0]), "") if nxt else ""
            lower = not text[:1].isupper()
            if prev and gap < 0.6 * h and (lower or prev.text(0).rstrip().endswith((",", "and", "of", "&", "-", "for", "in"))):
                prev.cells.setdefault(0, []).append(line.segments[0])
                prev.lines.append(line)
                continue
            if nxt and len(nxt.segments) >= 2 and nxt.y0 - line.y1 < 0.6 * h and (not nxt_label or nxt_label[:1].islower()):
                row = _Row([line])
                place(row, line, False)
                rows.append(row)
                row.cells[0] = [line.segments[0]]
                continue
            caps = text.isupper() and prev is not None and prev.text(0).isupper() and not prev.text(0).endswith(":")
            if prev and prev.text(0) and len(prev.cells) == 1 and prev.lines and gap < 0.6 * h \
                    and (caps or (not _HEADING.match(prev.text(0)) and not _HEADING.match(text))):
                prev.cells[0].append(line.segments[0])  # a label row that wraps, values below
                prev.lines.append(line)
                continue
        if prev and len(prev.cells) == 1 and 0 in prev.cells and len(prev.lines) >= 1 and not hlines:
            nlabel = next((s.text for s in line.segments if _overlaps(s, cols) == [0]), "")
            carried = nlabel[:1].islower() or (nlabel[:1].isdigit() and not prev.text(0).rstrip().endswith(":"))
            if prev.y1 > line.y0 - 0.6 * h and (not nlabel or carried):  # "... 4,216 issued (4,137 as of December" /
                place(prev, line, False)  # "31, 2022)  35,653": the label's last line carries the values
                prev.lines.append(line)
                continue
        row = _Row([line])
        place(row, line, False)
        rows.append(row)
    return cols, rows, header_rows


def _aligned(seg: _Segment, cols: list[tuple[float, float]]) -> int | None:
    """The value column whose right (or left) edge ``seg`` shares: a column head wider than its column, set flush
    with it, rather than a head centred over several."""
    return next((k for k in range(1, len(cols)) if abs(seg.x1 - cols[k][1]) < 2.5 or abs(seg.x0 - cols[k][0]) < 2.5), None)


def _split_at_columns(line: _Line, cols: list[tuple[float, float]], gap: float) -> None:
    """Split a header line's segments where a gap wider than ``gap`` and than the line's word spaces falls
    between two columns: the heads of neighbouring columns, printed close together."""
    spaces = sorted(b.box[0] - a.box[2] for s in line.segments for a, b in zip(s.words, s.words[1:], strict=False))
    if not spaces:
        return
    least, gap = gap, max(gap, 1.8 * spaces[len(spaces) // 2])
    out: list[_Segment] = []
    for seg in line.segments:
        words = [seg.words[0]]
        for w in seg.words[1:]:
            a, b = words[-1].box[2], w.box[0]
            inside = [next((k for k, (c0, c1) in enumerate(cols) if c0 - 1 <= x.box[0] and x.box[2] <= c1 + 1), None)
                      for x in (words[-1], w)]
            own = None not in inside and inside[0] != inside[1] and b - a > least  # "50-shot 100-shot", each in its column
            if own or (b - a > gap and any(cols[k][1] - 1 <= b and a <= cols[k + 1][0] + 1 for k in range(len(cols) - 1))):
                out.append(_Segment(words))
                words = [w]
            else:
                words.append(w)
        out.append(_Segment(words))
    line.segments = out


def _spanning(line: _Line, below: _Line | None, cols: list[tuple[float, float]], rules: Sequence[Box]) -> set[int]:
    """The segments (by id) of a header line that head several columns each ("2019" over "Q1 Q2"): one that
    covers two columns or stands between them (unless it is set flush with one column), one with a rule under
    it reaching over two columns, or every segment of a line with one segment for each group of the line under
    it, which repeats its texts group by group (the quarters of each year)."""
    values = [s for s in line.segments if s.x0 > cols[0][1] or _overlaps(s, cols[1:])]
    out = {id(s) for s in values
           if (len(_overlaps(s, cols[1:])) >= 2 or not _overlaps(s, cols)) and _aligned(s, cols) is None}
    for s in values:
        for r in rules:
            if (r[3] - r[1] < 3 and s.y1 - 1 <= r[1] <= s.y1 + 6 and r[0] <= s.x1 and r[2] >= s.x0
                    and r[0] > cols[0][1] - 2):
                if sum(r[0] - 2 <= a and b <= r[2] + 2 for a, b in cols) >= 2:
                    out.add(id(s))
    if below is not None and len(values) >= 2:
        under = [t.text for t in below.segments if t.x0 > cols[0][1]]
        period = len(under) // len(values)
        repeats = [t == under[i % period] for i, t in enumerate(under)][period:] if period >= 2 else []
        if repeats and len(under) == period * len(values) and sum(repeats) >= 0.6 * len(repeats):
            out |= {id(s) for s in values}  # most repeat: OCR may misread one ("ε3" for "Q3")
    return out


def _group_heads(line: _Line, below: _Line, cols: list[tuple[float, float]]) -> bool:
    """Whether ``line`` holds only heads of groups of columns: two or more, nothing over the labels, each over one
    value column at most, and the line below heading at least twice as many columns ("Micro" and "Macro" over
    "Prec. Rec. F1." twice): each heads the run of columns it is centred over, not only the one under it. Not
    the first lines of heads wrapped over several lines: one that ends as a phrase goes on ("Number of"), or one
    set flush with the head under it or centred on it ("North" over "America")."""
    if len(cols) < 3 or len(line.segments) < 2 or any(seg.x0 <= cols[0][1] for seg in line.segments):
        return False
    under = [seg for seg in below.segments if seg.x0 > cols[0][1]]
    if len(under) < 2 * len(line.segments) or any(len(_overlaps(seg, cols[1:])) > 1 for seg in line.segments):
        return False
    for seg in line.segments:  # a head's first line over its next ("North" / "America") is no group
        if seg.text.rstrip().endswith((",", "-", " and", " of", "&", " in", " per")):
            return False
        for t in under:
            if t.x0 < seg.x1 and seg.x0 < t.x1 and min(abs(t.x0 - seg.x0), abs(t.x1 - seg.x1),
                                                       abs(t.x0 + t.x1 - seg.x0 - seg.x1) / 2) < 0.35 * (t.y1 - t.y0):
                return False  # set flush with the head under it, or centred on it: that head's first line
    return True


def _centred_groups(segs: list[_Segment], cols: list[tuple[float, float]]) -> list[tuple[int, int]]:
    """For group heads left to right, the runs of value columns (first, last) they head: consecutive runs over
    every value column, each head as near its run's centre as can be."""
    n, m = len(cols), len(segs)
    mids = [(seg.x0 + seg.x1) / 2 for seg in segs]
    best: tuple[float, list[tuple[int, int]]] | None = None

    def walk(i: int, start: int, runs: list[tuple[int, int]], cost: float) -> None:
        nonlocal best
        if best is not None and cost >= best[0]:
            return
        if i == m:
            best = (cost, list(runs))
            return
        for end in range(start, n - (m - i - 1)):
            if i == m - 1 and end != n - 1:
                continue  # the last run ends at the last column
            off = abs((cols[start][0] + cols[end][1]) / 2 - mids[i])
            walk(i + 1, end + 1, [*runs, (start, end)], cost + off)

    if m > 6 or n > 24:
        return []
    walk(0, 1, [], 0.0)
    return best[1] if best else []


def _plausible(cols: list[tuple[float, float]], rows: list[_Row], header_rows: int, *, ruled: bool) -> bool:
    """Whether the grid is data rather than prose, a list or a form."""
    body = rows[header_rows:]
    valued = [r for r in body if any(k > 0 for k in r.cells)]
    if len(cols) < 2 or len(valued) < 2:
        return False
    values = [r.text(k) for r in body for k in range(1, len(cols)) if r.text(k)]
    labels = [r.text(0) for r in body if r.text(0)]
    numeric = sum(_is_number(v) for v in values) / max(len(values), 1)
    words = [len(t.split()) for t in values]
    if median(words) > 4 and numeric < 0.5:
        return False  # two-column prose, a definition list
    if labels and median(len(t.split()) for t in labels) > 9 and numeric < 0.5:
        return False  # sentences, not labels
    if labels and sum(len(t.split()) >= 6 for t in labels) >= 0.4 * len(labels) and numeric < 0.8:
        return False  # lines of prose beside a column of figures (a chart's labels)
    if labels and sum(len(re.findall(r"\d[\d,.]*", t)) >= 3 for t in labels) >= 0.3 * len(labels):
        return False  # columns of figures run together: their cells are not told apart
    if sum(not r.text(0) for r in valued) >= 0.5 * len(valued):
        return False  # figures with nothing naming their rows: a plot's tick labels, a matrix
    heads = [r.text(k) for r in rows[:header_rows] for k in range(len(cols)) if r.text(k)]
    if labels and all(_is_number(t) for t in labels) and all(_is_data(t) for t in heads):
        return False  # numbers only, headed by nothing: a matrix, the ticks of a plot's axes
    cells = values + labels
    if sum(bool(re.search(r"[\\{}]|^[%#]|[;=]$", t)) for t in cells) >= 0.2 * len(cells):
        return False  # source code set beside something (a plot and the code that drew it)
    if labels and sum(t[:1].islower() for t in labels) >= 0.4 * len(labels):
        return False  # the lines of a paragraph set beside figures
    if header_rows > 6 or any(len(r.text(k).split()) > 15 for r in rows[:header_rows] for k in range(len(cols))):
        return False  # a paragraph above figures, not a header
    if labels and sum(bool(_MARKER.match(t)) for t in labels) >= 0.5 * len(labels):
        return False  # a bullet or numbered list
    if labels and sum(t.rstrip().endswith(":") for t in labels) >= 0.5 * len(labels):
        return False  # a key: value form
    filled = len(values) / max(1, len(body) * (len(cols) - 1))
    if filled < 0.35:
        return False
    full = sum(sum(bool(r.text(k)) for r in valued) >= 0.5 * len(valued) for k in range(1, len(cols)))
    if full < 0.6 * (len(cols) - 1) and numeric < 0.8:
        return False  # columns made by a few stray words, not by rows of values
    if numeric < 0.5 and sum(len(v) <= 2 for v in values) > 0.3 * len(values):
        return False  # specks: OCR of text it could not read
    if len(cols) == 2 and not ruled:
        heads = [r.text(1) for r in rows[:header_rows]]
        if numeric < 0.6 or (not (header_rows and any(heads)) and len(valued) < 4):
            return False
        if not header_rows and _page_numbers(values):
            return False  # a table of contents
    return True


def _page_numbers(values: list[str]) -> bool:
    nums = [n for n in (parse_number(v)[0] for v in values) if n is not None]
    return len(nums) == len(values) and all(n == int(n) and 0 < n < 2000 for n in nums) and nums == sorted(nums)


_LEAD_IN_SCALE = re.compile(r"\((?:[^()]*\b)?in (?:millions|thousands|billions)\b[^()]*\)\s*[:.]?$", re.I)


def _lead_in(lines: list[_Line], top: float, h: float, left: float, right: float) -> str:
    """The scale a sentence just above a table ends with ("... is as follows (in millions):"), when its title and
    heads state none; empty when it states none."""
    above = [ln for ln in lines if ln.y1 <= top + 1 and ln.x1 > left - 5 and ln.x0 < right + 5 and top - ln.y1 < 3 * h]
    if not above:
        return ""
    text = " ".join(s.text for s in above[-1].segments)
    m = _LEAD_IN_SCALE.search(text)
    return m.group() if m else ""


def _title(lines: list[_Line], top: float, h: float, left: float, right: float) -> str:
    """The caption printed just above a table: a short line that is no sentence's end, with the line above it
    too when it states only the scale ("(in millions)" under its title)."""
    above = [ln for ln in lines if ln.y1 <= top + 1 and ln.x1 > left - 5 and ln.x0 < right + 5]
    parts: list[str] = []
    y = top
    for ln in reversed(above):
        text = " ".join(s.text for s in ln.segments)
        n = len(text.split())
        caption = bool(re.match(r"(?:table|tab\.|exhibit|figure)\s*[\dA-Z]", text, re.IGNORECASE))
        if y - ln.y1 > 2.5 * h or (n > 14 and not _states_scale(text)) or text[:1].islower() or (text.endswith(".") and not caption):
            break
        parts.insert(0, text)
        y = ln.y0
        if not (_states_scale(text) or re.fullmatch(r"\(\w+\)", text)) or len(parts) == 3:
            break  # the title above a scale caption or "(unaudited)" is taken too
    return " ".join(parts)


def find_tables(page: Page, rules: Sequence[Box] | Callable[[], Sequence[Box]] = ()) -> list[Table]:
    """The tables on ``page``, top to bottom, from its word boxes; ``rules`` (thin lines and rectangle edges,
    :meth:`~docagent.ingest.base.Source.rules`) close rows where a table is ruled and tell spanning headers. Pass
    them as a function (``lambda: source.rules(i)``) to have them read only for pages with table candidates:
    reading a page's drawings costs more than detection on most pages. Empty for a page without two lines whose
    words stand apart in aligned cells (most pages, which leave after a single pass over the words).
    On a page set in two columns, each column is searched on its own, and the whole page for tables that run
    across both."""
    words = [w for w in page.words if w.text.strip() and w.box[3] > w.box[1]]
    if len(words) < 6:
        return []
    h = median(w.box[3] - w.box[1] for w in words)
    words = _without_margin_notes(words, h)
    lines = _segmented(words, h)
    if sum(len(ln.segments) >= 2 for ln in lines) < 2:
        return []
    if callable(rules):
        rules = _Lazy(rules)
    tables = _detect(page, lines, h, rules)
    gutter = _gutter(lines, page.width)
    if gutter is not None:
        across = [t for t in tables if t.box[0] < gutter < t.box[2]]
        for side in ([w for w in words if w.box[2] <= gutter], [w for w in words if w.box[0] >= gutter]):
            for t in _detect(page, _segmented(side, h), h, rules):
                if not any(_intersects(t.box, a.box) for a in across):
                    across.append(t)
        tables = across
    tables.sort(key=lambda t: (round(t.box[1] / h), t.box[0]))
    for i, t in enumerate(tables):
        t.index = i
    return tables


def _upright(word: Word, h: float) -> bool:
    """Whether ``word`` is set running up or down the page: much taller than wide."""
    x0, y0, x1, y1 = word.box
    wide, tall = x1 - x0, y1 - y0
    return wide > 0 and ((len(word.text) >= 2 and tall > 1.5 * h and tall > 3 * wide) or (len(word.text) >= 3 and tall > 2 * wide))


def _without_margin_notes(words: list[Word], h: float) -> list[Word]:
    """``words`` without a note set up the page (a journal's "Downloaded from ... by guest on 23 May 2024" up the
    margin, a group label rotated beside the rows it groups): upright words, and the short ones of the same
    upright line, with no level word above or below them within three lines. A table's rotated column heads,
    with their column's figures under them, stay."""
    seeds = [w for w in words if _upright(w, h)]
    if not seeds:
        return words
    chains: list[list[Word]] = []
    stacked: set[int] = set()
    for seed in seeds:
        if id(seed) in stacked:
            continue
        chain = [seed]
        stacked.add(id(seed))
        grown = True
        while grown:  # the words set on the same upright line, each touching the next
            grown = False
            for w in words:
                if id(w) not in stacked and any(abs(w.box[0] - c.box[0]) < 1 and abs(w.box[2] - c.box[2]) < 1
                                                and min(abs(w.box[1] - c.box[3]), abs(c.box[1] - w.box[3])) < 0.5 * h
                                                for c in chain):
                    stacked.add(id(w))
                    chain.append(w)
                    grown = True
        chains.append(chain)
    level = [w for w in words if id(w) not in stacked]

    def headed(chain: list[Word]) -> bool:  # a level word under it or over it, in its x-range, within three lines
        x0, x1 = min(w.box[0] for w in chain), max(w.box[2] for w in chain)
        y0, y1 = min(w.box[1] for w in chain), max(w.box[3] for w in chain)
        return any(v.box[0] < x1 and x0 < v.box[2] and (0 <= v.box[1] - y1 < 3 * h or 0 <= y0 - v.box[3] < 3 * h)
                   for v in level)

    notes = {id(w) for chain in chains if not headed(chain) for w in chain}
    return [w for w in words if id(w) not in notes]


class _Lazy(Sequence[Box]):
    """Rules read on first use."""

    def __init__(self, read: Callable[[], Sequence[Box]]) -> None:
        self._read = read
        self._rules: list[Box] | None = None

    def _all(self) -> list[Box]:
        if self._rules is None:
            self._rules = list(self._read())
        return self._rules

    @overload
    def __getitem__(self, i: int) -> Box: ...

    @overload
    def __getitem__(self, i: slice) -> list[Box]: ...

    def __getitem__(self, i: int | slice) -> Box | list[Box]:
        return self._all()[i]

    def __len__(self) -> int:
        return len(self._all())


def _segmented(words: list[Word], h: float) -> list[_Line]:
    """Lines of ``words`` with their segments: a cell gap is clearly wider than the word spaces."""
    lines = [ln for ln in _lines(words) if not _specks(ln) and not _mark(ln, h)]
    spaces = [b.box[0] - a.box[2] for ln in lines for a, b in zip(ln.words, ln.words[1:], strict=False)
              if 0 <= b.box[0] - a.box[2] < h]
    space = median(spaces) if spaces else 0.25 * h
    for line in lines:
        lh = max(h, line.y1 - line.y0)  # a title in large type has wide word spaces
        _segment(line, min(0.75 * lh, max(0.5 * lh, 2.5 * space * lh / h)))
    return lines


def _gutter(lines: list[_Line], width: float) -> float | None:
    """The x of the blank strip between two columns of text, when the page is set in two: no segment crosses
    it, and each side holds lines of running text."""
    prose = [s for ln in lines for s in ln.segments if len(s.words) >= 5]
    if len(prose) < 10:
        return None
    steps = 31  # candidates from 35% to 65% of the width, 1% apart
    crossing = [0] * steps
    for ln in lines:
        hit = [False] * steps
        for s in ln.segments:
            lo = max(0, int((s.x0 / width - 0.35) * 100) + 1)
            hi = min(steps - 1, int((s.x1 / width - 0.35) * 100 - 1e-9))
            for k in range(lo, hi + 1):
                hit[k] = True
        for k in range(steps):
            crossing[k] += hit[k]
    k = min(range(steps), key=crossing.__getitem__)
    x = width * (0.35 + 0.01 * k)
    if crossing[k] > 0.05 * len(lines):
        return None
    left = sum(s.x1 <= x for s in prose)
    return x if left >= 5 and len(prose) - left >= 5 else None


def _two_columns(prose: list[_Segment], x: float) -> bool:
    """Whether the page's running text (segments of five words or more) is set in two columns either side of
    ``x``: five lines or more on each side, few across it."""
    left = sum(s.x1 <= x for s in prose)
    right = sum(s.x0 >= x for s in prose)
    return left >= 5 and right >= 5 and len(prose) - left - right <= 0.2 * len(prose)


def _side_by_side(run: list[_Line], h: float, width: float, prose: list[_Segment]) -> list[list[_Line]]:
    """``run`` as two runs where it holds two tables set side by side in the two columns of a page ``width``
    wide: a blank strip down every line at the page's middle, a column of figures left of it and a column of row
    labels right of it (words, each its own, not a column of categories that repeat), each side a table of two
    columns or more with figures; else ``[run]``."""
    multi = [ln for ln in run if len(ln.segments) >= 2]
    if len(multi) < 4:
        return [run]
    spans = _columns(run, -math.inf, math.inf)  # the blank strips down every line lie between these
    for (_, a), (b, _) in zip(spans, spans[1:], strict=False):
        if b - a < h:
            continue
        left = [[s for s in ln.segments if s.x1 <= a] for ln in multi]
        right = [[s for s in ln.segments if s.x0 >= b] for ln in multi]
        rows_l, rows_r = [r for r in left if len(r) >= 2], [r for r in right if len(r) >= 2]
        if len(rows_l) < 2 or len(rows_r) < 2:
            continue
        figures_left = sum(_FIGURE.fullmatch(r[-1].text) is not None for r in rows_l) >= 0.6 * len(rows_l)
        words_right = sum(_FIGURE.fullmatch(r[0].text) is None and re.search(r"[^\W\d_]{2}", r[0].text) is not None
                          and not _PREFIX_UNITS.fullmatch(r[0].text + " ") for r in rows_r)
        figures_right = sum(any(_FIGURE.fullmatch(s.text) for s in r[1:]) for r in rows_r)
        labels_right = [r[0].text.lower() for r in rows_r]
        unique = len(set(labels_right)) >= 0.9 * len(labels_right)  # a row label each, not a column of categories
        x = (a + b) / 2
        if figures_left and words_right >= 0.8 * len(rows_r) and figures_right >= 0.6 * len(rows_r) and unique \
                and abs(x - width / 2) < 0.06 * width and _two_columns(prose, x):  # at a two-column page's gutter
            sides: list[list[_Line]] = [[], []]
            for ln in run:
                for side, segs in zip(sides, ([g for g in ln.segments if g.x1 <= x], [g for g in ln.segments if g.x0 >= x]),
                                      strict=True):
                    if segs:
                        side.append(_Line([w for g in segs for w in g.words], segs))
            return [piece for side in sides for piece in _side_by_side(side, h, width, prose)]
    return [run]


def _intersects(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _detect(page: Page, lines: list[_Line], h: float, rules: Sequence[Box]) -> list[Table]:
    tables: list[Table] = []
    used: list[Box] = []  # where the tables found so far stand: their lines make no other table
    prose = [s for ln in lines for s in ln.segments if len(s.words) >= 5]
    for run in (part for whole in _runs(lines, h) for piece in _split(whole)
                for part in _side_by_side(piece, h, page.width, prose)):
        x0, x1 = min(ln.x0 for ln in run), max(ln.x1 for ln in run)
        if any(_intersects((x0, run[0].y0, x1, run[0].y1), box) for box in used):
            continue
        built = _build(run, h, ())  # a first look without the rules, which may cost more to read than this
        if built is None or not _plausible(*built, ruled=True):
            continue
        if rules:
            built = _build(run, h, rules)
            if built is None:
                continue
        cols, rows, header_rows = built
        ruled = bool(rules) and len(_cut_at_rules(run, rules, cols[0][0], cols[-1][1])) >= 3
        if not _plausible(cols, rows, header_rows, ruled=ruled):
            continue
        tables.append(_table(page, lines, cols, rows, header_rows, h, len(tables)))
        used.append((x0, run[0].y0, x1, rows[-1].y1))
    return tables


def _table(page: Page, lines: list[_Line], cols: list[tuple[float, float]], rows: list[_Row], header_rows: int,
           h: float, index: int) -> Table:
    x0 = min(min(s.x0 for r in rows for ss in r.cells.values() for s in ss), cols[0][0])
    x1 = max(cols[-1][1], max((s.x1 for r in rows for _, _, s in r.spanning), default=0))
    y0, y1 = rows[0].y0, rows[-1].y1
    title = _title(lines, y0, h, x0, x1)
    head_text = " ".join(r.text(k) for r in rows[:header_rows] for k in range(len(cols)))
    head_text += " " + " ".join(s.text for r in rows[:header_rows] for _, _, s in r.spanning)
    lead_in = _lead_in(lines, y0, h, x0, x1)
    scale, scale_text = scale_of(f"{title} {head_text}") if scale_of(f"{title} {head_text}")[1] else scale_of(lead_in)
    cells: list[TableCell] = []
    for ri, row in enumerate(rows):
        spanned: set[int] = set()
        for lo, hi, s in row.spanning:
            if lo < 0:  # between columns: it heads the columns nearest to it
                lo = hi = _nearest(s, cols)
            spanned.update(range(lo, hi + 1))
        if row.spanning:  # a spanning row: every column not under another of its cells belongs to the nearest one
            cells += _spanning_cells(row, ri, cols, scale_text)
        for k, segs in sorted(row.cells.items()):
            if row.spanning and k in spanned:
                continue
            text = " ".join(s.text for s in segs)
            text = _LEADERS.sub("", text).strip()
            box = (min(s.x0 for s in segs), min(s.y0 for s in segs), max(s.x1 for s in segs), max(s.y1 for s in segs))
            cells.append(TableCell(ri, k, text, box))
    cells = _state_numbers(cells, header_rows, f"{title} {head_text}", scale, scale_text, f"{title} {lead_in}")
    return Table(page.doc, page.number, index, (x0, y0, x1, y1), len(rows), len(cols), header_rows, cells,
                 title=title, scale=scale, scale_text=scale_text)


_NOT_SCALED_COLUMN = re.compile(r"%|\bpercent|\bper\s?cent|\bpct\b|\bratio\b|\bbps\b|basis points|per[- ]share|\bprices?\b"
                                r"|\((?:in )?years\)|\b(?:contractual|remaining) (?:life|term)\b", re.I)
"""A column head whose values no scale applies to ("% of Sales", "Percent to Sales", "Per share", "Weighted average
exercise price", "Remaining contractual term (years)")."""
_PER_SHARE = re.compile(r"\bper[- ](?:common |ordinary |basic |diluted )?share\b|\beps\b|earnings per|dividends? declared per",
                        re.I)
_SHARES = re.compile(r"^(?:(?:basic|diluted)\b.{0,40}\bshares\b|weighted[- ]average\b.{0,30}\bshares\b|shares\b|"
                     r"number of (?:common )?shares|(?:common )?shares outstanding)", re.I)
"""A row of share counts (not an amount whose label mentions shares: "Treasury stock, at cost, 428,676,471
shares")."""
_NOT_SCALED_ROW = re.compile(r"%|\bpercent|\bratio\b|\bnumber of\b|\bemployees\b|\bheadcount\b|\bbps\b|"
                             r"\bbasis points\b|\breturn on\b", re.I)


_SUB_LABEL = re.compile(r"(?:basic|diluted|basic and diluted|total|other|class [a-z])$", re.I)
"""A label that names a row only under its section ("Diluted" under "Earnings per share:")."""


def _state_numbers(cells: list[TableCell], header_rows: int, heading: str, scale: Decimal, scale_text: str,
                   title: str = "") -> list[TableCell]:
    """``cells`` in order, each body cell of a value column with the exact number it states, in the table's scale
    where that applies (:func:`_row_scale`), header cells without the scale caption printed into them ("(Dollars in
    millions) 2021" -> "2021"). ``heading``: the title and header text the scale was read from; ``title`` the
    title and caption alone: a scale only some columns' own heads state ("Params (M)") is those columns'."""
    said = _scale_statement(heading, scale_text)
    heads: dict[int, list[str]] = {}
    for c in cells:
        if c.row < header_rows and c.col_span == 1:
            heads.setdefault(c.col, []).append(c.text)
    unscaled_cols = {k for k, texts in heads.items() if k > 0 and _NOT_SCALED_COLUMN.search(" ".join(texts))}
    values = {c.col for c in cells if c.row >= header_rows and c.col > 0}
    stating = {k for k, texts in heads.items() if k > 0 and scale_of(" ".join(texts))[1]}
    spans = any(scale_of(c.text)[1] for c in cells if c.row < header_rows and (c.col_span > 1 or c.col == 0))
    if scale_text and stating and not scale_of(title)[1] and not spans and stating < values:
        unscaled_cols |= values - stating  # "Params (M)": the other columns are as printed
    labels = {c.row: c.text for c in cells if c.col == 0}
    filled: dict[int, int] = {}
    for c in cells:
        filled[c.row] = filled.get(c.row, 0) + bool(c.text)
    section, out = "", []
    for c in sorted(cells, key=lambda c: (c.row, c.col)):
        label = labels.get(c.row, "")
        if c.col == 0 and c.row >= header_rows and label and filled[c.row] == 1:
            section = label  # a heading over the rows below it ("Earnings per share:")
        if c.row < header_rows and scale_text and c.col > 0:
            c = replace(c, text=_without_scale(c.text, scale_text))
        elif c.row >= header_rows and c.col > 0:
            number, unit = parse_number(c.text)
            factor = Decimal(1)
            if number is not None and unit.lower() not in ("%", "x") and c.col not in unscaled_cols and not _is_year(c.text):
                factor = _row_scale(label, section, scale, said)
                number *= factor
            c = replace(c, number=number, unit=unit, scale=factor)
        out.append(c)
    return out


def grid_table(doc: str, page: int, index: int, cells: list[TableCell], rows: int, cols: int, header_rows: int,
               title: str = "") -> Table:
    """A table whose grid a format states itself (a spreadsheet's cells): ``cells`` with row, column, text, box and
    span set; the numbers and the scale are read here as for a table found on the page."""
    head_text = " ".join(c.text for c in cells if c.row < header_rows)
    scale, scale_text = scale_of(f"{title} {head_text}")
    cells = _state_numbers(cells, header_rows, f"{title} {head_text}", scale, scale_text, title)
    boxes = [c.box for c in cells] or [(0.0, 0.0, 0.0, 0.0)]
    box = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
    return Table(doc, page, index, box, rows, cols, header_rows, cells, title=title, scale=scale, scale_text=scale_text)


def _scale_statement(text: str, scale_text: str) -> str:
    """The whole scale statement from where the scale is stated, its exceptions included: "in millions, except
    per share data", "in millions, except number of shares, which are reflected in thousands"."""
    if not scale_text:
        return ""
    at = text.find(scale_text)
    return text[at:at + 160].split(")")[0] if at >= 0 else scale_text


def _row_scale(label: str, section: str, scale: Decimal, said: str) -> Decimal:
    """What a body row's printed numbers are multiplied by: the table's scale, except for per-share amounts,
    percentages, ratios, margins and counts (never scaled), and share counts when the statement excepts them
    ("except number of shares, which are reflected in thousands")."""
    under = len(label.split()) == 1 or bool(_SUB_LABEL.match(label))  # "Basic", "Diluted": rows their section names
    for own in (label, section if under else ""):  # "Shares used in calculation (000's)": the row states its scale
        factor, said_here = scale_of(own)
        if said_here:
            return factor
    if scale == 1:
        return scale
    shares = bool(_SHARES.search(label) or (_SHARES.search(section) and under))
    if not shares and (_PER_SHARE.search(label) or (_PER_SHARE.search(section) and under)):
        return Decimal(1)
    if _NOT_SCALED_ROW.search(label) or (not shares and under and _NOT_SCALED_ROW.search(section)):
        return Decimal(1)
    except_ = said.lower().partition("except")[2]
    excepted = {w.rstrip("s") for w in re.findall(r"[a-z]{4,}", except_)} - {"which", "where", "reflected", "data",
                                                                           "amount", "value", "thousand", "million",
                                                                           "billion", "share"}
    if excepted & {w.rstrip("s") for w in re.findall(r"[a-z]{4,}", label.lower())}:
        return Decimal(1)  # "except per share data, percentages and employees": the employees row as printed
    if shares and except_ and "share" in except_.replace("per share", "").replace("per-share", ""):
        m = re.search(r"(thousands|millions|billions)", except_)  # "which are reflected in thousands"
        return scale_of(f"in {m.group(1)}")[0] if m else Decimal(1)
    return scale


def _without_scale(text: str, scale_text: str) -> str:
    """A header cell's text without the scale caption printed into it: "(Dollars in millions) 2021" -> "2021"."""
    at = text.find(scale_text)
    if at < 0:
        return text
    start = text.rfind("(", 0, at + 1)
    end = text.find(")", at)
    cut = text[:start] + text[end + 1:] if start >= 0 and end >= 0 else text[:at] + text[at + len(scale_text):]
    return " ".join(cut.split())


def _spanning_cells(row: _Row, ri: int, cols: list[tuple[float, float]], scale_text: str = "") -> list[TableCell]:
    """The cells of a spanning header row: each of its segments heads the value columns nearest to it (those it
    covers, and those closer to it than to any other segment of the row)."""
    segs = sorted([s for _, _, s in row.spanning] + [s for k, ss in row.cells.items() if k > 0 for s in ss], key=lambda s: s.x0)
    owner: dict[int, _Segment] = {}
    runs = _centred_groups(segs, cols) if row.grouped else []
    for seg, (first, last) in zip(segs, runs, strict=False):
        owner.update(dict.fromkeys(range(first, last + 1), seg))
    for k in range(1, len(cols)) if not runs else ():
        a, b = cols[k]
        mid = (a + b) / 2
        owner[k] = min(segs, key=lambda s: 0 if s.x0 - 1 <= mid <= s.x1 + 1 else min(abs(mid - s.x0), abs(mid - s.x1)))
    out = []
    for s in segs:
        ks = [k for k, o in owner.items() if o is s]
        if ks:
            text = _without_scale(s.text, scale_text) if scale_text else s.text
            out.append(TableCell(ri, min(ks), text, (s.x0, s.y0, s.x1, s.y1), col_span=max(ks) - min(ks) + 1))
    if 0 in row.cells:
        ss = row.cells[0]
        out.append(TableCell(ri, 0, " ".join(s.text for s in ss), (ss[0].x0, ss[0].y0, ss[-1].x1, ss[-1].y1)))
    return out


def link_continuations(previous: list[Table], previous_page: Page, current: list[Table], current_page: Page) -> None:
    """Link a table that runs off the bottom of ``previous_page`` to the one that carries on at the top of
    ``current_page``: same number of columns at about the same x positions, the first part ending in the page's
    last fifth and the second starting in its first, with no other text between. The continuation gets
    ``continued_from``, the first part ``continues_on``; a continuation printed without its header inherits the
    first part's column headers (one that repeats the header keeps its own)."""
    if not previous or not current:
        return
    first, second = previous[-1], current[0]
    if first.cols != second.cols or first.continues_on is not None:
        return
    if first.box[3] < 0.7 * previous_page.height or second.box[1] > 0.35 * current_page.height:
        return
    below = [w for w in previous_page.words if w.box[1] > first.box[3] + 2 and w.text.strip()]
    above = [w for w in current_page.words if w.box[3] < second.box[1] - 2 and w.text.strip()]
    if len(below) > 12 or len(above) > 30:  # a footer or running header at most
        return
    if not _same_columns(first, second):
        return
    if second.header_rows and second.title and _title_key(second.title) != _title_key(first.title):
        return  # another statement under its own title and heads (the cash flows after the income statement)
    first.continues_on = (second.page, second.index)
    second.continued_from = (first.page, first.index)
    if second.header_rows == 0:
        second.inherited_header = first.column_headers()


def _title_key(title: str) -> str:
    """A table's title as continuations compare it: without "(continued)", "(unaudited)" and its scale caption."""
    stated = scale_of(title)[1]
    title = title.replace(stated, "") if stated else title
    return " ".join(w for w in re.findall(r"[^\W_]+", title.lower()) if w not in ("continued", "cont", "unaudited"))


def _same_columns(a: Table, b: Table) -> bool:
    """Whether the value columns of ``a`` and ``b`` stand at about the same x positions (right edges of the
    numbers, the usual alignment)."""
    def edges(t: Table) -> list[float]:
        out = []
        for k in range(1, t.cols):
            xs = [c.box[2] for c in t.body() if c.col == k]
            out.append(median(xs) if xs else float("nan"))
        return out

    tol = 0.04 * max(a.box[2] - a.box[0], 1)
    pairs = [(x, y) for x, y in zip(edges(a), edges(b), strict=True) if x == x and y == y]
    return bool(pairs) and all(abs(x - y) <= max(tol, 12) for x, y in pairs)
