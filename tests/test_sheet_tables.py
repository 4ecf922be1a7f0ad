"""A spreadsheet's tables are its cells (real LibreOffice, real workbooks written by openpyxl): every sheet's used
range is a table with its header rows, merged header cells and title, found however the page draws it, and the
tables page, lookups and arithmetic in words read them. The walk's workbook: the Sales sheet was not found at all,
the Staff sheet came out as one column "Name Role"."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

import docagent
from docagent.config import Settings
from docagent.index.indexer import index_paths
from docagent.index.store import PageStore

pytestmark = pytest.mark.slow  # starts LibreOffice


def walk_workbook(path: Path, ledger_rows: int = 0) -> Path:
    book = openpyxl.Workbook()
    sales = book.active
    sales.title = "Sales"
    sales.append(["Region", "Q1", "Q2", "Q3", "Q4"])
    for region, base in (("North", 120), ("South", 80), ("West", 95), ("East", 60)):
        sales.append([region, base, base + 10, base + 20, base + 30])
    staff = book.create_sheet("Staff")
    staff.append(["Name", "Role", "Start"])
    staff.append(["Mira Havel", "Fleet manager", "2021-03-01"])
    staff.append(["Jon Okafor", "Dispatcher", "2019-11-15"])
    contacts = book.create_sheet("Contacts")  # text alone, more rows than a header could have
    contacts.append(["Site", "Contact", "Phone"])
    for site in ("Delft", "Utrecht", "Gouda", "Leiden", "Breda"):
        contacts.append([site, f"{site} desk", "on request"])
    fleet = book.create_sheet("Fleet")
    fleet.append(["Fleet costs by half-year (in EUR thousands)"])
    fleet.append([])
    fleet.append(["Cost", "2024", None, "2025", None])
    fleet.merge_cells("B3:C3")
    fleet.merge_cells("D3:E3")
    fleet.append(["", "H1", "H2", "H1", "H2"])
    fleet.append(["Fuel", 410, 395, 388, 402])
    fleet.append(["Tyres", 52, 61, 49, 58])
    if ledger_rows:  # a long sheet under two header rows: each later page repeats only the first
        long = book.create_sheet("Quarterly")
        long.append(["Entry", "2021", None, "2022", None])
        long.merge_cells("B1:C1")
        long.merge_cells("D1:E1")
        long.append(["", "Q1", "Q2", "Q1", "Q2"])
        for i in range(1, ledger_rows + 1):
            long.append([f"Item {i}", i, i + 1, i + 2, i + 3])
        ledger = book.create_sheet("Ledger")
        ledger.append(["Entry", "Account", "Amount"])
        for i in range(1, ledger_rows + 1):
            ledger.append([f"Entry {i}", f"Account {i % 7}", i * 10])
    book.save(path)
    return path


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory, embedder):
    root = tmp_path_factory.mktemp("sheets")
    (root / "in").mkdir()
    walk_workbook(root / "in" / "walk.xlsx", ledger_rows=120)
    settings = Settings(store=root / "store", ocr="off")
    with PageStore(settings, embedder=embedder) as store:
        report = index_paths([root / "in"], store=store, progress=False)
        assert not report.failed
        yield store, settings, root


def by_title(store: PageStore, doc: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for table in store.tables(doc):
        out.setdefault(table.title.split()[0], []).append(table)
    return out


def cell(table, column: str, row: str):
    """The body cell under ``column`` (its header) in the row labelled ``row``."""
    col = table.column_headers().index(column)
    r = table.header_rows + table.row_labels().index(row)
    return table.at(r, col)


def test_every_sheet_is_one_table_with_its_header_rows_and_merged_heads(indexed) -> None:
    store, _, _ = indexed
    tables = by_title(store, "walk.xlsx")
    assert set(tables) == {"Sales", "Staff", "Contacts", "Fleet", "Ledger", "Quarterly"}
    contacts = tables["Contacts"][0]
    assert contacts.header_rows == 1 and contacts.row_labels() == ["Delft", "Utrecht", "Gouda", "Leiden", "Breda"]
    sales = tables["Sales"][0]
    assert sales.column_headers() == ["Region", "Q1", "Q2", "Q3", "Q4"]
    assert sales.row_labels() == ["North", "South", "West", "East"]
    west_q3 = cell(sales, "Q3", "West")
    assert west_q3.text == "115" and west_q3.number == 115
    staff = tables["Staff"][0]
    assert staff.column_headers() == ["Name", "Role", "Start"]  # not one column "Name Role"
    assert [row[:2] for row in staff.grid()[1:]] == [["Mira Havel", "Fleet manager"], ["Jon Okafor", "Dispatcher"]]
    fleet = tables["Fleet"][0]
    assert fleet.title == "Fleet Fleet costs by half-year (in EUR thousands)"  # the title row is no table row
    assert fleet.header_rows == 2
    assert fleet.column_headers() == ["Cost", "2024 H1", "2024 H2", "2025 H1", "2025 H2"]  # merged cells span
    assert cell(fleet, "2025 H2", "Fuel").number == 402_000  # the title's scale applies
    page = store.page("walk.xlsx", sales.page)
    box = west_q3.box
    words = [w.text for w in page.words if box[0] <= (w.box[0] + w.box[2]) / 2 <= box[2]
             and box[1] <= (w.box[1] + w.box[3]) / 2 <= box[3]]
    assert words == ["115"]  # the cell's box is where its value is drawn


def test_a_sheet_over_several_pages_is_one_table_continued_under_its_repeated_header(indexed) -> None:
    store, _, _ = indexed
    parts = by_title(store, "walk.xlsx")["Ledger"]
    assert len(parts) >= 2
    for before, after in zip(parts, parts[1:], strict=False):
        assert before.continues_on == (after.page, after.index) and after.continued_from == (before.page, before.index)
        assert after.column_headers() == ["Entry", "Account", "Amount"]
    labels = [label for t in parts for label in t.row_labels()]
    assert labels == [f"Entry {i}" for i in range(1, 121)]  # every row once: the repeated header is no row
    quarterly = by_title(store, "walk.xlsx")["Quarterly"]
    assert len(quarterly) >= 2
    for part in quarterly:  # every part headed by both rows: the later ones by the first part's
        assert part.column_headers() == ["Entry", "2021 Q1", "2021 Q2", "2022 Q1", "2022 Q2"]
    assert [label for t in quarterly for label in t.row_labels()] == [f"Item {i}" for i in range(1, 121)]


def test_lookups_and_arithmetic_in_words_read_the_cells(indexed) -> None:
    _, settings, _ = indexed
    west = docagent.ask("What were the West region sales in Q3?", settings=settings, docs=["walk.xlsx"])
    assert west.answer_span is not None and west.answer_span.text == "115", west.text
    more = docagent.ask("How much higher were North sales in Q4 than in Q1?", settings=settings, docs=["walk.xlsx"])
    assert more.text.startswith("Computed without a model: 30 = "), more.text
    fuel = docagent.ask("What is the percent change in fuel costs from 2024 H1 to 2025 H1?", settings=settings,
                        docs=["walk.xlsx"])
    assert fuel.text.startswith("Computed without a model: -5.365854 = percent_change("), fuel.text


def test_the_same_workbook_again_reuses_the_rendering_and_its_cells(indexed, embedder) -> None:
    store, _, root = indexed
    (root / "again").mkdir()
    copy = root / "again" / "copy.xlsx"
    copy.write_bytes((root / "in" / "walk.xlsx").read_bytes())
    report = index_paths([copy], store=store, progress=False)
    assert not report.failed and report.seconds.get("convert", 0.0) == 0.0  # not converted twice
    assert by_title(store, "copy.xlsx")["Staff"][0].column_headers() == ["Name", "Role", "Start"]


def test_a_cell_merged_down_keeps_the_cells_beside_it_under_their_columns() -> None:
    """LibreOffice's export writes a cell merged over several rows once (rowspan): the rows below have no cell there,
    and their cells must not slide left under the wrong column."""
    from docagent.ingest.office import read_sheets

    exported = ('<table><tr><td>Region</td><td>Q1</td><td>Q2</td></tr><tr><td rowspan="2">North</td><td>1</td>'
                '<td>2</td></tr><tr><td>3</td><td>4</td></tr></table>')
    assert read_sheets(exported)[0].rows == [["Region", "Q1", "Q2"], ["North", "1", "2"], ["", "3", "4"]]
