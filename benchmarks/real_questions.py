"""Real questions about real filings, no model: answered or refused, and the statement cell a lookup finds.

    python benchmarks/real_questions.py [--against REV|none] [--cells CELLS.jsonl] [--work DIR]

On the twelve real 10-Qs of ../shared/data/sec_10q (Apple, Amazon, Intel; indexed with OCR off), every side
(this checkout; ``--against REV``, default 27c42cd, the last commit before the statements work, from a git
worktree; each in a child process with its own code on ``PYTHONPATH``) is asked:

* the data set's 78 questions, each within its own filing, no model: **abstained** (every one of them is about
  its filing; some presume a section the filing lacks, so 0% is not the aim; the issue's target is <= 20%);
* 20 finance-flavoured and 50 general off-topic questions over the whole shelf: abstained (aim >= 90%);
* with ``--cells``: plain lookups made from hand-labelled statement cells (``docagent eval tables --cells``
  format, rows with ``row`` and ``column``; those on the sec_10q filings), asked as "What was Apple's total current
  liabilities in 2023?" within the filing: **located** when the answer's value is the labelled cell's text (on
  the statement or wherever else the filing prints the same figure).

Prints a table, writes benchmarks/results/real_questions-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from common import DATA, ROOT, checkout, require, write_results

SEC = DATA / "sec_10q"
BEFORE = "27c42cd"
COMPANIES = {"AAPL": "Apple", "AMZN": "Amazon", "INTC": "Intel"}
FINANCE_OFF_TOPIC = [
    "What was Tesla's total vehicle deliveries in 2022?", "How many employees does Toyota have?",
    "What is Coca-Cola's dividend per share for 2023?", "What was Netflix's streaming revenue in Q2 2023?",
    "What was Microsoft's Azure growth rate in fiscal 2023?", "How much did Nike spend on advertising in 2021?",
    "What was Walmart's same-store sales growth last quarter?", "How many stores does Starbucks operate in China?",
    "What was Pfizer's vaccine revenue in 2022?", "What was Google's cloud operating loss in 2022?",
    "How many subscribers did Spotify add in Q1 2023?", "What is the interest rate on Ford's 2030 notes?",
    "What was Boeing's backlog at the end of 2022?", "Who is the CEO of Berkshire Hathaway?",
    "What was the GDP growth of Germany in 2022?", "How many aircraft did Delta retire in 2023?",
    "What was Shell's refining margin in 2022?", "How many hotels does Marriott operate?",
    "What was Visa's payments volume in fiscal 2023?", "What is McDonald's franchise fee?"]


def lookups(cells: Path | None) -> list[dict]:
    if cells is None:
        return []
    out = []
    for row in map(json.loads, cells.read_text().splitlines()):
        company = COMPANIES.get(row["doc"].split()[-1].removesuffix(".pdf"))
        if company is None or "row" not in row:
            continue
        column = row["column"]
        when = f"in {column}" if column.isdigit() else f"for the {column}"
        out.append({"doc": row["doc"], "text": row["text"], "question": f"What was {company}'s {row['row'].lower()} {when}?"})
    return out


def child(store: Path, work: Path, asked: Path, out: Path) -> None:
    """Index (once) and ask, with the docagent on ``PYTHONPATH``."""
    import docagent
    from docagent.config import Settings
    from docagent.index.store import PageStore

    settings = Settings(store=store, vlm_model=str(work / "no-model"), ocr="off")
    if not store.exists():
        report = docagent.index(sorted((SEC / "documents").glob("*.pdf")), settings, progress=False)
        if report.failed:
            raise SystemExit(f"not indexed: {[(f.path, f.error) for f in report.failed]}")
    sets = json.loads(asked.read_text())
    results: dict[str, list] = {}
    with PageStore(settings) as st:
        for name, questions in sets.items():
            results[name] = []
            for q in questions:
                a = docagent.ask(q["question"], settings=settings, store=st, docs=[q["doc"]] if q.get("doc") else None)
                span = a.answer_span.text if a.answer_span else None
                results[name].append({"question": q["question"], "abstained": a.abstained, "reason": a.reason,
                                      "span": span, "want": q.get("text")})
    out.write_text(json.dumps(results))


def side(code: Path, store: Path, work: Path, asked: Path) -> dict:
    out = work / f"answers-{store.name}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(store), "--asked", str(asked), "--out", str(out),
           "--work", str(work)]
    done = subprocess.run(cmd, env={**os.environ, "PYTHONPATH": str(code)}, cwd=code, capture_output=True, text=True,
                          check=False)
    if done.returncode:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise SystemExit(f"the docagent side at {code} failed (exit {done.returncode}): {' '.join(cmd)}\n{tail}")
    return json.loads(out.read_text())


def _clean(text: str | None) -> str:
    return " ".join((text or "").replace("$", " ").split())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", default=BEFORE,
                        help=f"the older revision beside this checkout (default {BEFORE}; 'none': this checkout alone)")
    parser.add_argument("--cells", type=Path, help="hand-labelled statement cells (docagent eval tables --cells format)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/docagent-bench-real-questions"))
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--asked", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.work, args.asked, args.out)
        return
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from answers import OFF_TOPIC

    args.work.mkdir(parents=True, exist_ok=True)
    questions = [json.loads(line) for line in (require(SEC) / "questions.jsonl").read_text().splitlines()]
    asked = {"sec_10q questions": [{"question": q["question"], "doc": q["doc"]} for q in questions],
             "finance off-topic": [{"question": q} for q in FINANCE_OFF_TOPIC],
             "general off-topic": [{"question": q} for q in OFF_TOPIC],
             "statement lookups": lookups(args.cells)}
    (args.work / "asked.json").write_text(json.dumps(asked))
    sides = {"docagent": ROOT} | ({} if args.against == "none" else {f"docagent {args.against}": checkout(args.against)})
    results = {name: side(code, args.work / f"store-{i}", args.work, args.work / "asked.json")
               for i, (name, code) in enumerate(sides.items())}
    print(f"{'set':<22} {'n':>4} " + " ".join(f"{name + ' abstained':>30} {'located':>8}" for name in sides))
    summary: dict[str, dict] = {}
    for set_name, qs in asked.items():
        if not qs:
            continue
        cells = []
        for name in sides:
            rows = results[name][set_name]
            abstained = sum(r["abstained"] for r in rows) / len(rows)
            located = (sum(_clean(r["span"]) == _clean(r["want"]) for r in rows) / len(rows)
                       if set_name == "statement lookups" else None)
            summary.setdefault(set_name, {})[name] = {"n": len(rows), "abstained": round(abstained, 4),
                                                      "located": round(located, 4) if located is not None else None}
            cells.append(f"{abstained:>30.1%} {'' if located is None else f'{located:.1%}':>8}")
        print(f"{set_name:<22} {len(qs):>4} " + " ".join(cells))
    write_results("real_questions", {"summary": summary, "against": args.against, "answers": results})


if __name__ == "__main__":
    main()
