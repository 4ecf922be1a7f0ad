"""Ingest throughput: docagent vs LangChain's common default pipeline, same files, same model.

    python benchmarks/ingest.py [--corpus deb mmlongbench mixed | --folder DIR] [--against REV] [--keep-corpus DIR]

Baseline (what a LangChain user writes first): PyMuPDF page text -> RecursiveCharacterTextSplitter(1000, 200)
-> langchain-chroma with the same all-MiniLM-L6-v2 through sentence-transformers' defaults.
docagent: `index_paths` into a fresh store (text layer, word boxes, widgets, OCR where needed, passages,
embeddings, Chroma, catalog; page images rendered on first use), then a second run on the unchanged files.

``--against REV`` also runs docagent as of git revision REV (a worktree under /tmp) on the same files in the same
run, alternating with this checkout, to show what a change costs. REV runs as if it were installed: its own
entry points (a ``.dist-info`` written beside the worktree) rather than this environment's, whose plugins would
import this checkout's code into the older one. When a step of either side fails, the benchmark stops with that
step's command and the end of its stderr.

``--corpus mixed`` (not run by default; needs no data) generates its corpus into a temporary folder, seeded,
with python-docx, python-pptx, openpyxl, the standard library's ``email`` and PyMuPDF: 6 DOCX reports
(8-12 chapters of prose, bullet lists and tables, a page break before each), 5 PPTX decks (10-20 slides:
bullets, tables, column charts, speaker notes), 4 XLSX workbooks (orders, staff, summary sheets), 10 e-mails
(.eml, plain and HTML body, one or two attachments: a DOCX report, a PDF invoice), 5 HTML pages, 5 Markdown
files and 3 text files: about 300 pages once rendered. Each format's folder is indexed in its own
``index_paths`` call into one store (the embedding model loaded before, so no format pays for it), and the
table gives per format the documents and pages docagent stored (by the ``kind`` of the store's records: an
e-mail's attachments are documents of their own, of their own kind, counted in the e-mail row since that
call read them), seconds and pages/s; then the share of the first run spent converting (LibreOffice, the
``convert`` stage), peak RSS of the indexing process and of its largest child (LibreOffice), and the re-run
on the unchanged folder (in-process and as a CLI process). There is no LangChain default for Office files or
e-mail, so the comparison column is docagent itself on the same content as native PDF: after each format, the PDF
renderings the store kept of what it just indexed (an attachment's PDF as it came) are indexed the same way
into a second store (same process, same model), alternating with the originals so that a machine busy with
other work slows both alike; "vs PDF" is the originals' pages/s over the PDFs' (below 1: what reading the
original format costs over having the PDF already). Peak RSS is of that process, so an upper bound.

Each pipeline runs in its own process so peak RSS is its own. Prints a table and writes
benchmarks/results/ingest-<time>.json. The deb and mmlongbench corpora need ../shared/data (the real documents)
and say so when it is absent.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from common import (
    DATA,
    OBJECTS,
    REASONS,
    SUBJECTS,
    VERBS,
    checkout,
    langchain_default_index,
    paragraph,
    story_pdf,
    write_results,
)

CORPORA = {
    "deb": DATA / "deb_pdf_docs",
    "mmlongbench": DATA / "mmlongbench_doc" / "documents",
}
MIXED = "mixed"
"""The generated corpus of Office files, e-mails, HTML, Markdown and text (no data needed)."""


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_docagent(folder: Path, store: Path, ocr: str = "auto") -> dict:
    from docagent.config import Settings
    from docagent.index.indexer import index_paths
    from docagent.index.store import PageStore

    settings = Settings(store=store, ocr=ocr)
    t0 = time.perf_counter()
    with PageStore(settings) as s:
        report = index_paths([folder], store=s, progress=False)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = index_paths([folder], settings, progress=False)
    second = time.perf_counter() - t0
    assert again.skipped == report.documents and again.documents == 0
    # what a later step pays for a page image on first use
    with PageStore(settings) as s:
        docs = s.documents()
        picks = [(d, n) for d in docs for n in range(1, d.pages + 1, max(1, d.pages // 5))][:20]
        t0 = time.perf_counter()
        for d, n in picks:
            s.ensure_image(d, n)
        render_ms = (time.perf_counter() - t0) * 1000 / max(len(picks), 1)
        passages = s.vectors.count()
    return {
        "pages": report.pages,
        "documents": report.documents,
        "failed": len(report.failed),
        "ocr_pages": report.ocr_pages,
        "seconds": first,
        "reindex_seconds": second,
        "stages": report.seconds,
        "passages": passages,
        "image_on_first_use_ms": render_ms,
        "peak_rss_mb": peak_rss_mb(),
    }


# -- the generated mixed-format corpus ---------------------------------------------------------------------------

MIXED_GROUPS = ("word", "presentation", "spreadsheet", "email", "html", "markdown", "text")
"""Sub-folders of the generated corpus, one a format, each indexed in its own call (named by the kind docagent
is expected to store for it)."""

_FIRST = ("Kestrel", "Alder", "Bramble", "Corvid", "Dunmore", "Elmstead", "Fenwick", "Greyhaven", "Hollin", "Ironbridge",
          "Juniper", "Larkspur", "Marlow", "Northgate", "Oakridge", "Pennant", "Quarry", "Redfern", "Saltmarsh", "Thornbury")
_SECOND = ("Dynamics", "Logistics", "Foods", "Textiles", "Robotics", "Pharma", "Energy", "Freight", "Ceramics", "Analytics")
_REGIONS = ("North", "South", "East", "West", "Central", "Export")
_PRODUCTS = ("Valve A-12", "Pump P-40", "Sensor S-7", "Controller C-3", "Bracket B-9", "Filter F-22", "Motor M-15", "Cable K-2")
_PEOPLE = ("Ana Lopez", "Ben Okafor", "Chloe Martin", "David Kim", "Eva Novak", "Farid Haddad", "Grace Liu", "Hugo Berg",
           "Ines Costa", "Jonas Weber", "Kara Singh", "Liam Walsh")
_CHAPTERS = ("Executive summary", "Market overview", "Operations", "Supply chain", "Workforce", "Health and safety",
             "Research and development", "Sales and marketing", "Customer service", "Information technology",
             "Facilities", "Sustainability", "Risk management", "Governance", "Financial review", "Outlook")


def _company(rng: random.Random) -> str:
    return f"{rng.choice(_FIRST)} {rng.choice(_SECOND)}"


def _bullet(rng: random.Random) -> str:
    return f"{rng.choice(VERBS).capitalize()} {rng.choice(OBJECTS)} {rng.choice(REASONS)}"


def _rows(rng: random.Random, n: int, year: int) -> list[list[object]]:
    rows = []
    for _ in range(n):
        units, price = rng.randint(5, 900), round(rng.uniform(4, 400), 2)
        rows.append([f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}", rng.choice(_REGIONS), rng.choice(_PRODUCTS),
                     units, price, round(units * price, 2), rng.choice(_PEOPLE)])
    return sorted(rows, key=lambda r: str(r[0]))


_ROW_HEADER = ["Date", "Region", "Product", "Units", "Unit price", "Revenue", "Sales rep"]


def docx_report(rng: random.Random, company: str, year: int, chapters: int) -> bytes:
    """A report of ``chapters`` chapters, each on a new page: headings, prose, bullet lists, now and then a table."""
    import docx

    doc = docx.Document()
    title = f"{company} annual operations report {year}"
    doc.core_properties.title, doc.core_properties.author = title, rng.choice(_PEOPLE)
    doc.add_heading(title, 0)
    doc.add_paragraph(f"Prepared by {rng.choice(_PEOPLE)} for the board of {company}, {year}.")
    for i, chapter in enumerate(rng.sample(_CHAPTERS, chapters)):
        if i:
            doc.add_page_break()
        doc.add_heading(f"{i + 1}. {chapter}", 1)
        for j in range(rng.randint(2, 4)):
            if j == 2:
                doc.add_heading(f"{i + 1}.1 {rng.choice(OBJECTS).capitalize()}", 2)
            doc.add_paragraph(paragraph(rng))
        if rng.random() < 0.5:
            for _ in range(rng.randint(3, 5)):
                doc.add_paragraph(_bullet(rng), style="List Bullet")
        if rng.random() < 0.5:
            rows = _rows(rng, rng.randint(6, 12), year)
            columns = (0, 1, 2, 3, 5)  # date, region, product, units, revenue: what fits a portrait page
            table = doc.add_table(rows=1, cols=len(columns))
            table.style = "Table Grid"
            for cell, c in zip(table.rows[0].cells, columns, strict=True):
                cell.text = _ROW_HEADER[c]
            for row in rows:
                for cell, c in zip(table.add_row().cells, columns, strict=True):
                    cell.text = f"{row[c]:,.2f}" if isinstance(row[c], float) else str(row[c])
            doc.add_paragraph(f"Table {i + 1}: selected orders in {chapter.lower()}, {year}.")
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def pptx_deck(rng: random.Random, company: str, year: int, slides: int) -> bytes:
    """A deck: a title slide, then bullet slides, tables and column charts, each with speaker notes."""
    from pptx import Presentation
    from pptx.chart.data import CategoryChartData
    from pptx.enum.chart import XL_CHART_TYPE
    from pptx.util import Inches, Pt

    prs = Presentation()
    title = f"{company}: quarterly business review {year}"
    prs.core_properties.title = title
    first = prs.slides.add_slide(prs.slide_layouts[0])
    first.shapes.title.text = title
    first.placeholders[1].text = f"{rng.choice(_PEOPLE)}, {rng.choice(_REGIONS)} region"
    for i in range(1, slides):
        topic = rng.choice(_CHAPTERS)
        if i % 4 == 2:
            slide = prs.slides.add_slide(prs.slide_layouts[5])
            slide.shapes.title.text = f"{topic}: orders by region"
            rows = _rows(rng, 6, year)
            shape = slide.shapes.add_table(len(rows) + 1, 5, Inches(0.5), Inches(1.6), Inches(9), Inches(3.5))
            for c, text in enumerate(["Date", "Region", "Product", "Units", "Revenue"]):
                shape.table.cell(0, c).text = text
            for r, row in enumerate(rows, 1):
                for c, value in enumerate([row[0], row[1], row[2], row[3], f"{row[5]:,.2f}"]):
                    shape.table.cell(r, c).text = str(value)
                    shape.table.cell(r, c).text_frame.paragraphs[0].font.size = Pt(14)
        elif i % 4 == 0:
            slide = prs.slides.add_slide(prs.slide_layouts[5])
            slide.shapes.title.text = f"{topic}: revenue by quarter (thousands)"
            data = CategoryChartData()
            data.categories = ["Q1", "Q2", "Q3", "Q4"]
            for region in rng.sample(_REGIONS, 3):
                data.add_series(region, [rng.randint(200, 900) for _ in range(4)])
            slide.shapes.add_chart(XL_CHART_TYPE.COLUMN_CLUSTERED, Inches(0.7), Inches(1.6), Inches(8.5), Inches(5), data)
        else:
            slide = prs.slides.add_slide(prs.slide_layouts[1])
            slide.shapes.title.text = topic
            frame = slide.placeholders[1].text_frame
            frame.text = _bullet(rng)
            for _ in range(rng.randint(2, 4)):
                p = frame.add_paragraph()
                p.text, p.level = _bullet(rng), rng.choice((0, 0, 1))
        slide.notes_slide.notes_text_frame.text = paragraph(rng, (2, 3))
    buf = io.BytesIO()
    prs.save(buf)
    return buf.getvalue()


def xlsx_workbook(rng: random.Random, company: str, year: int, orders: int) -> bytes:
    """Orders (``orders`` rows), a staff list and a summary by region: three sheets of values."""
    import openpyxl
    from openpyxl.styles import Font

    wb = openpyxl.Workbook()
    wb.properties.title = f"{company} orders {year}"
    ws = wb.active
    ws.title = "Orders"
    ws.append(_ROW_HEADER)
    rows = _rows(rng, orders, year)
    for row in rows:
        ws.append(row)
    staff = wb.create_sheet("Staff")
    staff.append(["Name", "Team", "Site", "Start year", "Grade"])
    for _ in range(rng.randint(40, 90)):
        staff.append([f"{rng.choice(_PEOPLE).split()[0]} {rng.choice(_FIRST)}", rng.choice(SUBJECTS).removeprefix("The ").removeprefix("Our "),
                      rng.choice(_REGIONS), rng.randint(1995, year), rng.choice("ABCDE")])
    summary = wb.create_sheet("Summary")
    summary.append(["Region", "Orders", "Units", "Revenue"])
    for region in _REGIONS:
        mine = [r for r in rows if r[1] == region]
        summary.append([region, len(mine), sum(int(r[3]) for r in mine), round(sum(float(r[5]) for r in mine), 2)])
    for sheet in wb.worksheets:
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for column in "ABCDEFG":
            sheet.column_dimensions[column].width = 14
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _article(rng: random.Random, company: str, sections: int) -> tuple[str, list[tuple[str, list[str], list[str]]]]:
    """A title and sections of (heading, paragraphs, bullets)."""
    title = f"{company} handbook: {rng.choice(OBJECTS)}"
    return title, [(rng.choice(_CHAPTERS), [paragraph(rng) for _ in range(rng.randint(2, 4))],
                    [_bullet(rng) for _ in range(rng.randint(0, 4))]) for _ in range(sections)]


def html_page(rng: random.Random, company: str, year: int, sections: int) -> str:
    title, body = _article(rng, company, sections)
    out = [f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{title}</title></head><body>", f"<h1>{title}</h1>"]
    for heading, paras, bullets in body:
        out.append(f"<h2>{heading}</h2>")
        out += [f"<p>{p}</p>" for p in paras]
        if bullets:
            out.append("<ul>" + "".join(f"<li>{b}</li>" for b in bullets) + "</ul>")
        if rng.random() < 0.3:
            out.append("<table><tr>" + "".join(f"<th>{h}</th>" for h in _ROW_HEADER) + "</tr>" + "".join(
                "<tr>" + "".join(f"<td>{v}</td>" for v in row) + "</tr>" for row in _rows(rng, 8, year)) + "</table>")
    return "\n".join(out + ["</body></html>"])


def markdown_page(rng: random.Random, company: str, year: int, sections: int) -> str:
    title, body = _article(rng, company, sections)
    out = [f"# {title}", ""]
    for heading, paras, bullets in body:
        out += [f"## {heading}", ""]
        for p in paras:
            out += [p, ""]
        out += [f"- {b}" for b in bullets] + ([""] if bullets else [])
        if rng.random() < 0.3:
            out += ["| " + " | ".join(_ROW_HEADER) + " |", "|" + "---|" * len(_ROW_HEADER)]
            out += ["| " + " | ".join(str(v) for v in row) + " |" for row in _rows(rng, 8, year)] + [""]
    return "\n".join(out)


def text_notes(rng: random.Random, company: str, year: int, meetings: int) -> str:
    out = [f"{company} - minutes of the operations meetings, {year}", "=" * 60, ""]
    for m in range(meetings):
        out += [f"Meeting {m + 1}, {year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                f"Present: {', '.join(rng.sample(_PEOPLE, 4))}", ""]
        out += textwrap.wrap(paragraph(rng), 88) + [""]
        out += [f"  * ACTION {rng.choice(_PEOPLE)}: {_bullet(rng).lower()}" for _ in range(rng.randint(2, 4))] + [""]
    return "\n".join(out)


def small_pdf(rng: random.Random, company: str, year: int) -> bytes:
    """A one- or two-page memo or invoice as a PDF (PyMuPDF)."""
    rows = _rows(rng, rng.randint(5, 25), year)
    table = ("<table><tr>" + "".join(f"<th>{h}</th>" for h in _ROW_HEADER) + "</tr>" + "".join(
        "<tr>" + "".join(f"<td>{v}</td>" for v in row) + "</tr>" for row in rows) + "</table>")
    title = f"{company} invoice {rng.randint(10000, 99999)}"
    return story_pdf([f"<h1>{title}</h1><p>{paragraph(rng, (2, 4))}</p>{table}<p>Total due: "
                      f"{sum(float(r[5]) for r in rows):,.2f} EUR within 30 days.</p>"], title)


def email_message(rng: random.Random, company: str, year: int, n: int) -> bytes:
    """A message with a plain and an HTML body and one or two attachments (a DOCX report, a PDF invoice)."""
    from email.message import EmailMessage
    from email.utils import format_datetime, make_msgid

    sender, recipient = rng.sample(_PEOPLE, 2)
    domain = company.lower().replace(" ", "") + ".example"
    msg = EmailMessage()
    msg["From"] = f"{sender} <{sender.split()[0].lower()}@{domain}>"
    msg["To"] = f"{recipient} <{recipient.split()[0].lower()}@{domain}>"
    msg["Subject"] = f"{rng.choice(_CHAPTERS)}: {rng.choice(OBJECTS)} ({year})"
    msg["Date"] = format_datetime(datetime.datetime(year, rng.randint(1, 12), rng.randint(1, 28), rng.randint(7, 18),
                                                    rng.randint(0, 59), tzinfo=datetime.UTC))
    msg["Message-ID"] = make_msgid(idstring=f"bench{n}", domain=domain)
    paras = [paragraph(rng) for _ in range(rng.randint(2, 5))]
    msg.set_content(f"Hello {recipient.split()[0]},\n\n" + "\n\n".join(paras) + f"\n\nBest regards,\n{sender}\n")
    msg.add_alternative("<html><body>" + f"<p>Hello {recipient.split()[0]},</p>" + "".join(f"<p>{p}</p>" for p in paras)
                        + f"<p>Best regards,<br>{sender}</p></body></html>", subtype="html")
    kinds = ("docx", "pdf") if n % 3 == 0 else (("docx",) if n % 3 == 1 else ("pdf",))
    for kind in kinds:
        if kind == "docx":
            msg.add_attachment(docx_report(rng, company, year, rng.randint(2, 3)), maintype="application",
                               subtype="vnd.openxmlformats-officedocument.wordprocessingml.document", filename=f"report-{n:02d}.docx")
        else:
            msg.add_attachment(small_pdf(rng, company, year), maintype="application", subtype="pdf", filename=f"invoice-{n:02d}.pdf")
    return bytes(msg)


def make_mixed(folder: Path, seed: int = 18) -> dict[str, int]:
    """Write the mixed corpus under ``folder/<group>/``; returns files per group. Same seed, same content."""
    rng = random.Random(seed)
    plan: dict[str, list[tuple[str, bytes]]] = {g: [] for g in MIXED_GROUPS}
    for i in range(6):
        company, year = _company(rng), rng.randint(2015, 2024)
        plan["word"].append((f"report-{i:02d}.docx", docx_report(rng, company, year, rng.randint(8, 12))))
    for i in range(5):
        company, year = _company(rng), rng.randint(2015, 2024)
        plan["presentation"].append((f"deck-{i:02d}.pptx", pptx_deck(rng, company, year, rng.randint(10, 20))))
    for i in range(4):
        company, year = _company(rng), rng.randint(2015, 2024)
        plan["spreadsheet"].append((f"orders-{i:02d}.xlsx", xlsx_workbook(rng, company, year, rng.randint(80, 160))))
    for i in range(10):
        company, year = _company(rng), rng.randint(2015, 2024)
        plan["email"].append((f"message-{i:02d}.eml", email_message(rng, company, year, i)))
    for i in range(5):
        company, year = _company(rng), rng.randint(2015, 2024)
        plan["html"].append((f"page-{i:02d}.html", html_page(rng, company, year, rng.randint(6, 12)).encode()))
    for i in range(5):
        company, year = _company(rng), rng.randint(2015, 2024)
        plan["markdown"].append((f"notes-{i:02d}.md", markdown_page(rng, company, year, rng.randint(6, 12)).encode()))
    for i in range(3):
        company, year = _company(rng), rng.randint(2015, 2024)
        plan["text"].append((f"minutes-{i:02d}.txt", text_notes(rng, company, year, rng.randint(8, 14)).encode()))
    for group, files in plan.items():
        (folder / group).mkdir(parents=True, exist_ok=True)
        for name, data in files:
            (folder / group / name).write_bytes(data)
    return {g: len(files) for g, files in plan.items()}


def _pages_by_kind(store, docs) -> dict[str, dict[str, int]]:
    """Documents, pages and pages without text, per stored kind."""
    out: dict[str, dict[str, int]] = {}
    for d in docs:
        k = out.setdefault(d.kind, {"documents": 0, "pages": 0, "empty_pages": 0})
        k["documents"] += 1
        k["pages"] += d.pages
        k["empty_pages"] += sum(1 for n in store.catalog.page_numbers(d.doc_id) if not store.catalog.page_text(d.doc_id, n).strip())
    return out


def _index_group(store, folder: Path) -> dict:
    """Index ``folder`` in one call into an open store: what it added and how long it took."""
    from docagent.index.indexer import index_paths

    before = {d.doc_id for d in store.documents()}
    t0 = time.perf_counter()
    report = index_paths([folder], store=store, progress=False)
    seconds = time.perf_counter() - t0
    new = [d for d in store.documents() if d.doc_id not in before]
    return {
        "files": sum(1 for p in folder.iterdir() if p.is_file()),
        "documents": len(new),
        "pages": sum(d.pages for d in new),
        "seconds": seconds,
        "kinds": _pages_by_kind(store, new),
        "failed": [{"path": f.path, "error": f.error} for f in report.failed],
        "stages": report.seconds,
        "ocr_pages": report.ocr_pages,
        "doc_ids": [d.doc_id for d in new],
    }


def worker_mixed(folder: Path, store: Path) -> dict:
    """Index the generated corpus format by format; after each format, the PDF copies the store kept of what it
    just indexed (its renderings; a PDF attachment as it came) into a second store, as native PDFs: the same
    content without conversion, timed alternately with the originals so that a machine busy with other work
    slows both alike. Then re-run the corpus unchanged."""
    from docagent.config import Settings
    from docagent.index.indexer import index_paths
    from docagent.index.store import PageStore

    settings = Settings(store=store)
    pdf_folder = store.parent / "as-pdf"
    groups: dict[str, dict] = {}
    as_pdf: dict[str, dict] = {}
    t0 = time.perf_counter()
    with PageStore(settings) as s:
        s.embedder.embed(["warm up the embedding model"])  # loaded once, not paid by the first format
        setup = time.perf_counter() - t0
        with PageStore(Settings(store=store.parent / "as-pdf-store"), embedder=s.embedder) as pdfs:
            for group in MIXED_GROUPS:
                groups[group] = g = _index_group(s, folder / group)
                (pdf_folder / group).mkdir(parents=True)
                for d in (s.catalog.document_by_id(i) for i in g.pop("doc_ids")):
                    copy = s.stored_file(d) if d is not None else None
                    if copy is not None and copy.suffix.lower() == ".pdf":
                        safe = "".join(c if c.isalnum() or c in "-." else "_" for c in d.name)
                        shutil.copyfile(copy, pdf_folder / group / f"{safe}.pdf")
                as_pdf[group] = _index_group(pdfs, pdf_folder / group)
                as_pdf[group].pop("doc_ids")
        passages = s.vectors.count()
    first = setup + sum(g["seconds"] for g in groups.values())
    convert = sum(g["stages"].get("convert", 0.0) for g in groups.values())
    t0 = time.perf_counter()
    again = index_paths([folder], settings, progress=False)
    second = time.perf_counter() - t0
    peak_self, peak_children = peak_rss_mb(), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    with PageStore(settings) as s:
        docs = s.documents()
        kinds = _pages_by_kind(s, docs)
        picks = [(d, n) for d in docs for n in range(1, d.pages + 1, max(1, d.pages // 3))][:30]
        t0 = time.perf_counter()
        for d, n in picks:
            s.ensure_image(d, n)
        render_ms = (time.perf_counter() - t0) * 1000 / max(len(picks), 1)
    return {
        "groups": groups,
        "kinds": kinds,
        "documents": len(docs),
        "pages": sum(d.pages for d in docs),
        "passages": passages,
        "setup_seconds": setup,
        "seconds": first,
        "convert_seconds": convert,
        "convert_share": convert / first if first else 0.0,
        "reindex_seconds": second,
        "reindex": {"documents": again.documents, "skipped": again.skipped, "failed": len(again.failed)},
        "reindex_speedup": first / second if second else float("inf"),
        "peak_rss_mb": peak_self,
        "peak_rss_note": "the indexing process, which also held the as-PDF store (one shared model): an upper bound",
        "peak_rss_children_mb": peak_children,
        "image_on_first_use_ms": render_ms,
        "as_pdf": {"groups": as_pdf, "seconds": setup + sum(g["seconds"] for g in as_pdf.values())},
    }


def worker_baseline(folder: Path, store: Path) -> dict:
    t0 = time.perf_counter()
    _, pages, chunks = langchain_default_index(sorted(folder.glob("*.pdf")), store)
    return {"pages": pages, "chunks": chunks, "seconds": time.perf_counter() - t0, "peak_rss_mb": peak_rss_mb()}


def installed_as(tree: Path) -> dict[str, str]:
    """The environment that runs the checkout ``tree`` as if it were the installed docagent.

    ``PYTHONPATH`` alone is not enough: this virtual environment's installed docagent (an editable install of
    *this* checkout) keeps its own entry points, so an older ``docagent`` on ``PYTHONPATH`` would still load this
    checkout's plugins (``docagent.commands``: ``docagent_app.commands`` importing names the older ``docagent``
    lacks; the older CLI loads every command plugin before parsing, and exits 1). So next to the tree this
    writes the ``.dist-info`` that installing ``tree`` would write (its name, version and the entry points of
    its own ``pyproject.toml``; the first distribution of a name on ``sys.path`` wins), and links the packages
    it maps to other folders (``docagent_app = "app"``), and puts both before the virtual environment."""
    import tomllib

    project = tomllib.loads((tree / "pyproject.toml").read_text())
    meta = tree.with_name(tree.name + "-installed")
    shutil.rmtree(meta, ignore_errors=True)
    info = meta / f"{project['project']['name']}-{project['project'].get('version', '0')}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['project']['name']}\n"
                                   f"Version: {project['project'].get('version', '0')}\n")
    groups = {"console_scripts": project["project"].get("scripts", {}), **project["project"].get("entry-points", {})}
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in eps.items()) + "\n" for group, eps in groups.items()))
    for package, folder in project.get("tool", {}).get("setuptools", {}).get("package-dir", {}).items():
        if package:  # "" would be the root of every package: the tree itself, already on the path
            (meta / package).symlink_to(tree / folder, target_is_directory=True)
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(tree), str(meta)]))


def _run(what: str, cmd: list[str], env: dict[str, str] | None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a step of the benchmark; when it fails, stop with what failed, its command and the end of its stderr
    (never a traceback of this script)."""
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env, cwd=cwd)
    if proc.returncode != 0:
        import shlex

        tail = "\n".join(("    " + line) for line in (proc.stderr or proc.stdout or "(no output)").strip().splitlines()[-25:])
        where = "".join(f"\n  {k}={v}" for k, v in (("PYTHONPATH", (env or {}).get("PYTHONPATH")), ("cwd", cwd)) if v)
        raise SystemExit(f"{what} failed (exit status {proc.returncode}):\n  {shlex.join(cmd)}{where}\nits stderr ends:\n{tail}")
    return proc


