"""Tables as evidence: found at indexing, exported by `docagent tables`, computed over exactly with the cells cited
(no model with --expr), given to the model as text, searched as row passages, and scored by `eval tables`."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
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
    assert "cell: Revenue / 2019 = 1,234.5 (page 1, table 1; in millions of USD)" in shown and "134500000" in shown


def test_cell_names_are_forgiving_and_a_wrong_name_lists_the_table(store: PageStore, settings: Settings,
                                                                  results: Path) -> None:
    same = chart(f"{results}:1", expression='cell("revenue", "2019") - cell("2018", "  REVENUE ")', store=store,
                 settings=settings)
    assert same.value == Fraction(134_500_000)
    wrong = chart(f"{results}:1", expression='cell("2020", "Revenue")', store=store, settings=settings)
    assert wrong.value is None
    assert "no column '2020'; closest columns: '2019', '2018'" in wrong.error  # the names it could mean, first
    wrong_row = chart(f"{results}:1", expression='cell("2019", "Capital outlays")', store=store, settings=settings)
    assert "no row 'Capital outlays'; closest rows: 'Capital expenditures'" in wrong_row.error
    said = chart(f"{results}:1", expression='cell("2019", "Capital spending")', store=store, settings=settings)
    assert said.value == Fraction(210_000_000)  # the glossary's wording of capital expenditures


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


def test_table_rows_as_passages_carry_their_headers(tmp_path: Path, embedder, results: Path) -> None:
    settings = Settings(store=tmp_path / "rows", table_passages=True)
    with PageStore(settings, embedder=embedder) as store:
        index_paths([results], store=store, progress=False)
        hits = PageRetriever(store=store, k=1).search("2018 capital expenditures", mode="dense")
        assert hits[0].text.endswith("Capital expenditures | 2019: 210.0 | 2018: 180.0")
        lexical = store.catalog.lexical(["2018", "capit", "expenditur"], 5)
        texts = [store.catalog.page_text(h.doc_id, h.page)[h.start : h.end] for h in lexical]
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
    assert re.match(r"(Most likely answer|Possible answer, check it) \(found without a model, confidence 0\.\d\d\): "
                    r"180\.0 \(results\.pdf, page 1\)", answer.text)
    assert answer.answer_span.basis == "table cell"
    tables = store.tables("results.pdf", 1)
    assert lookup("What was revenue?", tables) == []  # 2019 or 2018: the question names no column
    [(_, cell)] = lookup("Revenue in 2019", tables)
    assert cell.text == "1,234.5"


# ------------------------------------------------------------------ review defects: names that fit several cells


@pytest.fixture
def segments(store: PageStore, docs_dir: Path) -> PageStore:
    index_paths([factories.tables_pdf(docs_dir / "segments.pdf", factories.SEGMENTS)], store=store, progress=False)
    assert len(store.tables("segments.pdf", 1)) == 2
    return store


def test_a_name_that_fits_several_cells_is_refused_with_the_names_that_tell_them_apart(
        segments: PageStore, settings: Settings) -> None:
    bare = chart("segments.pdf:1", expression='cell("2019", "Revenue")', store=segments, settings=settings)
    assert bare.value is None and 'fits 3 cells: cell("table 1: 2019", "Europe Revenue"); cell("table 1: 2019", ' \
        '"Asia Revenue"); cell("table 2: 2019", "Revenue")' in bare.error
    asia = chart("segments.pdf:1", expression='cell("2019", "Asia Revenue") - cell("2018", "Asia Revenue")',
                 store=segments, settings=settings)
    assert asia.value == 50 and [c.text for c in asia.cells] == ["200", "150"]  # not Europe's 100 - 90
    items = chart("segments.pdf:1", expression='sum(col("table 1: 2019"))', store=segments, settings=settings)
    assert items.value == 180 and len(items.cells) == 4  # every row of both sections: 100 - 40 + 200 - 80
    assert "fits 2 columns" in chart("segments.pdf:1", expression='sum(col("2019"))', store=segments,
                                     settings=settings).error
    sub = chart("segments.pdf:1", expression='cell("2018", "table 2: Costs")', store=segments, settings=settings)
    assert sub.value == -2


def test_the_model_is_given_names_that_reach_every_cell(segments: PageStore, settings: Settings) -> None:
    llm = scripted({"expression": 'cell("table 1: 2019", "Asia Revenue") - cell("table 1: 2018", "Asia Revenue")'})
    answer = chart("segments.pdf:1", "How much did Asia revenue increase from 2018 to 2019?", llm=llm,
                   store=segments, settings=settings)
    assert answer.value == 50
    assert '"Europe Revenue"; "Europe Costs"' in llm.prompts[0][1].content and '"Asia Revenue"' in llm.prompts[0][1].content


def test_without_a_model_a_question_that_fits_several_cells_gets_no_single_value(
        segments: PageStore, settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCAGENT_VLM_MODEL", str(tmp_path / "no-such-model"))
    both = ask("What were the costs in 2018?", store=segments, settings=Settings(store=settings.store))
    assert both.answer_span is None
    assert both.text.startswith("Several table cells on segments.pdf page 1 fit the question: (35) (Europe Costs, 2018,"
                                " table 1); (70) (Asia Costs, 2018, table 1); (2) (Costs, 2018, table 2).")
    asia = ask("What were Asia costs in 2018?", store=segments, settings=Settings(store=settings.store))
    assert asia.answer_span is not None and asia.answer_span.text == "(70)"
    sub = ask("Subsidiary results costs 2018", store=segments, settings=Settings(store=settings.store))
    assert sub.answer_span is not None and sub.answer_span.text == "(2)"
    computed = ask("What is the sum of Asia revenue in 2019 and 2018?", store=segments, settings=Settings(store=settings.store))
    # asked in words: computed without a model over the row its words name (Revenue under Asia, not a bare Revenue)
    assert computed.answer_span is not None and computed.answer_span.kind == "computed", computed.text
    assert computed.text.startswith('Computed without a model: ') and '"Asia Revenue"' in computed.text.splitlines()[0]


def test_results_say_their_unit_scale_and_what_was_left_out(store: PageStore, settings: Settings, docs_dir: Path) -> None:
    path = factories.tables_pdf(docs_dir / "sales.pdf", [("Sales (in thousands of EUR)", ["", "2019", "2018"], [
        ["Nord", "1,234", "1,000"], ["Süd", "two", "900"], ["West", "987", "800"], ["Margin", "12%", "10%"]])])
    answer = chart(f"{path}:1", expression='cell("2019", "Nord") - cell("2018", "Nord")', store=store, settings=settings)
    assert answer.text == "234000 EUR"
    assert answer.notes == ["the table's numbers are printed in thousands of EUR; the result has that scale applied "
                            "(234 as the table prints it)"]
    total = chart(f"{path}:1", expression='sum(col("2019"))', store=store, settings=settings)
    assert "col(\"2019\") left out Süd: 'two': not a number" in total.notes
    assert total.needs_review and any(n.startswith("the cells used have different units (%, no unit)") for n in total.review)
    assert "needs review" in total.text and total.to_json()["needs_review"] is True


def test_cli_tables_refuses_a_page_given_twice_and_an_out_that_is_a_file(tmp_path: Path, results: Path) -> None:
    store = ["--store", str(tmp_path / "store")]
    code, _, err = run("tables", f"{results}:1", "--page", "2", *store)
    assert code == 2 and "give the page once" in err
    code, _, err = run("tables", str(results), "--out", str(results), *store)
    assert code == 1 and f"cannot write tables into {results}" in err and "Traceback" not in err


def test_exports_never_carry_live_formulas_or_markup() -> None:
    from docagent.types import Table, TableCell

    cells = [TableCell(0, 1, "2019", (0, 0, 1, 1)), TableCell(1, 0, "=SUM(A1)", (0, 0, 1, 1)),
             TableCell(1, 1, "-5", (0, 0, 1, 1)), TableCell(2, 0, "<script>x</script>", (0, 0, 1, 1)),
             TableCell(2, 1, "+1+2", (0, 0, 1, 1))]
    table = Table("t.pdf", 1, 0, (0, 0, 1, 1), 3, 2, 1, cells, title="Figures --> <img src=x onerror=alert(1)> <!--")
    rows = list(csv.reader(io.StringIO(table.to_csv())))
    assert rows[1:] == [["'=SUM(A1)", "-5"], ["<script>x</script>", "'+1+2"]]
    assert "<script>" not in table.to_markdown() and "&lt;script&gt;" in table.to_markdown()
    from docagent.cli import _table_heading

    assert "<img" not in _table_heading(table, "html") and "<img" not in _table_heading(table, "markdown")


def test_row_labels_centred_in_their_column_are_body_rows_not_header(docs_dir: Path) -> None:
    import pymupdf

    from docagent.ingest.pdf import PdfSource
    from docagent.ingest.tables import find_tables

    path, doc = docs_dir / "centred.pdf", pymupdf.open()
    page = doc.new_page(width=595, height=842)
    rows = [("Dataset", "Standard", "CoT"), ("PrOntoQA", "47.40", "67.80"), ("ProofWriter", "35.50", "49.17"),
            ("FOLIO", "45.09", "57.35"), ("LogicalDeduction", "40.00", "42.33")]
    for i, (label, *values) in enumerate(rows):  # labels centred in a 110 pt column, as papers set them
        y, font = 100 + 16 * i, "hebo" if i == 0 else "helv"
        page.insert_text((72 + (110 - pymupdf.get_text_length(label, font, 9)) / 2, y), label, fontsize=9, fontname=font)
        for x, v in zip((220, 300), values, strict=True):
            page.insert_text((x, y), v, fontsize=9, fontname=font)
    doc.save(path)
    doc.close()
    with PdfSource(path) as source:
        [table] = find_tables(source.read_page(0), lambda: source.rules(0))
    assert table.header_rows == 1 and table.row_labels() == ["PrOntoQA", "ProofWriter", "FOLIO", "LogicalDeduction"]
