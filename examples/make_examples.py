"""Generate the example documents under examples/ (deterministic; re-run to rebuild them).

    python examples/make_examples.py

Writes:
  report.pdf             a three-page annual report with a bar chart and a table
  invoice.pdf            a one-page invoice
  scanned_memo.png       a memo printed, scanned and slightly skewed: no text layer, needs OCR
  forms/irs_fw9_filled.pdf   the blank IRS W-9 in forms/ (a US-government work) filled in for a demo
"""

from __future__ import annotations

import random
from pathlib import Path

import pymupdf
from PIL import Image, ImageFilter

HERE = Path(__file__).resolve().parent

QUARTERS = [("Q1", 820), ("Q2", 960), ("Q3", 1130), ("Q4", 1290)]
REGIONS = [("North", 96, 120), ("South", 210, 245), ("East", 71, 98), ("West", 140, 167)]


def _pdf_metadata(doc: pymupdf.Document, title: str) -> None:
    # fixed dates keep the output byte-identical between runs
    doc.set_metadata({"title": title, "author": "docagent examples", "creationDate": "D:20250101000000", "modDate": "D:20250101000000"})


def make_report(path: Path) -> None:
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    page.insert_text((72, 90), "Northwind Solar - Annual Report 2025", fontsize=20, fontname="hebo")
    body = (
        "Northwind Solar designs and installs rooftop solar systems for homes and small businesses. "
        "In 2025 revenue grew by 17.6 percent to 4,200 thousand euros, up from 3,570 thousand euros in 2024. "
        "The company completed 630 installations, 113 more than the year before, and opened a second "
        "warehouse in Leipzig to shorten delivery times in the East region.\n\n"
        "Gross margin improved from 31 percent to 34 percent as panel prices fell and crews worked on "
        "larger projects. The board proposes a dividend of 0.40 euros per share.\n\n"
        "Outlook: for 2026 management expects revenue between 4,600 and 4,900 thousand euros, driven by "
        "battery storage retrofits, which already made up 22 percent of new orders in the fourth quarter."
    )
    page.insert_textbox(pymupdf.Rect(72, 120, 523, 500), body, fontsize=11, fontname="helv")

    page = doc.new_page(width=595, height=842)
    page.insert_text((72, 90), "Quarterly revenue 2025 (thousand EUR)", fontsize=16, fontname="hebo")
    x0, base, bar_w, gap, scale = 110, 560, 70, 35, 0.3
    page.draw_line((x0 - 10, base), (x0 + 4 * (bar_w + gap), base), color=(0, 0, 0), width=1)
    for i, (quarter, value) in enumerate(QUARTERS):
        left = x0 + i * (bar_w + gap)
        top = base - value * scale
        page.draw_rect(pymupdf.Rect(left, top, left + bar_w, base), color=(0.1, 0.3, 0.6), fill=(0.2, 0.45, 0.8))
        page.insert_text((left + 18, top - 8), f"{value:,}", fontsize=11, fontname="helv")
        page.insert_text((left + 25, base + 18), quarter, fontsize=11, fontname="helv")
    page.insert_textbox(
        pymupdf.Rect(72, 610, 523, 700),
        "Revenue rose in every quarter of 2025. The fourth quarter was the strongest, helped by battery storage retrofits.",
        fontsize=11,
        fontname="helv",
    )

    page = doc.new_page(width=595, height=842)
    page.insert_text((72, 90), "Installations by region", fontsize=16, fontname="hebo")
    cols = [72, 220, 320, 420]
    y = 130
    for col, head in zip(cols, ["Region", "2024", "2025", "Change"], strict=True):
        page.insert_text((col, y), head, fontsize=11, fontname="hebo")
    page.draw_line((72, y + 6), (500, y + 6), width=0.8)
    for region, a, b in REGIONS:
        y += 22
        for col, cell in zip(cols, [region, str(a), str(b), f"+{b - a}"], strict=True):
            page.insert_text((col, y), cell, fontsize=11, fontname="helv")
    y += 22
    page.draw_line((72, y - 14), (500, y - 14), width=0.8)
    total_a, total_b = sum(r[1] for r in REGIONS), sum(r[2] for r in REGIONS)
    for col, cell in zip(cols, ["Total", str(total_a), str(total_b), f"+{total_b - total_a}"], strict=True):
        page.insert_text((col, y), cell, fontsize=11, fontname="hebo")
    _pdf_metadata(doc, "Northwind Solar Annual Report 2025")
    doc.save(path, garbage=3, deflate=True, no_new_id=True)


