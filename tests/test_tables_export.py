"""Tables exported: the formats round-trip, and every surface gives the tables a real indexing found in a
generated PDF: the get_table tool (as an agent calls it), the MCP server over stdio, the HTTP API on loopback,
and the app's Tables view (the grid beside the page with the table's box drawn)."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pymupdf
import pytest
from langchain_tests.integration_tests import ToolsIntegrationTests
from langchain_tests.unit_tests import ToolsUnitTests

from docagent.agents import GetTableTool, TablesFound, make_tools, run_agent
from docagent.config import Settings
from docagent.index.embeddings import Embedder
from docagent.index.indexer import index_paths
from docagent.index.store import PageStore
from docagent.types import Table, TableCell
from tests import factories
from tests.scripted import call, scripted

REGIONS = [("North", 120, 140), ("East", 95, 131), ("South", 180, 210), ("West", 122, 149)]
REGION_ROWS = [[r, str(a), str(b), f"+{b - a}"] for r, a, b in REGIONS]
QUARTER_ROWS = [["Revenue", "1,250", "1,410", "1,380", "1,620"],
                ["Costs", "(980)", "(1,020)", "(1,005)", "(1,110)"],
                ["Margin", "270", "390", "375", "510"]]


def _table(page: pymupdf.Page, top: float, heads: list[str], rows: list[list[str]], cols: list[float]) -> None:
    """Words in aligned columns under a bold header row and a rule, as reports print small tables."""
    for x, head in zip(cols, heads, strict=True):
        page.insert_text((x, top), head, fontsize=11, fontname="hebo")
    page.draw_line((cols[0], top + 6), (cols[-1] + 80, top + 6), width=0.8)
    for i, row in enumerate(rows, 1):
        for x, cell in zip(cols, row, strict=True):
            page.insert_text((x, top + 22 * i), cell, fontsize=11, fontname="helv")


def report_pdf(path: Path) -> Path:
    """Page 1 prose, page 2 a table of installations by region, page 3 quarterly results (costs in parentheses)."""
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    page.insert_text((72, 90), "Northwind Solar annual report", fontsize=16)
    page.insert_textbox(pymupdf.Rect(72, 120, 523, 300), "Revenue grew in every quarter. Installations rose in "
                        "every region.", fontsize=11)
    page = doc.new_page(width=595, height=842)
    page.insert_text((72, 90), "Installations by region", fontsize=16, fontname="hebo")
    page.insert_textbox(pymupdf.Rect(72, 110, 523, 160), "Installations completed in each region, by year.", fontsize=11)
    _table(page, 200, ["Region", "2024", "2025", "Change"], REGION_ROWS, [72, 220, 320, 420])
    page = doc.new_page(width=595, height=842)
    page.insert_text((72, 90), "Quarterly results 2025 (thousand EUR)", fontsize=16, fontname="hebo")
    page.insert_textbox(pymupdf.Rect(72, 110, 523, 160), "Results by quarter; costs in parentheses.", fontsize=11)
    _table(page, 200, ["", "Q1", "Q2", "Q3", "Q4"], QUARTER_ROWS, [72, 200, 280, 360, 440])
    doc.save(path)
    doc.close()
    return path


def build_tables_library(root: Path, embedder: Embedder | None = None) -> Settings:
    """A store holding report.pdf (tables on pages 2 and 3) and invoice.pdf (no table), really indexed."""
    docs = root / "docs"
    docs.mkdir(parents=True)
    report_pdf(docs / "report.pdf")
    factories.text_pdf(docs / "invoice.pdf", ["Invoice INV-7. Total due 7,981.99 EUR by 13 April."])
    settings = Settings(store=root / "store")
    with PageStore(settings, embedder=embedder) as store:
        assert not index_paths([docs], store=store, progress=False).failed
    return settings


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder):
    settings = build_tables_library(tmp_path_factory.mktemp("tables"), embedder)
    with PageStore(settings, embedder=embedder) as store:
        yield store


def body(table: Table) -> list[list[str]]:
    return table.grid()[table.header_rows:]


def test_indexing_finds_the_generated_tables(library: PageStore) -> None:
    """What every surface below exports: the body rows exactly as printed, under their headers."""
    regions, quarters = library.tables("report.pdf")
    assert (regions.page, regions.index, quarters.page, quarters.index) == (2, 0, 3, 0)
    assert body(regions) == REGION_ROWS and regions.column_headers()[1:] == ["2024", "2025", "Change"]
    assert body(quarters) == QUARTER_ROWS and quarters.column_headers()[1:] == ["Q1", "Q2", "Q3", "Q4"]
    assert library.tables("invoice.pdf") == [] and library.tables("report.pdf", 1) == []


# ------------------------------------------------------------------------------------- round trips


def tricky_table() -> Table:
    """A spanning header over two columns, a multi-line label, and text that CSV, markdown and HTML must escape."""
    box = (0.0, 0.0, 1.0, 1.0)
    texts = {(0, 1): "2019", (1, 0): "Item", (1, 1): "H1", (1, 2): "H2",
             (2, 0): 'Rent, "office" | lab', (2, 1): "1,200", (2, 2): "(300)",
             (3, 0): "Fees & <taxes>", (3, 1): "", (3, 2): "12.5%"}
    cells = [TableCell(r, c, t, box, col_span=2 if (r, c) == (0, 1) else 1) for (r, c), t in texts.items()]
    return Table("tricky.pdf", 1, 0, (10.0, 20.0, 300.0, 200.0), rows=4, cols=3, header_rows=2, cells=cells,
                 title="Costs (in thousands)", scale=Decimal(1000), scale_text="in thousands")


class _Grid(HTMLParser):
    """The rows of the first <table> in HTML, a colspan cell repeated under each column it spans."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.head_rows = 0
        self._cell: list[str] | None = None
        self._span = 1
        self._in_head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "thead":
            self._in_head = True
        elif tag == "tr":
            self.rows.append([])
            self.head_rows += self._in_head
        elif tag in ("td", "th"):
            self._cell, self._span = [], int(dict(attrs).get("colspan") or 1)

    def handle_endtag(self, tag: str) -> None:
        if tag == "thead":
            self._in_head = False
        elif tag in ("td", "th") and self._cell is not None:
            self.rows[-1] += ["".join(self._cell)] * self._span
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def parse_html(text: str) -> _Grid:
    grid = _Grid()
    grid.feed(text)
    return grid


