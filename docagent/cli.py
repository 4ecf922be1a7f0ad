"""The ``docagent`` command. Thin: each command calls one library function and prints its result,
as text for people or, with ``--json``, as one JSON document on stdout (logs go to stderr).

Exit status: 0 success, 1 some work failed (the rest was done), 2 usage error."""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from docagent.config import Settings
from docagent.errors import DocagentError, StoreError
from docagent.types import page_name

if TYPE_CHECKING:
    from docagent.types import Extraction, PageImage, Table

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

Handler = Callable[[argparse.Namespace, Settings], int]
"""A command: parsed arguments and settings in, exit status out (plugins' commands set ``handler`` to one)."""

log = logging.getLogger("docagent")


def _parser() -> argparse.ArgumentParser:
    from docagent.ingest.formats import describe

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--store", type=Path, help="store directory (default: $DOCAGENT_STORE or ~/.local/share/docagent/store)")
    common.add_argument("--json", action="store_true", help="print one JSON document on stdout, nothing else")
    common.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")

    parser = argparse.ArgumentParser(prog="docagent", description="Ask questions of PDFs and scanned documents.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("index", parents=[common], help=f"index files and folders ({describe()})")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--dpi", type=int, help="resolution of page images (default 150)")
    p.add_argument("--ocr", choices=["auto", "on", "off"], help="OCR pages without a text layer (default auto)")
    p.add_argument("--render", choices=["lazy", "eager"], help="render page images now (eager) or on first use (lazy, default)")
    p.add_argument("--password", dest="pdf_password", help="password of encrypted PDFs (or DOCAGENT_PDF_PASSWORD); the store keeps decrypted copies")
    p.add_argument("--max-pages", type=int, metavar="N", help="refuse documents of more than N pages (default 5000, or DOCAGENT_MAX_PAGES)")
    p.add_argument("--workers", type=_positive, default=1, metavar="N",
                   help="read files in N processes at once while this one writes them (default 1: in this process)")
    p.add_argument("--ray", nargs="?", const="auto", metavar="ADDRESS", dest="ray_address",
                   help="read files as tasks on a Ray cluster (its address, or `auto`: the one this machine joined; "
                        "or DOCAGENT_RAY_ADDRESS); with --workers N, N extracting actors")

    p = sub.add_parser("search", parents=[common], help="find the pages that match a query")
    p.add_argument("query")
    p.add_argument("-k", type=int, default=5, help="pages to return (default 5)")
    p.add_argument("--doc", action="append", metavar="NAME", help="search only this document (repeatable)")
    p.add_argument("--mode", choices=["hybrid", "dense", "lexical"], default="hybrid", help="ranking: hybrid (default), dense or lexical")
    p.add_argument("--pages", type=_page_range, metavar="A-B", help="only pages A to B (1-based, inclusive)")
    p.add_argument("--rerank", metavar="DIR", help="rerank with this local cross-encoder")
    p.add_argument("--doc-kind", metavar="KIND", help="only documents of this kind, as `docagent docs` shows it (annual report, agreement, manual ...)")
    p.add_argument("--year", type=int, metavar="YYYY", help="only documents that cover this year")
    p.add_argument("--org", metavar="NAME", help="only documents whose card names this organisation (part of the name is enough)")

    p = sub.add_parser("ask", parents=[common], help="answer a question from the indexed pages, with citations")
    p.add_argument("question")
    p.add_argument("--model", help="vision-language model: Hub id, local folder or server URL (default $DOCAGENT_VLM_MODEL)")
    p.add_argument("-k", type=int, default=4, help="pages to read (default 4)")
    p.add_argument("--doc", action="append", metavar="NAME", help="only this document (repeatable)")
    p.add_argument("--show-evidence", type=Path, metavar="DIR", help="write each cited page with its evidence boxes drawn")

    p = sub.add_parser("agent", parents=[common], help="answer with a tool-calling agent over the documents")
    p.add_argument("question")
    p.add_argument("--model", help="chat model that calls tools and reads pages: Hub id, local folder or server URL")
    p.add_argument("--max-steps", type=int, default=6, metavar="N", help="at most N rounds of tool calls (default 6)")

    p = sub.add_parser("extract", parents=[common], help="extract fields from forms and documents into a schema")
    p.add_argument("files", nargs="+", metavar="FILE")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--schema", metavar="S", help="a JSON Schema file (.json)")
    group.add_argument("--fields", metavar="LIST", help='field list: "invoice_number:str, date:date, total:decimal"')
    p.add_argument("--out", type=Path, metavar="FILE", help="write results to FILE (.jsonl or .csv)")
    p.add_argument("--model", help="vision-language model for fields that are not form fields (default $DOCAGENT_VLM_MODEL)")
    p.add_argument("--no-model", action="store_true", help="no model: read fields next to their printed labels")

    p = sub.add_parser("chart", parents=[common], help="compute an answer from a chart or table exactly, citing the cells")
    p.add_argument("source", metavar="FILE[:PAGE]", help="an image, or a document's page (report.pdf:2)")
    p.add_argument("question", nargs="?", default="", help="the question (with a model); leave out with --expr")
    p.add_argument("--expr", metavar="EXPRESSION",
                   help='arithmetic over the cells of the table found on the page, no model: '
                        '\'cell("2019", "Revenue") - cell("2018", "Revenue")\', sum(col("2019")), mean(...), percent_change(a, b)')
    p.add_argument("--model", help="vision-language model (default $DOCAGENT_VLM_MODEL)")

    p = sub.add_parser("tables", parents=[common], help="the tables found in a document, as CSV, HTML, Markdown or JSON")
    p.add_argument("doc", metavar="DOC[:PAGE]", help="an indexed document's name or a file (indexed first); report.pdf:3 for page 3")
    p.add_argument("--page", type=int, metavar="N", help="only the tables of page N")
    p.add_argument("--format", choices=["markdown", "csv", "html", "json"], default="markdown", help="default markdown")
    p.add_argument("--out", type=Path, metavar="DIR", help="write one file per table into DIR (report.pdf-p3-t1.csv ...)")

    p = sub.add_parser("eval", help="measure docagent on labelled data")
    evals = p.add_subparsers(dest="eval_command", required=True, metavar="WHAT")
    e = evals.add_parser("retrieval", parents=[common], help="recall@1/5/10 and MRR@10 of page retrieval")
    e.add_argument("qrels", type=Path, metavar="QRELS", help='JSON lines: {"qid", "question", "relevant": [{"doc", "page"}], "scope"?}')
    e.add_argument("--mode", choices=["hybrid", "dense", "lexical"], default="hybrid")
    e.add_argument("--compare-modes", action="store_true", help="report hybrid, dense and lexical side by side")
    e.add_argument("--by-kind", action="store_true", help="also report each kind of question (the labels' \"kind\") apart")
    e = evals.add_parser("qa", parents=[common], help="answer accuracy, abstention and citation accuracy of ask")
    e.add_argument("labels", type=Path, metavar="LABELS", help='JSON lines: {"question", "answer", "scope"?, "relevant"?}')
    e.add_argument("--model", help="vision-language model (default $DOCAGENT_VLM_MODEL)")
    e.add_argument("-k", type=int, default=4, help="pages to read per question (default 4)")
    e.add_argument("--limit", type=int, help="only the first N questions")
    e = evals.add_parser("chart", parents=[common], help="chart-to-table accuracy and relaxed answer accuracy of chart")
    e.add_argument("labels", type=Path, metavar="LABELS", help='JSON lines: {"image", "query", "label", "table"?}')
    e.add_argument("--model", help="vision-language model (default $DOCAGENT_VLM_MODEL)")
    e.add_argument("--limit", type=int, help="only the first N questions")
    e = evals.add_parser("tables", parents=[common], help="table structure: precision, recall and F1 of (row, column, value) cells")
    e.add_argument("labels", type=Path, metavar="LABELS",
                   help='JSON lines, one table each: {"doc", "page", "header": [[...]], "rows": [[...]]} (docs relative to the file are indexed first)')
    e.add_argument("--cells", type=Path, action="append", default=[], metavar="CELLS",
                   help='JSON lines of cells named as users write them, {"doc", "page", "row", "column", "value"}, or '
                        'expressions, {"doc", "page", "expression", "value"}: each computed as chart --expr does, '
                        'scored right, refused, flagged (needs review) or wrong (repeatable)')
    e = evals.add_parser("extract", parents=[common], help="field precision, recall, F1 and grounding rate of extract")
    e.add_argument("labels", type=Path, metavar="LABELS", help='JSON lines: {"file", "fields": {NAME: value}, "types"?}')
    e.add_argument("--model", help="vision-language model (default $DOCAGENT_VLM_MODEL)")
    e.add_argument("--limit", type=int, help="only the first N documents")

    sub.add_parser("docs", parents=[common], help="list indexed documents")

    p = sub.add_parser("rm", parents=[common], help="remove documents completely (vectors, page images, everything)")
    p.add_argument("names", nargs="+", metavar="DOC", help="document file name, as `docagent docs` lists it")

    p = sub.add_parser("store", help="manage whole stores: `store copy SRC DST` moves one between engines")
    stores = p.add_subparsers(dest="store_command", required=True, metavar="ACTION")
    p = stores.add_parser("copy", parents=[common], help="copy every document of one store into another (an embedded "
                          "folder into PostgreSQL, a Chroma server and S3, or back), checked by counts and searches")
    p.add_argument("src", metavar="SRC", help="a store folder, or a settings file (.env: DOCAGENT_CATALOG_URL=..., "
                   "DOCAGENT_CHROMA_URL=..., DOCAGENT_BLOB_URL=...) naming a store on servers")
    p.add_argument("dst", metavar="DST", help="the same, for where the documents go")

    sub.add_parser("doctor", parents=[common], help="what is available: Python, torch, GPU, models, OCR, store")

    # Commands served by other packages (docagent's own connectors add `serve` and `mcp`): each entry
    # point is called with (subparsers, common parent parser) and sets `handler(args, settings) -> int`.
    for ep in entry_points(group="docagent.commands"):
        ep.load()(sub, common)
    return parser


