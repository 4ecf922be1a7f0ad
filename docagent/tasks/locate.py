"""Without a model: do the best pages support an answer, and where on them does it stand.

    question -> its content words, each weighed by how rare it is in the store (IDF over passages)
             -> evidence test: the best stretch of three lines on the pages holds what share of that weight;
                below ``SUPPORTED`` the pages do not speak of what the question asks (a word no document
                uses weighs most), and the answer abstains, naming the missing words
             -> the kind of value the question wants (amount, percentage, date, year, count, name, any)
             -> candidates: values of that kind printed right of the question's key words on their line, or
                under them (a form's label above its value); each scored by how much of the question its
                label carries, how well it fits the kind, and how near it stands
             -> the best candidate is the answer span (its box is the evidence); no candidate: the line that
                carries most of the question (a ``sentence``)

Measured by ``python benchmarks/answers.py`` (answer location and abstention, no model).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from docagent.index.catalog import TermStats
from docagent.question import FRAMING, RECENCY, Question, answer_kind, arithmetic_word, parse
from docagent.tasks.grounding import tokens
from docagent.types import AnswerSpan, Page, Word

__all__ = ["LEAD_CONFIDENCE", "LEAD_REVIEW_BELOW", "Located", "Support", "answer_kind", "calibrated", "lead_class", "lines_of",
           "locate", "support"]

SUPPORTED = 0.5
"""Share of the question's weight the best stretch of a page must hold for the pages to support an answer.
Measured (benchmarks/answers.py): off-topic questions fall well below it, answerable ones above."""

KNOWN_WHOLE = 0.95
_INFLECTED = re.compile(r"(?:ed|ing|ly)$")
"""Share of its other words a stretch must hold for a question word no passage holds not to make it unanswerable."""

_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_FITS: dict[str, re.Pattern[str]] = {
    "number": re.compile(r"[-+(]?(?:rm|rs|usd|eur|gbp|sgd|myr|inr|chf|cad|aud|[a-z]?\$|[€£¥])?\s?\d[\d,. ]*%?\)?", re.I),
    "percent": re.compile(r"[-+(]?\d[\d,.]*\s?%\)?"),
    "year": re.compile(r"(?:fy)?(?:19|20)\d\d", re.I),
    "count": re.compile(r"\d[\d,]*"),
    "date": re.compile(
        rf"\d{{1,4}}[/.\-]\d{{1,2}}[/.\-]\d{{1,4}}|\d{{1,2}}[\s/.\-]+{_MONTH}[\s/.,\-]+\d{{2,4}}|\d{{1,2}}(st|nd|rd|th)?\s{_MONTH},?\s\d{{2,4}}|{_MONTH}\s\d{{1,2}}(st|nd|rd|th)?,?\s\d{{2,4}}"
        rf"|{_MONTH},?\s\d{{4}}|(?:19|20)\d\d", re.I),
}
_LABEL_END = re.compile(r".*[:#]$")
_NUMBER_WORDS = frozenset(["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"])
_RELATING = frozenset(["relate", "related", "relation", "relationship", "compare", "compared", "comparison", "correlate",
                       "correlates", "correlation", "align", "aligns", "reflect", "reflects", "affect", "affected",
                       "influence", "influenced", "influencing", "influences", "connection", "impact", "impacted",
                       "analyze", "analyse", "examine", "suggest", "suggests", "drivers", "driver", "factors"])
"""Words of a question that asks how things relate rather than for a value."""
_CLAUSES = re.compile(r"[;?]\s+|,?\s+and\s+(?=(?:how|what|which|who|whether|if|why|where|when|are|is|were|was|did|does|do)\b)"
                      r"|,\s+(?:and\s+)?(?:if so|especially|particularly)\b", re.I)
"""Where a question that asks several things is cut into its clauses."""
_PERIOD_WORD = re.compile(r"q[1-4]|[1-4]q|h[12]|fy\d{2,4}|(?:19|20)\d\d|10q|10k|10|k|q")
"""A question's words that name a period or a report form ("Q3", "FY2022", "2023", "10-Q")."""