def parse_markdown(text: str) -> list[list[str]]:
    """Rows of a markdown pipe table as a renderer shows them (the separator line dropped, ``\\|`` read back as
    ``|``, ``&lt;`` as ``<``)."""
    from html import unescape

    rows = []
    for line in text.strip().splitlines():
        cells = [unescape(c.strip().replace("\x00", "|")) for c in line.replace("\\|", "\x00").strip()[1:-1].split("|")]
        if not all(set(c) <= {"-", ":"} and c for c in cells):
            rows.append(cells)
    return rows


def tables_to_check(library: PageStore) -> list[Table]:
    return [*library.tables("report.pdf"), tricky_table()]


def test_csv_markdown_html_and_json_read_back_to_the_same_grid(library: PageStore) -> None:
    for table in tables_to_check(library):
        grid = table.grid()
        assert list(csv.reader(io.StringIO(table.to_csv()))) == grid, table.doc
        html = parse_html(table.to_html())
        assert html.rows == grid and html.head_rows == table.header_rows, table.doc
        markdown = parse_markdown(table.to_markdown())
        assert markdown[0] == table.column_headers() and markdown[1:] == body(table), table.doc
        again = Table.from_json(json.loads(json.dumps(table.to_json())))
        assert again == table and again.grid() == grid
    tricky = tricky_table()
    assert tricky.grid()[0] == ["", "2019", "2019"] and tricky.column_headers() == ["Item", "2019 H1", "2019 H2"]


