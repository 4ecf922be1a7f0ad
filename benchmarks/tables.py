"""Table structure: cell-triple F1 on generated tables, born-digital and scanned, and what detection costs.

    python benchmarks/tables.py [--docs 70] [--scanned 70] [--seed 0] [--work DIR]
    python benchmarks/tables.py --real        # ChartQA's data tables rendered as PDF tables; MMLongBench-Doc
    python benchmarks/tables.py --debian      # detection's share of ingest time on the Debian manuals
    python benchmarks/tables.py --labels benchmarks/labels/statements.jsonl --cells benchmarks/labels/statement_cells.jsonl
    python benchmarks/tables.py --labels benchmarks/labels/mmlongbench_tables.sealed.jsonl

Claim: docagent recovers tables with known structure at cell-triple F1 >= 0.95 from born-digital PDFs and
>= 0.80 from scans of the same pages, while detection costs at most 15% of ingest time.

Generated set (``tests/table_factory.py``, seeded, no data needed): ``--docs`` PDFs of prose with three random
tables each (about 3.5 tables a document with the split ones: 70 documents give about 245 tables), drawn with
PyMuPDF in Helvetica or Times at 8-10 pt, each of one variety: plain, spanning header (years over quarters or
halves), multi-line row labels (values on the label's first or last line), negatives in parentheses, a totals
row, percentages, currencies ($ € £), a scale in the caption ("in millions", "in thousands of euros"), cells of
words, empty cells, two-line column heads; ruled as a grid, with rules around the header only, or not at all;
a caption above each and prose around. Every other document breaks its last table across a page, every fourth
repeating the header on the second page. ``--scanned`` of the documents are also rasterised at 170 dpi, turned by
up to 0.4 degrees, blurred and speckled, and saved as image-only PDFs, so the indexer OCRs them (RapidOCR).
Gold labels are written in the ``docagent eval tables`` format (``labels.jsonl`` in the work folder).

Both sets are indexed with the real indexer (``index_paths`` into a fresh store) and the tables read back with
``PageStore.tables``; scoring is ``docagent.evaluation.tables.score_tables`` (micro P/R/F1 of (row label,
column header, value) triples, numbers compared by value). Printed: F1 born-digital and scanned, by variety and
by ruling, and the ``tables`` stage's share of each run's ingest time (IndexReport.seconds over the wall time).

``--real``: the 66 ChartQA data tables (``../shared/data/chartqa/tables/*.csv``, Statista's numbers behind each
chart), each printed as a table (header row = the CSV's header, one body row per CSV row, first column the
category) on its own page below a caption, four to a document, unruled; the labels are the CSVs themselves, so
the score measures how exactly the printed table is read back, not how a chart is read. MMLongBench-Doc has no
cell labels: for its pages whose evidence source is "Table" the share where a table is found is printed, and
for the others the share of pages with a table (many are real tables the questions do not use).

``--labels FILE``: tables labelled by hand on real pages (the ``docagent eval tables`` format, documents relative
to the file; e.g. MMLongBench-Doc pages whose evidence is a table, labelled outside this repository because the
data may not be copied into it): each labelled page and the page before it are read with the indexer's own
``PdfSource`` / ``find_tables`` / ``link_continuations`` calls, no embedding, and scored like ``eval tables``.

``--seal OUT`` with ``--labels FILE``: the labels sealed (``docagent.evaluation.tables.seal_labels``: each table's
triples as SHA-256 digests, no text) into OUT, for labels of documents whose text may not be copied where the
labels are kept; sealed labels score exactly as the plain ones. ``benchmarks/labels/`` holds the MMLongBench-Doc
tables sealed so.

``--debian``: the three Debian manuals (1,803 pages) indexed into a fresh store; IndexReport.seconds per stage
and the ``tables`` share of the wall time.

Writes benchmarks/results/tables-<time>.json.
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import random
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from common import DATA, ROOT, require, write_results

sys.path.insert(0, str(ROOT))

from tests.table_factory import MARGIN, PAGE_H, PAGE_W, Style, TableSpec, draw_table, scan_of, table_document


def _index(folder: Path, store_dir: Path) -> tuple[Any, float, dict[str, float]]:
    """Index ``folder`` into a fresh store at ``store_dir``; (open store, wall seconds, seconds per stage)."""
    from docagent.config import Settings
    from docagent.index.indexer import index_paths
    from docagent.index.store import PageStore

    store = PageStore(Settings(store=store_dir))
    _ = store.embedder.model  # loaded before the clock starts: no run pays for it
    t0 = time.perf_counter()
    report = index_paths([folder], store=store, progress=False)
    wall = time.perf_counter() - t0
    if report.failed:
        raise SystemExit(f"indexing failed: {report.failed}")
    return store, wall, dict(report.seconds)


def _score(store: Any, labels: list[Any]) -> Any:
    from docagent.evaluation.tables import evaluate_tables

    return evaluate_tables(labels, lambda doc, page: store.tables(doc, page))


def _by(labels: list[Any], store: Any, key: str) -> dict[str, Any]:
    """F1 per value of a label's ``key`` (its variety, its ruling). Each table found on a page is counted with
    the labelled table of that page it shares most cells with (a page holds tables of several varieties)."""
    from docagent.evaluation.tables import score_tables

    pages: dict[tuple[str, int], list[Any]] = defaultdict(list)
    for label in labels:
        pages[(label.doc, label.page)].append(label)
    owner: dict[int, list[Any]] = defaultdict(list)  # id(label) -> the tables found that are that label's
    for (doc, page), mine in pages.items():
        for table in store.tables(doc, page):
            cells = {(row[0], k, t) for row in table.grid() for k, t in enumerate(row) if t}
            best = max(mine, key=lambda lab: len(cells & {(row[0], k, t) for row in lab.rows for k, t in enumerate(row) if t}))
            owner[id(best)].append(table)
    groups: dict[str, list[Any]] = defaultdict(list)
    for label in labels:
        groups[str(label.extra.get(key, "?"))].append(label)
    out = {}
    for name, group in sorted(groups.items()):
        found: dict[tuple[str, int], list[Any]] = defaultdict(list)
        for label in group:
            found[(label.doc, label.page)] += owner[id(label)]
        out[name] = score_tables(found, group)
    return out


def generated(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from docagent.evaluation.tables import load_table_labels

    born, scans = work / "born", work / "scanned"
    born.mkdir(parents=True, exist_ok=True)
    scans.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(args.docs):
        seed = args.seed * 1000 + i
        doc = table_document(born / f"tables-{seed}.pdf", seed)
        lines += [json.dumps(lab) for lab in doc.labels]
        if i < args.scanned:
            scan = scan_of(doc.path, scans / f"scan-{seed}.pdf", seed)
            lines += [json.dumps(lab | {"doc": scan.name}) for lab in doc.labels]
    (work / "labels.jsonl").write_text("\n".join(lines) + "\n")
    labels = load_table_labels(work / "labels.jsonl")
    results: dict[str, Any] = {"docs": args.docs, "scanned_docs": args.scanned}
    print(f"{'set':<14} {'pages':>6} {'tables':>7} {'found':>6} {'triples':>8} {'P':>6} {'R':>6} {'F1':>6} "
          f"{'ingest s':>9} {'tables s':>9} {'share':>6}")
    for name, folder in (("born-digital", born), ("scanned", scans)):
        mine = [lab for lab in labels if (folder / lab.doc).exists()]
        if not mine:
            continue
        store, wall, seconds = _index(folder, work / f"store-{name}")
        with store:
            score = _score(store, mine)
            by_kind = _by(mine, store, "kind")
            by_ruling = _by(mine, store, "ruled")
        share = seconds.get("tables", 0.0) / wall
        print(f"{name:<14} {score.pages:>6} {score.tables_labelled:>7} {score.tables_found:>6} {score.gold:>8} "
              f"{score.precision:>6.3f} {score.recall:>6.3f} {score.f1:>6.3f} {wall:>9.1f} "
              f"{seconds.get('tables', 0.0):>9.2f} {share:>6.1%}")
        results[name] = {"score": score.to_json(), "wall_s": round(wall, 2), "seconds": seconds,
                         "tables_share": round(share, 4),
                         "by_kind": {k: v.to_json() | {"per_page": None} for k, v in by_kind.items()},
                         "by_ruling": {k: v.to_json() | {"per_page": None} for k, v in by_ruling.items()}}
        results[name + "_by"] = (by_kind, by_ruling)
    for name in ("born-digital", "scanned"):
        if name + "_by" not in results:
            continue
        by_kind, by_ruling = results.pop(name + "_by")
        print(f"\n{name}: F1 by variety (tables, F1)")
        print("  " + "  ".join(f"{k} {v.tables_labelled} {v.f1:.3f}" for k, v in by_kind.items()))
        print(f"{name}: F1 by ruling")
        print("  " + "  ".join(f"{k} {v.tables_labelled} {v.f1:.3f}" for k, v in by_ruling.items()))
        print(f"{name}: worst pages")
        print("\n".join("  " + line for line in _score_lines(results[name]["score"])))
    return results


def _score_lines(score: dict[str, Any]) -> list[str]:
    pages = sorted(score["per_page"], key=lambda p: p["matched"] - max(p["gold"], p["found"]))[:5]
    return [f"{p['doc']} p{p['page']}: matched {p['matched']} of {p['gold']} gold, {p['found']} found"
            for p in pages if p["matched"] < max(p["gold"], p["found"])]


def chartqa(work: Path) -> dict[str, Any]:
    """ChartQA's CSVs printed as tables, four to a document, and read back through the indexer."""
    import pymupdf

    from docagent.evaluation.tables import load_table_labels

    tables = sorted(require(DATA / "chartqa" / "tables").glob("*.csv"))
    folder = work / "chartqa"
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    rng = random.Random(7)
    for start in range(0, len(tables), 4):
        doc = pymupdf.open()
        name = f"chartqa-{start // 4:02d}.pdf"
        for path in tables[start:start + 4]:
            with path.open(newline="", encoding="utf-8") as f:
                rows = [r for r in csv.reader(f) if any(c.strip() for c in r)]
            header, body = rows[0], rows[1:]
            spec = TableSpec([header], body, f"Table: {path.stem.replace('_', ' ')}")
            col = min(80.0, (PAGE_W - 2 * MARGIN - 130.0) / (len(header) - 1))
            style = Style(size=9.0 if col >= 60 else 7.0, label_width=min(220.0, PAGE_W - 2 * MARGIN - col * (len(header) - 1)),
                          col_width=col, row_gap=rng.choice((2.0, 3.0)))
            page = doc.new_page(width=PAGE_W, height=PAGE_H)
            page.insert_textbox(pymupdf.Rect(MARGIN, MARGIN, PAGE_W - MARGIN, MARGIN + 40),
                                f"Source data of chart {path.stem}, as published.", fontsize=10)
            draw_table(page, spec, MARGIN, MARGIN + 50, style)
            lines.append(json.dumps({"doc": name, "page": page.number + 1, "header": [header], "rows": body,
                                     "kind": "multi_col" if path.stem.startswith("multi") else "two_col"}))
        doc.save(folder / name)
        doc.close()
    (work / "chartqa-labels.jsonl").write_text("\n".join(lines) + "\n")
    labels = load_table_labels(work / "chartqa-labels.jsonl")
    store, _wall, _seconds = _index(folder, work / "store-chartqa")
    with store:
        score = _score(store, labels)
        by_kind = _by(labels, store, "kind")
    print("ChartQA data tables printed as PDF tables (labels: the CSVs themselves)")
    print(score.table())
    print("  " + "  ".join(f"{k} {v.tables_labelled} F1 {v.f1:.3f}" for k, v in by_kind.items()))
    return {"chartqa": score.to_json(), "chartqa_by_kind": {k: v.to_json() | {"per_page": None} for k, v in by_kind.items()}}


