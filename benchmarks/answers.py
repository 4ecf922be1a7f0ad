"""Retrieval-only answers (no model): is the answer located, and does docagent abstain when it should.

    python benchmarks/answers.py [--work DIR] [--sroie 20] [--funsd 20] [--mmlb-docs 12] [--walk-only]

Answerable questions, each asked within its own document, whose answer is printed verbatim on its page:

* generated: invoices, statements, reports and forms this script writes (labels right of values, above them,
  in tables, in sentences), with questions about their values;
* SROIE receipts (OCR): "What is the total amount?" and "What is the date of the receipt?" with the official
  labels; FUNSD forms (OCR): "What is the <printed key>?" for each key -> answer link
  (keys that are only stop words, like "From:", and keys printed more than once, like a column header over many
  answers, are left out: they ask nothing or have no single answer);
* MMLongBench-Doc: the questions whose answer string stands on their evidence page's text.

Its "Not answerable" questions (about the document, but it does not say) are asked too and their abstention
reported; no target: telling those apart without reading is beyond a layout rule.

A question counts only when its answer's words are found on its page after indexing (OCR may misread them).
**Located**: the answer span docagent returns is on that page and its box overlaps the answer's words.
**Abstained**: the answer says the documents do not answer.

Off-topic questions (things no document in the store mentions) are asked over the whole store; they should
abstain. Baseline, measured in the same run on the same retrieved pages: the code before issue 17 (abstain
only when no question word is on the pages; boxes on the question's words: "located" when any of them
overlaps the answer).

Prints a table, writes benchmarks/results/answers-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from collections import defaultdict
from pathlib import Path

from common import DATA, require, write_results

from docagent.question import answer_kind
from docagent.tasks.locate import lead_class

OFF_TOPIC = [
    "Who won the 2018 FIFA World Cup?", "What is the capital of Australia?", "How many moons does Mars have?",
    "Who painted the Mona Lisa?", "What is the boiling point of mercury?", "When did the Berlin Wall fall?",
    "Who wrote Pride and Prejudice?", "What is the recipe for sourdough bread?", "How tall is Mount Everest?",
    "Which planet has the Great Red Spot?", "What language is spoken in Brazil?", "Who discovered penicillin?",
    "How do I change a bicycle tyre?", "What is the speed of light in vacuum?", "Who is the lead singer of Coldplay?",
    "When was the Eiffel Tower built?", "What is the population of Iceland?", "How many players are on a cricket team?",
    "What is the chemical symbol for gold?", "Who directed the film Jaws?", "What is the longest river in Africa?",
    "How does photosynthesis work?", "What is the national animal of Scotland?", "Who invented the telephone?",
    "What are the rules of chess castling?", "When is the next solar eclipse in Chile?", "How many bones does a shark have?",
    "What is the melting point of tungsten?", "Which team won the 1995 Rugby World Cup?", "Who was the first person on the Moon?",
    "What is the tallest tree species?", "How do you say thank you in Japanese?", "What is the half-life of carbon-14?",
    "Which ocean is the Mariana Trench in?", "Who composed the Four Seasons?", "What is the best pizza topping?",
    "How many strings does a violin have?", "What is the currency of Thailand?", "Who wrote the Odyssey?",
    "When did dinosaurs go extinct?", "What do koalas eat?", "Which volcano destroyed Pompeii?",
    "How long is an Olympic swimming pool?", "Who founded the city of Rome?", "What is the main ingredient of guacamole?",
    "How fast can a cheetah run?", "What is the wingspan of an albatross?", "Who won the Tour de France in 2012?",
    "What is the smallest prime number greater than 100?", "Which vitamin does sunlight help produce?",
]

VENDORS = ["Northwind Traders", "Blue Harbor Foods", "Kestrel Systems", "Orchard Lane Books", "Vantage Tooling",
           "Meridian Print Co", "Alder & Finch", "Copperline Labs", "Saltmarsh Outfitters", "Pinecrest Dental"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]


def _amount(rng: random.Random) -> str:
    return f"{rng.randint(100, 99999):,}.{rng.randint(0, 99):02d}"


def _date(rng: random.Random) -> str:
    return f"{rng.randint(1, 28)} {rng.choice(MONTHS)} {rng.randint(2015, 2025)}"


def generated(folder: Path, n: int = 24, seed: int = 17) -> list[dict]:
    """``n`` documents in four layouts with questions whose answers they print; returns the labels."""
    import pymupdf

    rng = random.Random(seed)
    labels = []
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        vendor, number = rng.choice(VENDORS), f"INV-{rng.randint(1000, 9999)}-{rng.randint(10, 99)}"
        total, tax, issued, due = _amount(rng), _amount(rng), _date(rng), _date(rng)
        layout = i % 4
        doc = pymupdf.open()
        page = doc.new_page()
        y = 72.0

        def put(text: str, x: float = 72, size: float = 11) -> None:
            page.insert_text((x, y), text, fontsize=size)

        qa: list[tuple[str, str]] = []
        if layout == 0:  # label: value on one line
            for text in (vendor, "INVOICE", f"Invoice number: {number}", f"Invoice date: {issued}",
                         f"Payment due by: {due}", "Item  Qty  Unit price", f"Consulting services  1  {total}",
                         f"Sales tax: {tax}", f"Total amount due: {total}"):
                put(text)
                y += 20
            qa = [("What is the total amount due?", total), ("What is the invoice number?", number),
                  ("How much sales tax was charged?", tax), ("When is payment due?", due)]
        elif layout == 1:  # a form: labels above their values
            for label, value in (("Account holder", vendor), ("Statement date", issued), ("Closing balance", total),
                                 ("Reference", number)):
                put(label.upper(), size=8)
                y += 14
                put(value, size=12)
                y += 26
            qa = [("What is the closing balance?", total), ("What is the statement date?", issued),
                  ("What is the reference?", number), ("Who is the account holder?", vendor)]
        elif layout == 2:  # a table: label column, value column
            put(f"{vendor} - summary of charges", size=13)
            y += 28
            for label, value in (("Service fee", tax), ("Grand total", total), ("Order reference", number),
                                 ("Delivery date", due)):
                put(label)
                put(value, x=330)
                y += 18
            qa = [("What is the grand total?", total), ("What is the service fee?", tax),
                  ("What is the order reference?", number), ("What is the delivery date?", due)]
        else:  # prose
            staff, pct = rng.randint(12, 900), f"{rng.randint(2, 60)}%"
            for text in (f"{vendor} annual review", f"In the year under review the company employed {staff} people.",
                         f"Revenue grew by {pct} compared with the previous year.",
                         f"Net revenue for the year amounted to {total}.", f"The report was approved on {issued}."):
                put(text)
                y += 20
            qa = [("How many people did the company employ?", str(staff)), ("By what percentage did revenue grow?", pct),
                  ("What was the net revenue for the year?", total), ("When was the report approved?", issued)]
        name = f"gen{i:02d}-{['invoice', 'statement', 'charges', 'review'][layout]}.pdf"
        doc.save(folder / name)
        labels += [{"set": "generated", "doc": name, "page": 1, "question": q, "answer": a} for q, a in qa]
    return labels


def sroie(n: int) -> tuple[list[Path], list[dict]]:
    rows = [json.loads(line) for line in require(DATA / "sroie" / "sroie_test_subset.jsonl").open()][:n]
    files, labels = [], []
    for row in rows:
        path = DATA / "sroie" / row["image"]
        files.append(path)
        info = row["key_info"]
        labels += [{"set": "sroie", "doc": path.name, "page": 1, "question": "What is the total amount?", "answer": info["total"]},
                   {"set": "sroie", "doc": path.name, "page": 1, "question": "What is the date of the receipt?", "answer": info["date"]}]
    return files, labels


def funsd(n: int) -> tuple[list[Path], list[dict]]:
    rows = [json.loads(line) for line in require(DATA / "funsd" / "funsd_kv_pairs.jsonl").open()]
    from docagent.retrieve import lexical_terms

    rows = [r for r in rows if r["split"] == "test"][:n]
    files, labels = [], []
    for row in rows:
        path = DATA / "funsd" / row["image"]
        files.append(path)
        keys = [" ".join(p["question"].strip(" :").split()).lower() for p in row["pairs"]]
        for pair in row["pairs"]:
            if keys.count(" ".join(pair["question"].strip(" :").split()).lower()) > 1:
                continue  # a column header with many answers under it: no one answer to locate
            key = " ".join(pair["question"].strip(" :").split()).lower()
            if lexical_terms(key) and pair["answer"].strip() and len(pair["answer"].split()) <= 8:
                labels.append({"set": "funsd", "doc": path.name, "page": 1, "question": f"What is the {key}?",
                               "answer": pair["answer"]})
    return files, labels


def mmlb(n_docs: int) -> tuple[list[Path], list[dict]]:
    """The MMLongBench-Doc questions of the ``n_docs`` shortest documents (by file size) with an answer."""
    folder = require(DATA / "mmlongbench_doc")
    rows = [json.loads(line) for line in (folder / "qrels.jsonl").open()]
    docs = sorted({r["scope"] for r in rows}, key=lambda d: (folder / "documents" / d).stat().st_size)[:n_docs]
    labels = [{"set": "mmlongbench", "doc": r["scope"], "page": rel["page"], "question": r["question"].strip(),
               "answer": str(r["answer"])}
              for r in rows if r["scope"] in docs and str(r["answer"]).strip().lower() not in ("not answerable", "")
              for rel in r["relevant"][:1]]
    samples = json.loads((folder / "samples_subset.json").read_text())
    unanswerable = [{"set": "mmlb not answerable", "doc": r["doc_id"], "question": r["question"].strip()}
                    for r in samples if r["doc_id"] in docs and r["answer"] == "Not answerable"]
    return [folder / "documents" / d for d in docs], labels + unanswerable


def _norm(text: str) -> str:
    return re.sub(r"[^0-9a-z%]+", "", text.lower())


def answer_boxes(page, answer: str) -> list[list[tuple[int, int, int, int]]]:
    """Every run of the page's words that spells ``answer`` (case, spacing, punctuation aside), as pixel boxes."""
    target = _norm(answer)
    words = page.words
    normal = [_norm(w.text) for w in words]
    runs = []
    if not target:
        return runs
    for i in range(len(words)):
        text = ""
        for j in range(i, min(len(words), i + 12)):
            text += normal[j]
            if text == target:
                runs.append([page.to_pixels(w.box) for w in words[i : j + 1]])
                break
            if not target.startswith(text):
                break
    return runs