# ------------------------------------------------------------------------------------ get_table tool


def get_table(store: PageStore) -> Any:
    [tool] = [t for t in make_tools(store=store) if t.name == "get_table"]
    return tool


def invoke(tool: Any, **args: Any) -> Any:
    """Call the tool as an agent does: a tool call in, a ToolMessage (content + artifact) out."""
    return tool.invoke({"name": tool.name, "args": args, "id": "1", "type": "tool_call"})


class _GetTable:
    """GetTableTool bound to the module's store, for LangChain's standard tool suites."""

    @pytest.fixture(autouse=True)
    def _library(self, library: PageStore) -> None:
        self._store = library

    @property
    def tool_constructor(self) -> Any:
        return GetTableTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"store": self._store, "settings": self._store.settings}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"doc": "report.pdf", "page": 2, "format": "csv"}


class TestGetTableUnit(_GetTable, ToolsUnitTests): ...
class TestGetTableIntegration(_GetTable, ToolsIntegrationTests): ...


def test_get_table_gives_every_table_as_markdown_with_page_index_and_boxes(library: PageStore) -> None:
    tool = get_table(library)
    schema = tool.tool_call_schema.model_json_schema()
    assert set(schema["properties"]) == {"doc", "page", "table", "format"} and schema["required"] == ["doc"]
    assert all(p.get("description") for p in schema["properties"].values())
    message = invoke(tool, doc="report.pdf")
    assert message.status == "success"
    content = json.loads(message.content)
    assert [(t["page"], t["index"]) for t in content["tables"]] == [(2, 0), (3, 0)]
    assert content["format"] == "markdown" and "| North | 120 | 140 | +20 |" in content["tables"][0]["text"]
    assert "| Costs | (980) | (1,020) | (1,005) | (1,110) |" in content["tables"][1]["text"]
    assert "box" not in message.content and "image_box" not in message.content  # the model reads text, not boxes
    assert isinstance(message.artifact, TablesFound)
    for shown, table in zip(message.artifact.to_json()["tables"], library.tables("report.pdf"), strict=True):
        page = library.page("report.pdf", table.page)
        assert shown["box"] == [round(c, 2) for c in table.box]
        assert tuple(shown["image_box"]) == page.to_pixels(table.box)  # where to draw it on the page image
        north = next(c for c in table.cells if c.text in ("North", "Revenue"))
        assert shown["box"][0] <= north.box[0] and north.box[3] <= shown["box"][3]  # its cells lie inside its box


def test_get_table_one_table_in_each_format(library: PageStore) -> None:
    tool = get_table(library)
    as_csv = json.loads(invoke(tool, doc="report.pdf", page=3, table=1, format="csv").content)["tables"]
    assert len(as_csv) == 1 and list(csv.reader(io.StringIO(as_csv[0]["text"])))[1:] == QUARTER_ROWS
    as_html = json.loads(invoke(tool, doc="report.pdf", page=2, format="html").content)["tables"][0]["text"]
    assert parse_html(as_html).rows[1:] == REGION_ROWS
    as_json = invoke(tool, doc="report.pdf", page=3, format="json")
    cells = {(c["row"], c["col"]): c for c in as_json.artifact.to_json()["tables"][0]["cells"]}
    revenue_q1 = next(c for c in cells.values() if c["text"] == "1,250")
    assert Decimal(revenue_q1["number"]) == 1250 and len(revenue_q1["box"]) == 4  # the number and its box
    costs_q1 = next(c for c in cells.values() if c["text"] == "(980)")
    assert Decimal(costs_q1["number"]) == -980  # parentheses: a negative
    assert Table.from_json(as_json.artifact.to_json()["tables"][0]).grid()[1:] == QUARTER_ROWS
    compact = json.loads(as_json.content)["tables"][0]["cells"]
    assert all("box" not in c for c in compact) and {c["text"] for c in compact} >= {"1,250", "(980)"}