def mmlongbench() -> dict[str, Any]:
    """Table pages of MMLongBench-Doc (no cell labels): how many of them have a table found, and how many pages
    without table evidence do."""
    from docagent.ingest.pdf import PdfSource
    from docagent.ingest.tables import find_tables

    root = require(DATA / "mmlongbench_doc")
    samples = json.loads((root / "samples_subset.json").read_text())
    evidence: set[tuple[str, int]] = set()
    for s in samples:
        if "Table" in s["evidence_sources"]:
            evidence |= {(s["doc_id"], int(p)) for p in ast.literal_eval(s["evidence_pages"])}
    found: set[tuple[str, int]] = set()
    pages = 0
    text_pages: set[tuple[str, int]] = set()
    for pdf in sorted((root / "documents").glob("*.pdf")):
        with PdfSource(pdf) as src:
            for i in range(src.page_count):
                page = src.read_page(i)
                pages += 1
                if len(page.words) >= 20:
                    text_pages.add((pdf.name, i + 1))
                if find_tables(page, lambda i=i: src.rules(i)):
                    found.add((pdf.name, i + 1))
    with_text = evidence & text_pages
    other = text_pages - evidence
    out = {"pages": pages, "table_evidence_pages": len(evidence), "with_text_layer": len(with_text),
           "found_on_evidence": len(found & with_text), "pages_without_table_evidence": len(other),
           "found_on_others": len(found & other)}
    print(f"\nMMLongBench-Doc ({pages} pages, text layer only, no OCR): a table found on "
          f"{out['found_on_evidence']} of {len(with_text)} pages whose evidence is a table and that have a text layer "
          f"({len(evidence) - len(with_text)} more are images); on {out['found_on_others']} of {len(other)} other "
          "pages (no labels: many are real tables no question uses)")
    return {"mmlongbench": out}


