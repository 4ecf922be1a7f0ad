"""Retrieval on converted Office documents against the same content as native PDF.

    python benchmarks/format_recall.py [--docs 40] [--questions 150] [--seed 18] [--work DIR]

Claim: documents read through LibreOffice (DOCX -> PDF rendering -> pages) are retrieved as well as the same
content saved as native PDF: recall@5 within 2 points.

Generates ``--docs`` made-up company reports (seeded; no data needed), three consecutive years of each
company (so the year, not only the name, tells reports apart): a title and 6-8 sections, each section
starting on a new page, each a few paragraphs of generic business prose with one fact whose value is unique in
the whole corpus (employees, revenue, patents, emissions ...). Each report is written twice with the same text:
as DOCX (python-docx: Title, Heading 1 sections, a page break before each section; title in the document
properties) and as PDF (PyMuPDF's Story: the same text, one section a page onwards, the same title in the
metadata and the sections as bookmarks, what Word's "Save as PDF" gives). The DOCX set is indexed into one
store, the PDF set into another (``index_paths``, default settings), and ``--questions`` questions, each
asking for one fact in other words than the report's (a paraphrase: "headcount" for "employed ... people") and
naming the company and year, are searched in each store (``PageRetriever.search``,
all three modes, hybrid being the default).

Scoring is at the document + section level: page breaks can fall differently in the two renderings (the
fonts differ), so a retrieved page counts as a hit when it is in the question's document and its stored page
text contains the fact's value (unique in the corpus; checked when generating). Before searching, each
store is checked to hold every fact's value on exactly one page, so a lost or garbled text layer shows
up as such rather than as a retrieval miss.

Prints recall@1/@5/@10 and MRR@10 per mode for DOCX and PDF side by side with the difference in points,
and writes benchmarks/results/format-recall-<time>.json.
"""

from __future__ import annotations

import argparse
import html
import io
import os
import random
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from common import paragraph, story_pdf, write_results

MODES = ("hybrid", "dense", "lexical")
CUTOFFS = (1, 5, 10)

_FIRST = ("Kestrel", "Alder", "Bramble", "Corvid", "Dunmore", "Elmstead", "Fenwick", "Greyhaven", "Hollin", "Ironbridge",
          "Juniper", "Larkspur", "Marlow", "Northgate", "Oakridge", "Pennant", "Quarry", "Redfern", "Saltmarsh", "Thornbury",
          "Upton", "Valemont", "Westbrook", "Yarrow", "Ashcombe", "Birchfield", "Coldwater", "Draycott")
_SECOND = ("Dynamics", "Logistics", "Foods", "Textiles", "Robotics", "Pharma", "Energy", "Freight", "Ceramics", "Analytics",
           "Instruments", "Packaging", "Telecom", "Minerals")
_CITIES = ("Leeds", "Lyon", "Porto", "Gdansk", "Aarhus", "Turin", "Graz", "Ghent", "Bilbao", "Brno", "Tampere", "Cork")


@dataclass(frozen=True)
class Topic:
    heading: str
    fact: str
    """A sentence with ``{co}``, ``{year}``, ``{v}`` (the unique value) and ``{city}``."""
    question: str
    value: str
    """How the value is drawn: ``int`` (a count), ``dec`` (one decimal), ``money`` (millions, one decimal)."""
    low: int
    high: int