def test_get_table_errors_say_where_the_tables_are(library: PageStore) -> None:
    tool = get_table(library)

    def error(**args: Any) -> str:
        message = invoke(tool, **args)
        assert message.status == "error", message.content
        return message.content

    assert error(doc="report.pdf", page=1) == "report.pdf page 1 has no tables; tables were found on pages 2 and 3"
    assert error(doc="report.pdf", page=2, table=4) == "report.pdf page 2 has 1 table (table 1); there is no table 4"
    assert error(doc="report.pdf", table=1).startswith("a table number needs its page")
    assert error(doc="invoice.pdf") == "no tables were found in invoice.pdf (tables are found when a document is indexed)"
    assert error(doc="missing.pdf").startswith("no document named 'missing.pdf'; the indexed documents are: ")
    assert error(doc="report.pdf", page=9) == "report.pdf has 3 pages; page 9 does not exist"
    assert error(doc="report.pdf", format="xml").startswith("invalid arguments (format: ")


def test_get_table_without_a_page_gives_the_first_tables_in_full_and_lists_the_others(
        library: PageStore, monkeypatch: pytest.MonkeyPatch) -> None:
    import docagent.agents.tools

    monkeypatch.setattr(docagent.agents.tools, "_TABLES_IN_FULL", 1)  # as a long report has more than ten
    content = json.loads(invoke(get_table(library), doc="report.pdf").content)
    assert [t["page"] for t in content["tables"]] == [2] and content["more_tables"] == [{"page": 3, "index": 0, "title": ""}]
    assert content["note"] == "2 tables, 1 given in full; for the others (more_tables) call get_table with their page (and table)"


def inventory_pdf(path: Path) -> Path:
    """A 40-row table that starts on page 1 under its header and goes on, without the header, on page 2."""
    rows = [[f"Item {i}", str(100 + i), str(200 + i)] for i in range(1, 41)]
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    page.insert_text((72, 90), "Inventory", fontsize=16, fontname="hebo")
    _table(page, 140, ["Item", "2024", "2025"], rows[:30], [72, 220, 320])
    page = doc.new_page(width=595, height=842)
    for i, row in enumerate(rows[30:]):
        for x, cell in zip([72, 220, 320], row, strict=True):
            page.insert_text((x, 72 + 22 * i), cell, fontsize=11, fontname="helv")
    page.insert_textbox(pymupdf.Rect(72, 400, 523, 500), "End of the inventory.", fontsize=11)
    doc.save(path)
    doc.close()
    return path


def test_a_table_broken_across_two_pages_is_given_linked_with_its_header(tmp_path: Path, embedder: Embedder,
                                                                          app_over: Any) -> None:
    settings = Settings(store=tmp_path / "store")
    with PageStore(settings, embedder=embedder) as store:
        assert not index_paths([inventory_pdf(tmp_path / "inventory.pdf")], store=store, progress=False).failed
        first, rest = json.loads(invoke(get_table(store), doc="inventory.pdf", format="csv").content)["tables"]
    assert (first["page"], first["continues_on"], rest["page"], rest["continued_from"]) == (1, [2, 0], 2, [1, 0])
    rows = list(csv.reader(io.StringIO(rest["text"])))
    assert rows[0] == ["Item", "2024", "2025"] and rows[1] == ["Item 31", "131", "231"]  # the header it continues under
    from tests.test_app import plain

    at = app_over(settings.store)
    notes = [plain(c.value) for c in at.caption]
    assert any("continued on page 2" in n for n in notes) and any("continues the table on page 1" in n for n in notes)
    assert at.dataframe[1].value.columns.tolist() == ["Item", "2024", "2025"]


