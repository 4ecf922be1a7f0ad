"""Extraction calibration: how often a value is right, per source and match quality, per confidence bucket,
below and above the ``needs_review`` threshold; and the filled 2021 Form 1040 read with its full widget schema.

    python benchmarks/extract.py [--limit N] [--against REV] [--work DIR]

No model (the text path and the form fields). Sets:
  sroie   SROIE receipts (company, date, address, total), OCR'd: the first N of 60
  funsd   FUNSD test forms (each linked question a field), OCR'd: the first N of 47
  forms   the fillable forms: the filled 1040 with hand-labelled fields by meaning (names, income lines, filing
          status, empty boxes), the blank W-9, W-4, W-2 and 1040 with those fields and invoice fields (all empty)
  f1040   the filled 1040 with its 85 widget full names (49 filled text fields and the 36 tick boxes)
A value counts as right when it equals the label (``same_value``); a null from an empty form field is right when
the label is null too. Not-found fields claim nothing: they count against recall only.

OCR is the slow part (about 3 s a scan on 2 cores): the scans are indexed once into ``--work`` (default
/tmp/docagent-bench-extract) and reused by later runs and by ``--against REV``, which runs the same fields
through docagent as of git revision REV (a worktree under /tmp) for a before/after column. ``--limit`` caps
the receipts and forms per set (default: all, about 6 minutes the first time, under a minute after).
Prints a table and writes benchmarks/results/extract-<time>.json. Needs ../shared/data.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from common import DATA, ROOT, checkout, require, write_results

FORMS = DATA / "fillable_forms"
F1040 = "irs_f1040_siegric.pdf"
# The filled 1040 by meaning, read off the printed form (line labels) and the file's values.
F1040_BY_MEANING: dict[str, tuple[str, Any]] = {
    "first_name": ("str", "Edgar"), "last_name": ("str", "Flores"), "social_security_number": ("str", "123xxxxxx"),
    "spouse_first_name": ("str", None), "home_address": ("str", None), "zip_code": ("str", None),
    "filing_status": ("str", "Single"), "total_income": ("decimal", "5505"), "adjusted_gross_income": ("decimal", "5505"),
    "standard_deduction": ("decimal", "12400"), "total_tax": ("decimal", "744"), "total_payments": ("decimal", "0"),
    "routing_number": ("str", None), "account_number": ("str", None), "occupation": ("str", None),
    "email_address": ("str", None),
}
BLANK_FORMS = ("irs_fw9_conmecto.pdf", "irs_fw4_conmecto.pdf", "irs_fw2_conmecto.pdf", "irs_f1040_conmecto.pdf")
BLANK_FIELDS = {"invoice_number": "str", "total": "decimal", "date": "date", "name": "str", "business_name": "str",
                "tax_classification": "str", "ssn": "str", "address": "str", "account_number": "str", "first_name": "str",
                "employer_identification_number": "str", "wages": "decimal"}


def label_sets(limit: int | None) -> dict[str, list[dict[str, Any]]]:
    """``{set: [{"doc", "fields": {name: gold}, "types": {name: type}}]}``."""
    from docagent.evaluation.datasets import funsd_labels, sroie_labels

    sroie = [{"doc": Path(r["file"]).name, "fields": r["fields"], "types": r["types"]}
             for r in sroie_labels(require(DATA / "sroie"))][:limit]
    funsd = [{"doc": Path(r["file"]).name, "fields": r["fields"], "types": {}}
             for r in funsd_labels(require(DATA / "funsd"))][:limit]
    forms = [{"doc": F1040, "fields": {k: v for k, (_, v) in F1040_BY_MEANING.items()},
              "types": {k: t for k, (t, _) in F1040_BY_MEANING.items()}}]
    forms += [{"doc": name, "fields": dict.fromkeys(BLANK_FIELDS), "types": BLANK_FIELDS} for name in BLANK_FORMS]
    widgets = json.loads((require(FORMS) / F1040.replace(".pdf", ".fields.json")).read_text())["widgets"]
    asked = [w for w in widgets if w["type"] == "/Btn" or w["value"] not in (None, "")]
    f1040 = [{"doc": F1040, "fields": {w["name"]: (w["value"] != "/Off") if w["type"] == "/Btn" else w["value"] for w in asked},
              "types": {w["name"]: "bool" if w["type"] == "/Btn" else "str" for w in asked}}]
    return {"sroie": sroie, "funsd": funsd, "forms": forms, "f1040": f1040}


def index_sets(work: Path, limit: int | None) -> None:
    """Index every set's documents into its own store under ``work`` (kept: later runs skip them)."""
    from docagent.config import Settings
    from docagent.index.indexer import index_paths

    sets = label_sets(limit)
    folders = {"sroie": DATA / "sroie" / "images", "funsd": DATA / "funsd" / "testing_data" / "images",
               "forms": FORMS, "f1040": FORMS}
    for name, rows in sets.items():
        files = sorted({folders[name] / r["doc"] for r in rows})
        report = index_paths(files, Settings(store=work / name), progress=True)
        if report.failed:
            raise SystemExit(f"could not index {[f.path for f in report.failed]}")