def right(span, label: dict, located: bool) -> bool:
    """A lead is right when it stands on the answer (its box over the answer's words) and says the whole answer:
    a value that is the answer (not a part of it, nor a line around it), or a line (``line`` leads) that holds it."""
    said, answer = _norm(span.text), _norm(label["answer"])
    if span.basis == "line":
        return located and answer in said
    return located and answer in said and len(said) <= 2 * len(answer) + 4


def confidence_buckets(leads: list[dict]) -> dict:
    """Right / claimed per basis, and per confidence bucket."""
    out: dict = {"by basis": {}, "by class": {}, "by confidence": {}}
    for lead in leads:
        for key, name in (("by basis", lead["basis"]), ("by class", lead["class"])):
            row = out[key].setdefault(name, [0, 0])
            row[0] += lead["right"]
            row[1] += 1
        c = lead["confidence"]
        bucket = "none" if c is None else f"{min(0.9, int(c * 10) / 10):.1f}"
        row = out["by confidence"].setdefault(bucket, [0, 0])
        row[0] += lead["right"]
        row[1] += 1
    return out


def walk_run(work: Path) -> dict:
    """The walk's library (benchmarks/walk.py): each question asked over the whole library, then the off-topic ones;
    prints what a user would have seen and returns it."""
    from walk import library

    import docagent
    from docagent.config import Settings
    from docagent.index.store import PageStore

    files, questions = library(work / "walk")
    settings = Settings(store=work / "walk-store", vlm_model=str(work / "no-model"))
    report = docagent.index(files, settings, progress=False)
    if report.failed:
        print("walk: failed to index", [(f.path, f.error) for f in report.failed])
    rows, leads = [], []
    with PageStore(settings) as store:
        for q in questions:
            answer = docagent.ask(q["question"], settings=settings, store=store)
            span = answer.answer_span
            said = _norm(span.text) if span else ""
            good = bool(span and span.doc == q["doc"] and _norm(q["answer"]) in said
                        and (span.kind == "sentence" or len(said) <= 2 * len(_norm(q["answer"])) + 4))
            if span is not None:
                leads.append({"set": "walk", "basis": span.basis, "score": span.score, "right": good,
                              "confidence": span.confidence, "needs_review": span.needs_review,
                              "class": lead_class(span, answer_kind(q["question"]))})
            rows.append({**q, "abstained": answer.abstained, "lead": span.to_json() if span else None, "right": good,
                         "first_line": answer.text.splitlines()[0] if answer.text else "", "reason": answer.reason})
        off = [docagent.ask(question, settings=settings, store=store).abstained for question in OFF_TOPIC]
    n = len(rows)
    right = sum(r["right"] for r in rows)
    unmarked = [r for r in rows if r["lead"] and not r["right"] and not r["lead"]["needs_review"]]
    not_found = [r for r in rows if r["abstained"]]
    print(f"\nwalk library ({len(files)} files: DOCX, XLSX, PPTX with notes, e-mail + PDF, scan, 14-page report), "
          f"{n} answerable questions over the whole library, no model:")
    for r in rows:
        mark = "right" if r["right"] else ("not found" if r["abstained"] else
                                           "WRONG, no doubt mark" if r in unmarked else "wrong, marked")
        print(f"  {mark:<21} {r['question'][:60]:<61} {r['first_line'][:90]}")
    print(f"lead right {right}/{n} ({100 * right / n:.1f}%); wrong leads shown without a doubt mark: {len(unmarked)}; "
          f"false 'not found': {len(not_found)}; off-topic abstained {sum(off)}/{len(off)} "
          f"({100 * sum(off) / len(off):.1f}%)")
    buckets = confidence_buckets(leads)
    print("walk leads right / claimed, by confidence:",
          {b: f"{g}/{c}" for b, (g, c) in sorted(buckets["by confidence"].items())})
    return {"rows": rows, "right": right, "n": n, "unmarked_wrong": len(unmarked), "false_not_found": len(not_found),
            "off_topic_abstained": sum(off), "off_topic": len(off), "buckets": buckets}


