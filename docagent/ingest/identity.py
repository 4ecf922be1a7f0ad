"""Document identity: a :class:`~docagent.types.DocumentCard` read from what a file says about itself, and
the context each of its passages is indexed with.

Shelves of look-alike documents (one company's reports over the years, the same contract with different
parties, a set of manuals) defeat page search: the page that answers "capital expenditures of X in 2018"
looks like the same page of every other report. What tells them apart is printed once, on the cover or in
the metadata: who the document is by or about, which period it covers, what kind of document it is. The card
collects that from the file name, the PDF metadata and bookmarks, and the first pages' text, with rules that
hold for any document (names ending in a company suffix, parties of an agreement, years and reporting
periods, a small taxonomy of document kinds), never a list of one corpus's words.

Each passage is then indexed as ``identity | section`` + its own text (:func:`passage_context`), so the
words that name the document and the section reach every passage, dense and lexical alike; snippets and
citations still show only the page's own text.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from datetime import date, timedelta

from docagent.types import DocumentCard, Heading, Page, ReportPeriod

__all__ = ["CARD_VERSION", "build_card", "card_words", "identity_text", "name_words", "passage_context", "report_period",
           "running_lines", "section_at"]

CARD_VERSION = 4
"""Bumped when cards, passage contexts or what is read from pages (tables: 2; page titles, report periods: 3;
statements as one table with each cell's scale: 4) change: documents indexed with an older version are re-read
when indexed again, even when the file is unchanged."""

FIRST_PAGES = 3
"""Pages whose text the card is read from (covers, title pages, the opening of an agreement)."""

MAX_OUTLINE = 3000

_SUFFIX = (
    r"(?i:inc|incorporated|corp|corporation|company|co(?=\.)|ltd|limited|llc|l\.l\.c|llp|lp|l\.p|plc|ag|gmbh|s\.a|n\.v|se|"
    r"group|holdings?|bancorp|bank|trust|partners|university|institute|association|foundation|center|centre|"
    r"council|agency|commission|ministry|department)\b\.?"
)
_CAP = r"(?:[A-Z0-9][\w&'’.-]*|[A-Z])"
_ORG = re.compile(rf"(?<![\w&])((?:{_CAP}[ \t]+(?:(?:of|and|&|the|for|de|du)[ \t]+)?){{0,5}}{_CAP},?[ \t]+{_SUFFIX})(?![\w])")
_PERSON = r"[A-Z][a-z]+(?:[ \t]+[A-Z]\.?)?(?:[ \t]+[A-Z][a-z'’-]+){1,2}"
_BETWEEN = re.compile(rf"\bbetween\s+({_PERSON}|{_ORG.pattern})\s*(?:\(|,|\band\b)", re.DOTALL)
_AND_PARTY = re.compile(rf"\band\s+({_PERSON})\s*(?:\(|,)")
_FILLER = frozenset(["the", "this", "that", "such", "our", "its", "their", "each", "any", "a", "an", "said", "other", "all", "which", "to", "in", "of", "for", "by", "on", "at", "from", "with", "as", "and", "or", "both", "dear", "see", "about", "between", "per", "via", "into", "under"])

_YEAR = re.compile(r"(?<![\d.,$])(?:19[5-9]\d|20[0-4]\d)(?![\d,])")
_MONTH = r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sept?(?:ember)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
_PERIOD = re.compile(
    rf"(?i:(?:fiscal\s+)?(?:year|quarter|period|(?:three|six|nine|twelve)\s+months|(?:13|26|39|52|53)\s+weeks)s?\s+ended\s+)"
    rf"{_MONTH}\s+\d{{1,2}},?\s+(?:19|20)\d\d"
    rf"|(?i:\b(?:Q[1-4]|[1-4]Q|(?:first|second|third|fourth)\s+quarter)(?:\s+(?:of\s+)?(?:fiscal\s+(?:year\s+)?|FY\s*)?'?(?:(?:19|20)\d\d|\d\d))\b)"
    rf"|(?i:\bFY\s?'?(?:19|20)?\d\d\b)"
    rf"|(?i:\b(?:dated|effective|made\s+and\s+entered\s+into|entered\s+into)\s+(?:as\s+of\s+)?(?:the\s+)?(?:{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+(?:19|20)\d\d|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:day\s+of\s+)?{_MONTH},?\s+(?:19|20)\d\d))"
)

# A small, general taxonomy of document kinds: each with the phrases that say it (weighted by where they occur).
_KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("annual report", ("annual report", "form 10-k", "10-k", "10k", "form 20-f", "20-f", "annual financial report", "for the fiscal year ended")),
    ("quarterly report", ("quarterly report", "form 10-q", "10-q", "10q", "for the quarterly period ended", "interim report")),
    ("current report", ("form 8-k", "8-k", "current report")),
    ("earnings release", ("earnings release", "press release", "earnings call", "financial results for")),
    ("agreement", ("agreement", "contract", "hereinafter", "whereas", "the parties", "non-disclosure", "confidentiality")),
    ("invoice", ("invoice", "total due", "amount due", "bill to", "payment terms")),
    ("manual", ("manual", "user guide", "user's guide", "reference guide", "handbook", "documentation", "tutorial")),
    ("paper", ("abstract", "arxiv", "proceedings", "et al", "introduction", "conference")),
    ("report", ("report", "survey", "findings", "research")),
    ("presentation", ("slides", "presentation", "webinar", "workshop")),
)


def name_words(name: str) -> str:
    """A file name as words: ``ACME_2018_10K.pdf`` -> ``ACME 2018 10K``; ``annualReport2019`` -> ``annual Report 2019``."""
    stem = name.rsplit(".", 1)[0] if "." in name else name
    if re.fullmatch(r"[0-9a-fA-F-]{16,}", stem):
        return ""  # a content hash or uuid says nothing
    stem = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=\d{4})|(?<=\d{4})(?=[A-Za-z])", " ", stem)
    return " ".join(re.split(r"[\s_.\-+]+", stem)).strip()


def _clean(text: str) -> str:
    return " ".join(text.split()).strip(" ,;:")


def _key(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def _organisations(metadata: dict[str, str], pages: Sequence[Page]) -> tuple[str, ...]:
    counts: Counter[str] = Counter()
    shown: dict[str, str] = {}

    def add(text: str, weight: int) -> None:
        text = re.split(r"(?<=[a-z]{3})\.\s+", _clean(text))[-1]  # "Confidential Information. The Bank" -> "The Bank"
        words = text.split()
        while words and (words[0].lower().strip(",.") in _FILLER or not any(c.isalpha() for c in words[0])):
            words = words[1:]  # "To Acme Inc." -> "Acme Inc."; "1 University" -> "University"
        text = " ".join(words)
        if not words or (len(words) < 2 and not re.search(r"[A-Z]{2}", text)):
            return
        if words[-1][:1].islower():
            return  # "a Delaware corporation" describes a party; it does not name one
        key = _key(text)
        if len(key) < 3:
            return
        counts[key] += weight
        if key not in shown or (shown[key].isupper() and not text.isupper()):
            shown[key] = text

    for field in ("author", "subject", "title"):
        for m in _ORG.finditer(metadata.get(field, "")):
            add(m.group(1), 3)
    if metadata.get("author") and not re.search(r"(?i)microsoft|adobe|word|acrobat|latex|user|admin", metadata["author"]):
        for author in re.split(r";|,(?=\s*[A-Z][a-z]+\s)|\band\b", metadata["author"]):
            add(author, 2)
    for i, page in enumerate(pages):
        weight = 2 if i == 0 else 1
        text = page.text
        for m in _ORG.finditer(text):
            add(m.group(1), weight)
        for m in _BETWEEN.finditer(text):
            add(m.group(1), weight)
        for m in _AND_PARTY.finditer(text[:3000]):
            if re.search(r"(?i)\bbetween\b", text[: m.start()][-400:]):
                add(m.group(1), weight)
    ranked = sorted(counts, key=lambda k: (-counts[k], k))
    return tuple(shown[k] for k in ranked[:6])


def _years(name: str, title: str, periods: Sequence[str], pages: Sequence[Page]) -> tuple[int, ...]:
    counts: Counter[int] = Counter()
    for y in _YEAR.findall(name_words(name)):
        counts[int(y)] += 5
    for y in _YEAR.findall(title):
        counts[int(y)] += 4
    for p in periods:
        for y in re.findall(r"(?:19|20)\d\d", p):
            counts[int(y)] += 3
    for i, page in enumerate(pages):
        for y in _YEAR.findall(page.text[:6000]):
            counts[int(y)] += 2 if i == 0 else 1
    if not counts:
        return ()
    top = max(counts.values())
    return tuple(sorted((y for y in counts if counts[y] >= top / 2), key=lambda y: (-counts[y], -y))[:3])


def _kind(name: str, title: str, pages: Sequence[Page]) -> str:
    head = f"{name_words(name)} {title}".lower()
    body = " ".join(p.text[:4000] for p in pages[:2]).lower()
    best, best_score = "", 0.0
    for kind, phrases in _KINDS:
        score = 0.0
        for phrase in phrases:
            pattern = re.compile(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])")
            score += 3 * len(pattern.findall(head)) + min(len(pattern.findall(body)), 3)
        if kind == "report":
            score /= 2  # the generic kind: any specific kind that is said as often wins
        if score > best_score:
            best, best_score = kind, score
    return best if best_score >= 2 else ""


_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
_DATE = rf"(?P<month>{_MONTH})\s+(?P<day>\d{{1,2}}),?\s+(?P<year>(?:19|20)\d\d)"
_COVER = re.compile(
    rf"(?i)\bfor\s+the\s+(?:(?P<q>(?:fiscal\s+)?quarter(?:ly\s+period)?|(?:thirteen|13)[\s-]+weeks?)|(?P<y>(?:fiscal\s+)?year|(?:fifty[\s-]+two|52|fifty[\s-]+three|53)[\s-]+weeks?))"
    rf"\s+ended\s*:?\s*{_DATE}")
_YEAR_TO_DATE = (
    (3, re.compile(r"(?i)\b(?:nine\s+months|(?:thirty[\s-]+nine|39)\s+weeks|three\s+quarters)\s+ended\b")),
    (2, re.compile(r"(?i)\b(?:six\s+months|(?:twenty[\s-]+six|26)\s+weeks|two\s+quarters|first\s+half)\s+ended\b")),
)


def _date(m: re.Match[str]) -> date | None:
    try:
        return date(int(m.group("year")), _MONTHS[m.group("month").lower()[:3]], int(m.group("day")))
    except ValueError:
        return None


def report_period(pages: Sequence[Page]) -> ReportPeriod | None:
    """The period a report covers, from its cover ("For the quarterly period ended July 1, 2023", "for the fiscal
    year ended September 24, 2022"). A quarter's number is read from the year-to-date columns its statements
    carry that end in the quarter's month (six months ended: the second; nine months: the third; neither: the
    first; "Nine Months Ended December 31" in a table of future payments is no such column), and its fiscal year is the
    year in which that fiscal year ends (the quarter's end plus the quarters left, less a week for 52/53-week
    years that end in the first days of January). None for documents that are not periodic reports."""
    cover = "\n".join(p.text[:8000] for p in pages[:FIRST_PAGES])
    m = _COVER.search(cover)
    if m is None:
        return None
    end = _date(m)
    if end is None:
        return None
    if m.group("y"):
        return ReportPeriod(end, (end - timedelta(days=7)).year, 4, annual=True)
    body = "\n".join(p.text for p in pages)
    # a year-to-date column ends when the quarter does ("Nine Months Ended July 1"): the month as a word of its own
    month = re.compile(rf"(?i)\b{end:%b}[a-z]*\.?\s+\d")

    def ends_with_quarter(pattern: re.Pattern[str]) -> bool:
        return any(month.search(body, m.end(), m.end() + 120) for m in pattern.finditer(body))

    quarter = next((q for q, pattern in _YEAR_TO_DATE if ends_with_quarter(pattern)), 1)
    year_end = end + timedelta(days=91 * (4 - quarter)) - timedelta(days=7)
    return ReportPeriod(end, year_end.year, quarter)


def running_lines(pages: Sequence[Sequence[str]], share: float = 0.3) -> set[str]:
    """Lines printed at the top of many pages of a document (running headers: "Table of Contents", the company's
    name): the keys (:func:`line_key`) of the title lines found on at least ``share`` of ``pages`` and on three
    pages or more."""
    counts: Counter[str] = Counter()
    for lines in pages:
        counts.update({line_key(line) for line in lines})
    least = max(3, share * len(pages))
    return {key for key, n in counts.items() if key and n >= least}


def line_key(line: str) -> str:
    """A line as compared across pages: letters only, lower case (page numbers and dates differ from page to page)."""
    return "".join(c for c in line.lower() if c.isalpha())


def page_title(page: Page, running: set[str]) -> str:
    """A page's title: its title lines that are not running headers, at most three, joined by " — "."""
    kept = [line for line in page.title_lines if line_key(line) not in running]
    return " — ".join(kept[:3])[:300]


def _title(metadata: dict[str, str], pages: Sequence[Page]) -> str:
    title = metadata.get("title", "")
    if title and not re.search(r"(?i)^(untitled|microsoft\s+\w+\s+-|document\d*$)|\.(docx?|pptx?|xlsx?|pdf|indd|qxd|html?)\b", title):
        return title[:200]
    if pages:
        if pages[0].headings:
            return pages[0].headings[0][:200]
        for line in pages[0].text.splitlines():
            line = _clean(line)
            if sum(c.isalpha() for c in line) >= 4:
                return line[:200]
    return ""


def build_card(name: str, metadata: dict[str, str], outline: Sequence[Heading], pages: Sequence[Page]) -> DocumentCard:
    """The card of a document from its file name, metadata, bookmarks and its pages (the first
    :data:`FIRST_PAGES` give identity; all pages' large-type lines make the outline when there are no bookmarks)."""
    first = list(pages[:FIRST_PAGES])
    title = _title(metadata, first)
    periods: list[str] = []
    for text in [title, metadata.get("subject", ""), *(page.text[:8000] for page in first)]:
        for m in _PERIOD.finditer(text):
            p = _clean(m.group(0))
            if p.lower() not in (q.lower() for q in periods):
                periods.append(p)
    periods = periods[:6]
    if outline:
        heads = tuple(outline[:MAX_OUTLINE])
    else:
        heads = tuple(Heading(1, h[:160], p.number) for p in pages for h in p.headings[:3])[:MAX_OUTLINE]
    return DocumentCard(
        title=title,
        organisations=_organisations(metadata, first),
        periods=tuple(periods),
        years=_years(name, title, periods, first),
        kind=_kind(name, title, first),
        outline=heads,
        metadata=dict(metadata),
        period=report_period(pages),
    )


def section_at(card: DocumentCard, page: int) -> str:
    """The section a page belongs to: the titles of the outline entries in force at its start (``Part II >
    Item 8 > Cash flows``), from bookmarks or headings in larger type."""
    path: list[Heading] = []
    for h in card.outline:
        if h.page > page:
            break
        path = [p for p in path if p.level < h.level] + [h]
    return " > ".join(h.title for h in path[-2:])


def identity_text(name: str, card: DocumentCard) -> str:
    """The words that tell this document from its look-alikes: file name, title, organisations, kind, period."""
    parts = [name_words(name), ", ".join(card.organisations[:2]), card.kind, " ".join(str(y) for y in card.years[:2]),
             card.title, card.periods[0] if card.periods else ""]
    seen: list[str] = []
    for part in parts:
        part = _clean(part)
        if part and _key(part) not in (_key(s) for s in seen):
            seen.append(part)
    return " | ".join(seen)


def card_words(name: str, card: DocumentCard) -> tuple[str, str]:
    """What a question may name a document by, as ``(names, about)``: its file name and the organisations and
    parties it names; its kind and the periods and years it covers. Not its title or outline: those say what it
    is about, which its pages say too (a question about a topic is matched by pages, not routed to the one
    document whose title has the word)."""
    names = "\n".join(p for p in (name_words(name), *card.organisations) if p)
    about = "\n".join(p for p in (card.kind, *card.periods, " ".join(str(y) for y in card.years)) if p)
    return names, about


def passage_context(name: str, card: DocumentCard, page: Page) -> str:
    """The line every passage of ``page`` is indexed with (before its own text): the page's title when it has one,
    identity, then section."""
    section = section_at(card, page.number)
    identity = _cut(identity_text(name, card), 160)
    if page.title:  # the page's own title first, where the embedder's short context budget keeps it
        rest = " | ".join(p for p in (identity, _cut(section, 100) if _key(section) not in _key(page.title) else "") if p)
        return f"{_cut(page.title, 80)} | {rest}"
    if page.headings and _key(page.headings[0]) not in _key(section):
        section = f"{section} > {page.headings[0]}" if section else page.headings[0]
    return f"{identity} | {_cut(section, 100)}" if section else identity


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0]
