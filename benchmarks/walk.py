"""The walk's kind of library, made here: a DOCX report, an XLSX workbook, a PPTX with speaker notes, an e-mail with
a PDF invoice attached, a scanned memo (an image: OCR), and a 14-page annual report with a statement table; and the
questions a new user asked of it, each with the document that answers it and the answer (benchmarks/answers.py
asks them over the whole library, no model).

The wording of the documents and the questions was written before docagent was run on them, and not changed after
(the one change after the first run: the report's statement, first typed with spaces into a proportional font, is
laid out as statements are printed, its figures right-aligned under their years). Some answers are printed in words
("two anchor points").
"""

from __future__ import annotations

import random
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import pymupdf
from common import paragraph


def _pdf(pages: list[str]) -> bytes:
    doc = pymupdf.open()
    for text in pages:
        page = doc.new_page(width=595, height=842)
        page.insert_textbox(pymupdf.Rect(50, 50, 545, 800), text, fontsize=10, fontname="helv")
    data = doc.tobytes()
    doc.close()
    return data


def _docx(path: Path) -> None:
    import docx

    doc = docx.Document()
    doc.add_heading("Operations report 2024", 1)
    doc.add_paragraph("Prepared by: Mira Havel")
    doc.add_paragraph("The fleet covered 1.2 million kilometres in 2024, on 46 vans and 9 trucks.")
    doc.add_page_break()
    doc.add_heading("Training and safety", 2)
    doc.add_paragraph("Every driver holds a valid licence check. Crews must complete the annual refresher before "
                      "31 March 2025; supervisors record attendance in the training portal.")
    doc.add_paragraph("Safety incidents fell to 3 in 2024, none of them reportable.")
    doc.add_page_break()
    doc.add_heading("Premises and results", 2)
    doc.add_paragraph("The Delft warehouse is leased at a monthly rent of EUR 18,500. The Utrecht depot lease ends on "
                      "30 June 2026.")
    doc.add_paragraph("Revenue for the year reached 2.4 million euros, up from 2.1 million euros in 2023.")
    doc.save(path)


