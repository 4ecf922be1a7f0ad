"""What the benchmarks share: where the data is, LangChain's default pipeline as the baseline, results."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def require(path: Path) -> Path:
    if not path.exists():
        raise SystemExit(f"benchmark data not found: {path} (needs ../shared/data beside the checkout)")
    return path


def langchain_default_index(pdfs: list[Path], persist_dir: Path) -> tuple[Any, int, int]:
    """What a LangChain user writes first: PyMuPDF page text -> RecursiveCharacterTextSplitter(1000, 200)
    -> langchain-chroma, embedding with the same all-MiniLM-L6-v2 through sentence-transformers'
    defaults (float32, batch 32). Returns (the Chroma store, pages, chunks); reuses a filled store."""
    import pymupdf
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter
    from sentence_transformers import SentenceTransformer

    from docagent.index.embeddings import resolve_embedding_model

    class STEmbeddings(Embeddings):  # what langchain-huggingface's HuggingFaceEmbeddings does
        def __init__(self) -> None:
            self.model = SentenceTransformer(resolve_embedding_model(None).location, device="cpu")

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return self.model.encode(texts).tolist()

        def embed_query(self, text: str) -> list[float]:
            return self.embed_documents([text])[0]

    db = Chroma(collection_name="baseline", embedding_function=STEmbeddings(), persist_directory=str(persist_dir))
    if db._collection.count():
        return db, 0, db._collection.count()
    pages = []
    for path in pdfs:
        with pymupdf.open(path) as doc:
            pages += [Document(page.get_text(), metadata={"source": path.name, "page": i + 1}) for i, page in enumerate(doc)]
    chunks = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(pages)
    for i in range(0, len(chunks), 5000):
        db.add_documents(chunks[i : i + 5000])
    return db, len(pages), len(chunks)


LOOKALIKE_COMPANIES = (
    "Pacific Buy Group, Inc.", "Harbor Star Inc.", "Liberty Health Inc.", "Pacific Systems Inc.", "Golden Health Corporation",
    "Northern Mills Group, Inc.", "Atlantic Mills Corporation", "General Health Group, Inc.", "Northern Media Holdings Ltd.",
    "General Express Holdings Ltd.", "Northern Systems Holdings Ltd.", "Atlantic Star Corporation",
)


def lookalike_filings(folder: Path, years: tuple[int, ...] = (2018, 2019, 2020)) -> list[dict[str, Any]]:
    """A generated shelf of annual filings that differ only in company, year and figures (12 companies x 3 years,
    7 pages each; company names made of common words, several sharing one), half named like ``ACME_2018_10K.pdf``
    and half ``filing-NN-YYYY.pdf``; returns ``docagent eval retrieval`` qrels naming company and year: capital
    expenditures (the cash-flow page), employees and revenue."""
    import random
    import sys

    sys.path.insert(0, str(ROOT))
    from tests.factories import styled_pdf

    folder.mkdir(parents=True, exist_ok=True)
    qrels: list[dict[str, Any]] = []
    for ci, company in enumerate(LOOKALIKE_COMPANIES):
        short = " ".join(company.replace(",", "").split()[:2])
        for y in years:
            r = random.Random(ci * 10 + y)
            capex, rev, staff, div = r.randint(100, 900), r.randint(1000, 9000), r.randint(1000, 50000), r.randint(10, 99)
            name = f"{short.upper().replace(' ', '')}_{y}_10K.pdf" if ci % 2 == 0 else f"filing-{ci:02d}-{y}.pdf"
            body = 10
            pages = [
                [("UNITED STATES SECURITIES AND EXCHANGE COMMISSION", 12), ("FORM 10-K", 14),
                 (f"ANNUAL REPORT PURSUANT TO SECTION 13 OR 15(d) For the fiscal year ended December 31, {y}", body),
                 (company.upper(), 14), ("(Exact name of registrant as specified in its charter)", body)],
                [("Table of Contents", 12), ("Part I Item 1. Business. Item 1A. Risk Factors. Part II Item 7. Management's "
                                             "Discussion and Analysis. Item 8. Financial Statements.", body)],
                [("Item 1. Business", 12), (f"We operate in many markets. Net revenue was {rev} million in {y} compared with "
                                            f"{rev - 77} million in {y - 1}. Our strategy focuses on customers.", body)],
                [("Item 7. Management's Discussion and Analysis", 12), (f"Liquidity and capital resources. Cash provided by "
                 f"operations funded our investments in {y} and {y - 1}. We expect to continue investing.", body)],
                [("Consolidated Statements of Cash Flows", 12), (f"(in millions) {y} {y - 1} {y - 2}. Net income. Depreciation. "
                 f"Purchases of property, plant and equipment (capital expenditures) ({capex}) ({capex - 20}) ({capex - 35}). "
                 f"Dividends paid ({div}) ({div - 3}). Net cash used in investing activities.", body)],
                [("Human Capital", 12), (f"As of December 31, {y}, we had approximately {staff} employees worldwide. We invest "
                                         "in training and safety.", body)],
                [("Item 1A. Risk Factors", 12), ("Our business depends on economic conditions, competition, regulation and "
                                                 "cybersecurity. Any of these could harm results.", body)],
            ]
            styled_pdf(folder / name, pages)
            qrels += [
                {"question": f"What is the FY{y} capital expenditure amount (in USD millions) for {short}? Use the cash flow "
                             "statement.", "relevant": [{"doc": name, "page": 5}], "kind": "capex"},
                {"question": f"How many employees did {short} have at the end of {y}?", "relevant": [{"doc": name, "page": 6}], "kind": "staff"},
                {"question": f"What was {short}'s net revenue in fiscal {y}?", "relevant": [{"doc": name, "page": 3}], "kind": "revenue"},
            ]
    return qrels


def write_results(kind: str, results: dict[str, Any]) -> Path:
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")
    return out


def checkout(rev: str) -> Path:
    """A worktree of ``rev`` (made once, reused) whose docagent a worker can run instead of this one
    (``PYTHONPATH`` set to it, or ``cwd`` for ``python -m``)."""
    import subprocess
    import tempfile

    sha = subprocess.run(["git", "rev-parse", "--short", rev], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    tree = Path(tempfile.gettempdir()) / f"docagent-at-{sha}"
    if not (tree / "docagent").is_dir():
        subprocess.run(["git", "worktree", "add", "--detach", "--force", str(tree), sha], cwd=ROOT, capture_output=True, check=True)
    return tree


# -- generated business prose (benchmarks/ingest.py --corpus mixed, benchmarks/format_recall.py) ------------------

SUBJECTS = ("The regional team", "Our procurement group", "The board", "Management", "The operations unit",
             "The finance office", "Customer support", "The product group", "The audit committee", "Field engineering",
             "The logistics partner", "The sales organisation", "The data platform team", "Quality assurance")
VERBS = ("reviewed", "expanded", "consolidated", "renegotiated", "automated", "audited", "simplified", "piloted",
          "retired", "benchmarked", "standardised", "relocated", "measured", "reorganised")
OBJECTS = ("the supplier contracts", "the warehouse network", "the onboarding process", "the pricing model",
            "the maintenance schedule", "the billing platform", "the service catalogue", "the travel policy",
            "the reporting pipeline", "the energy contracts", "the spare-parts inventory", "the customer portal",
            "the hiring plan", "the data retention rules", "the fleet of delivery vans", "the call-centre rota")
REASONS = ("to reduce lead times", "after a rise in complaints", "ahead of the planned audit", "to cut fixed costs",
            "because demand shifted to online orders", "following the merger of two sites", "to meet the new safety rules",
            "as part of the three-year plan", "after feedback from key accounts", "to free capacity for new products")
_RESULTS = ("Results were mixed in the first quarter but improved steadily afterwards.",
            "The change was completed on schedule and slightly under budget.",
            "Staff turnover in the affected teams remained low throughout.",
            "Further savings are expected once the remaining sites follow.",
            "Customers noticed shorter waiting times within weeks.",
            "Two open issues remain and are tracked in the risk register.",
            "The work is documented in the operations handbook.",
            "A follow-up review is planned for the next financial year.",
            "External advisers confirmed the approach in their report.",
            "The pilot sites will serve as the template for the wider roll-out.")
_LINKS = ("In addition,", "Meanwhile,", "At the same time,", "Separately,", "As a result,", "Later in the year,",
          "By contrast,", "In the second half,")


def sentence(rng: Any) -> str:
    """One plausible sentence of a business report (``rng``: a ``random.Random``)."""
    if rng.random() < 0.3:
        return rng.choice(_RESULTS)
    link = rng.choice(_LINKS) + " " if rng.random() < 0.3 else ""
    subject = rng.choice(SUBJECTS)
    subject = subject[0].lower() + subject[1:] if link else subject
    return f"{link}{subject} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(REASONS)}."


def paragraph(rng: Any, sentences: tuple[int, int] = (4, 8)) -> str:
    return " ".join(sentence(rng) for _ in range(rng.randint(*sentences)))


def story_pdf(pieces: list[str], title: str = "", css: str = "") -> bytes:
    """A PDF of HTML ``pieces`` laid out by PyMuPDF's Story on A4 pages (2 cm margins); each piece starts a new page."""
    import io

    import pymupdf

    page = pymupdf.paper_rect("a4")
    where = page + (56, 56, -56, -56)
    buf = io.BytesIO()
    writer = pymupdf.DocumentWriter(buf)
    style = "body { font-family: sans-serif; font-size: 11pt; } td, th { border: 0.5pt solid #888; padding: 2pt 4pt; } " + css
    for piece in pieces:
        story = pymupdf.Story(piece, user_css=style)
        more = True
        while more:
            device = writer.begin_page(page)
            more, _ = story.place(where)
            story.draw(device)
            writer.end_page()
    writer.close()
    with pymupdf.open("pdf", buf.getvalue()) as doc:
        if title:
            doc.set_metadata({"title": title, "producer": "docagent benchmarks"})
        return doc.tobytes(garbage=3, deflate=True)
