"""Tables as papers and annual reports print them, the structures MMLongBench-Doc's real pages showed docagent
misreading (issue 29): a booktabs table of words under a caption, with heads of two lines; a journal's download
notice printed up the margin; neighbouring heads set closer than the words of one; two tables side by side; a
statement label with dot leaders that is as long as a sentence; group heads centred over their columns. And the
layouts a review found those rules must leave alone: rotated column heads inside a table, a column of words
between columns of figures, heads over a rule with none above them, close columns of negative decimals."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pymupdf
import pytest

from docagent.ingest.pdf import PdfSource
from docagent.ingest.tables import find_tables
from docagent.types import Table

SIZE = 8.0


def _put(page: pymupdf.Page, x: float, y: float, text: str, *, size: float = SIZE, right: bool = False,
         rotate: int = 0) -> None:
    font = pymupdf.Font("tiro")
    if right:
        x -= font.text_length(text, size)
    page.insert_text((x, y), text, fontname="tiro", fontsize=size, rotate=rotate)


def _grid(page: pymupdf.Page, cols: list[tuple[float, bool]], lines: list[tuple[str, ...]], y: float) -> None:
    """Print ``lines`` (heads, then rows) from ``y`` down, 11 points apart, one text per column at ``cols``
    (x, set flush right)."""
    for i, line in enumerate(lines):
        for (x, right), text in zip(cols, line, strict=True):
            if text:
                _put(page, x, y + 11 * i, text, right=right)


def _rule(page: pymupdf.Page, x0: float, x1: float, y: float) -> None:
    page.draw_line((x0, y), (x1, y), width=0.6)


def _tables(path: Path) -> list[Table]:
    with PdfSource(path) as source:
        return find_tables(source.read_page(0), lambda: source.rules(0))


METHODS = [("CoG [29]", "Wikipedia", "Text", "Phrase", "Iterative"),
           ("DenseX [30]", "FactoidWiki", "Text", "Proposition", "Once"),
           ("EAR [31]", "Dataset-base", "Text", "Sentence", "Once"),
           ("FLARE [24]", "Search Engine", "Text", "Sentence", "Adaptive"),
           ("RAPTOR [63]", "Dataset-base", "Text", "Chunk", "Recursive")]


@pytest.fixture
def summary(tmp_path: Path) -> Path:
    """A survey's table of words: a centred caption of two lines above the top rule, heads of two lines (some
    one-line heads set between them), the middle rule, five rows of words, the bottom rule; the journal's
    download notice printed up the right margin."""
    doc = pymupdf.open()
    page = doc.new_page(width=612, height=792)
    _put(page, 280, 60, "TABLE I")
    _put(page, 245, 70, "SUMMARY OF RAG METHODS")
    _rule(page, 80, 530, 80)
    xs = [90, 200, 300, 380, 460]
    _put(page, xs[0], 95, "Method")
    _put(page, xs[1], 90, "Retrieval")
    _put(page, xs[1], 100, "Source")
    _put(page, xs[2], 90, "Retrieval")
    _put(page, xs[2], 100, "Data Type")
    _put(page, xs[3], 90, "Retrieval")
    _put(page, xs[3], 100, "Granularity")
    _put(page, xs[4], 95, "Process")
    _rule(page, 80, 530, 106)
    for i, row in enumerate(METHODS):
        for x, text in zip(xs, row, strict=True):
            _put(page, x, 120 + 11 * i, text)
    _rule(page, 80, 530, 120 + 11 * len(METHODS))
    _put(page, 572, 400, "Downloaded from http://example.org/journal/article.pdf by guest on 23 May 2024", rotate=90)
    _put(page, 72, 220, "Retrieval sources differ in granularity, as the summary above shows for each method.")
    path = tmp_path / "summary.pdf"
    doc.save(path)
    return path


def test_a_table_of_words_under_a_caption_has_the_heads_above_its_middle_rule(summary: Path) -> None:
    [table] = _tables(summary)
    assert table.column_headers() == ["Method", "Retrieval Source", "Retrieval Data Type", "Retrieval Granularity",
                                      "Process"]
    assert table.row_labels() == [row[0] for row in METHODS]  # no head line among the rows, no caption among the heads
    assert "SUMMARY OF RAG METHODS" in table.title
    assert ("FLARE [24]", "Retrieval Source", "Search Engine") in table.triples()
    assert table.cols == 5  # the notice up the margin is no column


RESULTS = [("CODEX", ["53.8(0.5)", "54.0(1.4)", "60.3(2.4)", "62.4(2.6)"]),
           ("InstructGPT", ["53.6(0.9)", "54.6(1.1)", "58.3(1.3)", "62.7(0.8)"]),
           ("+ Rerank (L)", ["60.8(2.3)", "62.6(2.7)", "72.3(0.3)", "74.5(1.5)"]),
           ("+ Ensemble (S)", ["61.1(2.2)", "62.8(0.9)", "73.9(1.4)", "75.9(2.4)"])]


def test_a_results_table_with_heads_set_close_apart(tmp_path: Path) -> None:
    """Four columns of results under two groups; the last two heads are closer together than a word space of the
    line wide, each over its own column."""
    doc = pymupdf.open()
    page = doc.new_page(width=612, height=792)
    rights = [250, 300, 350, 386]
    _rule(page, 80, 400, 80)
    _put(page, 240, 92, "FewNERD", right=True)
    _put(page, 372, 92, "TACREV", right=True)
    for x, head in zip(rights, ["5-shot", "10-shot", "50-shot", "100-shot"], strict=True):
        _put(page, x, 103, head, right=True)
    _rule(page, 80, 400, 108)
    for i, (label, values) in enumerate(RESULTS):
        _put(page, 90, 122 + 11 * i, label)
        for x, v in zip(rights, values, strict=True):
            _put(page, x, 122 + 11 * i, v, right=True)
    _rule(page, 80, 400, 122 + 11 * len(RESULTS))
    path = tmp_path / "results.pdf"
    doc.save(path)
    [table] = _tables(path)
    assert table.cols == 5, table.to_markdown()
    assert table.column_headers()[1:] == ["FewNERD 5-shot", "FewNERD 10-shot", "TACREV 50-shot", "TACREV 100-shot"]
    assert ("+ Rerank (L)", "FewNERD 10-shot", "62.6(2.7)") in table.triples()
    assert ("CODEX", "TACREV 100-shot", "62.4(2.6)") in table.triples()


def test_two_tables_side_by_side_are_two_tables(tmp_path: Path) -> None:
    """A page set in two columns, error proportions at the foot of the left one and a model's scores at the
    foot of the right, their rows on the same lines."""
    doc = pymupdf.open()
    page = doc.new_page(width=612, height=792)
    for i in range(8):  # the running text of both columns below the tables
        _put(page, 72, 200 + 11 * i, "the proportion of semantic errors rises with the hops of a claim")
        _put(page, 320, 200 + 11 * i, "we also include the large model with four different prompts here")
    errors = [("Syntax error", "0%", "0%"), ("Semantic error", "29%", "38%"), ("Token", "8%", "20%"),
              ("Structure", "19%", "13%"), ("Subtask", "2%", "5%")]
    models = [("InstructGPT", "56.51", "51.75"), ("Codex", "55.57", "53.42"), ("FLAN-T5", "48.27", "52.11"),
              ("ProgramFC", "54.27", "54.18"), ("Self-Ask", "51.54", "51.47")]
    _put(page, 80, 100, "Error Type")
    _put(page, 210, 100, "2-hop", right=True)
    _put(page, 250, 100, "3-hop", right=True)
    _put(page, 330, 100, "Model")
    _put(page, 470, 100, "2-hop", right=True)
    _put(page, 520, 100, "3-hop", right=True)
    for i, (left, right) in enumerate(zip(errors, models, strict=True)):
        y = 114 + 11 * i
        _put(page, 80, y, left[0])
        _put(page, 210, y, left[1], right=True)
        _put(page, 250, y, left[2], right=True)
        _put(page, 330, y, right[0])
        _put(page, 470, y, right[1], right=True)
        _put(page, 520, y, right[2], right=True)
    path = tmp_path / "side.pdf"
    doc.save(path)
    tables = _tables(path)
    assert [t.column_headers() for t in tables] == [["Error Type", "2-hop", "3-hop"], ["Model", "2-hop", "3-hop"]]

    assert tables[0].row_labels() == [e[0] for e in errors]
    assert tables[1].row_labels() == [m[0] for m in models]
    assert ("ProgramFC", "2-hop", "54.27") in tables[1].triples()


@pytest.mark.parametrize("leaders", ["......", " . . . ."])
def test_a_statement_label_as_long_as_a_sentence_with_dot_leaders_stays_a_row(tmp_path: Path, leaders: str) -> None:
    """A balance sheet's row whose label runs to eight words and more and ends in dot leaders ("........" or
    ". . . .") is a row, not a sentence that ends the table."""
    doc = pymupdf.open()
    page = doc.new_page(width=612, height=792)
    _put(page, 440, 90, "2015", right=True)
    _put(page, 520, 90, "2014", right=True)
    rows = [("Cash and cash equivalents" + leaders, "876,560", "1,117,400"),
            ("Trade receivables, net of allowances for doubtful accounts of $7,293 and $7,867, respectively" + leaders,
             "672,006", "591,800"),
            ("Prepaid expenses and other current assets" + leaders, "161,802", "175,758"),
            ("Total current assets" + leaders, "4,821,892", "4,602,328")]
    for i, (label, a, b) in enumerate(rows):
        _put(page, 72, 104 + 12 * i, label)
        _put(page, 440, 104 + 12 * i, a, right=True)
        _put(page, 520, 104 + 12 * i, b, right=True)
    path = tmp_path / "sheet.pdf"
    doc.save(path)
    [table] = _tables(path)
    assert len(table.row_labels()) == 4
    assert table.row_labels()[1].startswith("Trade receivables") and not table.row_labels()[1].endswith(".")
    assert ("Total current assets", "2014", "4,602,328") in table.triples()


def test_group_heads_head_the_columns_they_are_centred_over(tmp_path: Path) -> None:
    """"Micro" centred over five columns and "Macro" over the last three, each head over one column only: the
    F1 column between them belongs to Micro, though Macro's head stands nearer to it."""
    doc = pymupdf.open()
    page = doc.new_page(width=612, height=792)
    rights = [200, 250, 300, 350, 395, 445, 490, 530]
    heads = ["Align.", "Corr.", "Prec.", "Rec.", "F1.", "Prec.", "Rec.", "F1."]
    font = pymupdf.Font("tiro")
    micro = (rights[0] - 25 + rights[4]) / 2 - font.text_length("Micro", SIZE) / 2
    macro = (rights[5] - 25 + rights[7]) / 2 - font.text_length("Macro", SIZE) / 2
    _put(page, micro, 89, "Micro")
    _put(page, macro, 89, "Macro")
    models = [("GPT-4 (0.5)", "92.0", "97.6", "36.0", "43.6", "39.4", "40.7", "43.9", "42.3"),
              ("ChatGPT (0.1)", "85.9", "96.1", "29.0", "50.8", "36.9", "32.7", "51.2", "39.9"),
              ("Alpaca-7B", "46.9", "78.9", "14.9", "19.4", "16.8", "19.8", "19.9", "19.8")]
    _grid(page, [(90, False), *((x, True) for x in rights)], [("Model", *heads), *models], 100)
    path = tmp_path / "groups.pdf"
    doc.save(path)
    [table] = _tables(path)
    assert table.column_headers() == ["Model", *(f"Micro {h}" for h in heads[:5]), *(f"Macro {h}" for h in heads[5:])]
    assert ("Alpaca-7B", "Micro F1.", "16.8") in table.triples()