def _xlsx(path: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sales = book.active
    sales.title = "Sales"
    sales.append(["Region", "Q1", "Q2", "Q3", "Q4"])
    for region, base in (("North", 120), ("South", 80), ("West", 95), ("East", 60)):
        sales.append([region, base, base + 10, base + 20, base + 30])
    staff = book.create_sheet("Staff")
    staff.append(["Name", "Role", "Start"])
    staff.append(["Mira Havel", "Fleet manager", "2021-03-01"])
    staff.append(["Jon Okafor", "Dispatcher", "2019-11-15"])
    sites = book.create_sheet("Sites")
    sites.append(["Site", "Monthly rent (EUR)", "Staff"])
    sites.append(["Rotterdam", 24000, 12])
    sites.append(["Eindhoven", 15200, 7])
    book.save(path)


def _pptx(path: Path) -> None:
    import pptx

    deck = pptx.Presentation()
    for title, body, notes in (
            ("Bracket installation", "Mounting the wall brackets", "Fit two anchor points per bracket and torque "
             "each bolt to 45 Nm."),
            ("Inspection", "Keeping brackets safe", "Inspect the brackets every 6 months and replace corroded bolts.")):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
        slide.notes_slide.notes_text_frame.text = notes
    deck.save(path)


def _eml(path: Path) -> None:
    mail = EmailMessage()
    mail["From"] = "accounts@northwind.example"
    mail["To"] = "ops@depot.example"
    mail["Subject"] = "Invoice INV-2207 for the May deliveries"
    mail["Date"] = "Mon, 02 Jun 2025 09:12:00 +0200"
    mail.set_content("Hello,\n\nplease find attached invoice INV-2207 for the May deliveries. Payment is due within "
                     "30 days.\n\nKind regards,\nNorthwind accounts")
    invoice = _pdf(["INVOICE\nInvoice number: INV-2207\nInvoice date: 2 June 2025\n\nPallet deliveries, May 2025\n\n"
                    "Subtotal: 1,250.00\nVAT 21%: 262.50\nTotal due: 1,512.50 EUR"])
    mail.add_attachment(invoice, maintype="application", subtype="pdf", filename="invoice.pdf")
    path.write_bytes(mail.as_bytes(policy=default_policy))


def _scan(path: Path) -> None:
    from PIL import Image

    doc = pymupdf.open()
    page = doc.new_page(width=420, height=300)
    page.insert_textbox(pymupdf.Rect(24, 24, 396, 280), "MEMO\nTo: All site leads\nFrom: Facilities\nDate: 14 May 2025\n\n"
                        "The quarterly fire drill takes place on 22 May 2025 at 10:00.\nAssembly point: car park B.",
                        fontsize=11, fontname="helv")
    pix = page.get_pixmap(dpi=200)
    Image.frombytes("RGB", (pix.width, pix.height), pix.samples).save(path)
    doc.close()


STATEMENT = [("", "2024", "2023"), ("Revenue", "24,310", "21,870"), ("Cost of sales", "(17,020)", "(15,640)"),
             ("Gross profit", "7,290", "6,230"), ("Operating expenses", "(4,105)", "(3,980)"),
             ("Operating profit", "3,185", "2,250")]


def _report(path: Path, rng: random.Random) -> None:
    pages = [f"Annual report 2024\n\n{paragraph(rng)}\n\n{paragraph(rng)}" for _ in range(14)]
    pages[0] = "Harbourline Logistics N.V.\nAnnual report 2024\n\n" + paragraph(rng)
    pages[6] = ""
    pages[9] = ("Dividend\n\nThe board proposes a dividend of EUR 0.42 per share, payable on 15 May 2025 to "
                "shareholders of record on 2 May 2025.\n\n" + paragraph(rng))
    doc = pymupdf.open("pdf", _pdf(pages))
    page = doc[6]  # the statement as statements are printed: labels left, figures right-aligned under their year
    page.insert_text((50, 70), "Consolidated statement of income (in thousands of EUR)", fontsize=11, fontname="hebo")
    for n, (label, *figures) in enumerate(STATEMENT):
        y = 100 + 16 * n
        page.insert_text((50, y), label, fontsize=10, fontname="helv")
        for right, figure in zip((380, 470), figures, strict=True):
            page.insert_text((right - pymupdf.get_text_length(figure, "helv", 10), y), figure, fontsize=10, fontname="helv")
    path.write_bytes(doc.tobytes())
    doc.close()


QUESTIONS = [
    ("ops_report.docx", "Who prepared the operations report?", "Mira Havel"),
    ("ops_report.docx", "By when must crews complete the annual refresher?", "31 March 2025"),
    ("ops_report.docx", "What is the monthly rent for the Delft warehouse?", "18,500"),
    ("ops_report.docx", "When does the Utrecht depot lease end?", "30 June 2026"),
    ("ops_report.docx", "What was the revenue for the year 2024 in the operations report?", "2.4 million euros"),
    ("ops_report.docx", "How many safety incidents were there in 2024?", "3"),
    ("sites.xlsx", "What were the West region sales in Q3?", "115"),
    ("sites.xlsx", "How much higher were North sales in Q4 than in Q1?", "30"),
    ("sites.xlsx", "What is Jon Okafor's role?", "Dispatcher"),
    ("sites.xlsx", "What is the monthly rent of the Eindhoven site?", "15200"),
    ("install.pptx", "What torque should each bracket bolt be tightened to?", "45 Nm"),
    ("install.pptx", "How often should the brackets be inspected?", "6 months"),
    ("install.pptx", "How many anchor points are fitted per bracket?", "two"),
    ("invoice_mail.eml/invoice.pdf", "What is the total due on invoice INV-2207?", "1,512.50"),
    ("invoice_mail.eml/invoice.pdf", "What is the VAT amount on invoice INV-2207?", "262.50"),
    ("invoice_mail.eml", "Within how many days is payment of invoice INV-2207 due?", "30"),
    ("memo_scan.png", "When is the quarterly fire drill?", "22 May 2025"),
    ("memo_scan.png", "Where is the assembly point for the fire drill?", "car park B"),
    ("annual_report.pdf", "What was Harbourline's revenue in 2024?", "24,310"),
    ("annual_report.pdf", "What was the operating profit in 2023?", "2,250"),
    ("annual_report.pdf", "What dividend per share does the board propose?", "0.42"),
    ("annual_report.pdf", "How much did revenue increase from 2023 to 2024?", "2440000"),
]
"""(document that answers, question, answer as printed or computed)."""


def library(folder: Path, seed: int = 31) -> tuple[list[Path], list[dict]]:
    """The walk's library written into ``folder`` and its answerable questions (``doc``, ``question``, ``answer``)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    makers = {"ops_report.docx": _docx, "sites.xlsx": _xlsx, "install.pptx": _pptx, "invoice_mail.eml": _eml,
              "memo_scan.png": _scan}
    for name, make in makers.items():
        if not (folder / name).exists():
            make(folder / name)
    if not (folder / "annual_report.pdf").exists():
        _report(folder / "annual_report.pdf", rng)
    files = [folder / name for name in (*makers, "annual_report.pdf")]
    return files, [{"set": "walk", "doc": doc, "question": q, "answer": a} for doc, q, a in QUESTIONS]