def _page_range(text: str) -> tuple[int, int]:
    try:
        lo, _, hi = text.partition("-")
        pages = (int(lo), int(hi or lo))
    except ValueError:
        msg = f"expected pages as A-B or N, not {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if pages[0] < 1 or pages[1] < pages[0]:
        msg = f"page range {text} is empty; pages are numbered from 1"
        raise argparse.ArgumentTypeError(msg)
    return pages


def _version() -> str:
    from docagent import __version__

    return __version__


def _positive(text: str) -> int:
    """An argument that must be a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        msg = f"expected a whole number of at least 1, not {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    for name in ("store", "dpi", "ocr", "render", "pdf_password", "max_pages", "ray_address"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return Settings(**overrides)


def _image_file(image: PageImage) -> str:
    """Where the page's PNG is on this machine (drawn or fetched now), for people to open; or why it is not."""
    try:
        return str(image.path())
    except StoreError as e:
        return f"(no image: {e})"


def _emit(args: argparse.Namespace, payload: dict[str, Any], text: str) -> None:
    if args.json:
        sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
    elif text:
        sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _setup_logging(quiet: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("docagent: %(message)s"))
    root = logging.getLogger("docagent")
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING if quiet else logging.INFO)
    root.propagate = False
    for noisy in ("transformers", "sentence_transformers", "chromadb", "httpx", "RapidOCR"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    _setup_logging(args.quiet)
    try:
        settings = _settings(args)
    except Exception as e:  # noqa: BLE001 - pydantic validation of settings / env
        print(f"docagent: invalid setting: {e}", file=sys.stderr)
        return EXIT_USAGE
    try:
        handler: Handler = getattr(args, "handler", None) or COMMANDS[args.command]
        return handler(args, settings)
    except DocagentError as e:
        if args.json:
            _emit(args, {"error": str(e)}, "")
        log.error("%s", e)
        return EXIT_FAILED
    except KeyboardInterrupt:
        log.error("interrupted; run the same command again to finish")
        return 130


def cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    from docagent.index import index_paths

    with contextlib.redirect_stdout(sys.stderr):  # stdout is for the result alone (Ray prints its workers' news there)
        report = index_paths(args.paths, settings, progress=not args.quiet, workers=args.workers, ray=settings.ray_address)
    lines = [f"indexed {report.documents} documents, {report.pages} pages; {report.skipped} unchanged; {len(report.failed)} failed"]
    if report.ocr_pages:
        ocr = "; ".join(f"{doc} p{_ranges(pages)}" for doc, pages in report.ocr_by_doc.items())
        lines.append(f"OCR on {report.ocr_pages} page{'' if report.ocr_pages == 1 else 's'}: {ocr}")
    if report.replaced:
        lines.append("replaced older versions of: " + ", ".join(report.replaced))
    lines += [f"  failed: {f.path}: {f.error}" for f in report.failed]
    lines.append(f"store: {settings.store}")
    _emit(args, report.to_json(), "\n".join(lines))
    return EXIT_FAILED if report.failed else EXIT_OK


def _ranges(numbers: list[int]) -> str:
    out: list[str] = []
    start = prev = numbers[0]
    for n in [*numbers[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        out.append(f"{start}" if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ",".join(out)


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    from docagent.index import PageStore
    from docagent.retrieve import PageRetriever

    if args.k < 1:
        print("docagent: -k must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    with PageStore(settings) as store:
        retriever = PageRetriever(store=store, k=args.k, mode=args.mode, rerank_model=args.rerank)
        card_filter = {key: value for key, value in (("doc_kind", args.doc_kind), ("year", args.year), ("organisation", args.org)) if value is not None}
        hits = retriever.search(args.query, docs=args.doc, pages=args.pages, filter=card_filter or None)
        empty = not store.catalog.has_documents()
    lines = []
    for rank, hit in enumerate(hits, 1):
        snippet = " ".join(hit.text.split())
        snippet = snippet if len(snippet) <= 240 else snippet[:239] + "…"
        lines.append(f"{rank}. {hit.doc}  {page_name(hit.page, hit.label)}  score {hit.score:.3f}" + (f"  · {hit.title}" if hit.title else ""))
        lines += [f"   {snippet}", f"   image: {_image_file(hit.image)}"]
    if not hits:
        lines.append("the store is empty: index documents first with `docagent index PATH`" if empty else "no matching pages")
    _emit(args, {"results": [h.to_json() for h in hits]}, "\n".join(lines))
    return EXIT_OK


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from docagent.tasks.qa import ask

    if args.k < 1:
        print("docagent: -k must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    streamed: list[str] = []

    def show(piece: str) -> None:
        streamed.append(piece)
        sys.stdout.write(piece)
        sys.stdout.flush()

    answer = ask(args.question, settings=settings, model=args.model, k=args.k, docs=args.doc,
                 on_token=None if args.json else show, show_evidence=args.show_evidence)
    if answer.notice:
        log.warning("%s", answer.notice)
    if args.json:
        _emit(args, answer.to_json(), "")
        return EXIT_OK
    lines = []
    if streamed:
        sys.stdout.write("\n")
        if answer.abstained or answer.mode == "retrieval-only":  # the model stopped mid-answer: what was found
            lines.append(answer.text)
    else:
        lines.append(answer.text)
    for i, c in enumerate(answer.citations, 1):
        lines.append(f"  [{i}] {c.doc}, {page_name(c.page, c.page_label)}: {len(c.boxes)} evidence box{'es' if len(c.boxes) != 1 else ''}"
                     + (f"  {_image_file(c.image)}" if c.image else ""))
    lines += [f"  evidence drawn: {p}" for p in answer.evidence_images]
    _emit(args, {}, "\n".join(lines))
    return EXIT_OK


def cmd_agent(args: argparse.Namespace, settings: Settings) -> int:
    from docagent.agents import AgentStep, run_agent
    from docagent.errors import ModelError

    if args.max_steps < 1:
        print("docagent: --max-steps must be at least 1", file=sys.stderr)
        return EXIT_USAGE

    def show(step: AgentStep) -> None:
        args_text = json.dumps(step.args, ensure_ascii=False)
        log.info("%s %s(%s)%s", "->" if step.ok else "!!", step.tool, args_text[1:-1],
                 "" if step.ok else f": {step.result}")

    try:
        answer = run_agent(args.question, settings=settings, model=args.model, max_steps=args.max_steps, on_step=show)
    except ModelError as e:
        msg = (f"the agent needs a chat model that calls tools: {' '.join(str(e).split())} "
               "Without one, `docagent ask` answers with the best passages (retrieval-only).")
        raise DocagentError(msg) from e
    lines = [answer.text]
    lines += [f"  [{i}] {c.doc}, {page_name(c.page, c.page_label)}" for i, c in enumerate(answer.citations, 1)]
    if answer.stopped == "step_limit":
        lines.append(f"  (stopped after {answer.rounds} rounds of tool calls: --max-steps)")
    _emit(args, answer.to_json(), "\n".join(lines))
    return EXIT_OK


def cmd_extract(args: argparse.Namespace, settings: Settings) -> int:
    from docagent.tasks.extract import extract

    schema = args.schema or args.fields
    results = extract(args.files, schema, settings=settings, model=args.model, use_model=not args.no_model,
                      progress=not (args.quiet or args.json))
    if args.out:
        _write_extractions(args.out, results)
    from docagent.tasks.extract import NO_FIELDS

    lines = []
    for r in results:
        errors = [e + (" (--schema or --fields)" if e == NO_FIELDS else "") for e in r.errors]
        lines.append(r.doc + ("" if not errors else "  (" + "; ".join(errors) + ")"))
        for name, v in r.fields.items():
            value = "null" if v.value is None else repr(v.to_json()["value"])
            about = [v.source, *([f"page {v.page}"] if v.page else []),
                     *([f"confidence {v.confidence:.2f}"] if v.source != "none" else [])]
            lines.append(f"  {name}: {value}  [{', '.join(about)}]" + (f"  label: {v.label!r}" if v.label else "")
                         + ("  CHECK IT" if v.needs_review else "") + (f"  ({v.reason})" if v.reason else ""))
    _emit(args, {"documents": [r.to_json() for r in results]}, "\n".join(lines))
    return EXIT_FAILED if any(r.errors for r in results) else EXIT_OK


def _write_extractions(out: Path, results: list[Extraction]) -> None:
    from docagent.tasks.extract import extractions_csv, extractions_jsonl

    out.parent.mkdir(parents=True, exist_ok=True)
    text = extractions_csv(results) if out.suffix.lower() == ".csv" else extractions_jsonl(results)
    out.write_text(text, encoding="utf-8", newline="")
    log.info("wrote %s", out)


def cmd_chart(args: argparse.Namespace, settings: Settings) -> int:
    from docagent.tasks.chart import chart

    if not args.question and args.expr is None:
        log.error("give a question (answered with a model) or --expr over the page's table cells")
        return EXIT_USAGE
    answer = chart(args.source, args.question, expression=args.expr, model=args.model, settings=settings)
    _emit(args, answer.to_json(), answer.explain())
    return EXIT_OK if answer.value is not None else EXIT_FAILED


def cmd_tables(args: argparse.Namespace, settings: Settings) -> int:
    from docagent.index import PageStore
    from docagent.tasks.tables import resolve_source, select_tables

    if args.page is not None and re.fullmatch(r".+:\d+", args.doc) and not Path(args.doc).exists():
        log.error("give the page once: %s names page %s, and --page %d another", args.doc, args.doc.rsplit(":", 1)[1],
                  args.page)
        return EXIT_USAGE
    with PageStore(settings) as store:
        doc, page = resolve_source(store, args.doc, page=args.page)
        tables, why = select_tables(store, doc, page)
    if not tables:
        _emit(args, {"doc": doc, "tables": [], "note": why}, "")
        log.warning("%s", why)
        return EXIT_FAILED
    if args.out is not None:
        try:
            args.out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            log.error("cannot write tables into %s (%s); --out names a folder to create or to write into", args.out,
                      e.strerror or e)
            return EXIT_FAILED
        suffix = {"markdown": "md"}.get(args.format, args.format)
        written = []
        for t in tables:
            path = args.out / f"{doc.replace('/', '_')}-p{t.page}-t{t.index + 1}.{suffix}"
            body = json.dumps(t.to_json(), ensure_ascii=False, indent=1) if args.format == "json" else _table_text(t, args.format)
            try:
                path.write_text(body if body.endswith("\n") else body + "\n", encoding="utf-8")
            except OSError as e:
                log.error("cannot write %s (%s)", path, e.strerror or e)
                return EXIT_FAILED
            written.append(str(path))
        _emit(args, {"doc": doc, "files": written, "tables": [t.to_json() for t in tables]},
              "\n".join(f"wrote {w}" for w in written))
        return EXIT_OK
    if args.format == "json":
        args.json = True
    text = "" if args.json else "\n\n".join(f"{_table_heading(t, args.format)}\n{_table_text(t, args.format).rstrip()}"
                                            for t in tables)
    _emit(args, {"doc": doc, "tables": [t.to_json() for t in tables]}, text)
    return EXIT_OK


def _table_text(table: Table, fmt: str) -> str:
    return {"csv": table.to_csv, "html": table.to_html, "markdown": table.to_markdown}[fmt]()


def _table_heading(table: Table, fmt: str) -> str:
    """A line naming a table above its text, in the format's own comment syntax."""
    about = f"{table.doc} page {table.page}, table {table.index + 1}" + (f": {table.title}" if table.title else "")
    if table.scale_text and table.scale_text not in table.title:
        about += f" (numbers {table.scale_text})"
    if table.continued_from:
        about += f" (continued from page {table.continued_from[0]})"
    if table.continues_on:
        about += f" (continues on page {table.continues_on[0]})"
    safe = html.escape(" ".join(about.split()), quote=False)  # a title is document text: never live markup
    return {"csv": f"# {' '.join(about.split())}", "html": f"<h3>{safe}</h3>", "markdown": f"**{safe}**\n"}[fmt]


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    if args.eval_command == "chart":
        return _eval_chart(args, settings)
    if args.eval_command == "qa":
        return _eval_qa(args, settings)
    if args.eval_command == "extract":
        return _eval_extract(args, settings)
    if args.eval_command == "tables":
        return _eval_tables(args, settings)
    from docagent.evaluation.retrieval import Query, RetrievalScores, evaluate_retrieval, load_qrels
    from docagent.index import PageStore
    from docagent.retrieve import Mode, PageRetriever

    queries, skipped = load_qrels(args.qrels)
    modes: list[Mode] = list(get_args(Mode)) if args.compare_modes else [args.mode]
    with PageStore(settings) as store:
        retriever = PageRetriever(store=store, render_images=False)

        def search(query: Query, mode: Mode) -> list[tuple[str, int]]:
            hits = retriever.search(query.question, k=10, mode=mode, docs=query.docs)
            return [(h.doc, h.page) for h in hits]

        known = {d.name for d in store.documents()}
        report = evaluate_retrieval(queries, search, modes, known_docs=known, progress=not args.quiet, by_kind=args.by_kind)
    head = f"{'recall@1':>9} {'recall@5':>9} {'recall@10':>10} {'mrr@10':>8} {'doc@1':>7}"
    lines = [f"{len(queries)} questions" + (f" ({skipped} without relevant pages skipped)" if skipped else ""), f"{'mode':<8} {head}"]

    def row(m: RetrievalScores) -> str:
        return f"{m.recall_at_1:>9.3f} {m.recall_at_5:>9.3f} {m.recall_at_10:>10.3f} {m.mrr_at_10:>8.3f} {m.doc_at_1:>7.3f}"

    for mode, m in report.modes.items():
        lines.append(f"{mode:<8} {row(m)}")
    for mode, m in report.modes.items():
        if m.by_kind is not None:
            lines += ["", f"{mode} by kind", f"{'kind':<32} {'n':>4} {head}"]
            lines += [f"{kind[:32]:<32} {k.questions:>4} {row(k)}" for kind, k in m.by_kind.items()]
    _emit(args, report.to_json(), "\n".join(lines))
    return EXIT_OK


def _eval_qa(args: argparse.Namespace, settings: Settings) -> int:
    from docagent.evaluation.qa import evaluate_qa, load_labels
    from docagent.index import PageStore
    from docagent.models.resolve import chat_model
    from docagent.tasks.qa import ask

    labels = load_labels(args.labels)[: args.limit]
    llm = chat_model(args.model or settings.vlm_model)
    with PageStore(settings) as store:
        report = evaluate_qa(labels, lambda q, scope: ask(q, store=store, settings=settings, llm=llm, k=args.k,
                                                          docs=scope), progress=not args.quiet)
    m = report.metrics
    text = "\n".join([
        f"{m.questions} questions ({m.answerable} answerable, {m.unanswerable} not)",
        f"answer accuracy      {m.accuracy:.3f}   (ANLS for text, +-5% for numbers, abstention for unanswerable)",
        f"abstention precision {m.abstention_precision:.3f}   recall {m.abstention_recall:.3f}",
        f"citation page acc.   {m.citation_accuracy:.3f}   (a cited page is an evidence page, {m.with_evidence} questions)",
    ])
    _emit(args, report.to_json(), text)
    return EXIT_OK


def _eval_chart(args: argparse.Namespace, settings: Settings) -> int:
    from docagent.evaluation.chart import evaluate_chart, load_chart_labels
    from docagent.index import PageStore
    from docagent.models.resolve import chat_model
    from docagent.tasks.chart import chart

    labels = load_chart_labels(args.labels)[: args.limit]
    llm = chat_model(args.model or settings.vlm_model)
    with PageStore(settings) as store:
        report = evaluate_chart(labels, lambda lb: chart(lb.image, lb.query, llm=llm, store=store, settings=settings),
                                progress=not args.quiet)
    m = report.metrics
    _emit(args, report.to_json(), f"{m.questions} questions: relaxed accuracy {m.relaxed_accuracy:.3f}, "
                                  f"table accuracy {m.table_accuracy:.3f} ({m.tables_scored} tables)")
    return EXIT_OK


def _eval_tables(args: argparse.Namespace, settings: Settings) -> int:
    from docagent.evaluation.tables import evaluate_cells, evaluate_tables, load_cell_labels, load_table_labels
    from docagent.index import PageStore, index_paths

    labels = load_table_labels(args.labels)
    cells = [(path, load_cell_labels(path)) for path in args.cells]
    docs = {lb.doc for lb in labels} | {c.doc for _, found in cells for c in found}
    files = sorted({args.labels.parent / doc for doc in docs if (args.labels.parent / doc).is_file()})
    with PageStore(settings) as store:
        if files:
            report = index_paths(files, store=store, progress=not args.quiet)
            for f in report.failed:
                log.warning("not indexed: %s: %s", f.path, f.error)
        known = {lb.doc for lb in labels if store.document(Path(lb.doc).name) is not None}
        for doc in sorted({lb.doc for lb in labels} - known):
            log.warning("%s is neither beside the labels nor indexed: its tables count as not found", doc)
        score = evaluate_tables(labels, lambda doc, page: store.tables(Path(doc).name, page)
                                if Path(doc).name in {Path(k).name for k in known} else [])
        named = [(path, evaluate_cells(found, lambda doc, page: store.tables(Path(doc).name, page)
                                       if store.document(Path(doc).name) is not None else []))
                 for path, found in cells]
    data = score.to_json() | {"cells": {str(path): s.to_json() for path, s in named}}
    _emit(args, data, "\n".join([score.table(), *(f"{path}:\n{s.table()}" for path, s in named)]))
    return EXIT_OK


def _eval_extract(args: argparse.Namespace, settings: Settings) -> int:
    from docagent.evaluation.extract import ExtractionLabel, evaluate_extraction, load_extraction_labels
    from docagent.index import PageStore
    from docagent.tasks.extract import extract

    labels = load_extraction_labels(args.labels)[: args.limit]
    from langchain_core.language_models import BaseChatModel

    from docagent.errors import ModelError
    from docagent.models.resolve import chat_model

    llm: BaseChatModel | None
    try:  # one model for the whole run, its weights loaded now
        llm = chat_model(args.model or settings.vlm_model, load=True)
    except ModelError as e:
        log.warning("no model (%s): fields are read next to their printed labels", " ".join(str(e).split()))
        llm = None
    with PageStore(settings) as store:

        def run(label: ExtractionLabel) -> Extraction:
            [result] = extract([label.file], ", ".join(f"{s.name}:{s.type}" for s in label.specs), store=store,
                               settings=settings, llm=llm, use_model=llm is not None)
            return result

        report = evaluate_extraction(labels, run, progress=not args.quiet)
    m = report.metrics
    text = (f"{m.documents} documents, {m.fields_gold} labelled values\n"
            f"precision {m.precision:.3f}  recall {m.recall:.3f}  F1 {m.f1:.3f}  grounding rate {m.grounding_rate:.3f}\n"
            f"not flagged needs_review: precision {m.unflagged_precision:.3f}  recall {m.unflagged_recall:.3f}")
    _emit(args, report.to_json(), text)
    return EXIT_OK


def cmd_docs(args: argparse.Namespace, settings: Settings) -> int:
    from docagent.index import PageStore

    with PageStore(settings) as store:
        docs = store.documents()
        cards = store.catalog.cards()
    lines = []
    for d in docs:
        origin = f"attached to {d.parent}" if d.parent else f"from {d.source}"
        lines.append(f"{d.name}  {d.kind}, {d.pages} page{'' if d.pages == 1 else 's'}" + (f" ({d.ocr_pages} OCR)" if d.ocr_pages else "") + f"  {origin}")
        card = cards.get(d.doc_id)
        about = [card.kind, ", ".join(card.organisations[:2]), card.period.label() if card.period else " ".join(str(y) for y in card.years)] if card else []
        if any(about):
            lines.append("   " + " · ".join(a for a in about if a))
        elif card is None:
            lines.append("   no card (indexed by an older docagent): `docagent index` it again to add one")
    if not docs:
        lines = [f"no documents in {settings.store}"]
    payload = [{**d.to_json(), "card": cards[d.doc_id].to_json() if d.doc_id in cards else None} for d in docs]
    _emit(args, {"documents": payload}, "\n".join(lines))
    return EXIT_OK


def cmd_rm(args: argparse.Namespace, settings: Settings) -> int:
    from docagent.index import PageStore

    with PageStore(settings) as store:
        removed, missing = store.remove(args.names)
    lines = [f"removed {name}" for name in removed]
    lines += [f"not in the store: {name} (`docagent docs` lists what is)" for name in missing]
    _emit(args, {"removed": removed, "not_found": missing}, "\n".join(lines))
    return EXIT_FAILED if missing else EXIT_OK


def _store_settings(spec: str) -> Settings:
    """A store named on the command line: a folder, or a settings file (``KEY=value`` lines with DOCAGENT_ keys)."""
    path = Path(spec).expanduser()
    if path.is_file():
        return Settings(_env_file=path)  # type: ignore[call-arg]  # pydantic-settings' own keyword
    return Settings(store=path)


def cmd_store(args: argparse.Namespace, settings: Settings) -> int:
    from docagent.index import PageStore
    from docagent.index.copy import copy_store

    src_settings, dst_settings = _store_settings(args.src), _store_settings(args.dst)
    from tqdm import tqdm

    bar = tqdm(unit="doc", desc="copy", disable=True if args.quiet or args.json else None, dynamic_ncols=True)

    def shown(done: int, total: int, name: str) -> None:
        bar.total, bar.n = total, done
        bar.set_postfix_str(name[:40])

    with PageStore(src_settings) as src, PageStore(dst_settings) as dst:
        report = copy_store(src, dst, on_document=shown)
    bar.close()
    lines = [f"copied {len(report.copied)} documents; {len(report.skipped)} already there"]
    lines += [f"  {name}: {a} in SRC, {b} in DST{'' if a == b else '  <- differs'}" for name, (a, b) in report.counts.items()]
    same = sum(s for _, s in report.searches)
    lines.append(f"  searches: {same} of {len(report.searches)} found each side's best page near the top of the other's")
    lines += [f"  problem: {p}" for p in report.problems]
    lines.append("the copy checks out" if report.ok else "the copy does NOT check out: see above")
    _emit(args, report.to_json(), "\n".join(lines))
    return EXIT_OK if report.ok else EXIT_FAILED


def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    from docagent.doctor import checks_to_json, run_checks

    checks = run_checks(settings)
    lines = []
    for c in checks:
        lines.append(f"{'ok ' if c.ok else 'no '} {c.name:<16} {c.detail}")
        if c.fix:
            lines.append(f"{'':21}fix: {c.fix}")
    _emit(args, checks_to_json(checks), "\n".join(lines))
    return EXIT_OK


COMMANDS: dict[str, Handler] = {"index": cmd_index, "search": cmd_search, "ask": cmd_ask, "agent": cmd_agent, "extract": cmd_extract, "chart": cmd_chart, "tables": cmd_tables,
            "eval": cmd_eval, "docs": cmd_docs, "rm": cmd_rm, "doctor": cmd_doctor,
            "store": cmd_store}

if __name__ == "__main__":
    sys.exit(main())
