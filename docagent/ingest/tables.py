"""Tables found in a page's word boxes: rows, columns, header rows and the exact numbers their cells state.

One detector serves born-digital pages (the text layer's words) and scans (OCR words), so it reads nothing
but word boxes, and optionally the page's ruling lines (:meth:`docagent.ingest.base.Source.rules`) as a hint:

1. Words are grouped into lines, and each line into *segments*: runs of words separated by less than about
   two thirds of the text height. Prose has one segment a line; a table row has one per filled cell.
2. Runs of nearby lines where most lines have two or more segments are table candidates (a quick pass that
   lets pages with no such alignment leave early).
3. Columns are the x-ranges the body lines' segments cover (the header is left out: a spanning header would
   bridge its columns); a ``$`` printed in a column of its own joins the number beside it.
4. Lines become rows: header lines at the top (above the first line that states a number that is not a
   year), a label that wraps onto a line without values joins its row, and a horizontal rule, when there
   is one, closes a row.
5. A candidate is kept only when it looks like data: two or more columns, two or more body rows with
   values, short cells. Paragraphs, bullet lists, two-column prose and ``key: value`` forms are turned down.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from statistics import median

from docagent.types import Box, Page, Table, TableCell, Word

__all__ = ["find_tables", "link_continuations", "parse_number", "scale_of", "states_nothing"]

# -- numbers ----------------------------------------------------------------------------------------------------

_CURRENCY_SYMBOLS = {"$": "$", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR", "₩": "KRW", "₽": "RUB", "CHF": "CHF"}
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
    negative = False
    if s.startswith("(") and s.endswith(")"):
        negative, s = True, s[1:-1].strip()
    if s.startswith("-") or s.startswith("+"):
        negative, s = s[0] == "-", s[1:].strip()
    unit = ""
    if m := _PREFIX_UNITS.match(s):
        unit, s = _unit_name(m.group().strip()), s[m.end():]
    if s.startswith("(") and s.endswith(")"):  # $(1,234)
        negative, s = True, s[1:-1].strip()
    if s.startswith("-"):
        negative, s = True, s[1:].strip()
    if m := _SUFFIX_UNITS.search(s):
        unit, s = (m.group().strip() if m.group().strip() == "%" else _unit_name(m.group())), s[:m.start()].strip()
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
    (r"millions?|mn\b|mio\b|mm\b", Decimal(10) ** 6),
    (r"thousands?|000s|'000|’000", Decimal(1000)),
)
_SCALE = re.compile(
    r"\(?\s*(?:(?:[$€£¥]|[A-Z]{3})\s+)?in\s+(?:(?:[A-Z]{3}|[$€£¥])\s+)?(?P<word>billions|millions|thousands)\b"
    r"(?:\s+of\s+\w+)?(?:[^)\n]{0,40}\))?"
    r"|\((?P<short>000s|'000|’000|\$?\s*000s?|\$?\s*millions?|\$?\s*m|\$?\s*bn|\$?\s*billions?)\)"
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
        if re.search(pattern, said) or (pattern.startswith("millions") and re.fullmatch(r"\$?\s*m", said)):
            stated = m.group().strip().strip("()").strip()
            return factor, stated
    return Decimal(1), ""


def states_nothing(text: str) -> bool:
    """Whether a cell's text is a dash or ``n/a``: printed to say there is no value."""
    return " ".join(text.split()).lower() in _NONE_TEXTS


def _is_number(text: str) -> bool:
    return parse_number(text)[0] is not None


def _is_year(text: str) -> bool:
    return bool(re.fullmatch(r"(?:FY\s?|fiscal\s)?(19|20)\d{2}[A-Za-z*]?|(19|20)\d{2}\s?[-/–]\s?\d{2,4}", text.strip(), re.IGNORECASE))


def _is_data(text: str) -> bool:
    """A number that is data rather than a heading (a year heads a column)."""
    return _is_number(text) and not _is_year(text)


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
        self.x0 = min(w.box[0] for w in self.words)
        self.x1 = max(w.box[2] for w in self.words)
        self.y0 = min(w.box[1] for w in self.words)
        self.y1 = max(w.box[3] for w in self.words)

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
        self.y0 = median(w.box[1] for w in self.words)
        self.y1 = median(w.box[3] for w in self.words)

    @property
    def x0(self) -> float:
        return self.segments[0].x0

    @property
    def x1(self) -> float:
        return self.segments[-1].x1