def run_worker(kind: str, folder: Path, ocr: str = "auto", code: Path | None = None) -> dict:
    env = installed_as(code) if code else None
    side = f"docagent as of {code.name.removeprefix('docagent-at-')} ({code})" if code else kind
    with tempfile.TemporaryDirectory(prefix=f"bench-{kind}-") as tmp:
        cmd = [sys.executable, __file__, "--worker", kind, "--folder", str(folder), "--store", str(Path(tmp) / "store"), "--ocr", ocr]
        proc = _run(f"the {side} worker", cmd, env)
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        if kind in ("docagent", "mixed"):  # the unchanged re-index as a user runs it: a whole CLI process
            cli = [sys.executable, "-m", "docagent", "index", str(folder), "--store", str(Path(tmp) / "store"), "--json", "-q"]
            t0 = time.perf_counter()
            _run(f"the unchanged re-index by {side}", cli, env, cwd=code)  # -m puts the cwd first on sys.path
            result["reindex_cli_seconds"] = time.perf_counter() - t0
        return result


def run_mixed(keep: Path | None = None) -> dict:
    """Generate the mixed corpus (into ``keep`` when given, else a temporary folder) and index it in a worker."""
    with tempfile.TemporaryDirectory(prefix="bench-mixed-corpus-") as tmp:
        folder = keep or Path(tmp) / "corpus"
        if folder.exists():
            if any(p.name not in MIXED_GROUPS for p in folder.iterdir()):
                raise SystemExit(f"{folder} holds other files than a generated corpus; name an empty or new folder")
            shutil.rmtree(folder)
        t0 = time.perf_counter()
        files = make_mixed(folder)
        generate = time.perf_counter() - t0
        result = run_worker("mixed", folder)
        result["generated"] = {"files": files, "seconds": generate, "folder": str(folder) if keep else None}
        return result


