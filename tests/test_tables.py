"""Table detection and structure on real PDF pages drawn by PyMuPDF (born-digital) and on their scans read by
RapidOCR; continuation across pages; pages that hold no table; parsing numbers and scales; the scorer."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pymupdf
import pytest

from docagent.errors import ConfigError
from docagent.evaluation.tables import TableLabel, label_table, load_table_labels, score_tables, seal_labels
from docagent.ingest.pdf import PdfSource
from docagent.ingest.tables import find_tables, link_continuations, parse_number, scale_of
from docagent.types import Page, Table, Word
from tests.table_factory import MARGIN, PAGE_H, PAGE_W, Style, TableSpec, draw_table, non_table_pages, scan_of

# -- numbers and scales -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "number", "unit"), [
    ("1,234.5", "1234.5", ""),
    ("1 234", "1234", ""),
    ("(1,234)", "-1234", ""),
    ("-56", "-56", ""),
    ("\u2212 7.25", "-7.25", ""),
    ("\u201312", "-12", ""),
    ("12.5%", "12.5", "%"),
    ("(3.1)%", "-3.1", "%"),
    ("$3.2", "3.2", "$"),
    ("$ (45)", "-45", "$"),
    ("\u20ac1.234", "1.234", "EUR"),
    ("\u00a3 99", "99", "GBP"),
    ("USD 1,000", "1000", "USD"),
    ("1,000 EUR", "1000", "EUR"),
    ("42(a)", "42", ""),
    ("17*", "17", ""),
    ("2019", "2019", ""),
])
def test_parse_number_reads_what_a_cell_states(text: str, number: str, unit: str) -> None:
    assert parse_number(text) == (Decimal(number), unit)


@pytest.mark.parametrize("text", ["—", "–", "-", "n/a", "N/A", "", "()", "$", "(-)", "Revenue", "12 months", "1,23,4",
                                  "Q3 2019"])
def test_parse_number_finds_no_number_in_dashes_and_words(text: str) -> None:
    assert parse_number(text) == (None, "")


def test_parse_number_scales_amounts_but_not_percentages() -> None:
    assert parse_number("(1,234)", Decimal(1000)) == (Decimal(-1234000), "")
    assert parse_number("$3.2", Decimal(10) ** 6) == (Decimal("3200000.0"), "$")
    assert parse_number("12.5%", Decimal(10) ** 6) == (Decimal("12.5"), "%")


@pytest.mark.parametrize(("text", "factor", "said"), [
    ("Consolidated results (in millions)", 10**6, "in millions"),
    ("in thousands of euros", 1000, "in thousands of euros"),
    ("Key figures ($ in billions)", 10**9, "$ in billions"),
    ("Headcount (000s)", 1000, "000s"),
    ("Revenue '000", 1000, "'000"),
    ("(In millions, except per share data)", 10**6, "In millions, except per share data"),
    ("Revenue by region", 1, ""),
    ("Millions of customers rely on us", 1, ""),
])
def test_scale_of_reads_the_stated_scale(text: str, factor: int, said: str) -> None:
    assert scale_of(text) == (Decimal(factor), said)


# -- born-digital -------------------------------------------------------------------------------------------------

FIGURES = TableSpec(
    header=[["", "2019", "2018", "2017"]],
    rows=[["Revenue", "1,234", "1,100", "987"], ["Cost of sales", "(456)", "(420)", "(401)"],
          ["Gross profit", "778", "680", "586"], ["Operating expenses", "(310)", "—", "(288)"]],
    title="Income statement",
)
SPANNING = TableSpec(
    header=[["", "2019", "2019", "2018", "2018"], ["", "Q1", "Q2", "Q1", "Q2"]],
    rows=[["Revenue", "310", "325", "290", "301"], ["Net income", "41", "(3)", "38", "36"],
          ["Employees", "1,020", "1,045", "990", "1,001"]],
    title="Quarterly results",
    spans={(0, 1): 2, (0, 3): 2},
)
MULTILINE = TableSpec(
    header=[["", "2021", "2020"]],
    rows=[["Net cash provided by operating activities of continuing operations", "5,120", "4,870"],
          ["Purchases of property, plant and equipment and other intangible assets", "(1,215)", "(1,007)"],
          ["Dividends paid", "(640)", "(610)"], ["Total", "3,265", "3,253"]],
    title="Cash flow summary",
)
UNITS = TableSpec(
    header=[["", "Margin", "Revenue", "Growth"]],
    rows=[["Europe", "12.5%", "$3.2", "(1.5)%"], ["Americas", "9.0%", "$4.1", "2.0%"], ["Asia", "15.2%", "€1.7", "7.4%"]],
    title="Segments ($ in billions)",
)


def _pdf(path: Path, spec: TableSpec, style: Style, *, prose: bool = True) -> Path:
    """One page: a paragraph, ``spec`` in ``style`` below it, a paragraph after."""
    doc = pymupdf.open()
    page = doc.new_page(width=PAGE_W, height=PAGE_H)
    text = ("The group grew in every region during the year, while costs rose with energy prices. "
            "Management expects the trend to continue next year as new products reach the market.")
    page.insert_textbox(pymupdf.Rect(MARGIN, MARGIN, PAGE_W - MARGIN, MARGIN + 60), text, fontsize=10)
    y = draw_table(page, spec, MARGIN, MARGIN + 80, style)
    if prose:
        page.insert_textbox(pymupdf.Rect(MARGIN, y + 20, PAGE_W - MARGIN, y + 80), text, fontsize=10)
    doc.save(path)
    doc.close()
    return path


def _tables(path: Path) -> list[Table]:
    with PdfSource(path) as src:
        return find_tables(src.read_page(0), src.rules(0))


def _one(path: Path) -> Table:
    tables = _tables(path)
    assert len(tables) == 1, [t.to_markdown() for t in tables]
    return tables[0]


def _grid(spec: TableSpec) -> list[list[str]]:
    return [*spec.header, *spec.rows]


@pytest.mark.parametrize("ruled", ["none", "grid", "rules"])
def test_a_table_of_figures_is_read_cell_by_cell_ruled_or_not(tmp_path: Path, ruled: str) -> None:
    table = _one(_pdf(tmp_path / "t.pdf", FIGURES, Style(ruled=ruled)))
    assert (table.rows, table.cols, table.header_rows) == (5, 4, 1)
    assert table.grid() == _grid(FIGURES)
    assert table.title == "Income statement"
    assert table.doc == "t.pdf" and table.page == 1 and table.index == 0
    cell = table.at(2, 1)
    assert cell is not None and cell.number == Decimal(-456) and cell.text == "(456)"
    dash = table.at(4, 2)
    assert dash is not None and dash.text == "—" and dash.number is None
    x0, y0, x1, y1 = cell.box
    assert 56 + 170 < x0 < x1 < 56 + 170 + 70 and 80 < y0 < y1 < 842 / 2  # in its column, below the prose


def test_a_spanning_header_heads_every_column_under_it(tmp_path: Path) -> None:
    table = _one(_pdf(tmp_path / "t.pdf", SPANNING, Style(ruled="rules")))
    assert table.header_rows == 2
    assert table.column_headers() == ["", "2019 Q1", "2019 Q2", "2018 Q1", "2018 Q2"]
    years = sorted((c.col, c.col_span, c.text) for c in table.cells if c.row == 0 and c.text)
    assert years == [(1, 2, "2019"), (3, 2, "2018")]
    assert table.triples()[:2] == [("Revenue", "2019 Q1", "310"), ("Revenue", "2019 Q2", "325")]


def test_a_spanning_header_without_rules_is_told_by_its_repeating_subheads(tmp_path: Path) -> None:
    table = _one(_pdf(tmp_path / "t.pdf", SPANNING, Style(ruled="none", font="tiro")))
    assert table.column_headers() == ["", "2019 Q1", "2019 Q2", "2018 Q1", "2018 Q2"]


@pytest.mark.parametrize("values_on", ["first", "last"])
def test_a_label_wrapped_over_lines_is_one_row(tmp_path: Path, values_on: str) -> None:
    table = _one(_pdf(tmp_path / "t.pdf", MULTILINE, Style(label_width=150, values_on=values_on)))
    assert table.row_labels() == [r[0] for r in MULTILINE.rows]
    assert table.grid() == _grid(MULTILINE)
    total = table.at(4, 1)
    assert total is not None and total.number == Decimal(3265)


def test_percentages_currencies_and_the_captions_scale(tmp_path: Path) -> None:
    table = _one(_pdf(tmp_path / "t.pdf", UNITS, Style(ruled="grid")))
    assert (table.scale, table.scale_text) == (Decimal(10) ** 9, "$ in billions")
    cells = {(c.row, c.col): c for c in table.cells}
    assert (cells[1, 1].number, cells[1, 1].unit) == (Decimal("12.5"), "%")
    assert (cells[1, 2].number, cells[1, 2].unit) == (Decimal("3.2") * 10**9, "$")
    assert (cells[3, 2].number, cells[3, 2].unit) == (Decimal("1.7") * 10**9, "EUR")
    assert (cells[1, 3].number, cells[1, 3].unit) == (Decimal("-1.5"), "%")


def test_two_tables_on_a_page_come_top_to_bottom(tmp_path: Path) -> None:
    doc = pymupdf.open()
    page = doc.new_page(width=PAGE_W, height=PAGE_H)
    y = draw_table(page, FIGURES, MARGIN, MARGIN, Style())
    page.insert_textbox(pymupdf.Rect(MARGIN, y + 10, PAGE_W - MARGIN, y + 60),
                        "Segment results are shown below, before the eliminations between segments.", fontsize=10)
    draw_table(page, UNITS, MARGIN, y + 70, Style(ruled="rules"))
    doc.save(tmp_path / "two.pdf")
    tables = _tables(tmp_path / "two.pdf")
    assert [t.title for t in tables] == ["Income statement", "Segments ($ in billions)"]
    assert [t.index for t in tables] == [0, 1]
    assert tables[0].box[3] < tables[1].box[1]


def _two_pages(path: Path, repeat: bool) -> Path:
    spec = TableSpec([["", "2019", "2018"]], [[f"Line {i}", f"{100 + i}", f"({200 + i})"] for i in range(12)])
    doc = pymupdf.open()
    page = doc.new_page(width=PAGE_W, height=PAGE_H)
    page.insert_textbox(pymupdf.Rect(MARGIN, MARGIN, PAGE_W - MARGIN, 650), "Results. " * 200, fontsize=10)
    draw_table(page, spec, MARGIN, 680, Style(), rows=slice(0, 6))
    page = doc.new_page(width=PAGE_W, height=PAGE_H)
    y = draw_table(page, spec, MARGIN, MARGIN, Style(), rows=slice(6, None), header=repeat)
    page.insert_textbox(pymupdf.Rect(MARGIN, y + 20, PAGE_W - MARGIN, y + 80), "The table ends here.", fontsize=10)
    doc.save(path)
    doc.close()
    return path


@pytest.mark.parametrize("repeat", [False, True])
def test_a_table_broken_across_pages_is_linked(tmp_path: Path, repeat: bool) -> None:
    with PdfSource(_two_pages(tmp_path / "long.pdf", repeat)) as src:
        pages = [src.read_page(i) for i in range(2)]
        first, second = (find_tables(p, src.rules(i)) for i, p in enumerate(pages))
    link_continuations(first, pages[0], second, pages[1])
    assert first[0].continues_on == (2, 0) and second[0].continued_from == (1, 0)
    assert second[0].row_labels()[0] == "Line 6"
    assert second[0].column_headers() == ["", "2019", "2018"]
    if repeat:
        assert second[0].header_rows == 1 and second[0].inherited_header == []
    else:
        assert second[0].header_rows == 0 and second[0].inherited_header == ["", "2019", "2018"]
        assert second[0].triples()[0] == ("Line 6", "2019", "106")


def test_tables_that_do_not_line_up_are_not_linked(tmp_path: Path) -> None:
    with PdfSource(_two_pages(tmp_path / "long.pdf", False)) as src:
        pages = [src.read_page(i) for i in range(2)]
        first = find_tables(pages[0], src.rules(0))
    other = _tables(_pdf(tmp_path / "other.pdf", SPANNING, Style(), prose=False))
    link_continuations(first, pages[0], other, pages[1])
    assert first[0].continues_on is None and other[0].continued_from is None


def test_pages_of_prose_lists_columns_and_forms_hold_no_table(tmp_path: Path) -> None:
    with PdfSource(non_table_pages(tmp_path / "none.pdf")) as src:
        found = {i + 1: find_tables(src.read_page(i), src.rules(i)) for i in range(src.page_count)}
    assert found == {1: [], 2: [], 3: [], 4: []}


def test_rules_are_the_pages_lines_and_box_edges(tmp_path: Path) -> None:
    with PdfSource(_pdf(tmp_path / "grid.pdf", FIGURES, Style(ruled="grid"))) as src:
        rules = src.rules(0)
    horizontal = [r for r in rules if r[3] - r[1] < 1]
    vertical = [r for r in rules if r[2] - r[0] < 1]
    assert len(horizontal) == 6 and len(vertical) == 5  # 5 rows + the top; 4 columns + the right edge


def test_sources_without_drawings_have_no_rules(tmp_path: Path) -> None:
    from PIL import Image

    from docagent.ingest.images import ImageSource

    Image.new("RGB", (200, 100), "white").save(tmp_path / "scan.png")
    with ImageSource(tmp_path / "scan.png") as src:
        assert src.rules(0) == []


def test_rules_can_be_read_only_when_a_page_has_a_candidate(tmp_path: Path) -> None:
    asked: list[int] = []
    with PdfSource(non_table_pages(tmp_path / "none.pdf")) as src:
        find_tables(src.read_page(0), lambda: asked.append(0) or src.rules(0))
    with PdfSource(_pdf(tmp_path / "t.pdf", FIGURES, Style(ruled="grid"))) as src:
        table = _one(tmp_path / "t.pdf")
        lazy = find_tables(src.read_page(0), lambda: asked.append(1) or src.rules(0))
    assert asked == [1]
    assert lazy[0].grid() == table.grid()


# -- scanned --------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Page:
    """One page holding three tables (unruled figures, a spanning header, wrapped labels), scanned and read by
    RapidOCR the way the indexer reads an image-only page."""
    from docagent.ingest import get_ocr_engine

    engine = get_ocr_engine("auto")
    if engine is None:
        pytest.skip("no OCR engine installed")
    folder = tmp_path_factory.mktemp("scanned")
    doc = pymupdf.open()
    page = doc.new_page(width=PAGE_W, height=PAGE_H)
    y = draw_table(page, FIGURES, MARGIN, MARGIN, Style(size=10))
    y = draw_table(page, SPANNING, MARGIN, y + 40, Style(size=10))
    draw_table(page, MULTILINE, MARGIN, y + 40, Style(size=10, label_width=190, ruled="grid"))
    doc.save(folder / "born.pdf")
    doc.close()
    scan = scan_of(folder / "born.pdf", folder / "scan.pdf", seed=3)
    with PdfSource(scan) as src:
        page_ = src.read_page(0)
        scale = page_.image_scale
        lines = engine(src.render(0, scale))
    page_.words = [Word(w.text, tuple(c / scale for c in w.box)) for line in lines for w in line]  # type: ignore[misc]
    page_.ocr = True
    return page_


@pytest.mark.slow
def test_scanned_tables_are_found_from_ocr_words(scanned: Page) -> None:
    tables = find_tables(scanned)
    assert [t.title for t in tables] == ["Income statement", "Quarterly results", "Cash flow summary"]
    labels = [TableLabel("scan.pdf", 1, spec.header, spec.rows) for spec in (FIGURES, SPANNING, MULTILINE)]
    score = score_tables({("scan.pdf", 1): tables}, labels)
    assert score.f1 >= 0.9, [t.to_markdown() for t in tables]


def test_a_scanned_spanning_header_and_wrapped_labels(scanned: Page) -> None:
    _, spanning, multiline = find_tables(scanned)
    assert spanning.column_headers() == ["", "2019 Q1", "2019 Q2", "2018 Q1", "2018 Q2"]
    assert multiline.row_labels()[:2] == [MULTILINE.rows[0][0], MULTILINE.rows[1][0]]
    assert multiline.at(2, 1) is not None and multiline.at(2, 1).number == Decimal(-1215)


# -- the scorer and the label format --------------------------------------------------------------------------------

def test_labels_load_and_a_continuation_inherits_the_header(tmp_path: Path) -> None:
    lines = [
        {"doc": "r.pdf", "page": 1, "header": [["", "2019", "2019"], ["", "Q1", "Q2"]], "rows": [["Revenue", "1", "2"]]},
        {"doc": "r.pdf", "page": 2, "header": [], "rows": [["Costs", "(3)", "4"]], "continued_from_previous": True},
        {"doc": "r.pdf", "page": 0, "rows": [["bad page", "1"]]},
    ]
    (tmp_path / "labels.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n")
    labels = load_table_labels(tmp_path / "labels.jsonl")
    assert [(lab.page, lab.continued_from_previous) for lab in labels] == [(1, False), (2, True)]
    first = label_table(labels[0])
    assert first.triples() == [("Revenue", "2019 Q1", "1"), ("Revenue", "2019 Q2", "2")]
    assert [(c.col, c.col_span) for c in first.cells if c.row == 0] == [(1, 2)]
    predicted = Table("r.pdf", 2, 0, (0, 0, 1, 1), 1, 3, 0, label_table(labels[1]).cells,
                      inherited_header=["", "2019 Q1", "2019 Q2"])
    score = score_tables({("r.pdf", 1): [first], ("r.pdf", 2): [predicted]}, labels)
    assert (score.precision, score.recall, score.matched) == (1.0, 1.0, 4)


def test_scores_count_triples_matching_numbers_by_value() -> None:
    gold = TableLabel("d.pdf", 3, [["", "2019", "2018"]],
                      [["Revenue", "1,234", "(56)"], ["Net income", "-", "7"], ["Margin", "12%", "n/a"]])
    found = label_table(TableLabel("d.pdf", 3, [["", "FY 2019", "2018."]],  # headers differ: 2 triples lost
                                   [["revenue", "1234", "-56"], ["Net  income", "—", "7.0"], ["Margin", "13%", ""]]))
    score = score_tables({("d.pdf", 3): [found]}, [gold])
    # gold: 6 triples; found: 5; matched: (revenue, 2018, -56), (net income, 2018, 7) and nothing under "FY 2019"
    assert (score.gold, score.found, score.matched) == (6, 5, 2)
    assert score.precision == pytest.approx(2 / 5) and score.recall == pytest.approx(2 / 6)
    assert score.f1 == pytest.approx(2 * 0.4 * (1 / 3) / (0.4 + 1 / 3))
    assert score.tables_labelled == 1 and score.tables_found == 1 and score.pages == 1
    assert json.loads(json.dumps(score.to_json()))["per_page"][0]["matched"] == 2
    assert "0.364" in score.table()


def test_sealed_labels_score_as_the_plain_ones_and_hold_no_text(tmp_path: Path) -> None:
    plain = [
        TableLabel("d.pdf", 3, [["", "2019", "2018"]], [["Revenue", "1,234", "(56)"], ["Net income", "-", "7"]],
                   extra={"kind": "statement", "title": "Secret Corp income"}),
        TableLabel("d.pdf", 4, [], [["Costs", "(3)", "4"]], continued_from_previous=True),
    ]
    sealed_lines = seal_labels(plain)
    text = "\n".join(json.dumps(x) for x in sealed_lines)
    for secret in ("Revenue", "1,234", "Secret", "Costs", "2019"):
        assert secret not in text
    (tmp_path / "sealed.jsonl").write_text(text + "\n")
    sealed = load_table_labels(tmp_path / "sealed.jsonl")
    assert [(lb.page, lb.extra.get("kind"), len(lb.sealed)) for lb in sealed] == [(3, "statement", 4), (4, None, 2)]
    found = {("d.pdf", 3): [label_table(TableLabel("d.pdf", 3, [["", "FY 2019", "2018"]],
                                                   [["revenue", "1234", "-56"], ["Net income", "—", "7.0"]]))],
             ("d.pdf", 4): [label_table(TableLabel("d.pdf", 4, [["", "2019", "2018"]], [["Costs", "-3", "5"]]))]}
    for labels in (plain, sealed):  # the continuation is sealed with the header it inherits
        score = score_tables(found, labels)
        assert (score.gold, score.found, score.matched, score.statements, score.whole) == (6, 6, 3, 1, 0)
    assert seal_labels(sealed) == sealed_lines  # sealing again changes nothing
    (tmp_path / "bad.jsonl").write_text("\n".join(json.dumps(x) for x in [
        {"doc": "d.pdf", "page": 1, "sealed": ["Revenue"]}, {"doc": "d.pdf", "page": 1, "sealed": 5},
        {"doc": "d.pdf", "page": 1, "sealed": ["0123456789abcdef"], "rows": [["Revenue", "1"]]}]) + "\n")
    with pytest.raises(ConfigError, match="nothing usable"):  # a text where a digest belongs is no label
        load_table_labels(tmp_path / "bad.jsonl")


def test_a_missing_table_and_an_extra_one_cost_recall_and_nothing_else() -> None:
    a = TableLabel("d.pdf", 1, [["", "X"]], [["a", "1"], ["b", "2"]])
    b = TableLabel("d.pdf", 2, [["", "Y"]], [["c", "3"], ["d", "4"]])
    score = score_tables({("d.pdf", 1): [label_table(a)], ("d.pdf", 9): [label_table(b)]}, [a, b])
    assert (score.precision, score.recall, score.pages) == (1.0, 0.5, 2)
