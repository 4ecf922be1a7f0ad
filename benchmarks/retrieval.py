"""Page retrieval: quality against LangChain's default pipeline, and latency at 100k passages.

    python benchmarks/retrieval.py [--work DIR] [--passages 100000] [--skip-quality] [--skip-speed] [--dense-weight W]

Quality, on one shelf of 129 real documents (../shared/data): the 43 MMLongBench-Doc PDFs, the 83 Kleister-NDA
agreements (born-digital EDGAR filings that look alike) and the 3 Debian manuals (1,803 pages). Question sets:

* MMLongBench-Doc scoped: 322 questions with evidence pages, each searched within its own document;
* MMLongBench-Doc corpus-wide: the same questions searched over the whole shelf (no scope);
* NDA routing: 166 questions written from Kleister's labels that name an agreement's parties
  (``python -m docagent.evaluation.datasets kleister-routing``), searched over the whole shelf.

And on a generated shelf of 36 annual filings that differ only in company, year and figures (12 companies whose
names are common words, some sharing one, x 3 years; ``common.lookalike_filings``): 108 questions naming company
and year, each searched over that shelf, with the same baseline.

docagent's three modes beside the LangChain default (PyMuPDF page text -> RecursiveCharacterTextSplitter(1000,
200) -> langchain-chroma, same all-MiniLM-L6-v2, dense only; pages ranked by their first chunk) on the same files,
all measured in this run: recall@1/5/10, MRR@10 and doc@1 (the top page is in the right document). Also: the
share of ingest time spent on the lexical index and on document cards.

Speed: a store of >= 100k passages (the corpus's real pages repeated under distinct ids), query latency
p50/p95 per mode over the 322 questions (query embedding included, page images not rendered), index
size on disk and the process's RSS.

With ``--table-passages``: the 43 MMLongBench-Doc PDFs indexed twice, without and with table rows as passages of
their own (``Settings.table_passages``), both measured in this run on its questions scoped and corpus-wide (over
those 43), with each build's ingest time per stage (``tables``: finding tables, its share of ingest).

Prints a table, writes benchmarks/results/retrieval-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from common import DATA as SHARED
from common import langchain_default_index, lookalike_filings, write_results

DATA = SHARED / "mmlongbench_doc"
SHELF = (DATA / "documents", SHARED / "kleister_nda" / "documents", SHARED / "deb_pdf_docs")
MODES = ("hybrid", "dense", "lexical")


def du_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def build_docagent(store_dir: Path, shelf: tuple[Path, ...] = SHELF, **settings: object) -> dict:
    from docagent.config import Settings
    from docagent.index.indexer import index_paths

    t0 = time.perf_counter()
    report = index_paths(list(shelf), Settings(store=store_dir, **settings), progress=True)
    return {"seconds": time.perf_counter() - t0, "stages": report.seconds, "documents": report.documents, "skipped": report.skipped}


def question_sets() -> dict:
    from docagent.evaluation.datasets import kleister_routing_qrels, mmlongbench_corpus_qrels
    from docagent.evaluation.retrieval import load_qrels

    sets = {}
    sets["mmlongbench scoped"], _ = load_qrels(DATA / "qrels.jsonl")
    tmp = Path(tempfile.mkdtemp(prefix="qrels-"))
    for name, rows in (("mmlongbench corpus-wide", mmlongbench_corpus_qrels(DATA)), ("nda routing", kleister_routing_qrels(SHARED / "kleister_nda"))):
        path = tmp / "q.jsonl"
        path.write_text("\n".join(json.dumps(r) for r in rows))
        sets[name], _ = load_qrels(path)
    shutil.rmtree(tmp)
    return sets


def lookalike_set(work: Path) -> list:
    """Generate the look-alike filings (once), index them into their own store, return their questions."""
    from docagent.config import Settings
    from docagent.evaluation.retrieval import load_qrels
    from docagent.index.indexer import index_paths

    docs = work / "lookalike-docs"
    rows = lookalike_filings(docs)
    index_paths([docs], Settings(store=work / "lookalike"), progress=False)
    path = work / "lookalike-qrels.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return load_qrels(path)[0]


def quality(work: Path, dense_weight: float | None = None) -> dict:
    from docagent.config import Settings
    from docagent.evaluation.retrieval import evaluate_retrieval, score_rankings
    from docagent.index.store import PageStore
    from docagent.retrieve import PageRetriever

    sets = question_sets()
    ingest = build_docagent(work / "docagent")
    out: dict = {"sets": {}, "ingest": ingest}
    with PageStore(Settings(store=work / "docagent")) as store:
        weights = {} if dense_weight is None else {"dense_weight": dense_weight}
        retriever = PageRetriever(store=store, render_images=False, **weights)
        known = {d.name for d in store.documents()}
        out["dense_weight"] = retriever.dense_weight
        out["documents"], out["pages"] = len(known), sum(d.pages for d in store.documents())

        def search(q, mode):
            hits = retriever.search(q.question, k=10, mode=mode, docs=q.docs)
            return [(h.doc, h.page) for h in hits]

        for name, queries in sets.items():
            out["sets"][name] = evaluate_retrieval(queries, search, MODES, known_docs=known, progress=True).to_json()

    sets["generated look-alike filings"] = lookalike_set(work)
    with PageStore(Settings(store=work / "lookalike")) as small:
        r_small = PageRetriever(store=small, render_images=False, **weights)
        queries = sets["generated look-alike filings"]
        out["sets"]["generated look-alike filings"] = evaluate_retrieval(
            queries, lambda q, mode: [(h.doc, h.page) for h in r_small.search(q.question, k=10, mode=mode)], MODES, progress=True).to_json()

    pdfs = sorted(p for folder in SHELF for p in folder.glob("*.pdf"))
    db, _, _ = langchain_default_index(pdfs, work / "baseline")
    small_db, _, _ = langchain_default_index(sorted((work / "lookalike-docs").glob("*.pdf")), work / "lookalike-baseline")
    for name, queries in sets.items():
        db_here = small_db if name == "generated look-alike filings" else db
        rankings = []
        for q in queries:
            where = {"source": q.scope[0]} if len(q.scope) == 1 else {"source": {"$in": list(q.scope)}} if q.scope else None
            chunks = db_here.similarity_search(q.question, k=60, filter=where)
            pages: list[tuple[str, int]] = []
            for c in chunks:
                key = (c.metadata["source"], int(c.metadata["page"]))
                if key not in pages:
                    pages.append(key)
            rankings.append((q, pages[:10]))
        out["sets"][name]["baseline"] = score_rankings(rankings).to_json()
    return out


def table_passages(work: Path) -> dict:
    """The shelf without and with table-row passages, the same questions over both."""
    from docagent.config import Settings
    from docagent.evaluation.retrieval import evaluate_retrieval, load_qrels
    from docagent.index.store import PageStore
    from docagent.retrieve import PageRetriever

    sets = {k: v for k, v in question_sets().items() if k.startswith("mmlongbench")}
    rows = [json.loads(line) for line in (DATA / "qrels.jsonl").read_text().splitlines() if line.strip()]
    tmp = Path(tempfile.mkdtemp(prefix="qrels-")) / "q.jsonl"
    tmp.write_text("\n".join(json.dumps(r) for r in rows if r.get("relevant") and "Table" in r.get("evidence_sources", [])))
    sets["mmlongbench table evidence, scoped"], _ = load_qrels(tmp)
    shutil.rmtree(tmp.parent)
    out: dict = {}
    for arm, on in (("without table rows", False), ("with table rows", True)):
        store_dir = work / ("mmlb-table-rows" if on else "mmlb")
        ingest = build_docagent(store_dir, (DATA / "documents",), table_passages=on)
        out[arm] = {"ingest": ingest, "sets": {}}
        with PageStore(Settings(store=store_dir, table_passages=on)) as store:
            retriever = PageRetriever(store=store, render_images=False)
            known = {d.name for d in store.documents()}
            out[arm]["tables"] = store.catalog.db.execute("SELECT count(*) FROM tables").fetchone()[0]
            out[arm]["pages"] = sum(d.pages for d in store.documents())

            def search(q, mode):
                return [(h.doc, h.page) for h in retriever.search(q.question, k=10, mode=mode, docs=q.docs)]

            for name, queries in sets.items():
                out[arm]["sets"][name] = evaluate_retrieval(queries, search, MODES, known_docs=known, progress=True).to_json()
    return out


def print_table_passages(t: dict) -> None:
    print("\ntable rows as passages: the same shelf and questions, without and with")
    print(f"{'questions':<30} {'mode':<8} {'arm':<20} {'recall@1':>9} {'recall@5':>9} {'recall@10':>10} {'mrr@10':>8}")
    arms = list(t)
    for name in t[arms[0]]["sets"]:
        label = f"{name} ({t[arms[0]]['sets'][name]['questions']})"
        for mode in MODES:
            for arm in arms:
                m = t[arm]["sets"][name]["modes"][mode]
                print(f"{label:<30} {mode:<8} {arm:<20} {m['recall@1']:>9.3f} {m['recall@5']:>9.3f} {m['recall@10']:>10.3f} {m['mrr@10']:>8.3f}")
                label = ""
    for arm in arms:
        st, secs = t[arm]["ingest"]["stages"], t[arm]["ingest"]["seconds"]
        stages = ", ".join(f"{k} {v:.1f}s" for k, v in sorted(st.items(), key=lambda kv: -kv[1]))
        print(f"ingest {arm}: {secs:.0f}s for {t[arm]['pages']} pages, {t[arm]['tables']} tables; "
              f"finding tables {st.get('tables', 0):.1f}s ({100 * st.get('tables', 0) / secs:.1f}%); {stages}")


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


def copy_store(src, big, target: int) -> int:
    """Fill ``big`` with copies of every document of ``src`` under new ids and names until it holds
    ``target`` passages: the same rows, cards, contexts, page titles and table labels, and vectors, written through
    the store's own methods."""
    from dataclasses import replace

    from docagent.index.vectors import Passage
    from docagent.ingest.identity import CARD_VERSION, card_words, passage_context

    big.catalog.set_meta("embedding_model", src.catalog.get_meta("embedding_model") or "")
    with src.vectors.collection() as collection:  # a Chroma store (the default backend): vectors and all
        got = collection.get(include=["embeddings", "metadatas", "documents"])
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
            card = src.catalog.card(rec.doc_id)
            fields = src.catalog.page_fields((rec.doc_id, p.number) for p in pages)
            for p in pages:  # the page's title, which its context line carries
                p.title = fields[(rec.doc_id, p.number)].title if (rec.doc_id, p.number) in fields else ""
            big.catalog.add_page_fields(new.doc_id, fields.values())
            big.catalog.add_abbreviations(new.doc_id, dict(src.catalog.reader().execute(
                "SELECT short, long FROM abbreviations WHERE doc_id = ?", (rec.doc_id,)).fetchall()))
            contexts = [passage_context(new.name, card, p) for p in pages] if card else None
            big.catalog.add_pages(new.doc_id, pages, [spans[rec.doc_id].get(p.number, []) for p in pages], contexts)
            if card:
                big.catalog.put_card(new.doc_id, card, CARD_VERSION, card_words(new.name, card))
            idx = rows.get(rec.doc_id, [])
            passages = [Passage(**{**got["metadatas"][i], "doc_id": new.doc_id, "doc": new.name}, text=got["documents"][i])
                        for i in idx]
            if passages:
                big.vectors.upsert(passages, got["embeddings"][idx])
            big.catalog.finish_document(new.doc_id, new.name, rec.pages, rec.ocr_pages)
    return copies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/docagent-bench-retrieval"), help="stores are built (and reused) here")
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--dense-weight", type=float, help="the hybrid fusion's dense_weight for docagent's side "
                        "(default: the retriever's; 1 weighs both rankings equally, as before 2026-12-07)")
    parser.add_argument("--fresh", action="store_true", help="delete --work first")
    parser.add_argument("--table-passages", action="store_true", help="only: the shelf without and with table-row passages")
    args = parser.parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"benchmark data not found: {DATA} (needs ../shared/data beside the checkout)")
    if args.fresh:
        shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True, exist_ok=True)
    results: dict = {"machine": {"cpus": os.cpu_count()}}
    if args.table_passages:
        results["table_passages"] = table_passages(args.work)
        print_table_passages(results["table_passages"])
        write_results("retrieval-table-passages", results)
        return
    if not args.skip_quality:
        q = results["quality"] = quality(args.work, args.dense_weight)
        print(f"\npage retrieval over one shelf of {q['documents']} documents, {q['pages']} pages (hybrid dense_weight {q['dense_weight']:g})")
        print(f"{'questions':<30} {'pipeline':<26} {'recall@1':>9} {'recall@5':>9} {'recall@10':>10} {'mrr@10':>8} {'doc@1':>7}")
        for name, r in q["sets"].items():
            label = f"{name} ({r['questions']})"
            for pipeline, m in [("langchain default (dense)", r["baseline"])] + [(f"docagent {k}", v) for k, v in r["modes"].items()]:
                print(f"{label:<30} {pipeline:<26} {m['recall@1']:>9.3f} {m['recall@5']:>9.3f} {m['recall@10']:>10.3f} {m['mrr@10']:>8.3f} {m['doc@1']:>7.3f}")
                label = ""
            gain = (r["modes"]["hybrid"]["recall@5"] - r["baseline"]["recall@5"]) * 100
            print(f"{'':<30} hybrid recall@5 - baseline recall@5 = {gain:+.1f} points")
        st, secs = q["ingest"]["stages"], q["ingest"]["seconds"]
        if q["ingest"]["documents"]:
            print(f"ingest {secs:.1f}s: lexical index {st.get('lexical', 0):.2f}s ({100 * st.get('lexical', 0) / secs:.1f}%), "
                  f"document cards and passage contexts {st.get('identity', 0):.2f}s ({100 * st.get('identity', 0) / secs:.1f}%)")
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