def _lines(words: Sequence[Word]) -> list[_Line]:
    """Words grouped into lines by vertical overlap (tolerant of a slightly skewed scan), top to bottom."""
    open_lines: list[tuple[float, float, list[Word]]] = []
    for w in sorted(words, key=lambda w: (w.box[1] + w.box[3]) / 2):
        if not w.text.strip():
            continue
        y0, y1 = w.box[1], w.box[3]
        h = max(y1 - y0, 0.1)
        best, best_overlap = -1, 0.5
        for i in range(len(open_lines) - 1, max(-1, len(open_lines) - 4), -1):
            ly0, ly1, _ = open_lines[i]
            overlap = (min(y1, ly1) - max(y0, ly0)) / min(h, max(ly1 - ly0, 0.1))
            if overlap > best_overlap:
                best, best_overlap = i, overlap
        if best < 0:
            open_lines.append((y0, y1, [w]))
        else:
            ly0, ly1, ws = open_lines[best]
            ws.append(w)
            n = len(ws)  # a running mean keeps a skewed line's band close to its words
            open_lines[best] = (ly0 + (y0 - ly0) / n, ly1 + (y1 - ly1) / n, ws)
    return sorted((_Line(sorted(ws, key=lambda w: w.box[0])) for _, _, ws in open_lines), key=lambda ln: ln.y0)


def _specks(line: _Line) -> bool:
    """Whether a line is mostly one- and two-letter fragments: OCR of a line it could not read."""
    short = sum(len(w.text) <= 2 and w.text.isalpha() for w in line.words)
    return len(line.words) >= 5 and short >= 0.6 * len(line.words)


def _segment(line: _Line, gap: float) -> None:
    groups: list[list[Word]] = [[line.words[0]]]
    for w in line.words[1:]:
        if w.box[0] - groups[-1][-1].box[2] > gap:
            groups.append([w])
        else:
            groups[-1].append(w)
    line.segments = [_Segment(g) for g in groups]


# -- candidates -------------------------------------------------------------------------------------------------

_MARKER = re.compile(r"^(?:[•●◦▪■□‣∙·*–—-]|\(?\d{1,2}[.)]|\(?[a-zA-Z][.)]|\(?[ivxIVX]{1,4}[.)])$")


