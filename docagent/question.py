"""A question, read once: the words that say what it asks about, the words people use for them, the period it
asks about, the kind of value it wants, whether it asks for a computation, and the instructions set aside.

Every task reads the same :class:`Question` (:func:`parse`): retrieval searches its terms and expansions and
ranks documents by its periods; abstention and the locator weigh its terms; table lookups and chart read its
arithmetic intent. Instructions about the answer's form ("round to one decimal place", "in USD millions",
"answer in percents", "clearly") are kept apart so they never steer retrieval or count as evidence.

    >>> q = parse("What was Apple's capex in Q2 2023? Round to one decimal place.")
    >>> q.periods, q.instructions
    ((Period(year=2023, quarter=2, fiscal=False),), ('Round to one decimal place',))
    >>> "purchases" in q.expansion_terms
    True
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from docagent.text import WORD, words

__all__ = [
    "ANNUAL",
    "FRAMING",
    "QUARTERLY",
    "RECENCY",
    "STOPWORDS",
    "Glossary",
    "Period",
    "Question",
    "abbreviations_in",
    "answer_kind",
    "arithmetic_word",
    "glossary",
    "lexical_terms",
    "names_in",
    "needs_arithmetic",
    "parse",
    "periods_in",
]

STOPWORDS = frozenset(
    ["a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could", "did", "do", "does", "doing", "down", "during", "each", "few", "for", "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers", "herself", "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself", "just", "me", "more", "most", "my", "myself", "no", "nor", "not", "now", "of", "off", "on", "once", "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "same", "she", "should", "so", "some", "such", "than", "that", "the", "their", "theirs", "them", "themselves", "then", "there", "these", "they", "this", "those", "through", "to", "too", "under", "until", "up", "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours", "yourself", "yourselves", "according", "also", "among", "amongst", "many", "much", "per", "shown", "show", "shows", "tell", "give", "given", "list", "please", "document", "documents", "page", "pages"]
)
"""Words that carry no evidence of which page is meant. Dropping them keeps BM25 fast on large stores (a query
term in every passage makes FTS5 score every passage) and changes no ranking that matters."""

_YEAR_IN = re.compile(r"^(?:[a-z]+)?((?:19|20)\d\d)(?:[a-z]+)?$")


def _tokens(text: str) -> list[str]:
    """Lower-cased words; a year run together with letters also gives the year alone ("FY2018" -> "fy2018", "2018")."""
    out = []
    for token in words(text):
        out.append(token)
        year = _YEAR_IN.match(token)
        if year and year.group(1) != token:
            out.append(year.group(1))
    return out


def names_in(question: str) -> set[str]:
    """The question's words written as names are (capitalised, upper-case, or with a digit), lower-cased, and
    adjacent pairs of them run together: "Best Buy" -> best, buy, bestbuy; "3M"; "FY2018" -> fy2018, 2018.
    Not "best" or "global" written in lower case."""
    found = WORD.findall(question)
    out: set[str] = set()
    prev = ""
    for word in found:
        if word[0].isupper() or any(c.isdigit() for c in word):
            low = word.lower()
            out.update(t for t in _tokens(low) if t not in STOPWORDS)
            if prev:
                out.add(prev + low)
            prev = "" if low in STOPWORDS else low
        else:
            prev = ""
    return out


def lexical_terms(text: str) -> list[str]:
    """The text's content words, lower-cased, in order, each once ("FY2018" also gives "2018")."""
    seen: dict[str, None] = {}
    for token in _tokens(text):
        if token not in STOPWORDS and (len(token) > 1 or token.isdigit()):
            seen.setdefault(token, None)
    return list(seen)


# -- the kind of value asked for, and arithmetic ------------------------------------------------------------

_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("percent", re.compile(r"\b(percent|percentage|per cent|proportion)\b|%")),
    ("year", re.compile(r"\b(what|which) year\b|\byear (of|did|was|when)\b|\bin what year\b")),
    ("date", re.compile(r"\bwhen\b|\bdate\b|\b(what|which) day\b|\bdated\b|\bdeadline\b")),
    ("count", re.compile(r"\bhow many\b|\bnumber of\b|\bcount of\b")),
    ("amount", re.compile(r"\bhow much\b|\b(total|amount|price|cost|costs|sum|balance|fee|fees|paid|payment|due|"
                          r"revenue|revenues|sales|income|tax|gst|vat|salary|spend|spent|budget|profit|loss|rent|"
                          r"dividend|dividends|wage|wages)\b")),
    ("name", re.compile(r"^\s*who\b|\bwhich (company|organi[sz]ation|firm|vendor|store|shop|bank|person|country|city)\b"
                        r"|\b(name of|company|vendor|seller|supplier|merchant|issuer|employer)\b")),
)