def test_a_document_indexed_before_tables_is_told_to_be_indexed_again(tmp_path: Path, embedder: Embedder,
                                                                      app_over: Any) -> None:
    from docagent.ingest.identity import card_words

    settings = Settings(store=tmp_path / "store")
    factories.text_pdf(tmp_path / "old.pdf", ["A document indexed long ago."])
    with PageStore(settings, embedder=embedder) as store:
        assert not index_paths([tmp_path / "old.pdf"], store=store, progress=False).failed
        rec = store.document("old.pdf")
        card = store.catalog.cards()[rec.doc_id]
        store.catalog.put_card(rec.doc_id, card, 1, card_words(rec.name, card))  # as a docagent before tables left it
        message = invoke(get_table(store), doc="old.pdf")
    assert message.status == "error"
    assert message.content == ("old.pdf was indexed by a docagent from before tables were found: index it again to "
                               "find its tables")
    from tests.test_app import plain

    at = app_over(settings.store)  # the app says so too, and where to do it
    assert not at.dataframe and [plain(i.value) for i in at.info] == [
        "old.pdf was indexed by a docagent from before tables were found: index it again to find its tables. "
        "Add the file again in the **Library**."]


def test_an_agent_reads_a_table_and_computes_from_its_cells(library: PageStore) -> None:
    agent_llm = scripted(
        call("get_table", doc="report.pdf", page=3, format="csv"),
        call("calculator", expression="1620 - 1250"),
        "Revenue grew by 370 thousand EUR from Q1 to Q4 [report.pdf, page 3].",
    )
    answer = run_agent("How much did revenue grow from Q1 to Q4?", llm=agent_llm, tools=make_tools(store=library))
    assert [(s.tool, s.ok) for s in answer.steps] == [("get_table", True), ("calculator", True)]
    assert "Revenue,\"1,250\",\"1,410\",\"1,380\",\"1,620\"" in answer.steps[0].result["tables"][0]["text"]
    assert "get_table" in agent_llm.bound[0]["tools"]
    assert answer.steps[1].result == 370


# ------------------------------------------------------------------------------------------- MCP


async def test_get_table_over_mcp_stdio(library: PageStore, tmp_path: Path) -> None:
    pytest.importorskip("mcp", reason="the MCP server needs the server extra: pip install 'docagent[server]'")
    from mcp import Client, StdioServerParameters

    env = {k: v for k, v in os.environ.items() if k.startswith(("HF_", "TRANSFORMERS_", "ORT_", "TOKENIZERS_", "ANONYMIZED_"))}
    server = StdioServerParameters(command=sys.executable, env=env, cwd=str(Path(__file__).resolve().parents[1]),
                                   args=["-m", "docagent", "mcp", "--store", str(library.settings.store),
                                         "--model", str(tmp_path / "no-model-here")])
    async with Client(server, read_timeout_seconds=300) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
        assert "get_table" in listed and listed["get_table"].annotations.read_only_hint
        assert set(listed["get_table"].input_schema["properties"]) == {"doc", "page", "table", "format"}
        got = await client.call_tool("get_table", {"doc": "report.pdf", "page": 2})
        assert not got.is_error
        [table] = got.structured_content["tables"]
        assert (table["page"], table["index"]) == (2, 0) and "| West | 122 | 149 | +27 |" in table["text"]
        assert len(table["image_box"]) == 4  # the full data, boxes included, for clients that draw them
        assert json.loads(got.content[0].text)["tables"][0]["text"] == table["text"]
        none = await client.call_tool("get_table", {"doc": "report.pdf", "page": 1})
        assert none.is_error and none.content[0].text == "report.pdf page 1 has no tables; tables were found on pages 2 and 3"


# ------------------------------------------------------------------------------------------ HTTP