TOPICS = (
    Topic("Workforce", "At the end of {year}, {co} employed {v} people across its sites.",
          "What was the headcount of {co} at the close of {year}?", "int", 1200, 60000),
    Topic("Financial review", "Net revenue for {year} came to {v} million euros, driven by volume rather than price.",
          "What turnover did {co} report for {year}?", "money", 100, 9000),
    Topic("Facilities", "The largest site, in {city}, has a floor area of {v} square metres.",
          "How big, in square metres, is the main site of {co} according to its {year} report?", "int", 8000, 240000),
    Topic("Research and development", "In {year} {co} filed {v} patent applications, most of them in Europe.",
          "How many inventions did {co} seek to protect in {year}?", "int", 40, 4000),
    Topic("Sustainability", "Direct carbon emissions fell to {v} tonnes of CO2 equivalent in {year}.",
          "How much greenhouse gas did {co} emit itself in {year}?", "int", 3000, 900000),
    Topic("Customer service", "The average first response time to customer tickets was {v} hours in {year}.",
          "How long did {co} take on average to first answer a support request in {year}?", "dec", 10, 990),
    Topic("Health and safety", "The lost-time injury frequency rate was {v} per million hours worked.",
          "How often did accidents at work cost working time at {co} in {year}?", "dec", 10, 990),
    Topic("Supply chain", "At year end {co} purchased from {v} active suppliers in {year}.",
          "How many vendors did {co} buy from in {year}?", "int", 150, 20000),
    Topic("Capital expenditure", "Capital expenditure in {year} amounted to {v} million euros, mostly for new equipment.",
          "What did {co} invest in plant and equipment in {year}?", "money", 10, 2000),
)


@dataclass
class Fact:
    doc: str
    """File stem: ``<stem>.docx`` and ``<stem>.pdf``."""
    section: str
    value: str
    question: str


def _value(rng: random.Random, topic: Topic, used: set[str]) -> str:
    while True:
        n = rng.randint(topic.low, topic.high)
        v = f"{n:,}" if topic.value == "int" else f"{n / 10:.1f}" if topic.value == "dec" else f"{n + rng.randint(1, 9) / 10:,.1f}"
        if v not in used:
            used.add(v)
            return v