_SAME = {"no": "number", "nr": "number", "num": "number", "qty": "quantity", "amt": "amount", "tel": "telephone",
         "phone": "telephone", "dt": "date", "addr": "address", "inv": "invoice", "ref": "reference"}
"""Abbreviations printed on forms and receipts, read as the word they stand for."""
_FORMS = {verb: tuple(forms.split()) for verb, forms in {
    "grow": "grew grown", "rise": "rose risen", "fall": "fell fallen", "win": "won", "pay": "paid", "sell": "sold",
    "buy": "bought", "spend": "spent", "meet": "met", "make": "made", "take": "took taken", "give": "gave given",
    "hold": "held", "begin": "began begun", "lead": "led", "build": "built", "write": "wrote written", "find": "found",
    "leave": "left", "send": "sent", "keep": "kept", "bring": "brought", "think": "thought", "teach": "taught",
    "choose": "chose chosen", "drive": "drove driven", "eat": "ate eaten", "go": "went gone", "see": "saw seen",
    "know": "knew known", "show": "showed shown", "draw": "drew drawn", "fly": "flew flown", "run": "ran",
    "become": "became", "come": "came", "get": "got gotten", "lose": "lost", "tell": "told", "speak": "spoke spoken",
}.items()}
"""Irregular verbs' other forms: "grew" is "grow" (the lexical index's stemmer does not know)."""
_SAME.update((form, verb) for verb, forms in _FORMS.items() for form in forms)
_SPELLED = {word: tuple(a for a, w in _SAME.items() if w == word) for word in set(_SAME.values())}
"""A word's other spellings the store may hold instead ("number": "no", "nr"; "meet": "met")."""
_VALUE_WORDS = frozenset(["number", "cost", "price", "count", "name", "amount", "value", "total", "figure", "rate", "size", "code", "id"])
"""Words that ask for a value rather than name a subject: never "a word no document holds"."""
_ABOUT = frozenset(["receipt", "invoice", "report", "form", "letter", "memo", "statement", "document", "file", "paper", "article", "sheet", "table", "chart", "figure", "slide", "bill", "brochure", "manual", "guide", "mentioned", "mention", "written", "write", "word", "integer", "rounded", "round", "return", "answer", "format", "appropriate", "exact", "exactly", "first", "second", "third", "last", "top", "bottom", "cover", "combined", "entire", "present", "according", "stated", "state", "says"])
"""Words about the document or the question rather than what the document says (its kind, where on it, how to
answer): they count little in the evidence test ("the date of the receipt": a receipt rarely prints the word;
"return a rounded integer")."""
_CUES = {"amount": {"amount", "sum", "value"}, "date": {"date", "day"}, "year": {"year"}, "count": {"number", "count"},
         "percent": {"percentage", "percent", "share", "proportion"}}
"""Words that say which kind of value is wanted rather than which one: they weigh half."""