def test_http_tables_in_every_format(library: PageStore) -> None:
    pytest.importorskip("fastapi", reason="the HTTP API needs the server extra: pip install 'docagent[server]'")
    import httpx

    from docagent_connectors.http_api import create_app
    from tests.test_http_api import running

    with running(create_app(library.settings)) as url, httpx.Client(base_url=url, timeout=60) as client:
        r = client.get("/documents/report.pdf/tables")
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        listed = r.json()["tables"]
        assert [(t["page"], t["index"]) for t in listed] == [(2, 0), (3, 0)]
        assert [Table.from_json(t).grid()[1:] for t in listed] == [REGION_ROWS, QUARTER_ROWS]
        assert listed[0]["image_url"] == "/documents/report.pdf/pages/2.png"
        png = client.get(listed[0]["image_url"])
        assert png.headers["content-type"] == "image/png"
        from PIL import Image

        with Image.open(io.BytesIO(png.content)) as image:  # the table's box on that image: inside it, scaled
            x0, y0, x1, y1 = listed[0]["image_box"]
            assert 0 <= x0 < x1 <= image.width and 0 <= y0 < y1 <= image.height
            assert x1 == round(listed[0]["box"][2] * listed[0]["image_scale"])

        one = client.get("/documents/report.pdf/tables", params={"page": 3, "table": 1, "format": "csv"})
        assert one.status_code == 200 and one.headers["content-type"] == "text/csv; charset=utf-8"
        assert list(csv.reader(io.StringIO(one.text)))[1:] == QUARTER_ROWS
        assert "report.pdf-page3-table1.csv" in one.headers["content-disposition"]
        both = client.get("/documents/report.pdf/tables", params={"format": "csv"})
        assert [row for row in csv.reader(io.StringIO(both.text)) if row and row[0] in ("North", "Margin")] == [
            REGION_ROWS[0], QUARTER_ROWS[2]]
        html = client.get("/documents/report.pdf/tables", params={"page": 2, "format": "html"})
        assert html.headers["content-type"] == "text/html; charset=utf-8"
        assert "default-src 'none'" in html.headers["content-security-policy"]
        assert parse_html(html.text).rows[1:] == REGION_ROWS and "<caption>report.pdf · page 2 · table 1" in html.text
        markdown = client.get("/documents/report.pdf/tables", params={"format": "markdown"})
        assert markdown.headers["content-type"] == "text/markdown; charset=utf-8"
        assert "### report.pdf · page 3 · table 1" in markdown.text and "| East | 95 | 131 | +36 |" in markdown.text

        empty = client.get("/documents/report.pdf/tables", params={"page": 1})  # JSON: an empty list, and why
        assert empty.status_code == 200 and empty.json()["tables"] == []
        assert empty.json()["note"] == "report.pdf page 1 has no tables; tables were found on pages 2 and 3"
        no_csv = client.get("/documents/report.pdf/tables", params={"page": 1, "format": "csv"})
        assert no_csv.status_code == 404 and no_csv.json() == {"detail": empty.json()["note"]}

        missing = client.get("/documents/missing.pdf/tables")
        assert missing.status_code == 404 and missing.json() == {"detail": "no document named 'missing.pdf'; GET /documents lists them"}
        assert client.get("/documents/report.pdf/tables", params={"page": 9}).json() == {
            "detail": "report.pdf has 3 pages; there is no page 9"}
        bad = client.get("/documents/report.pdf/tables", params={"format": "xlsx"})
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "format"]
        assert client.get("/documents/report.pdf/tables", params={"page": 0}).status_code == 422
        no_page = client.get("/documents/report.pdf/tables", params={"table": 1})
        assert no_page.status_code == 400 and no_page.json()["detail"].startswith("table needs page")
        too_far = client.get("/documents/report.pdf/tables", params={"page": 2, "table": 2, "format": "markdown"})
        assert too_far.status_code == 404 and too_far.json()["detail"] == "report.pdf page 2 has 1 table (table 1); there is no table 2"
        assert client.get("/documents/report.pdf/tables", params={"page": 2, "table": 2}).json() == too_far.json()