def labelled(path: Path, cell_files: list[Path]) -> dict[str, Any]:
    """Detection on hand-labelled real pages, as the indexer runs it (rules read lazily, continuations linked);
    with cell labels, the cells and expressions they name computed over the tables found, scale applied."""
    from docagent.evaluation.tables import evaluate_cells, evaluate_tables, load_cell_labels, load_table_labels
    from docagent.ingest.pdf import PdfSource
    from docagent.ingest.tables import find_tables, link_continuations

    labels = load_table_labels(path)
    cells = {str(f): load_cell_labels(f) for f in cell_files}
    wanted = {(lb.doc, lb.page) for lb in labels} | {(c.doc, c.page) for found in cells.values() for c in found}
    found: dict[tuple[str, int], list[Any]] = {}
    t0 = time.perf_counter()
    for doc in sorted({d for d, _ in wanted}):
        where = [path.parent / doc, *(folder / doc for folder in sorted(DATA.glob("*/documents")))]
        with PdfSource(next((p for p in where if p.is_file()), where[0])) as source:
            for number in sorted({p for d, p in wanted if d == doc}):
                before = None
                for index in (number - 2, number - 1):
                    if index < 0:
                        continue
                    page = source.read_page(index)
                    tables = find_tables(page, lambda i=index: source.rules(i))
                    if before is not None:
                        link_continuations(before[1], before[0], tables, page)
                    before = (page, tables)
                found[(doc, number)] = before[1] if before else []
    score = evaluate_tables(labels, lambda doc, page: found.get((doc, page), []))
    print(f"hand-labelled real tables: {path} ({time.perf_counter() - t0:.1f} s)")
    print(score.table())
    out: dict[str, Any] = {"labelled": score.to_json(), "labels": str(path)}
    for name, asked in cells.items():
        named = evaluate_cells(asked, lambda doc, page: found.get((doc, page), []))
        print(f"\ncells named as users write them: {name}")
        print(named.table())
        out.setdefault("cells", {})[name] = named.to_json()
    return out