def make_invoice(path: Path) -> None:
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    page.insert_text((72, 80), "INVOICE", fontsize=24, fontname="hebo")
    lines = [
        ("Invoice number:", "INV-2025-0147"),
        ("Invoice date:", "14 March 2025"),
        ("Due date:", "13 April 2025"),
        ("Customer:", "Brightwater Bakery GmbH, Hafenstrasse 12, 20457 Hamburg"),
        ("Supplier:", "Northwind Solar AG, Werkstrasse 3, 04109 Leipzig"),
    ]
    y = 120
    for label, value in lines:
        page.insert_text((72, y), label, fontsize=11, fontname="hebo")
        page.insert_text((190, y), value, fontsize=11, fontname="helv")
        y += 18
    y += 20
    items = [("Solar panels 410 W", 24, 189.00), ("Hybrid inverter 10 kW", 1, 2150.00), ("Installation labour (hours)", 32, 65.00)]
    for col, head in zip([72, 330, 400, 480], ["Description", "Qty", "Unit price", "Amount"], strict=True):
        page.insert_text((col, y), head, fontsize=11, fontname="hebo")
    subtotal = 0.0
    for desc, qty, unit in items:
        y += 20
        amount = qty * unit
        subtotal += amount
        for col, cell in zip([72, 330, 400, 480], [desc, str(qty), f"{unit:,.2f}", f"{amount:,.2f}"], strict=True):
            page.insert_text((col, y), cell, fontsize=11, fontname="helv")
    vat = round(subtotal * 0.19, 2)
    y += 36
    for label, value in [("Subtotal", subtotal), ("VAT 19%", vat), ("Total due (EUR)", subtotal + vat)]:
        page.insert_text((330, y), label, fontsize=11, fontname="hebo")
        page.insert_text((480, y), f"{value:,.2f}", fontsize=11, fontname="helv")
        y += 18
    page.insert_text((72, y + 30), "Please pay by bank transfer to IBAN DE44 5001 0517 5407 3249 31 quoting the invoice number.", fontsize=9, fontname="helv")
    _pdf_metadata(doc, "Invoice INV-2025-0147")
    doc.save(path, garbage=3, deflate=True, no_new_id=True)


def make_scan(path: Path) -> None:
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    page.insert_text((72, 90), "MEMO", fontsize=20, fontname="hebo")
    text = (
        "To: All installation crews\nFrom: Operations\nDate: 2 June 2025\n\n"
        "Subject: New safety rule for roof work\n\n"
        "From 1 July 2025 every crew working on a roof higher than 3 metres must use two anchor points. "
        "The warehouse in Leipzig holds 40 new harness kits. Collect yours before your next job.\n\n"
        "Questions go to the safety officer, Mira Havel, extension 214."
    )
    page.insert_textbox(pymupdf.Rect(72, 120, 523, 600), text, fontsize=12, fontname="helv")
    pix = page.get_pixmap(dpi=150, colorspace=pymupdf.csGRAY)
    image = Image.frombytes("L", (pix.width, pix.height), pix.samples)
    rng = random.Random(7)
    image = image.rotate(0.8, resample=Image.Resampling.BICUBIC, fillcolor=255, expand=False)
    noise = Image.effect_noise(image.size, 18)
    image = Image.blend(image, noise, 0.12).filter(ImageFilter.GaussianBlur(0.6))
    pixels = image.load()
    for _ in range(1500):  # dust specks
        pixels[rng.randrange(image.width), rng.randrange(image.height)] = rng.randrange(0, 90)
    image.save(path, format="PNG", optimize=True, dpi=(150, 150))


def fill_w9(blank: Path, out: Path) -> None:
    doc = pymupdf.open(blank)
    values = {
        "f1_01": "Jordan Rivera",
        "f1_02": "Rivera Roofing",
        "f1_07": "1200 Market Street, Suite 5",
        "f1_08": "Springfield, IL 62701",
    }
    for widget in doc[0].widgets():
        short = widget.field_name.rsplit(".", 1)[-1].split("[")[0]
        if short in values:
            widget.field_value = values[short]
            widget.update()
        elif widget.field_name.endswith("c1_1[0]"):  # individual / sole proprietor
            widget.field_value = widget.on_state()
            widget.update()
    _pdf_metadata(doc, "Form W-9 (filled example)")
    doc.save(out, garbage=3, deflate=True, no_new_id=True)


def main() -> None:
    make_report(HERE / "report.pdf")
    make_invoice(HERE / "invoice.pdf")
    make_scan(HERE / "scanned_memo.png")
    fill_w9(HERE / "forms" / "irs_fw9.pdf", HERE / "forms" / "irs_fw9_filled.pdf")
    print("wrote report.pdf, invoice.pdf, scanned_memo.png, forms/irs_fw9_filled.pdf")


if __name__ == "__main__":
    main()