def test_http_tables_of_an_attachment_and_behind_a_token(tmp_path: Path, embedder: Embedder) -> None:
    pytest.importorskip("fastapi", reason="the HTTP API needs the server extra: pip install 'docagent[server]'")
    import httpx

    from docagent_connectors.http_api import ApiSettings, create_app
    from tests.test_http_api import running

    pdf = report_pdf(tmp_path / "report.pdf")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "msg.eml").write_bytes(factories.mail_with_pdf(pdf, "q.pdf", "The report is attached."))
    settings = Settings(store=tmp_path / "store")
    with PageStore(settings, embedder=embedder) as store:
        assert not index_paths([tmp_path / "docs"], store=store, progress=False).failed
    api = ApiSettings(token="s3cret-token-for-the-test")
    with running(create_app(settings, api)) as url, httpx.Client(base_url=url, timeout=60) as client:
        assert client.get("/documents/msg.eml/q.pdf/tables").status_code == 401
        r = client.get("/documents/msg.eml/q.pdf/tables", params={"page": 2, "format": "csv"},
                       headers={"Authorization": "Bearer s3cret-token-for-the-test"})
        assert r.status_code == 200 and list(csv.reader(io.StringIO(r.text)))[1:] == REGION_ROWS


# ------------------------------------------------------------------------------------------- app


@pytest.fixture
def app_over(monkeypatch: pytest.MonkeyPatch):
    """``app_over(store)``: the app as ``docagent app --store STORE`` starts it on 127.0.0.1, no password, no
    model, opened on its Tables page."""
    pytest.importorskip("streamlit", reason="the app needs the app extra: pip install 'docagent[app]'")
    from streamlit import config

    from tests.test_app import open_app

    before = config.get_option("server.address")
    config.set_option("server.address", "127.0.0.1")
    monkeypatch.delenv("DOCAGENT_APP_PASSWORD", raising=False)
    monkeypatch.delenv("DOCAGENT_APP_BEHIND_AUTH_PROXY", raising=False)
    monkeypatch.setenv("DOCAGENT_VLM_MODEL", "/nonexistent/no-model-here")

    def start(store: Path) -> Any:
        monkeypatch.setenv("DOCAGENT_STORE", str(store))
        return open_app("Tables")

    yield start
    config.set_option("server.address", before)


