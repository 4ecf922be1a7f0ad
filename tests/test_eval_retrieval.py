"""`docagent eval retrieval`: the metrics, the label format, the command."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from docagent.cli import main
from docagent.errors import ConfigError, DocagentError
from docagent.evaluation.retrieval import Query, evaluate_retrieval, load_qrels, score_rankings
from tests import factories


def q(qid: str, *relevant: tuple[str, int]) -> Query:
    return Query(qid, f"question {qid}", frozenset(relevant))


def test_metrics_by_hand() -> None:
    rankings = [
        (q("a", ("d", 1)), [("d", 1), ("d", 2)]),  # found at 1
        (q("b", ("d", 7), ("d", 3)), [("d", 1), ("d", 2), ("d", 3)]),  # found at 3 (any relevant page counts)
        (q("c", ("d", 9)), [("d", i) for i in range(1, 12)]),  # found at 9
        (q("d", ("e", 1)), [("d", 1)]),  # not found
    ]
    m = score_rankings(rankings)
    assert (m.recall_at_1, m.recall_at_5, m.recall_at_10, m.questions) == (0.25, 0.5, 0.75, 4)
    assert m.mrr_at_10 == pytest.approx((1 + 1 / 3 + 1 / 9) / 4)
    assert m.doc_at_1 == 0.75  # the last question's top page is in another document
    assert m.to_json() == {"recall@1": 0.25, "recall@5": 0.5, "recall@10": 0.75, "mrr@10": m.mrr_at_10, "doc@1": 0.75}


def test_labels_are_validated_with_line_numbers(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    good = {"qid": "1", "question": "x?", "relevant": [{"doc": "a.pdf", "page": 2}], "scope": "a.pdf"}
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps({"qid": "2", "question": "y?", "relevant": []}) + "\n")
    queries, skipped = load_qrels(path)
    assert queries == [Query("1", "x?", frozenset({("a.pdf", 2)}), ("a.pdf",))] and skipped == 1
    path.write_text(json.dumps(good) + "\n{not json\n" + json.dumps({**good, "relevant": [{"doc": "a.pdf", "page": 0}]}) + "\n")
    with caplog.at_level("WARNING"):
        queries, skipped = load_qrels(path)
    assert len(queries) == 1 and skipped == 2
    assert "q.jsonl line 2 skipped" in caplog.text and "q.jsonl line 3 skipped" in caplog.text and "1-based" in caplog.text
    path.write_text("{not json\n")
    with pytest.raises(ConfigError, match="no question with relevant pages"):
        load_qrels(path)


def test_a_scope_may_list_several_documents(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    row = {"qid": "1", "question": "x?", "relevant": [{"doc": "a.pdf", "page": 2}]}
    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [
        {**row, "scope": ["a.pdf", "b.pdf"]},  # several: searched within those
        {**row, "qid": "2", "scope": ["a.pdf"]},  # a list of one is that document
        {**row, "qid": "3", "scope": []},  # none: every document
        {**row, "qid": "4", "scope": 7},
        {**row, "qid": "5", "scope": ["a.pdf", {"doc": "b.pdf"}]},
    ]))
    with caplog.at_level("WARNING"):
        queries, skipped = load_qrels(path)
    assert skipped == 2 and "q.jsonl line 4 skipped" in caplog.text and "q.jsonl line 5 skipped" in caplog.text
    assert "the scope must be a document name or a list of document names, not 7" in caplog.text
    searched: list[list[str] | None] = []

    def search(query: Query, mode: str) -> list[tuple[str, int]]:
        searched.append(query.docs)
        return [("a.pdf", 2)]

    with pytest.raises(DocagentError, match="not indexed: b.pdf"):
        evaluate_retrieval(queries, search, ["hybrid"], known_docs={"a.pdf"})
    report = evaluate_retrieval(queries, search, ["hybrid"], known_docs={"a.pdf", "b.pdf"})
    assert report.questions == 3 and report.modes["hybrid"].recall_at_1 == 1.0
    assert searched == [["a.pdf", "b.pdf"], ["a.pdf"], None]
    assert [q.scope for q in queries] == [("a.pdf", "b.pdf"), ("a.pdf",), ()]


def test_documents_missing_from_the_store_are_named() -> None:
    with pytest.raises(DocagentError, match="not indexed: b.pdf"):
        evaluate_retrieval([q("a", ("b.pdf", 1))], lambda query, mode: [], ["hybrid"], known_docs={"a.pdf"})


def test_eval_command_end_to_end(capfd: pytest.CaptureFixture[str], docs_dir: Path, tmp_path: Path) -> None:
    factories.text_pdf(docs_dir / "zoo.pdf", ["Opening hours: 9 to 17 daily.", "The penguins are fed at 14:30 near the pond.", "Ticket prices: adults 18 EUR."])
    factories.text_pdf(docs_dir / "farm.pdf", ["Goats and sheep graze in the north field.", "Milking starts at 5 in the morning."])
    store = str(tmp_path / "store")
    assert main(["index", str(docs_dir), "--store", store, "-q"]) == 0
    labels = tmp_path / "qrels.jsonl"
    rows = [
        {"qid": "1", "question": "when are the penguins fed?", "relevant": [{"doc": "zoo.pdf", "page": 2}], "scope": "zoo.pdf"},
        {"qid": "2", "question": "how much is an adult ticket", "relevant": [{"doc": "zoo.pdf", "page": 3}]},
        {"qid": "3", "question": "what time does milking begin", "relevant": [{"doc": "farm.pdf", "page": 2}]},
    ]
    labels.write_text("".join(json.dumps(r) + "\n" for r in rows))
    capfd.readouterr()
    assert main(["eval", "retrieval", str(labels), "--store", store, "--json", "--compare-modes"]) == 0
    out = json.loads(capfd.readouterr().out)
    assert out["questions"] == 3 and set(out["modes"]) == {"hybrid", "dense", "lexical"}
    assert set(out["modes"]["hybrid"]) == {"recall@1", "recall@5", "recall@10", "mrr@10", "doc@1"}
    assert out["modes"]["hybrid"]["recall@5"] == 1.0 and out["modes"]["hybrid"]["recall@1"] >= 2 / 3
    # a scope listing several documents (it once crashed the command with a traceback)
    scoped = tmp_path / "scoped.jsonl"
    scoped.write_text(json.dumps({**rows[0], "scope": ["zoo.pdf", "farm.pdf"]}) + "\n")
    assert main(["eval", "retrieval", str(scoped), "--store", store, "--json", "--mode", "lexical"]) == 0
    assert json.loads(capfd.readouterr().out)["modes"]["lexical"]["recall@5"] == 1.0
    # --by-kind: each kind's scores beside the totals, in JSON and in the table
    labels.write_text("".join(json.dumps({**r, "kind": "zoo" if r["qid"] != "3" else "farm"}) + "\n" for r in rows))
    assert main(["eval", "retrieval", str(labels), "--store", store, "--json", "--by-kind", "--mode", "lexical"]) == 0
    lexical = json.loads(capfd.readouterr().out)["modes"]["lexical"]
    assert set(lexical["by_kind"]) == {"farm", "zoo"} and lexical["by_kind"]["zoo"]["questions"] == 2
    assert set(lexical["by_kind"]["zoo"]) == {"recall@1", "recall@5", "recall@10", "mrr@10", "doc@1", "questions"}
    assert main(["eval", "retrieval", str(labels), "--store", store, "--by-kind", "--mode", "lexical"]) == 0
    text = capfd.readouterr().out
    assert text.startswith("3 questions\nmode     ") and "\nlexical by kind\n" in text
    assert re.search(r"\nzoo +2 +\d\.\d{3} ", text) and re.search(r"\nfarm +1 +\d\.\d{3} ", text)