def answer_kind(question: str) -> str:
    """What the question asks for: ``percent``, ``year``, ``date``, ``count``, ``amount``, ``name`` or ``any``."""
    q = question.lower()
    return next((kind for kind, pattern in _KINDS if pattern.search(q)), "any")


_ARITHMETIC = re.compile(
    r"\b(sum|total of|add|difference|differ|minus|average|mean|median|ratio|times|percent(age)? change|"
    r"increase|decrease|grow|growth|how (much|many) (more|less|fewer|higher|lower)|combined|altogether|divided)\b", re.IGNORECASE)


def arithmetic_word(word: str) -> bool:
    """Whether a word asks for a computation ("increase", "difference", "average"): what is computed, not what it
    is computed over."""
    return bool(_ARITHMETIC.fullmatch(word))


def needs_arithmetic(question: str) -> bool:
    """Whether a question asks for a computation rather than a lookup ("weighted average shares" is a line item,
    not an average to compute)."""
    return bool(_ARITHMETIC.search(_LINE_ITEMS.sub(" ", question)))


_LINE_ITEMS = re.compile(r"(?i)\bweighted[- ]average\b|\baverage (?:number of )?shares\b|\bnet (?:increase|decrease|change) in\b")
"""Line items whose names sound like arithmetic."""


# -- instructions about the answer's form --------------------------------------------------------------------

_NUM = r"(?:one|two|three|four|five|\d+)"
_SCALE = r"(?:millions?|billions?|thousands?|mm|bn|m|k)"
_FORMAT = (rf"(?:percent(?:age)?s?(?:\s+terms?)?|%|decimals?|fractions?|integers?|whole\s+numbers?|(?:usd|us\s*\$|\$|dollars|eur|euros?|gbp)"
           rf"(?:\s+{_SCALE})?|millions?|billions?|thousands?|(?:one|a\s+single|two|three)\s+(?:words?|sentences?|paragraphs?)"
           r"|bullet\s+points|a\s+list|yes\s+or\s+no|json|a\s+table)")
FRAMING = frozenset([
    "compare", "compared", "comparison", "relate", "related", "relation", "relationship", "relative", "analyze",
    "analyse", "analysis", "examine", "discuss", "discussed", "discussion", "discussions", "section", "sections",
    "information", "detail", "details", "insight", "insights", "specific", "specifically", "significant",
    "significantly", "mention", "mentioned", "disclose", "disclosed", "provide", "provided", "highlight",
    "highlighted", "identify", "identified", "affect", "affected", "effect", "effects", "impact", "impacted",
    "influence", "influenced", "influences", "influencing", "driver", "drivers", "factor", "factors", "key", "primary",
    "principal", "main", "overall", "correlation", "correlate", "correlates", "align", "aligns", "reflect", "reflects",
    "suggest", "suggests", "indicate", "indicates", "explain", "describe", "summarize", "summarise", "change",
    "changes", "level", "levels", "data", "figure", "figures", "breakdown", "various", "different", "diverse",
    "across", "regarding", "especially", "newly", "since", "stack", "report", "reported", "reports", "reporting",
    "announce", "announced", "announcement", "announcements", "outline", "outlined", "area", "areas", "overview",
    "understand", "combine", "connection", "stated", "state", "status", "noted", "note", "notes", "clearly",
    "plainly", "conclusions", "drawing", "specified", "gleaned", "glean", "evident", "shown", "presented", "based",
    "behind", "extent", "scale", "major", "notable", "trend", "trends", "performance", "context", "line", "lines",
    "item", "items", "using", "used"])
"""Words that frame an analyst's question rather than name what it asks about ("how did X *relate* to Y in the
*discussion* *section*"): the evidence test weighs them little and never calls them words no document holds."""
RECENCY = frozenset(["latest", "recent", "most", "last", "current", "newest", "quarter", "quarterly", "annual",
                     "annually", "year", "yearly", "fiscal", "month", "months", "period", "periods", "ended", "ending",
                     "filing", "filings", "fy", "ytd", "previous", "prior", "preceding", "future", "january", "february",
                     "march", "april", "may", "june", "july", "august", "september", "october", "november", "december",
                     "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"])
"""Words that say when (with the periods a question names: "Q3 2023", "FY2017"): what a page is dated by, not
what it says on the line that answers."""

