"""Arithmetic asked in words, computed without a model (docagent/tasks/words.py), on generated tables.

    python benchmarks/words.py [--tables 40] [--seed 7] [--work DIR] [--format pdf|xlsx]

Each generated page holds one unruled table (a caption, two or three year columns, four to seven rows named from a
pool of regions, products and line items, values with or without thousands separators) and, for each table,
questions of five kinds worded several ways: difference ("How many more ... in 2024 than in 2023?", "What is the
difference in ... between 2022 and 2023?"), percent change, ratio, sum and average. Every question is asked through
``docagent.chart`` with no model. Each answer counts as **exact** (the value equals the one computed from the
generated numbers), **refused** (no value, with the reason) or **wrong** (a value that is not the right one);
``needs_review`` results are counted apart. (Before docagent/tasks/words.py every such question was refused
without a model: chart raised "no model", ask said a model was needed.) ``--format xlsx`` writes each table as a
workbook instead (a sheet of names and roles first, then the figures: its caption in the first row, a blank row, the
years, the rows; thousands separators as a number format), read through LibreOffice and the cells the rendering
carries.

Prints a table, writes benchmarks/results/words-<time>.json.
"""

from __future__ import annotations

import argparse
import random
import shutil
from fractions import Fraction
from pathlib import Path

import pymupdf
from common import write_results

from docagent.config import Settings
from docagent.errors import DocagentError
from docagent.index.indexer import index_paths
from docagent.index.store import PageStore
from docagent.tasks.chart import chart

ROWS = ["North", "South", "East", "West", "Central", "Coastal", "Fuel spend", "Office rent", "Travel", "Salaries",
        "Licences", "Training", "Heat pumps", "Solar panels", "Batteries", "Inverters"]
CAPTIONS = ["Installations by region", "Operating costs (in EUR)", "Units sold by product", "Spending by category"]


def _page(path: Path, caption: str, years: list[str], rows: list[tuple[str, list[int]]], commas: bool) -> None:
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    page.insert_text((72, 90), "Quarterly operations review", fontsize=15, fontname="hebo")
    page.insert_textbox(pymupdf.Rect(72, 110, 523, 160), "The table below gives the figures reported by the teams "
                        "for the periods shown.", fontsize=10, fontname="helv")
    page.insert_text((72, 190), caption, fontsize=11, fontname="hebo")
    rights = [330, 420, 510][-len(years):]
    y = 215
    for text, right in zip(years, rights, strict=True):
        page.insert_text((right - pymupdf.get_text_length(text, "hebo", 10), y), text, fontsize=10, fontname="hebo")
    page.draw_line((72, y + 5), (510, y + 5), width=0.6)
    for label, values in rows:
        y += 18
        page.insert_text((72, y), label, fontsize=10, fontname="helv")
        for value, right in zip(values, rights, strict=True):
            text = f"{value:,}" if commas else str(value)
            page.insert_text((right - pymupdf.get_text_length(text, "helv", 10), y), text, fontsize=10, fontname="helv")
    doc.save(path)


def _workbook(path: Path, caption: str, years: list[str], rows: list[tuple[str, list[int]]], commas: bool) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    staff = book.active  # a sheet of text first, on the same page, as workbooks have (the walk's "Staff" sheet)
    staff.title = "Staff"
    for row in (["Name", "Role"], ["Mira Havel", "Fleet manager"], ["Jon Okafor", "Dispatcher"]):
        staff.append(row)
    sheet = book.create_sheet("Figures")
    sheet.append([caption])
    sheet.append([])
    sheet.append(["", *years])
    for label, values in rows:
        sheet.append([label, *values])
        for cell in sheet[sheet.max_row][1:]:
            cell.number_format = "#,##0" if commas else "0"
    book.save(path)


def _questions(rng: random.Random, caption: str, years: list[str],
               rows: list[tuple[str, list[int]]]) -> list[tuple[str, str, Fraction]]:
    """(kind, question, exact value) for one table."""
    what = caption.split(" (")[0].split(" by ")[0].lower()
    (r1, v1), (r2, v2) = rng.sample(rows, 2)
    i, j = sorted(rng.sample(range(len(years)), 2))
    early, late = years[i], years[j]
    out = [
        ("difference", f"How many more {what} were there for {r1} in {late} than in {early}?", Fraction(v1[j] - v1[i])),
        ("difference", f"What is the difference in {what} for {r1} between {early} and {late}?", Fraction(v1[j] - v1[i])),
        ("percent change", f"What was the percent change in {what} for {r2} from {early} to {late}?",
         Fraction(v2[j] - v2[i]) / v2[i] * 100),
        ("ratio", f"What is the ratio of {r1} to {r2} in {late}?", Fraction(v1[j], v2[j])),
        ("sum", f"What were the combined {what} of {r1} and {r2} in {early}?", Fraction(v1[i] + v2[i])),
        ("average", f"What was the average for {r2} in {early} and {late}?", Fraction(v2[i] + v2[j], 2)),
    ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work", type=Path, default=Path("/tmp/docagent-bench-words"))
    parser.add_argument("--format", choices=("pdf", "xlsx"), default="pdf")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    shutil.rmtree(args.work, ignore_errors=True)
    (args.work / "docs").mkdir(parents=True)
    asked: list[tuple[str, str, str, Fraction]] = []
    for n in range(args.tables):
        first = rng.choice([2019, 2020, 2021, 2022])
        years = [str(first + k) for k in range(rng.choice([2, 3]))]
        names = rng.sample(ROWS, rng.randint(4, 7))
        rows = [(name, [rng.randint(5, 99_000) for _ in years]) for name in names]
        caption = rng.choice(CAPTIONS)
        name = f"table{n:02d}.{args.format}"
        (_page if args.format == "pdf" else _workbook)(args.work / "docs" / name, caption, years, rows,
                                                      commas=rng.random() < 0.5)
        asked += [(name, kind, q, value) for kind, q, value in _questions(rng, caption, years, rows)]
    settings = Settings(store=args.work / "store", vlm_model=str(args.work / "no-model"))
    report = index_paths([args.work / "docs"], settings, progress=False)
    counts: dict[str, dict[str, int]] = {}
    examples = []
    with PageStore(settings) as store:
        for doc, kind, question, value in asked:
            row = counts.setdefault(kind, {"n": 0, "exact": 0, "review": 0, "refused": 0, "wrong": 0})
            row["n"] += 1
            try:
                answer = chart((doc, 1), question, store=store, settings=settings)
                got, why = answer.value, answer.error
            except DocagentError as e:
                got, why, answer = None, str(e), None
            outcome = ("refused" if got is None else "review" if answer is not None and answer.review
                       else "exact" if got == value else "wrong")
            row[outcome] += 1
            examples.append({"doc": doc, "kind": kind, "question": question, "expected": str(value),
                             "got": None if got is None else str(got), "outcome": outcome,
                             "expression": answer.expression if answer is not None else None, "why": why})
    total = {k: sum(r[k] for r in counts.values()) for k in ("n", "exact", "review", "refused", "wrong")}
    print(f"{'kind':16} {'n':>4} {'exact':>7} {'review':>7} {'refused':>8} {'wrong':>6}")
    for kind, r in [*counts.items(), ("all", total)]:
        print(f"{kind:16} {r['n']:>4} {r['exact'] / r['n']:>7.1%} {r['review']:>7} {r['refused']:>8} {r['wrong']:>6}")
    write_results("words", {"tables": args.tables, "seed": args.seed, "format": args.format,
                            "indexed": report.documents, "counts": counts,
                            "total": total, "examples": examples})


if __name__ == "__main__":
    main()