@dataclass
class _Row:
    lines: list[_Line]
    cells: dict[int, list[_Segment]] = field(default_factory=dict)
    spanning: list[tuple[int, int, _Segment]] = field(default_factory=list)

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
        if run and line.y0 - run[-1].y1 > (2.2 if multi else 1.2) * h:
            if sum(len(ln.segments) >= 2 for ln in run) >= 2:
                runs.append(run)
            run = []
        if multi:
            if not run:
                run = [ln for ln in lead if line.y0 - ln.y1 < 2.2 * h + (line.y0 - lead[-1].y1)]
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
        lead = [*lead, line][-4:] if lead and line.y0 - lead[-1].y1 < 1.2 * h else [line]
    runs.append(run)
    out = []
    for r in runs:
        while r and len(r[-1].segments) < 2 and not (
                len(r) >= 2 and len(r[-2].segments) >= 2 and r[-1].y0 - r[-2].y1 < 0.6 * h
                and r[-1].segments[0].text[:1].islower() and r[-1].x1 < r[-2].segments[1].x0):
            r = r[:-1]  # a line closing the run is prose, unless it is the lower-case end of the last label
        if sum(len(ln.segments) >= 2 for ln in r) >= 2:
            out.append(r)
    return out


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
    return [k for k, (a, b) in enumerate(cols) if min(seg.x1, b) - max(seg.x0, a) > 0.25 * min(seg.x1 - seg.x0, b - a)]


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
        if ts and all(t in ("$", "€", "£", "¥") for t in ts) and k + 1 < len(out):
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
    label_end = min(ln.segments[1].x0 for ln in multi)
    for i, ln in enumerate(run):
        if i > start and any(len(s.words) >= 6 and s.x1 - s.x0 > 0.4 * width and s.x0 < label_end < s.x1
                             for s in ln.segments):
            run = run[:i]  # a sentence across the columns: the prose after the table
            break
    while len(run[-1].segments) < 2:
        run = run[:-1]
    multi = [ln for ln in run if len(ln.segments) >= 2]
    if len(multi) < 2:
        return None
    first_data = next((i for i, ln in enumerate(run) if len(ln.segments) >= 2
                       and any(_is_data(s.text) for s in ln.segments[1:])), None)
    if first_data is None:  # a table of words: its first line heads it
        first_data = next(i for i, ln in enumerate(run) if len(ln.segments) >= 2) + 1
        if first_data >= len(run):
            return None
    body = [ln for ln in run[first_data:] if len(ln.segments) >= 2]
    if len(body) < 2:
        return None
    left, right = min(ln.x0 for ln in multi), max(ln.x1 for ln in multi)
    cols = _merge_symbol_columns(body, _columns(body, left, right))
    if len(cols) < 2:
        return None
    while first_data and (not any(_overlaps(s, cols[1:]) or s.x0 > cols[0][1] for s in run[0].segments)
                          or len(run[0].segments) == 1 and run[0].x0 <= cols[0][1]):
        run, first_data = run[1:], first_data - 1  # a caption or prose above the table, not a header line
    hlines = _cut_at_rules(run, rules, left, right) if rules else []
    body_top, valued = run[first_data].y0, sum(len(ln.segments) >= 2 for ln in run[first_data:])
    if sum(body_top < y < run[-1].y1 for y in hlines) < 0.5 * (valued - 1):
        hlines = []  # rules above and below the header, not between the rows: rows are told apart by their text

    rows: list[_Row] = []
    header_rows = 0
    pending: list[_Line] = []  # header lines not yet in a row (multi-line header cells)

    def place(row: _Row, line: _Line, header: bool) -> None:
        spanning = header and id(line) in spanning_lines
        for s in line.segments:
            ks = _overlaps(s, cols)
            if header and len(ks) == 2 and ks[0] == 0:
                ks = ks[1:]  # a right-aligned column head reaching over the longest labels
            if spanning and (s.x0 > cols[0][1] or len(ks) >= 2):
                row.spanning.append((min(ks) if ks else -1, max(ks) if ks else -1, s))
            else:
                row.cells.setdefault(ks[0] if len(ks) == 1 else _nearest(s, cols), []).append(s)

    def flush_header() -> None:
        nonlocal header_rows
        if pending:
            row = _Row(list(pending))
            for ln in pending:
                place(row, ln, True)
            rows.append(row)
            header_rows += 1
            pending.clear()

    heads = run[:first_data]
    for line in heads:
        _split_at_columns(line, cols, 0.3 * h)
    spanning_lines = {id(ln) for i, ln in enumerate(heads)
                      if _spanning_line(ln, heads[i + 1] if i + 1 < len(heads) else None, cols, rules)}
    for line in heads:
        if id(line) in spanning_lines:
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
        in_label = all(_overlaps(s, cols) in ([0], []) and s.x1 <= cols[1][0] for s in line.segments)
        prev = rows[-1] if len(rows) > header_rows else None
        gap = line.y0 - prev.y1 if prev else 99.0
        if hlines and prev and not ruled_apart(prev.lines[-1], line):
            for s in line.segments:  # inside one ruled band: one row
                ks = _overlaps(s, cols)
                prev.cells.setdefault(ks[0] if len(ks) == 1 else _nearest(s, cols), []).append(s)
            prev.lines.append(line)
            continue
        if in_label and not hlines:
            text = line.segments[0].text
            nxt = body_lines[i + 1] if i + 1 < len(body_lines) else None
            nxt_label = next((s.text for s in nxt.segments if _overlaps(s, cols) == [0]), "") if nxt else ""
            lower = text[:1].islower()
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
            if prev and prev.text(0) and len(prev.cells) == 1 and prev.lines and gap < 0.6 * h:
                prev.cells[0].append(line.segments[0])  # a label row that wraps, values below
                prev.lines.append(line)
                continue
        if prev and len(prev.cells) == 1 and 0 in prev.cells and len(prev.lines) >= 1 and not hlines:
            nlabel = next((s.text for s in line.segments if _overlaps(s, cols) == [0]), "")
            if prev.y1 > line.y0 - 0.6 * h and (not nlabel or nlabel[:1].islower()):
                place(prev, line, False)  # the label's last line carries the values
                prev.lines.append(line)
                continue
        row = _Row([line])
        place(row, line, False)
        rows.append(row)
    return cols, rows, header_rows