def debian(work: Path) -> dict[str, Any]:
    folder = require(DATA / "deb_pdf_docs")
    store, wall, seconds = _index(folder, work / "store-debian")
    with store:
        pages = sum(rec.pages for rec in store.documents())
        tables = sum(len(store.tables(rec.name)) for rec in store.documents())
    print(f"Debian manuals: {pages} pages, {tables} tables, {wall:.1f} s wall")
    print(f"{'stage':<10} {'seconds':>8} {'share':>7}")
    for stage, s in sorted(seconds.items(), key=lambda kv: -kv[1]):
        print(f"{stage:<10} {s:>8.2f} {s / wall:>7.1%}")
    share = seconds.get("tables", 0.0) / wall
    print(f"tables share of ingest: {share:.1%} (target <= 15%)")
    return {"debian": {"wall_s": round(wall, 2), "seconds": seconds, "tables_share": round(share, 4),
                       "pages": pages, "tables": tables}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=70, help="generated documents (about 3.5 tables each)")
    parser.add_argument("--scanned", type=int, default=70, help="of which also scanned (OCR: about 1 s a page)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--real", action="store_true", help="ChartQA tables and MMLongBench-Doc table pages")
    parser.add_argument("--debian", action="store_true", help="detection's share of ingest on the Debian manuals")
    parser.add_argument("--labels", type=Path, metavar="FILE", help="hand-labelled real tables (eval tables format)")
    parser.add_argument("--cells", type=Path, action="append", default=[], metavar="FILE",
                        help="with --labels: cells or expressions named as users write them (eval tables --cells)")
    parser.add_argument("--seal", type=Path, metavar="OUT",
                        help="with --labels: write them sealed to OUT (triple digests, no text) and stop")
    parser.add_argument("--work", type=Path, help="write documents and stores here and keep them")
    args = parser.parse_args()
    if args.seal:
        from docagent.evaluation.tables import load_table_labels, seal_labels

        if not args.labels:
            parser.error("--seal needs --labels FILE (the plain labels to seal)")
        sealed = seal_labels(load_table_labels(args.labels))
        args.seal.write_text("".join(json.dumps(line) + "\n" for line in sealed))
        print(f"{len(sealed)} tables sealed into {args.seal}")
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="docagent-tables-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        if args.labels:
            results = labelled(args.labels, args.cells)
        elif args.real:
            results = chartqa(work) | mmlongbench()
        elif args.debian:
            results = debian(work)
        else:
            results = generated(args, work)
        write_results("tables", results | {"args": {k: str(v) for k, v in vars(args).items()}})
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
