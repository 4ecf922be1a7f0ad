"""Public extraction data sets as ``docagent eval extract`` labels (JSON lines on stdout)::

    python -m docagent.evaluation.datasets sroie ../shared/data/sroie > sroie.jsonl
    python -m docagent.evaluation.datasets funsd ../shared/data/funsd > funsd.jsonl

and public retrieval sets as ``docagent eval retrieval`` qrels::

    python -m docagent.evaluation.datasets kleister-routing ../shared/data/kleister_nda > nda.jsonl
    python -m docagent.evaluation.datasets mmlongbench-corpus ../shared/data/mmlongbench_doc > mmlb.jsonl

SROIE receipts: company, date, address, total. FUNSD forms (test split): each linked question becomes a
field named after its words (``"DATE:"`` -> ``date``); a question asked twice on a form keeps its first answer.

Kleister-NDA routing: questions written from each agreement's labelled fields, naming its parties ("What is
the term of the agreement between A and B?"); the relevant pages are those that print the answer (dates,
terms and states in their usual printed forms); a question whose answer is printed on no page is left out.
MMLongBench-Doc corpus-wide: its questions with evidence pages and no ``scope``, so each is searched over
every indexed document; ``kind`` is the document's type, for ``--by-kind``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

__all__ = ["funsd_labels", "kleister_routing_qrels", "mmlongbench_corpus_qrels", "sroie_labels"]


def sroie_labels(root: str | Path) -> list[dict[str, Any]]:
    root = Path(root)
    rows = [json.loads(line) for line in (root / "sroie_test_subset.jsonl").read_text(encoding="utf-8").splitlines() if line]
    return [{"file": str(root / r["image"]), "fields": r["key_info"], "types": {"date": "date", "total": "decimal"}}
            for r in rows]


def _field_name(question: str) -> str:
    name = "_".join(re.findall(r"[a-z0-9]+", question.lower()))
    return name if name and not name[0].isdigit() else f"field_{name}"


def funsd_labels(root: str | Path, split: str = "test") -> list[dict[str, Any]]:
    root = Path(root)
    out = []
    for line in (root / "funsd_kv_pairs.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line) if line else None
        if not row or row.get("split") != split:
            continue
        fields: dict[str, str] = {}
        for pair in row["pairs"]:
            name = _field_name(pair["question"])
            if name != "field_" and pair["answer"].strip():
                fields.setdefault(name, pair["answer"])
        if fields:
            folder = "testing_data" if split == "test" else "training_data"
            out.append({"file": str(root / folder / "images" / Path(row["image"]).name), "fields": fields})
    return out


_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]
_NUMBERS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]


def _date_pattern(iso: str) -> re.Pattern[str]:
    """The usual printed forms of an ISO date: May 20, 2014 / 20th day of May, 2014 / 5/20/2014 / 2014-05-20."""
    year, month, day = (int(x) for x in iso.split("-"))
    name = _MONTHS[month - 1]
    d = rf"0?{day}(?:st|nd|rd|th)?"
    forms = [
        rf"{name}\.?\s+{d},?\s+{year}",
        rf"{name[:3]}\.?\s+{d},?\s+{year}",
        rf"{d}\s+(?:day\s+of\s+)?{name},?\s+{year}",
        rf"0?{month}[/.-]0?{day}[/.-](?:{year}|{year % 100:02d})\b",
        rf"{year}-{month:02d}-{day:02d}",
    ]
    return re.compile("|".join(forms), re.IGNORECASE)


def _term_pattern(term: str) -> re.Pattern[str] | None:
    m = re.fullmatch(r"(\d+)\s+(year|month|day)s?", term.strip(), re.IGNORECASE)
    if not m:
        return re.compile(re.escape(term), re.IGNORECASE)
    n, unit = int(m.group(1)), m.group(2).lower()
    word = _NUMBERS[n] if n < len(_NUMBERS) else str(n)
    return re.compile(rf"\b(?:{n}|{word})(?:\s*\(\d+\))?[\s-]+{unit}s?\b", re.IGNORECASE)


def _parties(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def kleister_routing_qrels(root: str | Path) -> list[dict[str, Any]]:
    """Questions naming each NDA's parties, with the pages that print the answer (see the module doc)."""
    import pymupdf

    root = Path(root)
    out = []
    for line in (root / "dev-0.jsonl").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        path = root / row["document"]
        expected = row["expected"]
        parties = expected.get("party") or []
        if not parties:
            continue
        with pymupdf.open(path) as doc:
            pages = [" ".join(page.get_text().split()) for page in doc]
        between = f"between {_parties(parties)}" if len(parties) > 1 else f"of {parties[0]}"
        asks: list[tuple[str, str, re.Pattern[str] | None]] = []
        for value in expected.get("term", [])[:1]:
            asks.append(("term", f"How long does the confidentiality agreement {between} last?", _term_pattern(value.replace("_", " "))))
        for value in expected.get("effective_date", [])[:1]:
            asks.append(("effective_date", f"On what date did the non-disclosure agreement {between} take effect?", _date_pattern(value)))
        for value in expected.get("jurisdiction", [])[:1]:
            state = re.escape(value.replace("_", " "))
            asks.append(("jurisdiction", f"Which state's law governs the agreement {between}?",
                         re.compile(rf"laws?\s+of\s+(?:the\s+)?(?:state\s+of\s+|commonwealth\s+of\s+)?{state}", re.IGNORECASE)))
        for key, question, pattern in asks:
            relevant = [n for n, text in enumerate(pages, 1) if pattern is not None and pattern.search(text)]
            if relevant:
                out.append({"qid": f"nda_{path.stem[:8]}_{key}", "question": question, "kind": "contract",
                            "relevant": [{"doc": path.name, "page": n} for n in relevant]})
    return out


def mmlongbench_corpus_qrels(root: str | Path) -> list[dict[str, Any]]:
    """MMLongBench-Doc's questions with evidence pages, unscoped, with the document type as ``kind``."""
    root = Path(root)
    kinds = {s["doc_id"]: s["doc_type"] for s in json.loads((root / "samples_subset.json").read_text(encoding="utf-8"))}
    out = []
    for line in (root / "qrels.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            if row.get("relevant"):
                doc = row["relevant"][0]["doc"]
                out.append({"qid": row["qid"], "question": row["question"], "relevant": row["relevant"], "kind": kinds.get(doc, "")})
    return out


if __name__ == "__main__":
    kind, root = sys.argv[1], sys.argv[2]
    makers = {"sroie": sroie_labels, "funsd": funsd_labels, "kleister-routing": kleister_routing_qrels,
              "mmlongbench-corpus": mmlongbench_corpus_qrels}
    for label in makers[kind](root):
        print(json.dumps(label, ensure_ascii=False))
