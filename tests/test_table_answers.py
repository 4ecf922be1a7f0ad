"""Tables as evidence: found at indexing, exported by `docagent tables`, computed over exactly with the cells cited
(no model with --expr), given to the model as text, searched as row passages, and scored by `eval tables`."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from docagent.cli import main
from docagent.config import Settings
from docagent.index.indexer import index_paths
from docagent.index.store import PageStore
from docagent.retrieve import PageRetriever
from docagent.tasks.chart import chart
from docagent.tasks.qa import ask
from docagent.tasks.tables import lookup
from tests import factories
from tests.scripted import scripted


@pytest.fixture
def results(docs_dir: Path) -> Path:
    return factories.results_pdf(docs_dir / "results.pdf")


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def word_box(store: PageStore, doc: str, page: int, text: str) -> tuple[float, float, float, float]:
    words = [w for w in store.page(doc, page).words if w.text == text]
    assert len(words) == 1, f"{text!r} is printed {len(words)} times"
    return words[0].box


def inside(inner: tuple[float, ...], outer: tuple[float, ...], slack: float = 1.0) -> bool:
    return (inner[0] >= outer[0] - slack and inner[1] >= outer[1] - slack
            and inner[2] <= outer[2] + slack and inner[3] <= outer[3] + slack)


def test_an_expression_over_named_cells_computes_exactly_and_cites_each_cell_with_its_box(
        store: PageStore, settings: Settings, results: Path) -> None:
    answer = chart(f"{results}:1", expression='cell("2019", "Revenue") - cell("2018", "Revenue")', store=store,
                   settings=settings)
    assert answer.error == "" and answer.source == "table"
    assert answer.value == Fraction(134_500_000)  # "in millions" in the caption: 1,234.5 - 1,100.0 millions
    used = {(c.row, c.column): c for c in answer.cells}
    assert set(used) == {("Revenue", "2019"), ("Revenue", "2018")}
    assert used[("Revenue", "2019")].text == "1,234.5" and used[("Revenue", "2019")].value == Decimal("1234500000")
    for (_, _), cell in used.items():  # each cited box is where that number is printed
        assert inside(word_box(store, "results.pdf", 1, cell.text), cell.box)
    shown = answer.explain()
    assert "cell: Revenue / 2019 = 1,234.5 (page 1, table 1)" in shown and "134500000" in shown


def test_cell_names_are_forgiving_and_a_wrong_name_lists_the_table(store: PageStore, settings: Settings,
                                                                  results: Path) -> None:
    same = chart(f"{results}:1", expression='cell("revenue", "2019") - cell("2018", "  REVENUE ")', store=store,
                 settings=settings)
    assert same.value == Fraction(134_500_000)
    wrong = chart(f"{results}:1", expression='cell("2020", "Revenue")', store=store, settings=settings)
    assert wrong.value is None
    assert "'2019', '2018'" in wrong.error and "'Capital expenditures'" in wrong.error


def test_a_column_sum_adds_the_items_not_their_total_and_parentheses_are_negative(
        store: PageStore, settings: Settings, results: Path) -> None:
    answer = chart(f"{results}:1", expression='sum(col("2019"))', store=store, settings=settings)
    assert answer.value == Fraction(987_800_000)  # 1,234.5 - 456.7 + 210.0, the Total row left out
    assert answer.value == chart(f"{results}:1", expression='cell("2019", "Total")', store=store,
                                 settings=settings).value
    assert {c.row for c in answer.cells} == {"Revenue", "Cost of sales", "Capital expenditures"}


def test_cli_chart_expr_needs_no_model_and_says_when_a_page_has_no_table(tmp_path: Path, results: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCAGENT_VLM_MODEL", str(tmp_path / "no-such-model"))  # loading a model would fail
    store = ["--store", str(tmp_path / "store")]
    code, out, _ = run("chart", f"{results}:1", "--expr", 'cell("2019","Revenue") - cell("2018","Revenue")', "--json", *store)
    data = json.loads(out)
    assert code == 0 and data["exact"] == "134500000" and data["source"] == "table"
    assert [c["text"] for c in data["cells"]] == ["1,234.5", "1,100.0"]
    code, out, _ = run("chart", "results.pdf:2", "--expr", 'cell("2019","Revenue")', *store)
    assert code == 1 and "results.pdf page 2 has no tables; tables were found on page 1: an expression" in out
    code, _, err = run("chart", "results.pdf:1", *store)
    assert code == 2 and "--expr" in err


def test_the_model_writes_an_expression_over_the_found_table_instead_of_transcribing(
        store: PageStore, settings: Settings, results: Path) -> None:
    llm = scripted({"expression": 'percent_change(cell("2018", "Capital expenditures"), cell("2019", "Capital expenditures"))'})
    answer = chart(f"{results}:1", "By what percent did capital expenditures grow from 2018 to 2019?", llm=llm,
                   store=store, settings=settings)
    assert answer.source == "table" and answer.unit == "%"
    assert answer.value == Fraction(30, 180) * 100
    assert len(llm.prompts) == 1  # one call: the expression; no transcription of the image
    prompt = llm.prompts[0][1].content
    assert "| Capital expenditures | 210.0 | 180.0 |" in prompt and "in millions of USD" in prompt
    assert "image" not in str(prompt)
    assert [c.text for c in answer.cells] == ["180.0", "210.0"]


def test_ask_computes_from_the_table_and_cites_the_cells_boxes(store: PageStore, settings: Settings,
                                                               results: Path) -> None:
    index_paths([results], store=store, progress=False)
    llm = scripted({"expression": 'cell("2019", "Revenue") - cell("2018", "Revenue")'})
    answer = ask("How much did revenue increase from 2018 to 2019?", llm=llm, store=store, settings=settings)
    assert answer.text.startswith("134500000") and not answer.abstained
    [citation] = answer.citations
    page = store.page("results.pdf", 1)
    assert len(citation.boxes) == 2  # the two cells read, nothing else
    for text, box in zip(("1,234.5", "1,100.0"), citation.boxes, strict=True):
        assert inside(page.to_pixels(word_box(store, "results.pdf", 1, text)), box, 2)


def test_the_model_reading_a_page_gets_its_tables_as_text(store: PageStore, settings: Settings, results: Path) -> None:
    index_paths([results], store=store, progress=False)
    llm = scripted("Capital expenditures were 210.0 million USD in 2019 [1].")
    ask("What were capital expenditures in 2019?", llm=llm, store=store, settings=settings, k=1)
    blocks = [b["text"] for b in llm.prompts[0][1].content if b["type"] == "text"]
    table = next(b for b in blocks if b.startswith("Tables on this page, as extracted"))
    assert "| Capital expenditures | 210.0 | 180.0 |" in table and "in millions of USD" in table


def test_cli_tables_exports_every_format_and_files(tmp_path: Path, results: Path) -> None:
    store = ["--store", str(tmp_path / "store")]
    code, out, _ = run("tables", str(results), "--format", "csv", *store)
    assert code == 0 and out.startswith("# results.pdf page 1, table 1")
    rows = list(csv.reader(line for line in out.splitlines() if not line.startswith("#")))
    assert ["Capital expenditures", "210.0", "180.0"] in rows and any(r[1:] == ["2019", "2018"] for r in rows)
    code, out, _ = run("tables", "results.pdf", "--format", "json", *store)
    data = json.loads(out)
    [table] = data["tables"]
    assert table["column_headers"][1:] == ["2019", "2018"] and table["scale"] == "1000000"
    code, out, _ = run("tables", "results.pdf", "--out", str(tmp_path / "out"), "--format", "html", *store)
    written = sorted((tmp_path / "out").iterdir())
    assert code == 0 and [p.name for p in written] == ["results.pdf-p1-t1.html"]
    assert "<td>(456.7)</td>" in written[0].read_text() and f"wrote {written[0]}" in out
    code, _, err = run("tables", "results.pdf:2", *store)
    assert code == 1 and "results.pdf page 2 has no tables; tables were found on page 1" in err


def test_tables_are_replaced_and_removed_with_their_document(store: PageStore, results: Path) -> None:
    index_paths([results], store=store, progress=False)
    first = store.tables("results.pdf")[0]
    assert first.at(first.header_rows, 1).text == "1,234.5"
    factories.results_pdf(results, [("Revenue", "2,000.0", "1,234.5"), *factories.RESULTS[1:]])
    index_paths([results], store=store, progress=False)
    [table] = store.tables("results.pdf")
    assert [c.text for c in table.body() if c.row == table.header_rows] == ["Revenue", "2,000.0", "1,234.5"]
    store.remove(["results.pdf"])
    assert store.catalog.db.execute("SELECT count(*) FROM tables").fetchone()[0] == 0


def test_table_rows_as_passages_carry_their_headers(tmp_path: Path, embedder, results: Path) -> None:  # noqa: ANN001
    settings = Settings(store=tmp_path / "rows", table_passages=True)
    with PageStore(settings, embedder=embedder) as store:
        index_paths([results], store=store, progress=False)
        hits = PageRetriever(store=store, k=1).search("2018 capital expenditures", mode="dense")
        assert hits[0].text.endswith("Capital expenditures | 2019: 210.0 | 2018: 180.0")
        lexical = store.catalog.lexical(["2018", "capit", "expenditur"], 5)
        texts = [store.catalog.page_text(d, p)[a:b] for d, p, a, b, _ in lexical]
        assert any(t.startswith("Capital expenditures") for t in texts)  # the row's span in the page text


def test_eval_tables_scores_cells_against_labels(tmp_path: Path, results: Path) -> None:
    good = {"doc": "results.pdf", "page": 1, "header": [["", "2019", "2018"]],
            "rows": [list(r) for r in factories.RESULTS]}
    bad = {**good, "rows": [["Revenue", "1,234.5", "999"], *good["rows"][1:]]}
    labels = results.parent / "labels.jsonl"
    store = ["--store", str(tmp_path / "store")]
    labels.write_text(json.dumps(good) + "\n")
    code, out, _ = run("eval", "tables", str(labels), "--json", *store)
    score = json.loads(out)
    assert code == 0 and score["f1"] == 1.0
    labels.write_text(json.dumps(bad) + "\n")
    code, out, _ = run("eval", "tables", str(labels), "--json", *store)
    assert json.loads(out)["recall"] == pytest.approx(7 / 8)


def test_a_store_from_before_tables_is_upgraded_and_its_documents_read_again(tmp_path: Path, results: Path) -> None:
    store = ["--store", str(tmp_path / "store")]
    assert run("index", str(results), *store)[0] == 0
    with PageStore(Settings(store=tmp_path / "store")) as st:  # as a docagent of layout 2 left it: no tables
        st.catalog.db.execute("DROP TABLE tables")
        st.catalog.db.execute("UPDATE meta SET value = '2' WHERE key = 'schema'")
        st.catalog.db.execute("UPDATE cards SET version = 1")
    code, _, err = run("tables", "results.pdf", *store)
    assert code == 1 and "index it again to find its tables" in err
    code, out, _ = run("index", str(results), *store)
    assert code == 0 and "indexed 1 documents" in out  # the same file, read again for its tables
    code, out, _ = run("tables", "results.pdf", *store)
    assert code == 0 and "| Capital expenditures | 210.0 | 180.0 |" in out


def test_without_a_model_the_cell_a_question_names_by_row_and_column_is_the_answer(
        store: PageStore, settings: Settings, results: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    index_paths([results], store=store, progress=False)
    monkeypatch.setenv("DOCAGENT_VLM_MODEL", str(results.parent / "no-such-model"))
    answer = ask("What were capital expenditures in 2018?", store=store, settings=Settings(store=settings.store))
    assert answer.mode == "retrieval-only" and not answer.abstained
    assert answer.answer_span is not None and answer.answer_span.text == "180.0"  # not 210.0, the 2019 value
    page = store.page("results.pdf", 1)
    assert inside(page.to_pixels(word_box(store, "results.pdf", 1, "180.0")), answer.answer_span.box, 2)
    assert answer.text.startswith("Most likely answer (found without a model): 180.0 (results.pdf, page 1)")
    tables = store.tables("results.pdf", 1)
    assert lookup("What was revenue?", tables) is None  # 2019 or 2018: the question does not say which cell
    assert lookup("Revenue in 2019", tables)[1].text == "1,234.5"