def _overlaps(box, runs) -> bool:
    return any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for run in runs for b in run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/docagent-bench-answers"))
    parser.add_argument("--sroie", type=int, default=20, help="receipts (OCR'd at index time, ~3 s each)")
    parser.add_argument("--funsd", type=int, default=20, help="FUNSD test forms (OCR)")
    parser.add_argument("--mmlb-docs", type=int, default=12, help="shortest MMLongBench-Doc documents")
    parser.add_argument("--walk-only", action="store_true", help="only the walk's mixed library (benchmarks/walk.py)")
    args = parser.parse_args()
    walk_results = walk_run(args.work)
    if args.walk_only:
        write_results("answers", {"walk": walk_results, "args": {k: str(v) for k, v in vars(args).items()}})
        return

    import docagent
    from docagent.config import Settings
    from docagent.index.store import PageStore
    from docagent.tasks.grounding import answer_terms, coverage, match_boxes
    from docagent.tasks.locate import support

    labels = generated(args.work / "generated")
    files = sorted((args.work / "generated").glob("*.pdf"))
    for part in (sroie(args.sroie), funsd(args.funsd), mmlb(args.mmlb_docs)):
        files += part[0]
        labels += part[1]
    settings = Settings(store=args.work / "store", vlm_model=str(args.work / "no-model"))
    t0 = time.perf_counter()
    report = docagent.index(files, settings, progress=True)
    index_s = time.perf_counter() - t0
    if report.failed:
        print("failed:", [(f.path, f.error) for f in report.failed])

    per: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    examples = []
    leads: list[dict] = []
    t0 = time.perf_counter()
    with PageStore(settings) as store:
        usable = []
        for lb in labels:
            rec = store.document(lb["doc"])
            if lb["set"] == "mmlb not answerable" and rec is not None:
                usable.append((lb, []))
                continue
            if rec is None or not 1 <= lb["page"] <= rec.pages:  # a few MMLongBench rows name page 0
                continue
            runs = answer_boxes(store.page(lb["doc"], lb["page"]), lb["answer"])
            if runs:
                usable.append((lb, runs))
        for lb, runs in usable:
            answer = docagent.ask(lb["question"], settings=settings, store=store, docs=[lb["doc"]])
            if not runs:  # a question its document does not answer (MMLongBench-Doc's "Not answerable")
                pages = [store.page(h.doc, h.page) for h in answer.pages]
                per[lb["set"]]["abstained"].append(answer.abstained)
                per[lb["set"]]["base_abstained"].append(coverage(answer_terms(lb["question"]), [p.text for p in pages]) == 0.0)
                sup = support(lb["question"], pages, store.catalog.term_stats)
                per[lb["set"]]["support"].append(sup.share)
                per[lb["set"]]["unknown"].append(bool(sup.unknown))
                per[lb["set"]]["pages_support"].append(sup.pages_share)
                examples.append({**lb, "abstained": answer.abstained, "reason": answer.reason})
                continue
            span = answer.answer_span
            located = bool(span and span.page == lb["page"] and span.doc == lb["doc"] and _overlaps(span.box, runs))
            if span is not None:
                leads.append({"set": lb["set"], "basis": span.basis, "score": span.score, "right": right(span, lb, located),
                              "confidence": span.confidence, "needs_review": span.needs_review,
                              "class": lead_class(span, answer_kind(lb["question"]))})
            pages = [store.page(h.doc, h.page) for h in answer.pages]
            terms = answer_terms(lb["question"])
            old_boxes = [b for p in pages if (p.doc, p.number) == (lb["doc"], lb["page"]) for b in match_boxes(p, terms)[0]]
            row = per[lb["set"]]
            row["located"].append(located)
            row["abstained"].append(answer.abstained)
            row["base_located"].append(any(_overlaps(b, runs) for b in old_boxes))
            row["base_abstained"].append(coverage(terms, [p.text for p in pages]) == 0.0)
            sup = support(lb["question"], pages, store.catalog.term_stats)
            row["support"].append(sup.share)
            row["unknown"].append(bool(sup.unknown))
            row["pages_support"].append(sup.pages_share)
            examples.append({**lb, "span": span.to_json() if span else None, "located": located,
                                 "abstained": answer.abstained, "reason": answer.reason})
        for q in OFF_TOPIC:
            answer = docagent.ask(q, settings=settings, store=store)
            pages = [store.page(h.doc, h.page) for h in answer.pages]
            per["off-topic"]["abstained"].append(answer.abstained)
            per["off-topic"]["base_abstained"].append(coverage(answer_terms(q), [p.text for p in pages]) == 0.0)
            sup = support(q, pages, store.catalog.term_stats)
            per["off-topic"]["support"].append(sup.share)
            per["off-topic"]["unknown"].append(bool(sup.unknown))
            per["off-topic"]["pages_support"].append(sup.pages_share)
            examples.append({"set": "off-topic", "question": q, "abstained": answer.abstained, "reason": answer.reason,
                             "span": answer.answer_span.to_json() if answer.answer_span else None})
    ask_s = time.perf_counter() - t0

    def rate(values: list[float]) -> float | None:
        return round(100 * sum(values) / len(values), 1) if values else None

    answerable = {k: sum((per[s][k] for s in per if s not in ("off-topic", "mmlb not answerable")), []) for k in
                  ("located", "abstained", "base_located", "base_abstained")}
    unknown = {s: rate(row.pop("unknown")) for s, row in per.items()}
    supports = {s: sorted(row.pop("support")) for s, row in per.items()}
    supports |= {s + " (pages)": sorted(row.pop("pages_support")) for s, row in per.items()}
    table = {s: {k: rate(v) for k, v in row.items()} | {"n": len(row["abstained"])} for s, row in per.items()}
    table["all answerable"] = {k: rate(v) for k, v in answerable.items()} | {"n": len(answerable["located"])}
    print(f"\nindexed {len(files)} files in {index_s:.0f} s; {sum(t['n'] for s, t in table.items() if s != 'all answerable')} "
          f"questions asked in {ask_s:.0f} s\n")
    print(f"{'set':<16}{'n':>5}  {'located %':>10} {'(before)':>9}  {'abstained %':>12} {'(before)':>9}")
    for s, t in table.items():
        def cell(key: str) -> str:
            return "-" if t.get(key) is None else f"{t[key]:.1f}"
        print(f"{s:<16}{t['n']:>5}  {cell('located'):>10} {cell('base_located'):>9}  {cell('abstained'):>12} "
              f"{cell('base_abstained'):>9}")
    print("\nquestions naming a word no passage of the store holds, % per set:", unknown)
    print("\nevidence support (share of the question's weight on the best 3 lines), deciles per set:")
    for s, values in supports.items():
        print(f"  {s:<14}", " ".join(f"{values[min(len(values) - 1, len(values) * d // 10)]:.2f}" for d in range(10)))
    buckets = confidence_buckets(leads)
    print("\nleads right / claimed, by how they were found:")
    for basis, (good, n) in sorted(buckets["by basis"].items(), key=lambda kv: -kv[1][1]):
        print(f"  {basis or '?':<14}{good:>5} / {n:<5} {good / n:.3f}")
    print("leads right / claimed, by class (docagent.tasks.locate.LEAD_COUNTS; per set beside):")
    for name, (good, n) in sorted(buckets["by class"].items(), key=lambda kv: -kv[1][1]):
        sets = {s: f"{sum(x['right'] for x in leads if x['class'] == name and x['set'] == s)}/"
                   f"{sum(1 for x in leads if x['class'] == name and x['set'] == s)}"
                for s in dict.fromkeys(x["set"] for x in leads if x["class"] == name)}
        print(f"  {name:<26}{good:>5} / {n:<5} {good / n:.3f}   {sets}")
    print("leads right / claimed, by confidence:")
    for bucket, (good, n) in sorted(buckets["by confidence"].items()):
        print(f"  {bucket:<14}{good:>5} / {n:<5} {good / n:.3f}")
    flagged = [lead for lead in leads if lead["needs_review"]]
    print(f"wrong leads shown without a doubt mark: {sum(1 for lead in leads if not lead['right'] and not lead['needs_review'])}"
          f" of {sum(1 for lead in leads if not lead['right'])} wrong; flagged {len(flagged)} of {len(leads)}")
    out = write_results("answers", {"walk": walk_results, "table": table, "leads": leads, "buckets": buckets, "supports": supports, "index_seconds": index_s, "ask_seconds": ask_s,
                                    "args": {k: str(v) for k, v in vars(args).items()}, "examples": examples})
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