def _split_at_columns(line: _Line, cols: list[tuple[float, float]], gap: float) -> None:
    """Split a header line's segments where a gap wider than ``gap`` and than the line's word spaces falls
    between two columns: the heads of neighbouring columns, printed close together."""
    spaces = sorted(b.box[0] - a.box[2] for s in line.segments for a, b in zip(s.words, s.words[1:], strict=False))
    if not spaces:
        return
    gap = max(gap, 1.8 * spaces[len(spaces) // 2])
    out: list[_Segment] = []
    for seg in line.segments:
        words = [seg.words[0]]
        for w in seg.words[1:]:
            a, b = words[-1].box[2], w.box[0]
            if b - a > gap and any(cols[k][1] - 1 <= b and a <= cols[k + 1][0] + 1 for k in range(len(cols) - 1)):
                out.append(_Segment(words))
                words = [w]
            else:
                words.append(w)
        out.append(_Segment(words))
    line.segments = out


def _spanning_line(line: _Line, below: _Line | None, cols: list[tuple[float, float]], rules: Sequence[Box]) -> bool:
    """Whether a header line holds cells that head several columns each ("2019" over "Q1 Q2"): a segment that
    covers two columns or stands between them, a rule under a segment reaching over two columns, or a line with
    a segment for each group of the line under it, which repeats its texts group by group (the quarters of each
    year)."""
    values = [s for s in line.segments if s.x0 > cols[0][1] or _overlaps(s, cols[1:])]
    if not values:
        return False
    if any(len(_overlaps(s, cols[1:])) >= 2 or not _overlaps(s, cols) for s in values):
        return True
    for s in values:
        for r in rules:
            if (r[3] - r[1] < 3 and s.y1 - 1 <= r[1] <= s.y1 + 6 and r[0] <= s.x1 and r[2] >= s.x0
                    and r[0] > cols[0][1] - 2):
                covered = [k for k, (a, b) in enumerate(cols) if r[0] - 2 <= a and b <= r[2] + 2]
                if len(covered) >= 2:
                    return True
    if below is None:
        return False
    under = [t.text for t in below.segments if t.x0 > cols[0][1]]
    if len(values) < 2 or len(under) % len(values) or len(under) < 2 * len(values):
        return False
    period = len(under) // len(values)
    return all(t == under[i % period] for i, t in enumerate(under))


def _plausible(cols: list[tuple[float, float]], rows: list[_Row], header_rows: int, ruled: bool) -> bool:
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
        return False
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
        if numeric < 0.6 or not (header_rows and any(heads)) and len(valued) < 4:
            return False
        if not header_rows and _page_numbers(values):
            return False  # a table of contents
    return True


def _page_numbers(values: list[str]) -> bool:
    nums = [parse_number(v)[0] for v in values]
    return all(n is not None and n == int(n) and 0 < n < 2000 for n in nums) and nums == sorted(nums)


def _title(lines: list[_Line], top: float, h: float, left: float, right: float) -> str:
    """The caption printed just above a table: a short line that is no sentence's end, with the line above it
    too when it states only the scale ("(in millions)" under its title)."""
    above = [ln for ln in lines if ln.y1 <= top + 1 and ln.x1 > left - 5 and ln.x0 < right + 5]
    parts: list[str] = []
    y = top
    for ln in reversed(above):
        text = " ".join(s.text for s in ln.segments)
        n = len(text.split())
        if y - ln.y1 > 2.5 * h or n > 14 or (text.endswith(".") and n > 3):
            break
        parts.insert(0, text)
        y = ln.y0
        if not scale_of(text)[1] or len(parts) == 2:
            break
    return " ".join(parts)


def find_tables(page: Page, rules: Sequence[Box] = ()) -> list[Table]:
    """The tables on ``page``, top to bottom, from its word boxes; ``rules`` (thin lines and rectangle edges,
    :meth:`~docagent.ingest.base.Source.rules`) close rows where a table is ruled. Empty for a page without two
    lines whose words stand apart in aligned cells (most pages, which leave after a single pass over the words)."""
    words = [w for w in page.words if w.text.strip() and w.box[3] > w.box[1]]
    if len(words) < 6:
        return []
    h = median(w.box[3] - w.box[1] for w in words)
    lines = [ln for ln in _lines(words) if not _specks(ln)]
    for line in lines:
        _segment(line, 0.75 * h)
    if sum(len(ln.segments) >= 2 for ln in lines) < 2:
        return []
    tables: list[Table] = []
    used_until = -1.0
    for run in _runs(lines, h):
        if run[0].y0 < used_until:
            continue
        built = _build(run, h, rules)
        if built is None:
            continue
        cols, rows, header_rows = built
        ruled = bool(rules) and len(_cut_at_rules(run, rules, cols[0][0], cols[-1][1])) >= 3
        if not _plausible(cols, rows, header_rows, ruled):
            continue
        tables.append(_table(page, lines, cols, rows, header_rows, h, len(tables)))
        used_until = rows[-1].y1
    return tables


def _table(page: Page, lines: list[_Line], cols: list[tuple[float, float]], rows: list[_Row], header_rows: int,
           h: float, index: int) -> Table:
    x0 = min(min(s.x0 for r in rows for ss in r.cells.values() for s in ss), cols[0][0])
    x1 = max(cols[-1][1], max((s.x1 for r in rows for _, _, s in r.spanning), default=0))
    y0, y1 = rows[0].y0, rows[-1].y1
    title = _title(lines, y0, h, x0, x1)
    head_text = " ".join(r.text(k) for r in rows[:header_rows] for k in range(len(cols)))
    head_text += " " + " ".join(s.text for r in rows[:header_rows] for _, _, s in r.spanning)
    scale, scale_text = scale_of(f"{title} {head_text}")
    cells: list[TableCell] = []
    for ri, row in enumerate(rows):
        spanned: set[int] = set()
        for lo, hi, s in row.spanning:
            if lo < 0:  # between columns: it heads the columns nearest to it
                lo = hi = _nearest(s, cols)
            spanned.update(range(lo, hi + 1))
        if row.spanning:  # a spanning row: every column not under another of its cells belongs to the nearest one
            cells += _spanning_cells(row, ri, cols)
        for k, segs in sorted(row.cells.items()):
            if row.spanning and k in spanned:
                continue
            text = " ".join(s.text for s in segs)
            text = re.sub(r"(?:\s*\.){3,}\s*$", "", text).strip()  # dot leaders
            box = (min(s.x0 for s in segs), min(s.y0 for s in segs), max(s.x1 for s in segs), max(s.y1 for s in segs))
            number, unit = (parse_number(text, scale) if ri >= header_rows and k > 0 else (None, ""))
            cells.append(TableCell(ri, k, text, box, number, unit))
    cells.sort(key=lambda c: (c.row, c.col))
    return Table(page.doc, page.number, index, (x0, y0, x1, y1), len(rows), len(cols), header_rows, cells,
                 title=title, scale=scale, scale_text=scale_text)


def _spanning_cells(row: _Row, ri: int, cols: list[tuple[float, float]]) -> list[TableCell]:
    """The cells of a spanning header row: each of its segments heads the value columns nearest to it (those it
    covers, and those closer to it than to any other segment of the row)."""
    segs = sorted([s for _, _, s in row.spanning] + [s for k, ss in row.cells.items() if k > 0 for s in ss], key=lambda s: s.x0)
    owner: dict[int, _Segment] = {}
    for k in range(1, len(cols)):
        a, b = cols[k]
        mid = (a + b) / 2
        owner[k] = min(segs, key=lambda s: 0 if s.x0 - 1 <= mid <= s.x1 + 1 else min(abs(mid - s.x0), abs(mid - s.x1)))
    out = []
    for s in segs:
        ks = [k for k, o in owner.items() if o is s]
        if ks:
            out.append(TableCell(ri, min(ks), s.text, (s.x0, s.y0, s.x1, s.y1), col_span=max(ks) - min(ks) + 1))
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
    first.continues_on = (second.page, second.index)
    second.continued_from = (first.page, first.index)
    if second.header_rows == 0:
        second.inherited_header = first.column_headers()


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
