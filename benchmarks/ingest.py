"""Ingest throughput: docagent vs LangChain's common default pipeline, same files, same model.

    python benchmarks/ingest.py [--corpus deb mmlongbench] [--against REV]

Baseline (what a LangChain user writes first): PyMuPDF page text -> RecursiveCharacterTextSplitter(1000, 200)
-> langchain-chroma with the same all-MiniLM-L6-v2 through sentence-transformers' defaults.
docagent: `index_paths` into a fresh store (text layer, word boxes, widgets, OCR where needed, passages,
embeddings, Chroma, catalog; page images rendered on first use), then a second run on the unchanged files.

``--against REV`` also runs docagent as of git revision REV (a worktree under /tmp) on the same files in the same
run, alternating with this checkout, to show what a change costs.

Each pipeline runs in its own process so peak RSS is its own. Prints a table and writes
benchmarks/results/ingest-<time>.json. Needs ../shared/data (the real documents); says so when absent.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import DATA, checkout, langchain_default_index, write_results

CORPORA = {
    "deb": DATA / "deb_pdf_docs",
    "mmlongbench": DATA / "mmlongbench_doc" / "documents",
}


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


def worker_baseline(folder: Path, store: Path) -> dict:
    t0 = time.perf_counter()
    _, pages, chunks = langchain_default_index(sorted(folder.glob("*.pdf")), store)
    return {"pages": pages, "chunks": chunks, "seconds": time.perf_counter() - t0, "peak_rss_mb": peak_rss_mb()}


def run_worker(kind: str, folder: Path, ocr: str = "auto", code: Path | None = None) -> dict:
    env = dict(os.environ, PYTHONPATH=str(code)) if code else None
    with tempfile.TemporaryDirectory(prefix=f"bench-{kind}-") as tmp:
        cmd = [sys.executable, __file__, "--worker", kind, "--folder", str(folder), "--store", str(Path(tmp) / "store"), "--ocr", ocr]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
        if proc.returncode != 0:
            raise SystemExit(f"{kind} worker failed:\n{proc.stderr[-4000:]}")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        if kind == "docagent":  # the unchanged re-index as a user runs it: a whole CLI process
            cli = [sys.executable, "-m", "docagent", "index", str(folder), "--store", str(Path(tmp) / "store"), "--json", "-q"]
            t0 = time.perf_counter()
            subprocess.run(cli, capture_output=True, check=True, env=env, cwd=code)  # -m puts the cwd first on sys.path
            result["reindex_cli_seconds"] = time.perf_counter() - t0
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", nargs="+", choices=list(CORPORA), default=list(CORPORA))
    parser.add_argument("--against", metavar="REV", help="also run docagent as of this git revision, side by side")
    parser.add_argument("--worker", choices=["docagent", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--ocr", default="auto", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        if args.worker == "docagent":
            print(json.dumps(worker_docagent(args.folder, args.store, args.ocr)))
        else:
            print(json.dumps(worker_baseline(args.folder, args.store)))
        return

    missing = [name for name in args.corpus if not CORPORA[name].is_dir()]
    if missing:
        raise SystemExit(f"benchmark data not found: {', '.join(str(CORPORA[m]) for m in missing)} (needs ../shared/data beside the checkout)")

    results = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}, "corpora": {}}
    rows = []
    before = checkout(args.against) if args.against else None
    for name in args.corpus:
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
    write_results("ingest", results)

if __name__ == "__main__":
    main()