@pytest.fixture
def shown_media(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bytes, str, str | None]]:
    """Every file the app hands the browser (images, downloads): ``(data, mimetype, file name)``."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    seen: list[tuple[bytes, str, str | None]] = []
    original = MemoryMediaFileStorage.load_and_get_id

    def recording(self: Any, path_or_data: Any, mimetype: str, kind: Any, filename: str | None = None) -> str:
        data = path_or_data if isinstance(path_or_data, bytes) else Path(path_or_data).read_bytes()
        seen.append((data, mimetype, filename))
        return original(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", recording)
    return seen


def red_frame(png: bytes) -> tuple[tuple[int, int], int]:
    """The size of the strong red drawn on an image (its bounding box), and how many red pixels lie inside it
    away from its edges."""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    red = (pixels[..., 0] > 180) & (pixels[..., 1] < 90) & (pixels[..., 2] < 90)
    ys, xs = np.nonzero(red)
    if not len(xs):
        return (0, 0), 0
    x0, y0, x1, y1 = xs.min(), ys.min(), xs.max(), ys.max()
    return (int(x1 - x0), int(y1 - y0)), int(red[y0 + 12: y1 - 12, x0 + 12: x1 - 12].sum())


def test_the_app_shows_each_table_beside_its_page_with_the_box(library: PageStore, app_over: Any,
                                                               shown_media: list) -> None:
    from tests.test_app import plain

    at = app_over(library.settings.store)
    at.selectbox(key="tables_doc").set_value("report.pdf").run()
    assert not at.exception, at.exception
    assert [plain(h.value) for h in at.subheader] == ["Page 2 · table 1", "Page 3 · table 1"]
    regions, quarters = (d.value for d in at.dataframe)
    assert list(regions.columns)[1:] == ["2024", "2025", "Change"] and regions.values.tolist() == REGION_ROWS
    assert quarters.values.tolist() == QUARTER_ROWS
    assert [plain(c) for image in at.image for c in image.captions] == ["report.pdf · page 2 · table 1",
                                                                        "report.pdf · page 3 · table 1"]
    images = [data for data, mime, _ in shown_media if mime.startswith("image/")]
    for png, table in zip(images[-2:], library.tables("report.pdf"), strict=True):  # the box, drawn around the table
        x0, y0, x1, y1 = library.page("report.pdf", table.page).to_pixels(table.box)
        (width, height), inside = red_frame(png)
        assert abs(width - (x1 - x0)) <= 16 and abs(height - (y1 - y0)) <= 16 and inside == 0, (width, height, inside)
    downloads = {name: data for data, _, name in shown_media if name}
    assert list(csv.reader(io.StringIO(downloads["report.pdf-p2-t1.csv"].decode())))[1:] == REGION_ROWS
    assert Table.from_json(json.loads(downloads["report.pdf-p3-t1.json"])).grid()[1:] == QUARTER_ROWS

    at.selectbox(key="tables_page:report.pdf").set_value(3).run()  # one page's tables only
    assert [plain(h.value) for h in at.subheader] == ["Page 3 · table 1"] and len(at.dataframe) == 1
    at.selectbox(key="tables_doc").set_value("invoice.pdf").run()
    assert not at.dataframe and not at.image
    assert plain(at.info[0].value) == "No tables were found in invoice.pdf (tables are found when a document is indexed)."


# ------------------------------------------------------------------------- chart_compute over found tables


def test_chart_compute_takes_an_expression_over_the_found_table_with_no_model(library: PageStore) -> None:
    tools = {t.name: t for t in make_tools(store=library, model="/no/model/here")}  # loading one would fail
    result = invoke(tools["chart_compute"], doc="report.pdf", page=3,
                    expression='cell("Q4", "Revenue") - cell("Q1", "Revenue")').artifact.to_json()
    assert result["exact"] == "370" and result["source"] == "table"
    page = library.page("report.pdf", 3)
    printed = {w.text: page.to_pixels(w.box) for w in page.words}
    assert [(c["text"], c["image_box"]) for c in result["cells"]] == [("1,620", list(printed["1,620"])),
                                                                       ("1,250", list(printed["1,250"]))]
    agent_llm = scripted(
        call("chart_compute", doc="report.pdf", page=3, expression='cell("Q4", "Costs") - cell("Q1", "Costs")'),
        "Costs rose by 130 thousand EUR [report.pdf, page 3].")
    answer = run_agent("By how much did costs rise from Q1 to Q4?", llm=agent_llm, tools=make_tools(store=library))
    assert answer.steps[0].ok and answer.steps[0].result["exact"] == "-130"  # (1,110) - (980): parentheses negative
    [cited] = answer.citations
    assert (cited.doc, cited.page) == ("report.pdf", 3)
    assert cited.boxes == [printed["(1,110)"], printed["(980)"]]


def test_http_chart_computes_an_expression_without_a_model(library: PageStore) -> None:
    pytest.importorskip("fastapi", reason="the HTTP API needs the server extra: pip install 'docagent[server]'")
    import httpx

    from docagent_connectors.http_api import create_app
    from tests.test_http_api import running

    with running(create_app(library.settings, model="/no/model/here")) as url, httpx.Client(base_url=url, timeout=60) as client:
        r = client.post("/chart", json={"doc": "report.pdf", "page": 2, "expression": 'sum(col("2025"))'})
        assert r.status_code == 200 and r.json()["exact"] == "630" and r.json()["source"] == "table"
        assert {c["row"] for c in r.json()["cells"]} == {"North", "East", "South", "West"}
        neither = client.post("/chart", json={"doc": "report.pdf", "page": 2})
        assert neither.status_code == 422 and "give a question, or an expression" in neither.text
        wrong = client.post("/chart", json={"doc": "report.pdf", "page": 1, "expression": 'cell("Q1", "Revenue")'})
        assert wrong.status_code == 200 and wrong.json()["value"] is None
        assert wrong.json()["error"].startswith("report.pdf page 1 has no tables; tables were found on pages 2 and 3")
