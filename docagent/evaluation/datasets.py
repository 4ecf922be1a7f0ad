"""Public extraction data sets as ``docagent eval extract`` labels (JSON lines on stdout)::

    python -m docagent.evaluation.datasets sroie ../shared/data/sroie > sroie.jsonl
    python -m docagent.evaluation.datasets funsd ../shared/data/funsd > funsd.jsonl

SROIE receipts: company, date, address, total. FUNSD forms (test split): each linked question becomes a
field named after its words (``"DATE:"`` -> ``date``); a question asked twice on a form keeps its first answer.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

__all__ = ["funsd_labels", "sroie_labels"]


def sroie_labels(root: str | Path) -> list[dict[str, Any]]:
    root = Path(root)
    rows = [json.loads(line) for line in (root / "sroie_test_subset.jsonl").read_text(encoding="utf-8").splitlines() if line]
    return [{"file": str(root / r["image"]), "fields": r["key_info"], "types": {"date": "date", "total": "decimal"}}
            for r in rows]


def _field_name(question: str) -> str:
    name = "_".join(re.findall(r"[a-z0-9]+", question.lower()))
    return name if name and not name[0].isdigit() else f"field_{name}"


def funsd_labels(root: str | Path, split: str = "test") -> list[dict[str, Any]]:
    root = Path(root)
    out = []
    for line in (root / "funsd_kv_pairs.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line) if line else None
        if not row or row.get("split") != split:
            continue
        fields: dict[str, str] = {}
        for pair in row["pairs"]:
            name = _field_name(pair["question"])
            if name != "field_" and pair["answer"].strip():
                fields.setdefault(name, pair["answer"])
        if fields:
            folder = "testing_data" if split == "test" else "training_data"
            out.append({"file": str(root / folder / "images" / Path(row["image"]).name), "fields": fields})
    return out


if __name__ == "__main__":
    kind, root = sys.argv[1], sys.argv[2]
    for label in {"sroie": sroie_labels, "funsd": funsd_labels}[kind](root):
        print(json.dumps(label, ensure_ascii=False))