def print_mixed(r: dict) -> None:
    labels = {"word": "word (DOCX)", "presentation": "presentation (PPTX)", "spreadsheet": "spreadsheet (XLSX)",
              "email": "email (EML)", "html": "html", "markdown": "markdown", "text": "text"}
    files = sum(r["generated"]["files"].values())
    print(f"\nmixed corpus (generated, seed 18): {files} files -> {r['documents']} documents, {r['pages']} pages; "
          f"each format indexed in its own call into one store")
    print(f"{'format':<20} {'files':>5} {'docs':>5} {'pages':>6} {'seconds':>8} {'pages/s':>8} {'as PDF p/s':>10} {'vs PDF':>7}  notes")
    for group, g in r["groups"].items():
        pdf = r["as_pdf"]["groups"].get(group)
        pdf_rate = pdf["pages"] / pdf["seconds"] if pdf and pdf["seconds"] else 0.0
        rate = g["pages"] / g["seconds"] if g["seconds"] else 0.0
        kinds = ", ".join(f"{k['documents']} {kind} ({k['pages']} p)" for kind, k in g["kinds"].items())
        st = g["stages"]
        notes = [kinds, ", ".join(f"{k} {st[k]:.1f}s" for k in ("convert", "embed", "ocr") if st.get(k, 0) >= 0.05)
                 + (f" ({g['ocr_pages']} page{'' if g['ocr_pages'] == 1 else 's'})" if g["ocr_pages"] else "")]
        if g["failed"]:
            notes.append(f"{len(g['failed'])} FAILED")
        if pdf and pdf["pages"] != g["pages"]:
            notes.append(f"as PDF {pdf['pages']} pages")
        print(f"{labels.get(group, group):<20} {g['files']:>5} {g['documents']:>5} {g['pages']:>6} {g['seconds']:>8.1f} {rate:>8.1f} "
              f"{pdf_rate:>10.1f} {rate / pdf_rate if pdf_rate else 0:>6.2f}x  {'; '.join(notes)}")
    pdf_all = r["as_pdf"]
    pdf_pages = sum(g["pages"] for g in pdf_all["groups"].values())
    print(f"{'all (+ model load)':<20} {files:>5} {r['documents']:>5} {r['pages']:>6} {r['seconds']:>8.1f} {r['pages'] / r['seconds']:>8.1f} "
          f"{pdf_pages / pdf_all['seconds']:>10.1f} {(r['pages'] / r['seconds']) / (pdf_pages / pdf_all['seconds']):>6.2f}x  "
          f"model load {r['setup_seconds']:.1f}s; {r['passages']} passages")
    print("stored kinds: " + "; ".join(f"{kind} {k['documents']} docs / {k['pages']} pages"
                                          + (f" ({k['empty_pages']} without text)" if k["empty_pages"] else "") for kind, k in r["kinds"].items()))
    print(f"conversion (LibreOffice): {r['convert_seconds']:.1f}s of {r['seconds']:.1f}s first run = {100 * r['convert_share']:.0f}%")
    print(f"peak RSS: indexing process {r['peak_rss_mb']:.0f} MB (it also held the as-PDF store, one shared model: an upper "
          f"bound); largest child process (LibreOffice) {r['peak_rss_children_mb']:.0f} MB")
    print(f"re-index unchanged: {r['reindex_seconds']:.2f}s in-process = {r['reindex_speedup']:.0f}x faster "
          f"({r['reindex']['skipped']} skipped, {r['reindex']['documents']} re-read); as a CLI process {r['reindex_cli_seconds']:.2f}s "
          f"= {r['seconds'] / r['reindex_cli_seconds']:.0f}x (incl. interpreter start); page image on first use "
          f"{r['image_on_first_use_ms']:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", nargs="+", choices=[*CORPORA, MIXED], default=list(CORPORA),
                        help=f"default: {' '.join(CORPORA)} (the real documents); {MIXED}: the generated Office/e-mail/HTML corpus")
    parser.add_argument("--keep-corpus", type=Path, metavar="DIR", help=f"write the {MIXED} corpus here and keep it")
    parser.add_argument("--against", metavar="REV", help="also run docagent as of this git revision, side by side")
    parser.add_argument("--worker", choices=["docagent", "baseline", "mixed"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, metavar="DIR", help="index the PDFs in DIR instead of the named corpora "
                        "(a shorter run on a slice of one)")
    parser.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--ocr", default="auto", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        if args.worker == "docagent":
            print(json.dumps(worker_docagent(args.folder, args.store, args.ocr)))
        elif args.worker == "mixed":
            print(json.dumps(worker_mixed(args.folder, args.store)))
        else:
            print(json.dumps(worker_baseline(args.folder, args.store)))
        return

    if args.folder is not None:  # a folder of PDFs of one's own (a slice of a corpus) instead of the named corpora
        if not args.folder.is_dir():
            raise SystemExit(f"--folder {args.folder}: not a folder")
        CORPORA.clear()
        CORPORA[args.folder.name] = args.folder
        args.corpus = [args.folder.name]
    missing = [name for name in args.corpus if name != MIXED and not CORPORA[name].is_dir()]
    if missing:
        raise SystemExit(f"benchmark data not found: {', '.join(str(CORPORA[m]) for m in missing)} (needs ../shared/data beside the checkout)")

    results = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}, "corpora": {}}
    rows = []
    try:
        before = checkout(args.against) if args.against else None
    except subprocess.CalledProcessError as e:
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else e.stderr or ""
        raise SystemExit(f"--against {args.against}: cannot make a worktree of it ({' '.join(map(str, e.cmd))} exited "
                         f"{e.returncode}): {err.strip()[-1000:]}") from None
    for name in [c for c in args.corpus if c != MIXED]:
        folder = CORPORA[name]
        base = run_worker("baseline", folder)  # side by side, same run
        if before is not None:
            old = run_worker("docagent", folder, "auto", before)
            old_plain = run_worker("docagent", folder, "off", before)
        ours = run_worker("docagent", folder, "auto")
        plain = run_worker("docagent", folder, "off")  # the same work as the baseline: no OCR
        if before is not None:
            results.setdefault("against", {})[name] = {
                "rev": args.against, "docagent": old, "docagent_ocr_off": old_plain,
                "change": {"ocr_auto": (ours["pages"] / ours["seconds"]) / (old["pages"] / old["seconds"]) - 1,
                           "ocr_off": (plain["pages"] / plain["seconds"]) / (old_plain["pages"] / old_plain["seconds"]) - 1},
            }
        speed = {k: (r["pages"] / r["seconds"]) / (base["pages"] / base["seconds"]) for k, r in (("ocr_auto", ours), ("ocr_off", plain))}
        results["corpora"][name] = {
            "baseline": base,
            "docagent": ours,
            "docagent_ocr_off": plain,
            "speedup": speed,
            "reindex_speedup": ours["seconds"] / ours["reindex_seconds"],
            "reindex_cli_speedup": ours["seconds"] / ours["reindex_cli_seconds"],
        }
        rows.append((name, base, ours, plain, speed))

    if rows:
        print(f"{'corpus':<12} {'pipeline':<18} {'pages':>6} {'seconds':>8} {'pages/s':>8} {'vs base':>8} {'peak RSS MB':>11}  notes")
    for name, base, ours, plain, speed in rows:
        print(f"{name:<12} {'baseline':<18} {base['pages']:>6} {base['seconds']:>8.1f} {base['pages'] / base['seconds']:>8.1f} {'1.00x':>8} {base['peak_rss_mb']:>11.0f}  {base['chunks']} chunks, no OCR")
        for label, r, key in (("docagent", ours, "ocr_auto"), ("docagent --ocr off", plain, "ocr_off")):
            stages = ", ".join(f"{k} {v:.1f}s" for k, v in r["stages"].items() if v >= 0.05)
            print(
                f"{'':<12} {label:<18} {r['pages']:>6} {r['seconds']:>8.1f} {r['pages'] / r['seconds']:>8.1f} {speed[key]:>7.2f}x {r['peak_rss_mb']:>11.0f}  "
                f"{r['passages']} passages, {r['ocr_pages']} pages OCR'd; {stages}"
            )
        print(
            f"{'':<12} {'re-index':<18} {'':>6} {ours['reindex_seconds']:>8.3f} {'':>8} {'':>8} {'':>11}  unchanged files: "
            f"{ours['seconds'] / ours['reindex_seconds']:.0f}x faster in-process, {ours['seconds'] / ours['reindex_cli_seconds']:.0f}x as a CLI process "
            f"({ours['reindex_cli_seconds']:.2f}s incl. interpreter start); page image on first use {ours['image_on_first_use_ms']:.0f} ms"
        )
    for name, a in results.get("against", {}).items():
        for key, label in (("docagent", "ocr auto"), ("docagent_ocr_off", "ocr off")):
            r, now = a[key], results["corpora"][name][key]
            print(f"{name:<12} {label}: {args.against} {r['pages'] / r['seconds']:.1f} pages/s ({r['passages']} passages), "
                  f"this checkout {now['pages'] / now['seconds']:.1f} pages/s ({now['passages']} passages): "
                  f"{100 * a['change']['ocr_auto' if key == 'docagent' else 'ocr_off']:+.1f}%")
    if MIXED in args.corpus:
        results["corpora"][MIXED] = run_mixed(args.keep_corpus)
        print_mixed(results["corpora"][MIXED])
    write_results("ingest", results)

if __name__ == "__main__":
    main()