_INSTRUCTIONS = re.compile(
    r"(?i)"
    rf"\b(?:please\s+)?(?:round(?:ed|ing)?|rounded off)\s+(?:(?:your|the)\s+answer\s+)?(?:to\s+)?(?:the\s+)?(?:nearest\s+)?(?:{_NUM}\s+)?(?:decimals?(?:\s+(?:places?|points?|digits?))?|significant\s+(?:figures?|digits?)|whole\s+(?:number|percent)|integer|hundredths?|tenths?|thousandths?|cents?|dollars?|millions?|billions?|thousands?|percent(?:age)?)\b"
    rf"|\b(?:please\s+)?(?:answer|respond|reply|express\s+(?:it|the\s+answer|your\s+answer)|give\s+(?:it|the\s+answer|your\s+answer)|report\s+(?:it|the\s+answer))\s+(?:in|as)\s+(?:a\s+)?{_FORMAT}\b"
    rf"|\b(?:expressed\s+)?in\s+(?:usd|us\s*\$|\$|u\.s\.\s+dollars|dollars|eur|euros?|gbp)\s+{_SCALE}\b"
    r"|\b(?:expressed\s+|answer(?:ed)?\s+)in\s+percent(?:age)?s?(?:\s+terms)?\b"
    r"|\b(?:clearly|plainly|explicitly|concisely|briefly)\b"
    r"|\b(?:without|before)\s+drawing\s+(?:any\s+)?conclusions?\b|\bdrawing\s+conclusions?\b"
    r"|\b(?:show|explain)\s+your\s+(?:work|reasoning|calculation)s?\b|\bstep[ -]by[ -]step\b"
    r"|\b(?:if\s+(?:it\s+is\s+)?(?:not|un)\s*(?:available|answerable|known)|if\s+the\s+(?:document|report)s?\s+(?:do(?:es)?\s+not|don't)\s+say)[^.?!]*"
    r"|\bkeep\s+(?:the\s+)?answer\s+(?:short|brief)\b"
)


def _set_aside(text: str) -> tuple[str, tuple[str, ...]]:
    said: list[str] = []

    def cut(m: re.Match[str]) -> str:
        piece = " ".join(m.group(0).split()).strip(" ,;")
        if piece:
            said.append(piece)
        return " "

    return " ".join(_INSTRUCTIONS.sub(cut, text).split()), tuple(said)


# -- periods --------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Period:
    """A reporting period a question asks about: a (fiscal) year, and a quarter of it when it names one."""

    year: int
    quarter: int | None = None
    fiscal: bool = False
    """The question said "fiscal" or "FY"."""


_ORD = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4, "final": 4, "last": 4}
_Y4 = r"(?:19|20)\d\d"
_YY = rf"(?:{_Y4}|['’]\d\d)(?![\d-])"
"""A year after a quarter: four digits, or two after an apostrophe (Q3 '23); "Q3 10-Q" names no year."""
_FY = r"(?:(?:fiscal|financial)(?:\s+year)?|fy)"
_QUARTER_WORD = r"(?:first|second|third|fourth|1st|2nd|3rd|4th|final|last)"
_PERIOD_PATTERNS: tuple[re.Pattern[str], ...] = (
    # Q3 2023, Q3 FY2023, fiscal Q3 2023, Q3 of fiscal 2023, Q3 '23, Q3, 2023, FY23 Q3 is below
    re.compile(rf"(?i)\b(?P<fy0>fiscal\s+)?q([1-4])\s*,?\s*(?:of\s+)?(?:the\s+)?(?:(?P<fy>{_FY})\s*[-'’ ]?\s*(?P<fyy>{_Y4}|\d\d)(?![\d-])|[-'’ ]?\s*(?P<y>{_YY}))"),
    # 3Q23, 3Q 2023, 3Q FY23
    re.compile(rf"(?i)\b([1-4])q\s*(?:(?P<fy>{_FY})\s*'?(?P<fyy>{_Y4}|\d\d)|(?P<y>{_Y4}|(?<=q)\d\d|['’]\d\d))(?![\d-])"),
    # 2023 Q3, FY2023 Q3, FY23 Q3, fiscal 2023 third quarter
    re.compile(rf"(?i)\b(?:(?P<fy>{_FY})\s*[-'’]?\s*(?P<fyy>{_Y4}|\d\d)|(?P<y>{_Y4}))\s*(?:'s\s+)?(?:q([1-4])|({_QUARTER_WORD})\s+quarter)\b"),
    # the third quarter of (fiscal) 2023, third fiscal quarter of 2023, the last quarter of 2023
    re.compile(rf"(?i)\b({_QUARTER_WORD})\s+(?P<fy>fiscal\s+)?quarter\s*,?\s+(?:of\s+|in\s+|for\s+)?(?:the\s+)?(?P<fy2>{_FY})?\s*(?:year\s+)?(?P<y>{_Y4})\b"),
)
_YEAR_PATTERNS: tuple[re.Pattern[str], ...] = (
    # FY2023-24, fiscal year 2023/24: the year it ends
    re.compile(rf"(?i)\b(?P<fy>fy|fiscal(?:\s+year)?|financial\s+year)\s*'?(?P<y0>{_Y4})\s*[-/–]\s*(?P<y>{_Y4}|\d\d)(?![\d-])"),
    re.compile(rf"(?i)\b(?P<fy>fy|fiscal(?:\s+year)?|financial\s+year)\s*[-'’ ]?\s*(?P<y>{_Y4}|\d\d)(?![\d-])"),
    re.compile(rf"(?i)(?<![\d$.,])(?P<y>{_Y4})(?![\d,])"),
)
_LATEST = re.compile(r"(?i)\b(?:latest|most\s+recent|newest|last\s+(?:reported\s+)?(?:quarter|10-?[qk]|filing|report|fiscal\s+year)|current\s+(?:quarter|filing|report|10-?[qk]))\b")
QUARTERLY = re.compile(r"(?i)\b(?:10-?q|quarter(?:ly)?)\b")
ANNUAL = re.compile(r"(?i)\b(?:10-?k|annual|fiscal\s+year|full\s+year)\b")