def test_a_negative_amount_in_the_next_close_column_is_its_own_cell(tmp_path: Path) -> None:
    """Close columns of amounts, a negative printed in parentheses just after a figure ("0.8 (0.7)"): two cells,
    not a value and its spread."""
    doc = pymupdf.open()
    page = doc.new_page(width=612, height=792)
    font = pymupdf.Font("tiro")
    rows = [("Revenue", "12.4", "(0.7)", "2.0"), ("Costs", "(3.1)", "(2.8)", "(3.0)"), ("Margin", "9.2", "(7.4)", "1.7")]
    _put(page, 300, 100, "2019", right=True)
    _put(page, 300 + 6 + font.text_length("(0.7)", SIZE), 100, "2018", right=True)
    _put(page, 380, 100, "2017", right=True)
    for i, (label, a, b, c) in enumerate(rows):
        y = 114 + 11 * i
        _put(page, 90, y, label)
        _put(page, 300, y, a, right=True)
        _put(page, 306, y, b)
        _put(page, 380, y, c, right=True)
    path = tmp_path / "close.pdf"
    doc.save(path)
    [table] = _tables(path)
    assert table.cols == 4, table.to_markdown()
    assert ("Revenue", "2018", "(0.7)") in table.triples()


def test_heads_wrapped_over_two_lines_are_no_groups(tmp_path: Path) -> None:
    """Heads set right over their columns, two of them wrapped ("North" over "America"): each line of a head
    belongs to its own column, not a group over its neighbours."""
    doc = pymupdf.open()
    page = doc.new_page(width=612, height=792)
    rights = [250, 300, 350, 400, 450]
    _put(page, 350, 90, "North", right=True)
    _put(page, 450, 90, "Middle", right=True)
    _grid(page, [(90, False), *((x, True) for x in rights)], [
        ("Characteristic", "Korea", "China", "America", "Europe", "East"), ("2018", "18.6%", "3.6%", "0.3%", "2.5%", "20.8%"),
        ("2019", "17.1%", "4.1%", "0.5%", "2.9%", "21.4%"), ("2020", "16.2%", "4.4%", "0.6%", "3.1%", "22.0%")], 100)
    path = tmp_path / "wrapped.pdf"
    doc.save(path)
    [table] = _tables(path)
    assert table.column_headers() == ["Characteristic", "Korea", "China", "North America", "Europe", "Middle East"]