def worker(work: Path, limit: int | None) -> list[dict[str, Any]]:
    """One record per (document, field): what this checkout's docagent extracts, without a model."""
    from docagent.config import Settings
    from docagent.evaluation.extract import same_value
    from docagent.index.store import PageStore
    from docagent.tasks.schema import FieldSpec

    ex = importlib.import_module("docagent.tasks.extract")  # the module (docagent.tasks exports the function)
    kinds: dict[int, tuple[str, Any]] = {}
    if hasattr(ex, "_found"):  # record each value's match quality (this revision knows it)
        found = ex._found

        def tagged(kind: str, *args: Any, **kw: Any) -> Any:
            value = found(kind, *args, **kw)
            kinds[id(value)] = (kind, value)  # the value kept: its id is not reused
            return value

        ex._found = tagged
    records = []
    for name, rows in label_sets(limit).items():
        settings = Settings(store=work / name)
        with PageStore(settings) as store:
            for row in rows:
                specs = [FieldSpec(k, row["types"].get(k, "str")) for k in row["fields"]]
                [result] = ex.extract(docs=[row["doc"]], schema=specs, store=store, settings=settings, use_model=False)
                for spec in specs:
                    gold, got = row["fields"][spec.name], result.fields.get(spec.name)
                    value = got.value if got is not None else None
                    claimed = got is not None and (value is not None or got.source == "acroform")
                    right = claimed and (same_value(value, gold, spec.type) if value is not None else gold is None)
                    records.append({
                        "set": name, "doc": row["doc"], "field": spec.name, "gold": gold, "present": got is not None,
                        "value": got.to_json()["value"] if got is not None else None, "claimed": claimed, "right": right,
                        "source": got.source if got is not None else "missing",
                        "kind": kinds[id(got)][0] if id(got) in kinds else got.source if got is not None else "missing",
                        "confidence": got.confidence if got is not None else 0.0,
                        "needs_review": bool(getattr(got, "needs_review", False)),
                    })
    return records


def rate(rows: list[dict[str, Any]]) -> tuple[int, int, float]:
    right = sum(r["right"] for r in rows)
    return len(rows), right, right / len(rows) if rows else float("nan")


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    claimed = [r for r in records if r["claimed"]]
    by_kind = {k: rate([r for r in claimed if r["kind"] == k]) for k in sorted({r["kind"] for r in claimed})}
    edges = (0.0, 0.2, 0.4, 0.6, 0.8, 0.95, 1.01)
    buckets = {f"{lo:.2f}-{min(hi, 1):.2f}": rate([r for r in claimed if lo <= r["confidence"] < hi])
               for lo, hi in zip(edges, edges[1:], strict=False)}

    def review(rows: list[dict[str, Any]]) -> dict[str, Any]:
        flagged = [r for r in rows if r["needs_review"]]
        kept = [r for r in rows if not r["needs_review"]]
        below = 1 - rate(flagged)[2] if flagged else float("nan")
        above = 1 - rate(kept)[2] if kept else float("nan")
        return {"flagged": len(flagged), "kept": len(kept), "wrong_below": below, "wrong_above": above,
                "ratio": below / above if above else float("inf")}

    per_set = {}
    for name in dict.fromkeys(r["set"] for r in records):
        rows = [r for r in records if r["set"] == name]
        gold = [r for r in rows if r["gold"] is not None]
        values = [r for r in rows if r["claimed"] and r["value"] is not None]
        sure = [r for r in values if not r["needs_review"]]
        per_set[name] = {
            "fields": len(rows), "present": sum(r["present"] for r in rows),
            "precision": rate(values)[2], "recall": sum(r["right"] for r in gold) / len(gold) if gold else float("nan"),
            "unflagged_precision": rate(sure)[2],
            "unflagged_recall": sum(r["right"] and not r["needs_review"] for r in gold) / len(gold) if gold else float("nan"),
            "right_of_claimed": rate([r for r in rows if r["claimed"]])[2],
        }
    f1040 = [r for r in records if r["set"] == "f1040"]
    boxes = [r for r in f1040 if isinstance(r["gold"], bool)]
    texts = [r for r in f1040 if not isinstance(r["gold"], bool)]
    return {
        "by_kind": by_kind, "buckets": buckets,
        "review": review(claimed), "review_without_f1040": review([r for r in claimed if r["set"] != "f1040"]),
        "sets": per_set,
        "f1040": {"present": sum(r["present"] for r in f1040), "fields": len(f1040),
                  "text_exact": sum(r["value"] == r["gold"] for r in texts), "texts": len(texts),
                  "boxes_right": sum(r["value"] is r["gold"] for r in boxes), "boxes": len(boxes)},
    }