def _year(text: str, start: str = "") -> int:
    text = text.strip("'’")
    year = int(text)
    if year > 100:
        return year
    if start:  # "FY2023-24": the century of the year it starts in
        return int(start[:2]) * 100 + year
    return 2000 + year if year < 70 else 1900 + year


def periods_in(text: str) -> tuple[Period, ...]:
    """The periods ``text`` names, in order: quarters with their years first ("Q3 2023", "the second quarter of
    2023", "3Q23", "2023 Q3", "fiscal Q4 2022"), then years ("FY2022", "fiscal 2022", "FY2023-24": 2024, "2021") not
    already part of a quarter. A two-digit year needs an apostrophe or FY ("Q3 '23", "FY23"): "Q3 10-Q" names none."""
    found: list[tuple[int, Period]] = []
    taken = bytearray(len(text) + 1)
    for pattern in _PERIOD_PATTERNS:
        for m in pattern.finditer(text):
            if any(taken[m.start() : m.end()]):
                continue
            groups = m.groupdict()
            numbered = [g for i, g in enumerate(m.groups(), 1) if g and i not in {pattern.groupindex[n] for n in groups}]
            quarter = next((int(g) for g in numbered if g.isdigit()), None)
            if quarter is None:
                quarter = next((_ORD[g.lower()] for g in numbered if g.lower() in _ORD), None)
            year = groups.get("fyy") or groups.get("y")
            if quarter is None or not year:
                continue
            fiscal = any(groups.get(k) for k in ("fy", "fy0", "fy2", "fyy"))
            found.append((m.start(), Period(_year(year), quarter, fiscal)))
            taken[m.start() : m.end()] = b"\x01" * (m.end() - m.start())
    for pattern in _YEAR_PATTERNS:
        for m in pattern.finditer(text):
            if any(taken[m.start() : m.end()]):
                continue
            groups = m.groupdict()
            fiscal = bool(groups.get("fy"))
            if len(m.group("y").strip("'’")) != 4 and not (fiscal and (groups.get("y0") or groups["fy"].lower() == "fy")):
                continue  # "fiscal 12 months" is no year; "FY23" is
            found.append((m.start(), Period(_year(m.group("y"), groups.get("y0") or ""), None, fiscal)))
            taken[m.start() : m.end()] = b"\x01" * (m.end() - m.start())
    out: list[Period] = []
    for _, period in sorted(found, key=lambda sp: sp[0]):
        if period not in out:
            out.append(period)
    return tuple(out)


# -- the glossary ---------------------------------------------------------------------------------------------

