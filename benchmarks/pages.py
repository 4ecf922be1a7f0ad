"""Finding the page inside long reports: this checkout beside an older revision and LangChain's default, same run.

    python benchmarks/pages.py [--against REV] [--work DIR] [--ocr auto|off] [--sets shelf,sec] [--skip-baseline]
    python benchmarks/pages.py --engines [--sets shelf,sec]    # this checkout on SQLite beside PostgreSQL

Two shelves, each indexed by every side (this checkout; docagent as of ``--against REV``, default 4597159, the
last commit before the page-finding work, from a git worktree under /tmp; LangChain's default pipeline as in
benchmarks/retrieval.py):

* ``shelf``: MMLongBench-Doc's 43 PDFs (1,590 pages; the 129-document shelf with the Kleister NDAs and Debian
  manuals is benchmarks/retrieval.py's). Its 322 questions with evidence pages, searched within their document
  (``scoped``) and over the 43 (``whole shelf``); the 140 whose evidence is a table, scoped.
* ``sec``: the twelve real 10-Qs of ../shared/data/sec_10q (Apple, Amazon, Intel, four quarters each) and their 78
  questions: the right filing at rank 1 over the shelf (all 78), and page recall against the hand labels in
  benchmarks/labels/sec_10q_pages.jsonl (72 questions with pages; see the labels' README), over the shelf and
  within the right filing (also split by where the data set found the answer: a table or text); ``all@5``: every
  labelled page of a question in the top 5.

Each docagent side runs in a child process with its own code on ``PYTHONPATH`` (index, then search: hybrid, k=10 or ``--k``),
so the older revision runs exactly as it was. ``--ocr off`` (the default here) skips OCR on both sides: image-only
pages are then empty for everyone, and the shelf indexes in minutes instead of an hour.

``--engines`` runs this checkout twice instead, side by side: the catalog (and its lexical index) in SQLite (FTS5) and in
PostgreSQL (BM25 in SQL; a server started for the run from Debian's package, on loopback, as tests/servers.py does).
Vectors and everything else are the same embedded ones, so what differs is the catalog engine alone.

Prints a table, writes benchmarks/results/pages-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from common import DATA, ROOT, langchain_default_index, require, write_results

MMLB = DATA / "mmlongbench_doc"
SEC = DATA / "sec_10q"
SHELF = (MMLB / "documents",)
LABELS = ROOT / "benchmarks" / "labels" / "sec_10q_pages.jsonl"
BEFORE = "4597159"


def question_sets(which: list[str]) -> dict[str, dict]:
    """``{set: {"shelf": folders, "questions": [{qid, question, docs|None, relevant: [[doc, page]]}]}}``."""
    out: dict[str, dict] = {}
    if "shelf" in which:
        rows = [json.loads(line) for line in (MMLB / "qrels.jsonl").read_text().splitlines() if line.strip()]
        rows = [r for r in rows if r.get("relevant")]
        qs = [{"qid": r["qid"], "question": r["question"], "relevant": [[x["doc"], x["page"]] for x in r["relevant"]],
               "table": "Table" in r.get("evidence_sources", []), "doc": r["relevant"][0]["doc"]} for r in rows]
        out["mmlongbench scoped"] = {"shelf": "shelf", "questions": [{**q, "docs": [q["doc"]]} for q in qs]}
        out["mmlongbench whole shelf"] = {"shelf": "shelf", "questions": [{**q, "docs": None} for q in qs]}
        out["mmlongbench tables scoped"] = {"shelf": "shelf", "questions": [{**q, "docs": [q["doc"]]} for q in qs if q["table"]]}
    if "sec" in which:
        labels = {r["qid"]: r for r in map(json.loads, require(LABELS).read_text().splitlines())}
        qs = []
        for r in map(json.loads, (require(SEC) / "questions.jsonl").read_text().splitlines()):
            pages = labels.get(r["qid"], {}).get("pages", [])
            qs.append({"qid": r["qid"], "question": r["question"], "doc": r["doc"], "relevant": [[r["doc"], p] for p in pages]})
            qs[-1]["chunk"] = r.get("chunk", "")
        out["sec_10q whole shelf"] = {"shelf": "sec", "questions": [{**q, "docs": None} for q in qs]}
        out["sec_10q within the filing"] = {"shelf": "sec", "questions": [{**q, "docs": [q["doc"]]} for q in qs if q["relevant"]]}
        for chunk in ("Table", "Text"):  # where the data set found the answer: a table or prose
            out[f"sec_10q within, {chunk.lower()}"] = {"shelf": "sec", "questions": [
                {**q, "docs": [q["doc"]]} for q in qs if q["relevant"] and q["chunk"] == chunk]}
    return out


def folders(shelf: str) -> list[Path]:
    return [require(p) for p in SHELF] if shelf == "shelf" else [require(SEC / "documents")]


# -- one docagent side, in a child process with its own code ---------------------------------------------------

def child(store: Path, shelf: str, questions: Path, out: Path, ocr: str, catalog_url: str | None = None, k: int = 10) -> None:
    from docagent.config import Settings
    from docagent.index.indexer import index_paths
    from docagent.index.store import PageStore
    from docagent.retrieve import PageRetriever

    settings = Settings(store=store, ocr=ocr, **({"catalog_url": catalog_url} if catalog_url else {}))
    t0 = time.perf_counter()
    index_paths(folders(shelf), settings, progress=False)
    ingest = time.perf_counter() - t0
    rankings: dict[str, dict[str, list]] = {}
    times: list[float] = []
    with PageStore(settings) as st:
        retriever = PageRetriever(store=st, k=k, render_images=False)
        retriever.search("warm up the model and the caches")
        for name, qs in json.loads(questions.read_text()).items():
            rankings[name] = {}
            for q in qs:
                t = time.perf_counter()
                hits = retriever.search(q["question"], k=k, docs=q["docs"])
                times.append(time.perf_counter() - t)
                rankings[name][q["qid"]] = [[h.doc, h.page] for h in hits]
    times.sort()
    out.write_text(json.dumps({"ingest_s": ingest, "rankings": rankings, "p50_ms": 1000 * times[len(times) // 2],
                               "p95_ms": 1000 * times[int(0.95 * (len(times) - 1))]}))


def run_side(code: Path, store: Path, shelf: str, sets: dict[str, dict], ocr: str, work: Path,
             catalog_url: str | None = None, k: int = 10) -> dict:
    qfile, out = work / f"questions-{shelf}.json", work / f"rankings-{store.name}.json"
    qfile.write_text(json.dumps({name: s["questions"] for name, s in sets.items() if s["shelf"] == shelf}))
    env = {**os.environ, "PYTHONPATH": str(code)}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(store), "--shelf", shelf, "--questions", str(qfile),
           "--out", str(out), "--ocr", ocr, "--k", str(k), *(["--catalog-url", catalog_url] if catalog_url else [])]
    done = subprocess.run(cmd, env=env, cwd=code, capture_output=True, text=True, check=False)
    if done.returncode:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise SystemExit(f"the docagent side at {code} failed (exit {done.returncode}): {' '.join(cmd)}\n{tail}")
    return json.loads(out.read_text())


def worktree(rev: str) -> Path:
    path = Path("/tmp") / f"docagent-{rev}"
    if not (path / "docagent").exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), rev], check=True, capture_output=True)
    return path


def baseline(shelf: str, sets: dict[str, dict], work: Path) -> dict:
    pdfs = sorted(p for folder in folders(shelf) for p in folder.glob("*.pdf"))
    db, _, _ = langchain_default_index(pdfs, work / f"langchain-{shelf}")
    rankings: dict[str, dict[str, list]] = {}
    for name, s in sets.items():
        if s["shelf"] != shelf:
            continue
        rankings[name] = {}
        for q in s["questions"]:
            flt = {"source": q["docs"][0]} if q["docs"] else None
            pages: list[list] = []
            for c in db.similarity_search(q["question"], k=60, filter=flt):
                key = [c.metadata["source"], int(c.metadata["page"])]
                if key not in pages:
                    pages.append(key)
            rankings[name][q["qid"]] = pages[:10]
    return {"rankings": rankings}


def score(questions: list[dict], ranked: dict[str, list]) -> dict:
    n = len(questions)
    paged = [q for q in questions if q["relevant"]]
    out = {"questions": n, "with pages": len(paged),
           "doc@1": sum(bool(ranked[q["qid"]]) and ranked[q["qid"]][0][0] == q["doc"] for q in questions) / n}
    for k in (1, 5, 10):
        out[f"recall@{k}"] = sum(any(list(x) in [list(r) for r in q["relevant"]] for x in ranked[q["qid"]][:k]) for q in paged) / max(1, len(paged))
    multi = [q for q in paged if len(q["relevant"]) > 1]
    out["all@5"] = sum(all(list(r) in [list(x) for x in ranked[q["qid"]][:5]] for r in q["relevant"]) for q in paged) / max(1, len(paged))
    out["multi-page all@5"] = sum(all(list(r) in [list(x) for x in ranked[q["qid"]][:5]] for r in q["relevant"]) for q in multi) / max(1, len(multi))
    rr = 0.0
    for q in paged:
        first = next((i for i, x in enumerate(ranked[q["qid"]][:10], 1) if list(x) in [list(r) for r in q["relevant"]]), None)
        rr += 1 / first if first else 0.0
    out["mrr@10"] = rr / max(1, len(paged))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", default=BEFORE, metavar="REV", help="the older revision, side by side (default %(default)s)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/docagent-bench-pages"))
    parser.add_argument("--ocr", choices=("auto", "off"), default="off")
    parser.add_argument("--sets", default="shelf,sec", help="shelf, sec or both (comma-separated)")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--k", type=int, default=10, help="pages each docagent side returns (default %(default)s; "
                        "below 10, recall@10 is recall@k; ask reads 4)")
    parser.add_argument("--engines", action="store_true", help="this checkout on SQLite beside PostgreSQL, nothing else")
    parser.add_argument("--catalog-url", help=argparse.SUPPRESS)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--shelf", help=argparse.SUPPRESS)
    parser.add_argument("--questions", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.shelf, args.questions, args.out, args.ocr, args.catalog_url, args.k)
        return
    if args.engines:
        engines(args)
        return
    args.work.mkdir(parents=True, exist_ok=True)
    which = [s.strip() for s in args.sets.split(",") if s.strip()]
    sets = question_sets(which)
    sides = {"docagent": ROOT, f"docagent {args.against}": worktree(args.against)}
    results: dict = {"ocr": args.ocr, "against": args.against, "sides": {}}
    for shelf in dict.fromkeys(s["shelf"] for s in sets.values()):
        for side, code in sides.items():
            store = args.work / f"{shelf}-{'new' if code == ROOT else args.against}"
            print(f"{side}: indexing and searching the {shelf} shelf ...", flush=True)
            got = run_side(code, store, shelf, sets, args.ocr, args.work, k=args.k)
            results["sides"].setdefault(side, {})[shelf] = got
        if not args.skip_baseline:
            print(f"LangChain default: indexing and searching the {shelf} shelf ...", flush=True)
            results["sides"].setdefault("LangChain default", {})[shelf] = baseline(shelf, sets, args.work)
    report(results, sets)


def engines(args: argparse.Namespace) -> None:
    """This checkout with its catalog on SQLite and on PostgreSQL, same shelves, same questions."""
    import shutil

    sys.path.insert(0, str(ROOT))
    from tests.servers import postgres

    args.work.mkdir(parents=True, exist_ok=True)
    sets = question_sets([s.strip() for s in args.sets.split(",") if s.strip()])
    results: dict = {"ocr": args.ocr, "engines": True, "sides": {}}
    with postgres() as pg:
        for shelf in dict.fromkeys(s["shelf"] for s in sets.values()):
            for side in ("SQLite", "PostgreSQL"):
                store = args.work / f"{shelf}-engine-{side.lower()}"
                shutil.rmtree(store, ignore_errors=True)
                url = pg.create_database(f"bench_{shelf}") if side == "PostgreSQL" else None
                print(f"{side}: indexing and searching the {shelf} shelf ...", flush=True)
                results["sides"].setdefault(side, {})[shelf] = run_side(ROOT, store, shelf, sets, args.ocr, args.work, url)
    report(results, sets)


def report(results: dict, sets: dict[str, dict]) -> None:
    results["scores"] = {}
    print(f"\n{'questions':<28} {'side':<20} {'doc@1':>6} {'r@1':>6} {'r@5':>6} {'r@10':>6} {'mrr@10':>7} {'all@5':>6}")
    for name, s in sets.items():
        for side, per_shelf in results["sides"].items():
            sc = score(s["questions"], per_shelf[s["shelf"]]["rankings"][name])
            results["scores"].setdefault(name, {})[side] = sc
            print(f"{name[:28]:<28} {side:<20} {sc['doc@1']:>6.3f} {sc['recall@1']:>6.3f} {sc['recall@5']:>6.3f} "
                  f"{sc['recall@10']:>6.3f} {sc['mrr@10']:>7.3f} {sc['all@5']:>6.3f}")
    for side, per_shelf in results["sides"].items():
        for shelf, got in per_shelf.items():
            if "ingest_s" in got:
                print(f"{side} {shelf}: ingest {got['ingest_s']:.0f} s, query p50 {got['p50_ms']:.0f} ms, p95 {got['p95_ms']:.0f} ms")
    print("results:", write_results("pages", results))


if __name__ == "__main__":
    main()
