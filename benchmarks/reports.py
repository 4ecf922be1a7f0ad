"""Page retrieval on real quarterly reports: 12 SEC 10-Q filings (Apple, Amazon, Intel; 2022 Q3 to 2023 Q3), 78 questions.

    python benchmarks/reports.py [--work DIR] [--labels PATH] [--skip-baseline]

Data: ../shared/data/sec_10q (documents/*.pdf and questions.jsonl: qid, question, doc, type, chunk = Text|Table).
The questions name no pages; the page labels are ours (benchmarks/labels/sec_10q_pages.jsonl: qid -> pages, made by
hand; benchmarks/labels/README.md says how). A question labelled with no page (not answerable from its filing) counts
for doc@1 only.

docagent hybrid (``PageRetriever(k=10)``, store indexed with ``ocr="off"``) beside LangChain's default pipeline
(PyMuPDF page text -> RecursiveCharacterTextSplitter(1000, 200) -> langchain-chroma, same all-MiniLM-L6-v2, dense;
pages ranked by their best chunk), both built under --work and reused by later runs:

* whole shelf: doc@1 (the top page is in the question's filing), page recall@1/@5/@10 (any labelled page in the top
  k), all@5 (every labelled page in the top 5; questions with two or more labelled pages) and MRR@10;
* within the right filing (search scoped with ``docs=[doc]``): recall@1/@5/@10, all@5 and MRR@10.

Each also split by the question's chunk type (Text, Table). Prints a table, writes benchmarks/results/reports-<time>.json
with every question's top pages.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from common import DATA as SHARED
from common import ROOT, langchain_default_index, write_results

DATA = SHARED / "sec_10q"
LABELS = ROOT / "benchmarks" / "labels" / "sec_10q_pages.jsonl"
CUTS = (1, 5, 10)


def load(labels_path: Path) -> list[dict]:
    questions = [json.loads(line) for line in (DATA / "questions.jsonl").read_text().splitlines() if line.strip()]
    labels = {r["qid"]: r for r in (json.loads(line) for line in labels_path.read_text().splitlines() if line.strip())}
    for q in questions:
        q["pages"] = labels[q["qid"]]["pages"] if q["qid"] in labels else None  # None: not labelled (yet)
    return questions


def scores(rows: list[tuple[dict, list[tuple[str, int]]]], scoped: bool) -> dict:
    """rows: (question, ranked (doc, page) pairs). Page metrics over the questions with labelled pages."""
    out: dict = {"questions": len(rows)}
    if not scoped:
        out["doc@1"] = sum(bool(r) and r[0][0] == q["doc"] for q, r in rows) / max(len(rows), 1)
    ranks, multi = [], []
    for q, ranked in rows:
        if q["pages"]:
            want = {(q["doc"], p) for p in q["pages"]}
            ranks.append([i for i, key in enumerate(ranked[:10]) if key in want])
            if len(want) > 1:
                multi.append(sum(i < 5 for i in ranks[-1]) == len(want))
    out["labelled"], out["multi"] = len(ranks), len(multi)
    for k in CUTS:
        out[f"recall@{k}"] = sum(bool(r) and r[0] < k for r in ranks) / max(len(ranks), 1)
    out["all@5"] = sum(multi) / max(len(multi), 1)
    out["mrr@10"] = sum(1 / (r[0] + 1) for r in ranks if r) / max(len(ranks), 1)
    return out


def measure(questions: list[dict], search) -> dict:
    """search(question, doc or None) -> ranked (doc, page) pairs; every figure overall and by chunk type."""
    runs = {"shelf": [(q, search(q["question"], None)) for q in questions],
            "scoped": [(q, search(q["question"], q["doc"])) for q in questions]}
    out: dict = {"per_question": {q["qid"]: {s: [f"{d} p{p}" for d, p in runs[s][i][1][:3]] for s in runs}
                                  for i, q in enumerate(questions)}}
    for s, rows in runs.items():
        out[s] = {"all": scores(rows, s == "scoped")}
        for kind in sorted({q["chunk"] for q in questions}):
            out[s][kind] = scores([(q, r) for q, r in rows if q["chunk"] == kind], s == "scoped")
    return out


def docagent_arm(work: Path, questions: list[dict]) -> dict:
    from docagent.config import Settings
    from docagent.index.indexer import index_paths
    from docagent.index.store import PageStore
    from docagent.retrieve import PageRetriever

    settings = Settings(store=work / "docagent", ocr="off")
    t0 = time.perf_counter()
    report = index_paths([DATA / "documents"], settings, progress=True)
    ingest = {"seconds": time.perf_counter() - t0, "documents": report.documents, "skipped": report.skipped}
    with PageStore(settings) as store:
        retriever = PageRetriever(store=store, k=10, render_images=False)
        out = measure(questions, lambda text, doc: [(h.doc, h.page) for h in retriever.search(text, docs=[doc] if doc else None)])
        out["pages"] = sum(d.pages for d in store.documents())
    out["ingest"] = ingest
    return out


def baseline_arm(work: Path, questions: list[dict]) -> dict:
    db, _, chunks = langchain_default_index(sorted((DATA / "documents").glob("*.pdf")), work / "baseline")

    def search(text: str, doc: str | None) -> list[tuple[str, int]]:
        pages: list[tuple[str, int]] = []
        for c in db.similarity_search(text, k=60, filter={"source": doc} if doc else None):
            key = (c.metadata["source"], int(c.metadata["page"]))
            if key not in pages:
                pages.append(key)
        return pages[:10]

    return {**measure(questions, search), "chunks": chunks}


def print_table(results: dict) -> None:
    arms = [(name, results[key]) for name, key in (("langchain default (dense)", "baseline"), ("docagent hybrid", "docagent")) if key in results]
    for scope, title in (("shelf", "whole shelf (12 filings)"), ("scoped", "within the question's filing")):
        print(f"\n{title}")
        print(f"{'questions':<18} {'pipeline':<26} {'doc@1':>6} {'recall@1':>9} {'recall@5':>9} {'recall@10':>10} {'all@5':>9} {'mrr@10':>7}")
        for kind in arms[0][1][scope]:
            first = arms[0][1][scope][kind]
            label = f"{kind} ({first['labelled']}/{first['questions']})"
            for name, arm in arms:
                m = arm[scope][kind]
                doc1 = f"{m['doc@1']:.3f}" if "doc@1" in m else "-"
                all5 = f"{m['all@5']:.3f} ({m['multi']})"
                print(f"{label:<18} {name:<26} {doc1:>6} {m['recall@1']:>9.3f} {m['recall@5']:>9.3f} {m['recall@10']:>10.3f} {all5:>9} {m['mrr@10']:>7.3f}")
                label = ""


def revision() -> str:
    """The commit and, for a working tree with changes under docagent/, a hash of that diff (the code measured)."""
    import hashlib
    import subprocess

    def git(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    diff = git("diff", "HEAD", "--", "docagent")
    return git("rev-parse", "--short", "HEAD") + (f"+{hashlib.sha1(diff.encode()).hexdigest()[:8]}" if diff else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/docagent-bench-reports"), help="stores are built (and reused) here")
    parser.add_argument("--labels", type=Path, default=LABELS, help="qid -> pages (JSON lines)")
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    if not (DATA / "questions.jsonl").is_file() or not (DATA / "documents").is_dir():
        print(f"benchmark data not found: {DATA} (needs ../shared/data/sec_10q beside the checkout)")
        raise SystemExit(2)
    if not args.labels.is_file():
        print(f"page labels not found: {args.labels}")
        raise SystemExit(2)
    args.work.mkdir(parents=True, exist_ok=True)
    questions = load(args.labels)
    labelled = [q for q in questions if q["pages"] is not None]
    results: dict = {"machine": {"cpus": os.cpu_count()}, "labels": str(args.labels), "questions": len(questions),
                     "revision": revision()}
    print(f"docagent {results['revision']}; {len(questions)} questions, {len(labelled)} labelled ({sum(1 for q in labelled if not q['pages'])} with no page)")
    results["docagent"] = docagent_arm(args.work, questions)
    if not args.skip_baseline:
        results["baseline"] = baseline_arm(args.work, questions)
    print_table(results)
    write_results("reports", results)


if __name__ == "__main__":
    main()