def _stem(token: str) -> str:
    token = _SAME.get(token, token)
    for suffix in ("ies", "ing", "ed", "es", "s"):
        if suffix == "es" and not re.search(r"(?:ss|x|z|ch|sh)es$", token):
            continue  # "employees" is "employee" + s, "taxes" is "tax" + es
        if len(token) > len(suffix) + 3 and token.endswith(suffix):
            return token[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return token


def _stems(text: str) -> set[str]:
    return {_stem(t) for t in tokens(text)}


_GLUED = re.compile(r"([^\W\d_][\w.]*[:#])(\S+)")


def _unglued(word: Word) -> list[Word]:
    """A label run together with its value ("DATE:20/01/2018", as OCR reads it) as two words, the box shared
    out by characters."""
    m = _GLUED.fullmatch(word.text)
    if not m:
        return [word]
    x0, y0, x1, y1 = word.box
    cut = x0 + (x1 - x0) * len(m.group(1)) / len(word.text)
    return [Word(m.group(1), (x0, y0, cut, y1)), Word(m.group(2), (cut, y0, x1, y1))]


def lines_of(page: Page) -> list[list[Word]]:
    """The page's words as printed lines, top to bottom: words in reading order whose middles share a line."""
    lines: list[list[Word]] = []
    for word in (part for w in page.words for part in _unglued(w)):
        mid = (word.box[1] + word.box[3]) / 2
        if lines:
            last = lines[-1][-1]
            height = max(last.box[3] - last.box[1], 1.0)
            if abs(mid - (last.box[1] + last.box[3]) / 2) < height * 0.6 and word.box[0] >= last.box[0] - 1:
                lines[-1].append(word)
                continue
        lines.append([word])
    return lines


@dataclass(frozen=True)
class Support:
    """How much of the question the best pages carry."""

    share: float
    """Of the question's weight, the share held by the best stretch of three lines (0..1)."""
    missing: tuple[str, ...]
    """The question's words found on none of the pages, rarest first."""
    pages_share: float = 0.0
    """Of the question's weight, the share found anywhere on the pages."""
    unknown: tuple[str, ...] = ()
    """The question's words that no passage of the store holds: what it asks about is not in the documents."""
    known_share: float = 0.0
    """Of the weight of the question's other words, the share held by the best stretch of three lines; when it is
    whole (:data:`KNOWN_WHOLE`) and they are two or more, a word no passage holds is the question's own wording
    ("tightened" for a page that says "torque each bolt to 45 Nm"), not a subject the documents lack; 0 when the
    word no passage holds is written as a name ("Rugby"): that is a subject they lack."""
    known_words: int = 0
    unnamed: tuple[str, ...] = ()
    """Names the question says (a company, a person) that neither the pages found nor their documents' names and
    cards say: the pages are about someone else."""

    @property
    def supported(self) -> bool:
        worded = self.known_words >= 2 and self.known_share >= KNOWN_WHOLE
        return self.share >= SUPPORTED and (not self.unknown or worded) and not self.unnamed


@dataclass(frozen=True)
class Located:
    span: AnswerSpan | None
    support: Support


def _proper_names(text: str) -> set[str]:
    """The words written as names ("Apple's", "Best Buy"): capitalised with lower-case letters after, not the
    first word of a sentence; lower-cased."""
    out = set()
    for m in re.finditer(r"\b([A-Z][a-z][\w&-]*)", text):
        before = text[: m.start()].rstrip()
        if before and before[-1] not in ".?!:":
            out.add(m.group(1).lower())
    return out


class _Question:
    def __init__(self, asked: str | Question, stats: Callable[[list[str]], TermStats]) -> None:
        parsed = parse(asked)
        question = parsed.search_text  # instructions ("round to one decimal place") are not what is asked about
        terms = [t for t in parsed.terms if len(t) > 1 or t.isdigit()]
        counted = stats(terms + [f for t in terms for f in _SPELLED.get(t, ())]) if terms else TermStats(0, {})
        known = {t for said, others in parsed.expansions for t in parse(said).terms}  # a word the glossary knows
        self.alternatives: dict[str, list[set[str]]] = {}
        """Per stem of a word the glossary knows, the stems of each of its other wordings ("capex": "purchases of
        property, plant and equipment"): a stretch holding one of them holds the word."""
        for said, others in parsed.expansions:
            for t in parse(said).terms:
                self.alternatives.setdefault(_stem(t), []).extend(_stems(o) for o in others)
        names = _proper_names(question)
        self.proper = names
        """The words the question writes as names (lower-cased)."""
        when = {t for t in terms if t in RECENCY or _PERIOD_WORD.fullmatch(t)}
        scope = when | {t for t in terms if t in names}
        self.names = {_stem(t): t for t in terms if t in names and t not in when and t not in FRAMING}
        """The names it says whose document it asks about ("Apple"): the pages found, or their documents'
        names, must say them."""
        """Words that say which document and when ("Apple's", "Q3 2023", "latest"): retrieval has chosen the pages
        by them; the line that answers rarely repeats them. They weigh nothing here (a name no document holds
        still makes the question unknown)."""
        self.kind = parsed.kind
        self.weight: dict[str, float] = {}
        self.words: dict[str, str] = {}  # stem -> the question's word
        cues = _CUES.get(self.kind, set()) | {_stem(w) for w in re.findall(r"\bhow (\w+)", question.lower())}
        # "how long", "how far": the word after "how" asks for a kind of value, it names nothing
        self.unknown: list[str] = []
        """Words of what is asked about that no passage of the store holds (a typo, or a subject it never names)."""
        for t in terms:
            stem = _stem(t)
            held = any(counted.holding.get(f) for f in (t, *_SPELLED.get(t, ())))
            if counted.passages and not held and stem not in _ABOUT and stem not in cues and t not in _VALUE_WORDS \
                    and len(t) > 3 and t.isalpha() and t not in known and t not in FRAMING and t not in when \
                    and not arithmetic_word(t):  # "increase": what is computed, not what the pages speak of
                if t not in counted.near:
                    self.unknown.append(t)
                else:  # a misspelling of a word the store holds: look for that word (its stem, as indexed)
                    stem = counted.near[t]
            if t in scope and not scope >= set(terms):  # "What is the nov.?" asks about the month itself
                continue
            little = stem in _ABOUT or t in FRAMING or arithmetic_word(t)  # "increase": what is computed
            weight = counted.idf(counted.near.get(t, t)) * (0.2 if little else 0.5 if stem in cues else 1.0)
            self.weight[stem] = max(self.weight.get(stem, 0.0), weight)
            self.words.setdefault(stem, t)
        self.total = sum(self.weight.values())
        self.discussion = bool(set(terms) & _RELATING)
        """It asks how things relate ("how did X affect Y", "compare X with Y"): the evidence is a page that speaks
        of them, not one line."""
        self.parts = [p for p in ({_stem(t) for t in parse(part).terms} & self.weight.keys()
                                  for part in _CLAUSES.split(question)) if p]
        """The stems of each clause of a question that asks several things ("What was the R&D expenditure, and
        which initiatives were prioritized?"): a stretch that answers one clause supports an answer."""
        self.content = {s for s in self.weight if s not in _ABOUT and s not in cues and self.words[s] not in FRAMING
                        and not arithmetic_word(self.words[s])}
        """The words that say what is asked about (not its kind of value, not the document, not the framing)."""

    def share(self, stems: set[str], part: set[str] | None = None) -> float:
        """The share of the question's weight (of one clause's, given ``part``) that ``stems`` hold."""
        weights = self.weight if part is None else {s: self.weight[s] for s in part}
        total = sum(weights.values())
        held = sum(w for s, w in weights.items()
                   if s in stems or any(alt and alt <= stems for alt in self.alternatives.get(s, ())))
        return held / total if total else 0.0

    def best_share(self, stems: set[str]) -> float:
        """The share ``stems`` hold of the question, or of the clause they answer best when it asks several
        things."""
        whole = self.share(stems)
        if len(self.parts) < 2:
            return whole
        return max(whole, *(self.share(stems, part) for part in self.parts if len(part) >= 2))


def support(question: str | Question, pages: Sequence[Page], stats: Callable[[list[str]], TermStats],
            identity: Sequence[str] = ()) -> Support:
    """How well ``pages`` carry ``question`` (see :class:`Support`); ``stats`` counts the store's passages holding
    each word (``Catalog.term_stats``); ``identity``: the pages' documents' names and the organisations their cards
    name (``Catalog.identities``)."""
    return _support(_Question(question, stats), pages, identity)


def _support(q: _Question, pages: Sequence[Page], identity: Sequence[str] = ()) -> Support:
    best, seen, known = 0.0, set(), 0.0
    unknown = {_stem(t) for t in q.unknown}
    said = _stems(" ".join(identity))
    pair: list[set[str]] = []  # the best page's words, for a question relating what two pages speak of
    cues = _CUES.get(q.kind, set()) & q.weight.keys()
    for page in pages:
        lines = []
        titled = _stems(page.title)  # the page's title heads every line of it ("Statements of Operations")
        for line in lines_of(page):  # a value of the kind asked for stands for the words asking for it ("%")
            stems = _stems(" ".join(w.text for w in line)) | titled
            lines.append(stems | cues if cues and _spans(line, q.kind) else stems)
        lines = lines or [_stems(page.text)]
        if q.discussion:  # a page that speaks of what the question relates, or two: one for each thing related
            whole = set().union(*lines)
            best = max(best, q.best_share(whole), *(q.best_share(whole | other) for other in pair[:1]))
            pair.append(whole)
        for stems in lines:
            said |= stems & q.names.keys()
            seen |= {w for w in q.weight if w in stems or any(alt and alt <= stems for alt in q.alternatives.get(w, ()))}
        for i in range(len(lines)):
            stretch = set().union(*lines[max(0, i - 1) : i + 2])
            best = max(best, q.best_share(stretch))
            known = max(known, q.share(stretch, set(q.weight) - unknown) if set(q.weight) - unknown else 0.0)
    missing = sorted(q.weight.keys() - seen, key=lambda s: -q.weight[s])
    if not q.content and q.kind not in ("any", "name"):  # "What is the date?": a date on the page is the evidence
        typed = any(_spans(line, q.kind) for page in pages for line in lines_of(page))
        best = max(best, 1.0 if typed else 0.0)
    missing = [m for m in missing if m in q.content]  # not its framing ("compare", "discussion") nor its kind
    unnamed = tuple(n for stem, n in q.names.items() if stem not in said and n not in q.unknown)
    # only an inflected word ("tightened", "fitting", "quickly") is the question's wording; a noun no passage holds
    # ("Rugby", "tesla") is a subject the store lacks, however it is written
    named_unknown = any(t in q.proper or not _INFLECTED.search(t) for t in q.unknown)
    return Support(round(best, 4), tuple(q.words[s] for s in missing), round(q.share(seen), 4), tuple(q.unknown),
                   unnamed=unnamed, known_share=0.0 if named_unknown else round(known, 4),
                   known_words=len(q.content - unknown))


def locate(question: str | Question, pages: Sequence[Page], stats: Callable[[list[str]], TermStats],
           identity: Sequence[str] = ()) -> Located:
    """The evidence test and, when the pages pass it, the value (or line) most likely to answer, with its box.
    ``pages`` best first; ``stats`` counts the store's passages holding each word (``Catalog.term_stats``);
    ``identity``: the pages' documents' names and organisations (:func:`support`)."""
    q = _Question(question, stats)
    found = _support(q, pages, identity)
    if not found.supported:
        return Located(None, found)
    best: tuple[float, AnswerSpan] | None = None
    for rank, page in enumerate(pages):
        for score, words, kind, basis in _candidates(q, page):
            score *= 1 - 0.04 * rank
            if best is None or score > best[0]:
                box = page.to_pixels((min(w.box[0] for w in words), min(w.box[1] for w in words),
                                      max(w.box[2] for w in words), max(w.box[3] for w in words)))
                best = (score, AnswerSpan(" ".join(w.text for w in words), page.doc, page.number, box, kind,
                                          round(min(1.0, score), 4), basis))
    return Located(best[1] if best else None, found)


# -- how sure a lead is ------------------------------------------------------------------------------------------

CLEAR_LABEL = 0.8
"""A value's score (the share of the question its label carries, times how well it reads as the kind asked for)
from which its label is clear."""
LEAD_COUNTS: dict[str, tuple[int, int]] = {
    "typed value, clear label": (69, 77),
    "typed value, weak label": (96, 144),
    "text value, clear label": (141, 212),
    "text value, weak label": (10, 46),
    "nearby": (1, 15),
    "line": (0, 1),
    "table cell": (9, 14),
    "computed": (180, 180),
}
"""Leads right / claimed per :func:`lead_class`, measured without a model by ``python benchmarks/answers.py --sroie 60
--funsd 50 --mmlb-docs 43`` on 2026-12-07 (574 answerable questions: generated documents, SROIE receipts and FUNSD
forms through OCR, MMLongBench-Doc reports; ``right``: the lead's box stands on the answer and it says the whole
answer, not a part of it nor a line around it); ``computed``: ``python benchmarks/words.py``."""
LEAD_CONFIDENCE = {name: round((right + 1) / (n + 2), 3) for name, (right, n) in LEAD_COUNTS.items()}
"""A lead's confidence per class: (right + 1) / (claimed + 2) of :data:`LEAD_COUNTS`, as extraction's."""
LEAD_REVIEW_BELOW = 0.8
"""Below this confidence a lead is a possible answer to check ("needs review"), not the answer: the threshold
extraction flags by."""
_TYPED = frozenset({"amount", "date", "percent", "count", "year"})


def lead_class(span: AnswerSpan, kind: str) -> str:
    """Which measured class a lead falls in: a value of a typed kind (amount, date, percent, count, year) or of
    free text, under a clear label or a weak one; a line; a table cell; a computation."""
    if span.basis in ("computed", "table cell", "line", "nearby"):
        return span.basis
    typed = "typed" if kind in _TYPED else "text"
    return f"{typed} value, {'clear' if span.score >= CLEAR_LABEL else 'weak'} label"


def calibrated(span: AnswerSpan, kind: str) -> AnswerSpan:
    """``span`` with its measured confidence and whether it needs review (always, for a class never measured)."""
    name = lead_class(span, kind)
    confidence = LEAD_CONFIDENCE[name] if LEAD_COUNTS.get(name, (0, 0))[1] else None
    return replace(span, confidence=confidence, needs_review=confidence is None or confidence < LEAD_REVIEW_BELOW)


def _fits(text: str, kind: str) -> float:
    """How well ``text`` reads as the kind of value asked for: 1 fits, 0.5 a value of another kind, 0 none."""
    if _LABEL_END.fullmatch(text.split()[-1] if text.split() else ""):
        return 0.0  # a label ("No:", "Tax ID:") is no value
    text = text.strip(" :;,")
    if kind in _TYPED:
        text = text.removesuffix(".")  # the full stop of the sentence it ends ("lease ends on 30 June 2026.")
    if kind == "count" and text.lower() in _NUMBER_WORDS:
        return 1.0  # "two anchor points"
    number = bool(_FITS["number"].fullmatch(text)) and any(c.isdigit() for c in text)
    if kind in ("percent", "year", "count", "date"):
        if _FITS[kind].fullmatch(text):
            return 0.6 if kind == "date" and _FITS["year"].fullmatch(text) else 1.0
        return 0.4 if number else 0.0
    if kind == "amount":
        if number and not _FITS["year"].fullmatch(text):
            return 1.0 if re.search(r"\d[.,]\d\d\)?$|[$€£¥]|^[a-z]{1,3}\$?\d", text, re.I) else 0.8
        return 0.0
    words = text.split()
    if kind == "name":
        named = any(w[:1].isalpha() for w in words) and all(w[:1].isupper() or not w[:1].isalpha() for w in words)
        return 1.0 if named and not number else 0.0
    if not words or _LABEL_END.fullmatch(words[-1]):
        return 0.0  # a label is no value
    value_like = any(c.isdigit() for c in text) or all(w[:1].isupper() for w in words if w[:1].isalpha())
    return (1.0 if value_like else 0.6) * (1.0 if len(words) <= 5 else 0.85)


def _spans(words: list[Word], kind: str) -> list[tuple[int, int, float]]:
    """``(start, end, fit)`` of the spans of ``words`` that read as ``kind``: values of up to 4 words, shorter
    preferred; a name or free text as long as it runs (up to 8 words, never over the next label)."""
    out = []
    text_like = kind in ("name", "any")
    for i in range(len(words)):
        longest: tuple[int, int, float] | None = None
        for j in range(i + 1, min(len(words), i + (8 if text_like else 4)) + 1):
            if j > i + 1 and _LABEL_END.fullmatch(words[j - 2].text):
                break  # a span does not run over the next label ("Date:")
            fit = _fits(" ".join(w.text for w in words[i:j]), kind)
            if fit and text_like:
                longest = (i, j, fit)
            elif fit:
                out.append((i, j, fit * (1.0 if j == i + 1 else 0.85)))
            elif text_like:
                break
        if longest:
            out.append(longest)
    return out


_UNITS = frozenset({"thousand", "million", "millions", "billion", "billions", "trillion", "bn", "mn", "mln", "%",
                    "percent", "eur", "euro", "euros", "usd", "dollars", "gbp", "pounds", "chf", "francs", "jpy", "yen",
                    "cny", "yuan", "inr", "rupees"})
"""Words that finish a value printed after it ("2.4 million euros", "12 percent"): part of the value shown."""
_UNIT_KINDS = frozenset({"amount", "count", "percent"})


def _with_unit(line: list[Word], end: int) -> int:
    """``end`` moved over up to two unit words that follow the value (its scale, its currency)."""
    for _ in range(2):
        if end < len(line) and line[end].text.lower().strip(".,;:)") in _UNITS:
            end += 1
        else:
            break
    return end


def _candidates(q: _Question, page: Page) -> list[tuple[float, list[Word], str, str]]:
    lines = lines_of(page)
    stems = [[_stems(w.text) for w in line] for line in lines]
    out: list[tuple[float, list[Word], str, str]] = []
    kind = "value"
    for n, line in enumerate(lines):
        above = set().union(*stems[n - 1]) if n else set()
        around = q.share(set().union(*(s for m in range(max(0, n - 2), min(len(lines), n + 3)) for s in stems[m])))
        for i, j, fit in _spans(line, q.kind if q.kind != "any" else "any"):
            if stems[n][i] & q.weight.keys() and not any(c.isdigit() for c in line[i].text):
                continue  # an answer does not start with the question's own words
            left = q.share(set().union(*stems[n][:i]))
            gap = next((i - k - 1 for k in range(i - 1, -1, -1) if stems[n][k] & q.weight.keys()), i)
            if not i or set().union(*stems[n][:i]) - q.weight.keys():
                left *= 0.92  # less than a label made of the question's words alone ("Assembly point: car park B.")
            after = stems[n][j : j + 4]
            labels_next = any(_FITS["number"].fullmatch(w.text.strip(" :;,.")) and any(c.isdigit() for c in w.text)
                              for w in line[j : j + 4])  # "Subtotal 10.00 Tax 0.80": "Tax" labels the next value
            if q.kind in _UNIT_KINDS and not labels_next and any(a & q.weight.keys() for a in after[:2]):
                # "two anchor points per bracket": the label after the value
                around_value = q.share(set().union(*stems[n][:i], *after))
                if around_value > left * 0.97 ** gap:
                    left, gap = around_value * 0.95, 0
            # a label above the value: the previous line, when it stands over the value
            x0, x1 = line[i].box[0], line[j - 1].box[2]
            over = n and any(w.box[0] < x1 + 40 and w.box[2] > x0 - 40 for w in lines[n - 1])
            label, basis = max((left * 0.97 ** gap, "label" if gap <= 1 else "label apart"),
                               (q.share(above) * 0.85 if over else 0.0, "label above"), (around * 0.35, "nearby"))
            if q.kind == "any":  # any value: only what follows its label on the line, or a line under its label
                if i and left and gap <= 1:
                    label, basis = left * 0.97 ** gap, "label"
                elif i == 0 and over and not stems[n][0] & q.weight.keys():
                    label, basis = q.share(above) * 0.85, "label above"
                else:
                    continue
            if q.kind == "any" and i and line[i - 1].text.endswith(":") and fit:
                fit = 1.0  # what follows "Key:" is its value, whatever it looks like ("Assembly point: car park B.")
            score = label * fit
            if score > 0:
                out.append((score, line[i:_with_unit(line, j)] if q.kind in _UNIT_KINDS else line[i:j], kind, basis))
    if not out:  # no value of the kind asked for: the line that carries most of the question
        for n, line in enumerate(lines):
            words = set().union(*stems[n])
            share = q.share(words)
            if share and words - q.weight.keys():  # a line of only the question's words (an empty label) says nothing
                out.append((share * 0.6, line, "sentence", "line"))
    return out