def test_rotated_column_heads_inside_a_table_stay_its_heads(tmp_path: Path) -> None:
    """Heads set up the page over their columns (as papers print narrow columns) are no margin note: the table
    keeps them and every figure under them."""
    doc = pymupdf.open()
    page = doc.new_page(width=612, height=792)
    xs = [220, 260, 300]
    _put(page, 90, 130, "Split")
    for x, head in zip(xs, ["Accuracy", "Precision", "Examples"], strict=True):
        _put(page, x, 130, head, rotate=90)
    rows = [("Train", "812", "790", "801"), ("Dev", "834", "822", "820"), ("Test", "751", "743", "740")]
    for i, row in enumerate(rows):
        _put(page, 90, 146 + 11 * i, row[0])
        for x, v in zip(xs, row[1:], strict=True):
            _put(page, x - 9, 146 + 11 * i, v)
    path = tmp_path / "rotated.pdf"
    doc.save(path)
    [table] = _tables(path)
    assert [r for r in table.row_labels()] == ["Train", "Dev", "Test"]
    assert sum(1 for _, _, v in table.triples() if v.isdigit()) == 9  # no figure lost with the heads' column


def test_a_column_of_words_between_figures_is_no_second_table(tmp_path: Path) -> None:
    doc = pymupdf.open()
    page = doc.new_page(width=612, height=792)
    _grid(page, [(72, False), (220, True), (260, False), (380, True)], [
        ("Company", "Revenue", "Sector", "Employees"), ("Apple", "383.3", "Technology", "161,000"),
        ("Walmart", "611.3", "Retail", "2,100,000"), ("ExxonMobil", "344.6", "Energy", "62,000"),
        ("UnitedHealth", "371.6", "Health care", "400,000"), ("Amazon", "574.8", "Retail", "1,525,000")], 90)
    path = tmp_path / "companies.pdf"
    doc.save(path)
    [table] = _tables(path)
    assert table.column_headers() == ["Company", "Revenue", "Sector", "Employees"]