def generate(n_docs: int, seed: int) -> tuple[list[dict], list[Fact]]:
    """``n_docs`` reports as {stem, title, sections: [(heading, [paragraphs])]} and their facts."""
    rng = random.Random(seed)
    names = rng.sample([f"{a} {b}" for a in _FIRST for b in _SECOND], -(-n_docs // 3))
    shelf = []
    for company in names:  # each company's reports of three consecutive years
        first = rng.randint(2012, 2022)
        shelf += [(company, first + i) for i in range(3)]
    used: set[str] = set()
    docs, facts = [], []
    for company, year in shelf[:n_docs]:
        stem = f"{company.lower().replace(' ', '-')}-{year}"
        title = f"{company} annual report {year}"
        sections = []
        for topic in rng.sample(TOPICS, rng.randint(6, 8)):
            v = _value(rng, topic, used)
            paras = [paragraph(rng) for _ in range(rng.randint(3, 4))]
            # the fact goes into a random paragraph, at a random sentence boundary
            i = rng.randrange(len(paras))
            parts = paras[i].split(". ")
            j = rng.randrange(len(parts) + 1)
            fact = topic.fact.format(co=company, year=year, v=v, city=rng.choice(_CITIES))
            paras[i] = ". ".join(parts[:j] + [fact.rstrip(".")] + parts[j:]) if j < len(parts) else f"{paras[i]} {fact}"
            sections.append((topic.heading, paras))
            facts.append(Fact(stem, topic.heading, v, topic.question.format(co=company, year=year)))
        docs.append({"stem": stem, "title": title, "sections": sections})
    return docs, facts


def write_docx(doc: dict, path: Path) -> None:
    import docx

    d = docx.Document()
    d.core_properties.title = doc["title"]
    d.add_heading(doc["title"], 0)
    for i, (heading, paras) in enumerate(doc["sections"]):
        if i:
            d.add_page_break()
        d.add_heading(heading, 1)
        for p in paras:
            d.add_paragraph(p)
    buf = io.BytesIO()
    d.save(buf)
    path.write_bytes(buf.getvalue())


def write_pdf(doc: dict, path: Path) -> None:
    import pymupdf

    pieces = []
    for i, (heading, paras) in enumerate(doc["sections"]):
        head = f"<h1>{html.escape(doc['title'])}</h1>" if i == 0 else ""
        pieces.append(head + f"<h2>{html.escape(heading)}</h2>" + "".join(f"<p>{html.escape(p)}</p>" for p in paras))
    data = story_pdf(pieces, doc["title"])
    with pymupdf.open("pdf", data) as pdf:  # bookmarks: each section where its piece starts
        toc, page = [], 1
        for heading, _ in doc["sections"]:
            while page <= pdf.page_count and heading not in pdf[page - 1].get_text():
                page += 1
            toc.append([1, heading, min(page, pdf.page_count)])
        pdf.set_toc(toc)
        pdf.save(path, garbage=3, deflate=True)


def _norm(text: str) -> str:
    return " ".join(text.split())


def _contains(text: str, value: str) -> bool:
    return re.search(rf"(?<![\d.,]){re.escape(value)}(?![\d]|[.,]\d)", text) is not None


def measure(folder: Path, store_dir: Path, suffix: str, facts: list[Fact], questions: list[Fact]) -> dict:
    from docagent.config import Settings
    from docagent.index.indexer import index_paths
    from docagent.index.store import PageStore
    from docagent.retrieve import PageRetriever

    settings = Settings(store=store_dir)
    t0 = time.perf_counter()
    report = index_paths([folder], settings, progress=False)
    seconds = time.perf_counter() - t0
    out: dict = {"documents": report.documents, "pages": report.pages, "failed": [f.path for f in report.failed],
                 "index_seconds": seconds, "convert_seconds": report.seconds.get("convert", 0.0)}
    with PageStore(settings) as store:
        docs = {d.name: d for d in store.documents()}
        out["kinds"] = sorted({d.kind for d in docs.values()})
        texts = {(name, n): _norm(store.catalog.page_text(d.doc_id, n)) for name, d in docs.items() for n in store.catalog.page_numbers(d.doc_id)}
        out["empty_pages"] = sum(1 for t in texts.values() if not t)
        # every fact's value on exactly one page of its document (else text was lost or garbled)
        placed = {}
        for f in facts:
            pages = [n for (name, n), t in texts.items() if name == f.doc + suffix and _contains(t, f.value)]
            placed[(f.doc, f.value)] = pages
        out["facts_on_one_page"] = sum(1 for p in placed.values() if len(p) == 1)
        out["facts_missing"] = [f"{d}: {v}" for (d, v), p in placed.items() if not p][:20]
        out["facts"] = len(facts)
        retriever = PageRetriever(store=store, render_images=False)
        retriever.search("warm up", k=1)
        out["modes"] = {}
        for mode in MODES:
            found_at, rr, times = [], [], []
            for q in questions:
                t0 = time.perf_counter()
                hits = retriever.search(q.question, k=max(CUTOFFS), mode=mode)
                times.append(time.perf_counter() - t0)
                rank = next((i for i, h in enumerate(hits, 1) if h.doc == q.doc + suffix and _contains(texts.get((h.doc, h.page), ""), q.value)), None)
                found_at.append(rank)
                rr.append(1 / rank if rank else 0.0)
            m = {f"recall@{k}": sum(1 for r in found_at if r and r <= k) / len(questions) for k in CUTOFFS}
            m["mrr@10"] = sum(rr) / len(questions)
            m["doc@1"] = 0.0
            m["mean_ms"] = 1000 * sum(times) / len(times)
            m["misses@5"] = [q.question for q, r in zip(questions, found_at, strict=True) if not r or r > 5][:10]
            out["modes"][mode] = m
        # doc@1: the top page is in the right document (hybrid), to tell routing from page choice
        hits1 = [retriever.search(q.question, k=1) for q in questions]
        out["modes"]["hybrid"]["doc@1"] = sum(1 for q, h in zip(questions, hits1, strict=True) if h and h[0].doc == q.doc + suffix) / len(questions)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=40)
    parser.add_argument("--questions", type=int, default=150)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--work", type=Path, help="write documents and stores here and keep them (default: a temporary folder)")
    args = parser.parse_args()

    tmp = None
    if args.work is None:
        tmp = tempfile.mkdtemp(prefix="bench-format-recall-")
        work = Path(tmp)
    else:
        work = args.work
        shutil.rmtree(work, ignore_errors=True)
    try:
        t0 = time.perf_counter()
        docs, facts = generate(args.docs, args.seed)
        corpus = " ".join([d["title"] for d in docs] + [_norm(" ".join(p for _, ps in d["sections"] for p in ps)) for d in docs])
        clashes = [f.value for f in facts if len(re.findall(rf"(?<![\d.,]){re.escape(f.value)}(?![\d]|[.,]\d)", corpus)) != 1]
        if clashes:
            raise SystemExit(f"generated values are not unique: {clashes[:5]}")
        for sub in ("docx", "pdf"):
            (work / sub).mkdir(parents=True, exist_ok=True)
        for d in docs:
            write_docx(d, work / "docx" / f"{d['stem']}.docx")
            write_pdf(d, work / "pdf" / f"{d['stem']}.pdf")
        questions = random.Random(args.seed + 1).sample(facts, min(args.questions, len(facts)))
        generated = time.perf_counter() - t0
        results: dict = {"machine": {"cpus": os.cpu_count()}, "documents": len(docs), "facts": len(facts), "questions": len(questions),
                         "seed": args.seed, "generate_seconds": generated}
        results["docx"] = measure(work / "docx", work / "store-docx", ".docx", facts, questions)
        results["pdf"] = measure(work / "pdf", work / "store-pdf", ".pdf", facts, questions)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)

    x, p = results["docx"], results["pdf"]
    print(f"\n{len(docs)} generated reports, the same text as DOCX and as PDF; {len(questions)} questions, each for one fact "
          "(hit: a page of the right document whose text holds the fact's value)")
    print(f"{'':<22} {'DOCX':>10} {'PDF':>10}")
    for label, key in (("pages", "pages"), ("index seconds", "index_seconds"), ("  of which convert", "convert_seconds")):
        print(f"{label:<22} {x[key]:>10.1f} {p[key]:>10.1f}" if isinstance(x[key], float) else f"{label:<22} {x[key]:>10} {p[key]:>10}")
    print(f"{'facts on one page':<22} {x['facts_on_one_page']:>6}/{x['facts']:<3} {p['facts_on_one_page']:>6}/{p['facts']:<3}")
    print(f"{'stored kind':<22} {','.join(x['kinds']):>10} {','.join(p['kinds']):>10}")
    print(f"\n{'mode':<8} {'metric':<9} {'DOCX':>7} {'PDF':>7} {'DOCX-PDF':>9}")
    results["difference_points"] = {}
    for mode in MODES:
        for metric in ("recall@1", "recall@5", "recall@10", "mrr@10"):
            a, b = x["modes"][mode][metric], p["modes"][mode][metric]
            results["difference_points"][f"{mode} {metric}"] = 100 * (a - b)
            print(f"{mode:<8} {metric:<9} {a:>7.3f} {b:>7.3f} {100 * (a - b):>+8.1f}p")
    d5 = results["difference_points"]["hybrid recall@5"]
    results["within_2_points"] = abs(d5) <= 2.0
    print(f"\nhybrid recall@5: DOCX {x['modes']['hybrid']['recall@5']:.3f}, PDF {p['modes']['hybrid']['recall@5']:.3f}: "
          f"{d5:+.1f} points ({'within' if abs(d5) <= 2 else 'NOT within'} 2 points); doc@1 DOCX "
          f"{x['modes']['hybrid']['doc@1']:.3f}, PDF {p['modes']['hybrid']['doc@1']:.3f}")
    write_results("format-recall", results)


if __name__ == "__main__":
    main()