def other_revision(rev: str, work: Path, limit: int | None) -> list[dict[str, Any]]:
    tree = checkout(rev)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--work", str(work)] + (["--limit", str(limit)] if limit else [])
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, help="only the first N receipts and N forms of SROIE and FUNSD (OCR is slow)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/docagent-bench-extract"), help="where the indexed stores are kept")
    parser.add_argument("--against", metavar="REV", help="also run docagent as of git revision REV on the same fields")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.work, args.limit), default=str))
        return
    index_sets(args.work, args.limit)
    from docagent.tasks.extract import CONFIDENCE, REVIEW_BELOW

    records = worker(args.work, args.limit)
    now = summarise(records)
    before = summarise(other_revision(args.against, args.work, args.limit)) if args.against else None

    print("\nby source and match quality (claimed: a value, or an empty form field)   table  measured (right+1)/(n+2)")
    for kind, (n, right, acc) in now["by_kind"].items():
        print(f"  {kind:18} {right:4}/{n:<4} right  {acc:6.3f}   {CONFIDENCE.get(kind, float('nan')):5.2f}  {(right + 1) / (n + 2):.2f}")
    print("\nby confidence bucket")
    for bucket, (n, right, acc) in now["buckets"].items():
        if n:
            print(f"  {bucket:10} {right:4}/{n:<4} right  {acc:6.3f}")
    for what, r in (("all sets", now["review"]), ("without the f1040 set", now["review_without_f1040"])):
        print(f"needs_review below {REVIEW_BELOW}, {what}: {r['flagged']} flagged, wrong {r['wrong_below']:.3f}; "
              f"{r['kept']} kept, wrong {r['wrong_above']:.3f}; ratio {r['ratio']:.1f}x (target >= 3)")
    head = f"\n{'set':7} {'present':>9} {'precision':>9} {'recall':>7} {'unflagged P':>11} {'unflagged R':>11}"
    print(head + ("   before: present, precision, recall" if before else ""))
    for name, s in now["sets"].items():
        line = (f"{name:7} {s['present']:4}/{s['fields']:<4} {s['precision']:9.3f} {s['recall']:7.3f} "
                f"{s['unflagged_precision']:11.3f} {s['unflagged_recall']:11.3f}")
        if before and name in before["sets"]:
            b = before["sets"][name]
            line += f"   {b['present']}/{b['fields']}, {b['precision']:.3f}, {b['recall']:.3f}"
        print(line)
    f = now["f1040"]
    print(f"\n1040, 85 widget names: {f['present']}/{f['fields']} present, {f['text_exact']}/{f['texts']} filled text values "
          f"exact, {f['boxes_right']}/{f['boxes']} boxes right" + (
              f"  (before: {before['f1040']['present']}/{before['f1040']['fields']}, {before['f1040']['text_exact']}/"
              f"{before['f1040']['texts']}, {before['f1040']['boxes_right']}/{before['f1040']['boxes']})" if before else ""))
    write_results("extract", {"limit": args.limit, "review_below": REVIEW_BELOW, "confidence": CONFIDENCE, "now": now,
                              "against": args.against, "before": before, "records": records, "root": str(ROOT)})


if __name__ == "__main__":
    main()