def test_heads_over_a_rule_with_no_rule_above_them_stay_heads(tmp_path: Path) -> None:
    """"Three Months Ended" and "Nine Months Ended" over a rule under them, the years under it, rules between
    the rows and none across the top: the periods head the columns, they are no caption."""
    doc = pymupdf.open()
    page = doc.new_page(width=612, height=792)
    font = pymupdf.Font("tiro")
    _put(page, 72, 60, "Revenue by quarter (in thousands)")
    for centre, text in ((263, "Three Months Ended"), (383, "Nine Months Ended")):
        _put(page, centre - font.text_length(text, SIZE) / 2, 80, text)
    _rule(page, 70, 440, 84)
    xs = [250, 300, 370, 420]
    for x, year in zip(xs, ["2023", "2022", "2023", "2022"], strict=True):
        _put(page, x, 93, year, right=True)
    _rule(page, 70, 440, 96)
    rows = [("Product", "1,200", "1,100", "3,600", "3,300"), ("Services", "800", "750", "2,400", "2,250"),
            ("Licensing", "300", "280", "900", "840")]
    for i, row in enumerate(rows):
        y = 106 + 11 * i
        _put(page, 72, y, row[0])
        for x, v in zip(xs, row[1:], strict=True):
            _put(page, x, y, v, right=True)
        _rule(page, 70, 440, y + 3)
    path = tmp_path / "periods.pdf"
    doc.save(path)
    [table] = _tables(path)
    assert table.column_headers()[1:] == ["Three Months Ended 2023", "Three Months Ended 2022", "Nine Months Ended 2023",
                                          "Nine Months Ended 2022"]