def _phrase_key(text: str) -> tuple[str, ...]:
    """A variant as the words it is matched by: lower case, ``&``, ``-``, ``/`` and ``,`` as spaces, a final "s"
    and a possessive dropped ("P&L" -> ("p", "l"); "Balance Sheets" -> ("balance", "sheet"))."""
    out = []
    for w in re.split(r"[\s&/,\-]+", text.lower().replace("’", "'")):
        w = w.strip(".'\"()").removesuffix("'s")
        w = "".join(c for c in w if c.isalnum())
        if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
            w = w[:-1]
        if w:
            out.append(w)
    return tuple(out)


@dataclass(frozen=True)
class Glossary:
    """Groups of words that mean the same thing ("capex", "purchases of property and equipment"), from
    ``docagent/data/glossary.txt`` and the files named by ``DOCAGENT_GLOSSARY``."""

    groups: tuple[tuple[str, ...], ...] = ()
    sources: tuple[str, ...] = ()
    keys: tuple[tuple[str, ...], ...] = field(default=(), compare=False, repr=False)
    """Each group's variants as matched (``" balance sheet "``), computed once."""

    def __post_init__(self) -> None:
        if len(self.keys) != len(self.groups):
            keys = tuple(tuple(" " + " ".join(_phrase_key(v)) + " " for v in group) for group in self.groups)
            object.__setattr__(self, "keys", keys)

    @classmethod
    def from_text(cls, text: str, source: str = "") -> Glossary:
        groups = []
        for number, line in enumerate(text.splitlines(), 1):
            line = "" if line.lstrip().startswith("#") else line.strip()  # a comment is a whole line: "C#" is a word
            if not line:
                continue
            variants = tuple(v.strip() for v in line.split("|") if v.strip())
            if len(variants) < 2:
                msg = f"{source or 'glossary'} line {number}: a group needs two variants or more, separated by '|' ({line!r})"
                raise ValueError(msg)
            groups.append(variants)
        return cls(tuple(groups), (source,) if source else ())

    def __add__(self, other: Glossary) -> Glossary:
        return Glossary(self.groups + other.groups, self.sources + other.sources)

    def expand(self, text: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """What ``text`` says that the glossary knows, and the other variants of each: ``(said, others)``."""
        said = _phrase_key(text)
        padded = " " + " ".join(said) + " "
        out: list[tuple[str, tuple[str, ...]]] = []
        for group, keys in zip(self.groups, self.keys, strict=True):
            hit = next((i for i, k in enumerate(keys) if k.strip() and k in padded), None)
            if hit is not None:
                out.append((group[hit], tuple(v for i, v in enumerate(group) if i != hit)))
        return tuple(out)


@functools.lru_cache(maxsize=8)
def _glossary(extra: str) -> Glossary:
    base = resources.files("docagent").joinpath("data/glossary.txt").read_text(encoding="utf-8")
    out = Glossary.from_text(base, "docagent/data/glossary.txt")
    for path in (p for p in extra.split(os.pathsep) if p.strip()):
        try:
            text = Path(path).expanduser().read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as e:
            from docagent.errors import ConfigError

            why = e.strerror if isinstance(e, OSError) and e.strerror else "it is not UTF-8 text" if isinstance(e, UnicodeDecodeError) else str(e)
            msg = f"DOCAGENT_GLOSSARY names {path!r}, which cannot be read ({why}); point it at a UTF-8 text file of '|'-separated groups"
            raise ConfigError(msg) from e
        try:
            out = out + Glossary.from_text(text, path)
        except ValueError as e:
            from docagent.errors import ConfigError

            raise ConfigError(str(e)) from e
    return out


def glossary(extra: str | None = None) -> Glossary:
    """The packaged glossary plus the user's (``extra``, else ``$DOCAGENT_GLOSSARY``: paths joined by ``os.pathsep``)."""
    return _glossary(os.environ.get("DOCAGENT_GLOSSARY", "") if extra is None else extra)


# -- abbreviations defined in documents -------------------------------------------------------------------------

_DEFINED = re.compile(r"\((?:the\s+)?[\"“]?([A-Z][A-Za-z&/.-]{1,9})[\"”]?\)")
_JOINERS = frozenset(["and", "of", "the", "for", "in", "on", "to", "&", "a", "an"])


def abbreviations_in(text: str) -> dict[str, str]:
    """Abbreviations ``text`` defines: a long form followed by its short form in parentheses whose letters are the
    long form's initials ("property, plant and equipment (PP&E)" -> ``{"PP&E": "property, plant and equipment"}``;
    "Management's Discussion and Analysis (MD&A)"). Short forms need two capitals or more."""
    out: dict[str, str] = {}
    for m in _DEFINED.finditer(text):
        short = m.group(1).rstrip(".")
        letters = [c.lower() for c in short if c.isalpha()]
        if sum(c.isupper() for c in short) < 2 or not 2 <= len(letters) <= 8 or short in out:
            continue
        before = text[max(0, m.start() - 200) : m.start()].split()
        for size in range(len(letters), min(len(before), len(letters) + 5) + 1):
            words_ = [w.strip(",;:()\"“”'’") for w in before[-size:]]
            content = [w for w in words_ if w and w.lower() not in _JOINERS]
            if [w[0].lower() for w in content] == letters and content[0][:1].isalpha():
                out[short] = " ".join(w for w in before[-size:]).strip(",;: ")
                break
    return out


# -- the question ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Question:
    """A question read once (:func:`parse`)."""

    text: str
    """As asked."""
    search_text: str
    """The question without its instructions: what retrieval embeds and searches."""
    terms: tuple[str, ...]
    """Content words of ``search_text``, lower-cased, each once (what BM25 and the evidence test weigh)."""
    names: frozenset[str]
    """Words written as names (capitalised, upper case, with digits): what routes to a document."""
    expansions: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """Glossary entries the question says, with their other variants: ``("capex", ("capital expenditure", ...))``."""
    periods: tuple[Period, ...] = ()
    """Periods asked about, in order."""
    latest: bool = False
    """It asks for the newest (latest, most recent, last quarter ...)."""
    kind: str = "any"
    """The kind of value asked for (:func:`answer_kind`)."""
    arithmetic: bool = False
    """It asks for a computation (difference, ratio, growth ...) rather than a lookup."""
    instructions: tuple[str, ...] = ()
    """Instructions about the answer's form, set aside."""
    abbreviations: dict[str, str] = field(default_factory=dict, hash=False)
    """Short forms the question uses and the long forms they stand for, from the glossary or the documents."""

    @classmethod
    def parse(cls, text: str, words_of: Glossary | None = None) -> Question:
        """Read ``text`` (see :func:`parse`)."""
        return parse(text, words_of)

    @property
    def expansion_terms(self) -> tuple[str, ...]:
        """Words of the expansions that the question does not say itself."""
        own = set(self.terms)
        seen: dict[str, None] = {}
        for _, others in self.expansions:
            for variant in others:
                for t in lexical_terms(variant):
                    if t not in own:
                        seen.setdefault(t, None)
        return tuple(seen)

    @property
    def dense_text(self) -> str:
        """What the query embedding is made from: the question without instructions, the long form of each
        abbreviation it uses after it."""
        longs = [v for v in self.abbreviations.values() if v.lower() not in self.search_text.lower()]
        return self.search_text + (" (" + "; ".join(longs) + ")" if longs else "")

    def with_abbreviations(self, found: dict[str, str]) -> Question:
        """This question with more short forms resolved (``{"pp&e": "property, plant and equipment"}``)."""
        if not found:
            return self
        merged = {**found, **self.abbreviations}
        extra = tuple((short, (long,)) for short, long in found.items() if short not in self.abbreviations)
        return Question(self.text, self.search_text, self.terms, self.names, self.expansions + extra, self.periods,
                        self.latest, self.kind, self.arithmetic, self.instructions, merged)


def _is_short_form(variant: str) -> bool:
    letters = [c for c in variant if c.isalnum()]
    return len(letters) <= 6 and " " not in variant.strip()


def parse(text: str | Question, words_of: Glossary | None = None) -> Question:
    """Read a question once (see :class:`Question`). ``words_of``: the glossary (default :func:`glossary`)."""
    if isinstance(text, Question):
        return text
    search_text, instructions = _set_aside(text)
    if not WORD.search(search_text):
        search_text, instructions = text, ()  # a question that is all instruction is searched as it is
    gloss = glossary() if words_of is None else words_of
    expansions = gloss.expand(search_text)
    abbreviations: dict[str, str] = {}
    for said, others in expansions:
        if _is_short_form(said):
            long = next((o for o in others if not _is_short_form(o)), "")
            if long:
                abbreviations[said.lower()] = long
    return Question(
        text=text,
        search_text=search_text,
        terms=tuple(lexical_terms(search_text)),
        names=frozenset(names_in(search_text)),
        expansions=expansions,
        periods=periods_in(search_text),
        latest=bool(_LATEST.search(search_text)),
        kind=answer_kind(search_text),
        arithmetic=needs_arithmetic(search_text),
        instructions=instructions,
        abbreviations=abbreviations,
    )
