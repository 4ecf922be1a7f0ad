"""Page retrieval: quality against LangChain's default pipeline, and latency at 100k passages.

    python benchmarks/retrieval.py [--work DIR] [--passages 100000] [--skip-quality] [--skip-speed]

Quality: the 43 MMLongBench-Doc PDFs in ../shared/data, 322 questions with evidence pages, each searched
within its own document. docagent's three modes beside the LangChain default (PyMuPDF page text ->
RecursiveCharacterTextSplitter(1000, 200) -> langchain-chroma, same all-MiniLM-L6-v2, dense only; pages
ranked by their first chunk), all measured in this run. Also: the share of ingest time spent on the
lexical index.

Speed: a store of >= 100k passages (the corpus's real pages repeated under distinct ids), query latency
p50/p95 per mode over the 322 questions (query embedding included, page images not rendered), index
size on disk and the process's RSS.

Prints a table, writes benchmarks/results/retrieval-<time>.json.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import time
from pathlib import Path

from common import DATA as SHARED
from common import langchain_default_index, write_results

DATA = SHARED / "mmlongbench_doc"
MODES = ("hybrid", "dense", "lexical")


def du_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def build_docagent(store_dir: Path) -> dict:
    from docagent.config import Settings
    from docagent.index.indexer import index_paths

    t0 = time.perf_counter()
    report = index_paths([DATA / "documents"], Settings(store=store_dir), progress=True)
    return {"seconds": time.perf_counter() - t0, "stages": report.seconds, "documents": report.documents, "skipped": report.skipped}


def quality(work: Path) -> dict:
    from docagent.config import Settings
    from docagent.evaluation.retrieval import evaluate_retrieval, load_qrels, score_rankings
    from docagent.index.store import PageStore
    from docagent.retrieve import PageRetriever

    queries, skipped = load_qrels(DATA / "qrels.jsonl")
    ingest = build_docagent(work / "docagent")
    with PageStore(Settings(store=work / "docagent")) as store:
        retriever = PageRetriever(store=store, render_images=False)

        def search(q, mode):  # noqa: ANN001, ANN202
            hits = retriever.search(q.question, k=10, mode=mode, docs=[q.scope] if q.scope else None)
            return [(h.doc, h.page) for h in hits]

        ours = evaluate_retrieval(queries, search, MODES, known_docs={d.name for d in store.documents()}, progress=True)

    db, _, _ = langchain_default_index(sorted((DATA / "documents").glob("*.pdf")), work / "baseline")
    rankings = []
    for q in queries:
        chunks = db.similarity_search(q.question, k=60, filter={"source": q.scope} if q.scope else None)
        pages: list[tuple[str, int]] = []
        for c in chunks:
            key = (c.metadata["source"], int(c.metadata["page"]))
            if key not in pages:
                pages.append(key)
        rankings.append((q, pages[:10]))
    base = score_rankings(rankings)
    return {"questions": len(queries), "skipped_no_evidence": skipped, "modes": ours, "baseline": base, "ingest": ingest}


def speed(work: Path, target: int) -> dict:
    import psutil

    from docagent.config import Settings
    from docagent.evaluation.retrieval import load_qrels
    from docagent.index.store import PageStore
    from docagent.retrieve import PageRetriever

    source_dir, big_dir = work / "docagent", work / f"big-{target}"
    if not (big_dir / "catalog.sqlite").exists():
        t0 = time.perf_counter()
        tmp_dir = big_dir.with_name(big_dir.name + ".tmp")
        shutil.rmtree(tmp_dir, ignore_errors=True)
        with PageStore(Settings(store=source_dir)) as src, PageStore(Settings(store=tmp_dir)) as big:
            copies = copy_store(src, big, target)
        tmp_dir.rename(big_dir)
        print(f"built {copies} copies of the corpus in {time.perf_counter() - t0:.0f}s")
    queries, _ = load_qrels(DATA / "qrels.jsonl")
    out: dict = {"passages": 0, "modes": {}}
    with PageStore(Settings(store=big_dir)) as big:
        out["passages"] = big.vectors.count()
        retriever = PageRetriever(store=big, k=5, render_images=False)
        retriever.search("warm up the model and the caches", mode="hybrid")
        for mode in MODES:
            times = []
            for q in queries:
                t0 = time.perf_counter()
                retriever.search(q.question, mode=mode)
                times.append((time.perf_counter() - t0) * 1000)
            times.sort()
            out["modes"][mode] = {"p50_ms": statistics.median(times), "p95_ms": times[int(0.95 * (len(times) - 1))], "mean_ms": statistics.fmean(times)}
        out["rss_mb"] = psutil.Process().memory_info().rss / 2**20
        out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["disk_mb"] = {"total": du_mb(big_dir), "chroma": du_mb(big_dir / "chroma"), "catalog": du_mb(big_dir) - du_mb(big_dir / "chroma")}
    return out


def copy_store(src, big, target: int) -> int:  # noqa: ANN001
    """Fill ``big`` with copies of every document of ``src`` under new ids and names until it holds
    ``target`` passages: the same rows and vectors, written through the store's own methods."""
    from dataclasses import replace

    big.catalog.set_meta("embedding_model", src.catalog.get_meta("embedding_model") or "")
    got = src.vectors.collection.get(include=["embeddings", "metadatas", "documents"])
    rows: dict[str, list[int]] = {}
    for i, m in enumerate(got["metadatas"]):
        rows.setdefault(m["doc_id"], []).append(i)
    docs = [(rec, [src.catalog.page(rec.doc_id, n) for n in src.catalog.page_numbers(rec.doc_id)]) for rec in src.documents()]
    spans = {rec.doc_id: src.catalog.spans(rec.doc_id) for rec, _ in docs}
    copies = -(-target // len(got["ids"]))
    for c in range(copies):
        for rec, pages in docs:
            new = replace(rec, doc_id=f"{rec.doc_id[:12]}{c:04x}", name=f"copy{c}-{rec.name}")
            big.catalog.begin_document(new)
            big.catalog.add_pages(new.doc_id, pages, [spans[rec.doc_id].get(p.number, []) for p in pages])
            idx = rows.get(rec.doc_id, [])
            metas = [{**got["metadatas"][i], "doc_id": new.doc_id, "doc": new.name} for i in idx]
            ids = [f"{new.doc_id}:{m['page']}:{m['idx']}" for m in metas]
            if ids:
                big.vectors.upsert(ids, got["embeddings"][idx], metas, [got["documents"][i] for i in idx])
            big.catalog.finish_document(new.doc_id, new.name, rec.pages, rec.ocr_pages)
    return copies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/docagent-bench-retrieval"), help="stores are built (and reused) here")
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--fresh", action="store_true", help="delete --work first")
    args = parser.parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"benchmark data not found: {DATA} (needs ../shared/data beside the checkout)")
    if args.fresh:
        shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True, exist_ok=True)
    results: dict = {"machine": {"cpus": os.cpu_count()}}
    if not args.skip_quality:
        q = results["quality"] = quality(args.work)
        print(f"\nMMLongBench-Doc page retrieval, {q['questions']} questions, each within its own document")
        print(f"{'pipeline':<28} {'recall@1':>9} {'recall@5':>9} {'recall@10':>10} {'mrr@10':>8}")
        for name, m in [("langchain default (dense)", q["baseline"])] + [(f"docagent {k}", v) for k, v in q["modes"].items()]:
            print(f"{name:<28} {m['recall@1']:>9.3f} {m['recall@5']:>9.3f} {m['recall@10']:>10.3f} {m['mrr@10']:>8.3f}")
        gain = (q["modes"]["hybrid"]["recall@5"] - q["baseline"]["recall@5"]) * 100
        print(f"hybrid recall@5 - baseline recall@5 = {gain:+.1f} points")
        st = q["ingest"]["stages"]
        if st.get("lexical") is not None and q["ingest"]["documents"]:
            print(f"lexical index: {st['lexical']:.2f}s of {q['ingest']['seconds']:.1f}s ingest ({100 * st['lexical'] / q['ingest']['seconds']:.1f}%)")
    if not args.skip_speed:
        s = results["speed"] = speed(args.work, args.passages)
        print(f"\nquery latency at {s['passages']} passages (k=5, query embedding included)")
        print(f"{'mode':<10} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8}")
        for mode, m in s["modes"].items():
            print(f"{mode:<10} {m['p50_ms']:>8.1f} {m['p95_ms']:>8.1f} {m['mean_ms']:>8.1f}")
        d = s["disk_mb"]
        print(f"disk: {d['total']:.0f} MB (chroma {d['chroma']:.0f} MB, catalog+images {d['catalog']:.0f} MB); RSS {s['rss_mb']:.0f} MB (peak {s['peak_rss_mb']:.0f} MB)")
    write_results("retrieval", results)

if __name__ == "__main__":
    main()