def test_a_footnote_mark_over_a_head_is_no_head_line(tmp_path: Path) -> None:
    """"FEVEROUS¹": the mark, in small type a little above the heads' line, heads no column."""
    doc = pymupdf.open()
    page = doc.new_page(width=612, height=792)
    _put(page, 321, 92, "1", size=5)
    _grid(page, [(90, False), (250, True), (320, True)], [
        ("Model", "HOVER", "FEVEROUS"), ("Codex", "55.57", "57.85"), ("FLAN-T5", "48.27", "55.16"),
        ("ProgramFC", "54.27", "59.66")], 100)
    path = tmp_path / "mark.pdf"
    doc.save(path)
    [table] = _tables(path)
    assert table.column_headers() == ["Model", "HOVER", "FEVEROUS"]


def test_a_table_across_a_one_column_page_is_one_table(tmp_path: Path) -> None:
    """A numeric column left of the page's middle and a column of distinct names right of it, on a page of
    running text across its width: one table."""
    doc = pymupdf.open()
    page = doc.new_page(width=612, height=792)
    for i in range(8):
        _put(page, 72, 60 + 11 * i, "The models below were trained on the corpora named in the table and scored on the test split.")
    _grid(page, [(80, False), (250, True), (330, False), (480, True)], [
        ("Model", "#Params", "Pretraining corpus", "Accuracy"), ("BERT", "110", "Wikipedia", "79.1"),
        ("RoBERTa", "125", "CC-News", "82.3"), ("T5", "220", "C4", "81.0"), ("XLNet", "117", "Giga5", "80.4")], 160)
    path = tmp_path / "wide.pdf"
    doc.save(path)
    [table] = _tables(path)
    assert table.column_headers() == ["Model", "#Params", "Pretraining corpus", "Accuracy"]


def test_prices_and_terms_in_a_table_in_thousands_are_read_as_printed(tmp_path: Path) -> None:
    """A stock-option table "(in thousands, except per share data)": the options and the intrinsic value are in
    thousands; the exercise price (per share) and the remaining term (years) are not."""
    doc = pymupdf.open()
    page = doc.new_page(width=612, height=792)
    _put(page, 72, 60, "Stock option activity (in thousands, except per share data)")
    _grid(page, [(72, False), (260, True), (340, True), (420, True), (500, True)], [
        ("", "Options", "Exercise price", "Term (years)", "Intrinsic value"),
        ("Outstanding at January 1", "1,200", "28.10", "6.2", "9,800"), ("Granted", "300", "31.40", "9.8", "1,100"),
        ("Outstanding at December 31", "1,350", "29.05", "5.9", "11,200")], 80)
    path = tmp_path / "options.pdf"
    doc.save(path)
    [table] = _tables(path)
    numbers = {(table.row_labels()[c.row - table.header_rows], table.column_headers()[c.col]): c.number
               for c in table.body() if c.number is not None}
    assert numbers[("Granted", "Options")] == 300_000
    assert numbers[("Granted", "Exercise price")] == Decimal("31.40")
    assert numbers[("Granted", "Term (years)")] == Decimal("9.8")
    assert numbers[("Outstanding at December 31", "Intrinsic value")] == 11_200_000


def test_a_scale_one_columns_head_states_is_that_columns_alone(tmp_path: Path) -> None:
    """"Params (M)" scales the parameter counts, not the accuracies beside them."""
    doc = pymupdf.open()
    page = doc.new_page(width=612, height=792)
    _grid(page, [(90, False), (260, True), (340, True)], [
        ("Model", "Params (M)", "Accuracy"), ("BERT", "110", "79.1"), ("RoBERTa", "125", "82.3"), ("T5", "220", "81.0")], 80)
    path = tmp_path / "params.pdf"
    doc.save(path)
    [table] = _tables(path)
    numbers = {(table.row_labels()[c.row - table.header_rows], c.col): c.number for c in table.body() if c.number is not None}
    assert numbers[("RoBERTa", 1)] == 125_000_000
    assert numbers[("RoBERTa", 2)] == Decimal("82.3")
