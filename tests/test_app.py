"""The Streamlit app, page by page, through streamlit.testing's AppTest: a real store, scripted chat models
(or none: retrieval-only), every click a user makes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("streamlit", reason="the app needs the app extra: pip install 'docagent[app]'")

from streamlit.testing.v1 import AppTest

from docagent.config import Settings
from docagent.index.store import PageStore
from tests import factories
from tests.scripted import scripted
from tests.test_agents import REVENUE, build_library

MAIN = str(Path(__file__).resolve().parents[1] / "app" / "main.py")


@pytest.fixture(autouse=True)
def listening(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """The address the app listens on, as ``docagent app --host`` sets it: 127.0.0.1 unless a test calls
    ``listening(host)``; no password, no proxy."""
    from streamlit import config

    before = config.get_option("server.address")
    monkeypatch.delenv("DOCAGENT_APP_PASSWORD", raising=False)
    monkeypatch.delenv("DOCAGENT_APP_BEHIND_AUTH_PROXY", raising=False)

    def listen(host: str) -> None:
        config.set_option("server.address", host)

    listen("127.0.0.1")
    yield listen
    config.set_option("server.address", before)


@pytest.fixture
def library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A store with an invoice, a handbook, a chart page and a filled form; no model can load."""
    settings = build_library(tmp_path)
    monkeypatch.setenv("DOCAGENT_STORE", str(settings.store))
    monkeypatch.setenv("DOCAGENT_VLM_MODEL", str(tmp_path / "no-model-here"))
    return settings


def open_app(page: str, llm: Any = None) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=120)
    if llm is not None:
        at.session_state["llm"] = llm
    at.run()
    at.sidebar.radio[0].set_value(page).run()
    assert not at.exception, at.exception
    return at


def jobs_done(at: AppTest, settings: Settings, timeout: float = 120) -> AppTest:
    """Wait for the store's indexing jobs (run by the app's server in the background), then look at the page again,
    as the page does every two seconds."""
    import time

    from docagent.index.jobs import FINISHED

    deadline = time.monotonic() + timeout
    with PageStore(settings) as store:
        while any(j.state not in FINISHED for j in store.catalog.jobs()) and time.monotonic() < deadline:
            time.sleep(0.2)
    return at.run()


def plain(markdown: str) -> str:
    """Markdown as the reader sees it (the app escapes every markdown character in documents' and models' text)."""
    return re.sub(r"\\(.)", r"\1", markdown)


def texts(at: AppTest) -> list[str]:
    return [plain(m.value) for m in at.markdown]


def captions(at: AppTest) -> list[str]:
    """Image captions as the reader sees them (captions are markdown too)."""
    return [plain(c) for image in at.image for c in image.captions]


# ------------------------------------------------------------------------------------------ library


@pytest.mark.slow
def test_library_indexes_uploads_reports_bad_files_and_deletes(library: Settings, tmp_path: Path) -> None:
    at = open_app("Library")
    assert "**invoice.pdf**  \n2 pages" in texts(at) and len(at.image) == 4  # a thumbnail per document
    assert at.subheader[0].value == "4 documents" and not at.warning  # a store with documents: no notice
    contract = factories.text_pdf(tmp_path / "contract.pdf", ["Contract C-9: notice period 3 months."])
    at.file_uploader[0].set_value([("contract.pdf", contract.read_bytes(), "application/pdf"),
                                   ("notes.pdf", b"<html><body>not a pdf</body></html>", "application/pdf"),
                                   ("empty.png", b"", "image/png")]).run()
    at.button(key="index").click().run()
    jobs_done(at, library)
    assert not at.exception, at.exception
    errors = [plain(e.value) for e in at.error]
    assert any(e.startswith("notes.pdf: its content looks like an HTML page, not PDF") for e in errors)
    assert any(e.startswith("empty.png: the file is empty") for e in errors)
    assert at.success[0].value == "Indexed 1 document, 1 page."  # "1 page", never "1 pages"
    with PageStore(library) as store:  # indexed as a job, its progress in the store (the page follows it)
        job = store.catalog.jobs(1)[0]
        assert job.state == "done" and (job.data["done"], job.data["total"]) == (1, 1)
    assert at.file_uploader[0].value in (None, [])  # the uploader is empty again: the batch is not sent twice
    assert "**contract.pdf**  \n1 page" in texts(at) and len(at.image) == 5
    at.button(key="delete:contract.pdf").click().run()  # asked first
    assert "**contract.pdf**  \n1 page" in texts(at) and "Remove contract.pdf" in plain(at.warning[0].value)
    at.button(key="keep:contract.pdf").click().run()
    assert not at.warning and "**contract.pdf**  \n1 page" in texts(at)
    at.button(key="delete:contract.pdf").click().run()
    at.button(key="confirm-delete:contract.pdf").click().run()
    assert "**contract.pdf**  \n1 page" not in texts(at)
    with PageStore(library) as store:
        assert store.document("contract.pdf") is None and store.document("invoice.pdf") is not None


def test_library_refuses_a_file_over_the_upload_limit(library: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCAGENT_APP_MAX_UPLOAD_MB", "0.5")
    at = open_app("Library")
    at.file_uploader[0].set_value([("big.pdf", b"%PDF-1.7\n" + b"0" * 600_000, "application/pdf")]).run()
    at.button(key="index").click().run()
    assert [plain(e.value) for e in at.error] == ["big.pdf: larger than the limit of 0.5 MiB; split or compress it"]



@pytest.mark.slow
def test_library_takes_office_files_by_content_and_e_mail_with_its_attachments(library: Settings,
                                                                               tmp_path: Path) -> None:
    from docagent.ingest.formats import describe
    from tests.factories import mail_with_pdf, word_file  # real files: python-docx, the email package

    at = open_app("Library")
    assert describe() in at.file_uploader[0].label  # every format the registry reads, named in one place
    report = word_file(tmp_path / "report.docx", ["Revenue rose by 12 percent.",
                                                  "The zanzibarium contract was signed."])
    invoice = factories.text_pdf(tmp_path / "bill.pdf", ["Invoice 77: total due 120.00 EUR."])
    mail = mail_with_pdf(invoice, "bill.pdf", "The bill is attached.")
    at.file_uploader[0].set_value([("quarterly-report", report.read_bytes(), "application/octet-stream"),  # no suffix
                                   ("msg.eml", mail, "message/rfc822"),
                                   ("cut.docx", report.read_bytes()[:2000], "application/octet-stream")]).run()
    at.button(key="index").click().run()
    jobs_done(at, library)
    assert not at.exception, at.exception
    errors = [plain(e.value) for e in at.error]
    assert len(errors) == 1 and errors[0].startswith("cut.docx: damaged or truncated ZIP"), errors
    assert plain(at.success[0].value).startswith("Indexed 3 documents"), at.success  # the message and its attachment
    shown = texts(at)
    assert "**quarterly-report.docx**  \n2 pages" in shown  # named with the suffix its content calls for
    assert any(t.startswith("**msg.eml**") for t in shown)
    assert any(t.startswith("**msg.eml/bill.pdf**  \n1 page") for t in shown)
    at.button(key="delete:msg.eml").click().run()  # asked first; the message goes with its attachment
    at.button(key="confirm-delete:msg.eml").click().run()
    assert not any(t.startswith("**msg.eml") for t in texts(at))
    with PageStore(library) as store:
        assert store.document("msg.eml") is None and store.document("msg.eml/bill.pdf") is None
        assert store.document("quarterly-report.docx").kind == "word"


# --------------------------------------------------------------------------------------------- chat


@pytest.mark.slow
def test_chat_streams_the_answer_as_text_and_shows_citation_thumbnails(library: Settings) -> None:
    llm = scripted("The total due is **7,981.99 EUR** <img src=x onerror=alert(1)> [1].")
    at = open_app("Chat", llm)
    assert not at.warning  # a model is there: no retrieval-only banner
    at.chat_input[0].set_value("What is the total due on the invoice?").run()
    assert not at.exception, at.exception
    answer = next(m for m in at.markdown if "7,981" in m.value)
    assert answer.value == ("The total due is \\*\\*7,981\\.99 EUR\\*\\* \\<img src=x onerror=alert\\(1\\)\\> \\[1\\]\\.")
    assert not answer.proto.allow_html  # model output is text, never HTML
    assert captions(at) == ["invoice.pdf · page 1"]
    at.button(key="answer0:0").click().run()  # open the page viewer
    assert captions(at) == ["invoice.pdf · page 1", "invoice.pdf · page 1 · 2 evidence boxes"]
    # its previous / next / zoom / close are driven in a real browser: tests/test_app_browser.py
    at.chat_input[0].set_value("And how do I pay?").run()  # the conversation stays on the page
    assert [m.value for m in at.markdown].count("What is the total due on the invoice?") == 1


def test_the_conversation_survives_a_settings_change_and_a_reload_and_stays_the_visitors(library: Settings) -> None:
    at = open_app("Chat", scripted("The total due is 7,981.99 EUR [1]."))
    at.chat_input[0].set_value("What is the total due on the invoice?").run()
    assert at.query_params["page"] == "Chat" and at.query_params["chat"]  # both in the page's address
    at.sidebar.radio[0].set_value("Settings").run()
    at.button[0].click().run()  # the form's Save
    at.sidebar.radio[0].set_value("Chat").run()
    assert "What is the total due on the invoice?" in texts(at), texts(at)

    reloaded = AppTest.from_file(MAIN, default_timeout=120)  # the browser reloads the same address
    reloaded.query_params.update(at.query_params)
    reloaded.run()
    assert not reloaded.exception, reloaded.exception
    assert reloaded.sidebar.radio[0].value == "Chat"  # the page it was on, not the Library
    assert "What is the total due on the invoice?" in texts(reloaded)
    assert "The total due is 7,981\\.99 EUR \\[1\\]\\." in [m.value for m in reloaded.markdown]
    assert captions(reloaded) == ["invoice.pdf · page 1"]  # its citation, drawn from the store again
    reloaded.run()  # and on every run after (the store it was read back with is closed by then)
    assert captions(reloaded) == ["invoice.pdf · page 1"]

    stranger = open_app("Chat")  # another visitor: another address, another conversation
    assert "What is the total due on the invoice?" not in texts(stranger)


def test_chat_shows_an_abstention_as_such(library: Settings) -> None:
    at = open_app("Chat", scripted("NOT FOUND"))
    at.chat_input[0].set_value("What is the CEO's shoe size?").run()
    assert at.info[0].value.startswith("**The documents do not answer this.** The documents do not say")
    assert not at.image


def test_chat_without_a_model_says_so_and_still_shows_the_evidence(library: Settings) -> None:
    at = open_app("Chat")
    banner = plain(at.warning[0].value)
    assert banner.startswith("**No vision-language model is available**, so answers are **retrieval-only**")
    assert "no-model-here" in banner and "open **Settings**" in banner
    at.chat_input[0].set_value("How many days of paid leave do employees get?").run()
    assert "**Best-matching passages** (no model read them):" in texts(at)
    beside = [plain(w.value) for w in at.warning if plain(w.value).startswith("**Retrieval-only**")]
    assert beside and beside[0].startswith("**Retrieval-only**: no model read these pages. Why: ")  # with the answer too
    assert "no-model-here" in beside[0]
    assert any(t.startswith("[1] handbook.pdf, page 1: Holiday policy") for t in texts(at))
    assert captions(at)[0] == "handbook.pdf · page 1"


@pytest.mark.slow
def test_chat_with_an_unreachable_model_server_says_why_beside_every_answer(library: Settings,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.test_http_api import free_port

    server = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    monkeypatch.setenv("DOCAGENT_VLM_MODEL", server)
    at = open_app("Chat")
    for n, question in enumerate(["What is the total due on the invoice?", "How many days of paid leave?"], 1):
        at.chat_input[0].set_value(question).run()
        assert not at.exception, at.exception
        beside = [plain(w.value) for w in at.warning if plain(w.value).startswith("**Retrieval-only**")]
        assert len(beside) == n  # one per answer, the earlier ones kept
        assert f"Why: the model failed: cannot reach the model server at {server}" in beside[-1]
    assert "**Best-matching passages** (no model read them):" in texts(at)


def scripted_answers(monkeypatch: pytest.MonkeyPatch, *answers: Any) -> None:
    """``docagent.ask`` replaced by one that returns ``answers`` in turn (the app's part only)."""
    import docagent

    queue = list(answers)

    def ask(question: str, **kwargs: Any) -> Any:
        answer = queue.pop(0)
        answer.question = question
        return answer

    monkeypatch.setattr(docagent, "ask", ask)


def test_chat_leads_with_the_located_answer_and_gives_the_reason_it_abstains(library: Settings,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from docagent.types import Answer, AnswerSpan, Citation

    with PageStore(library) as store:
        image = store.page_image("invoice.pdf", 1)
    passages = "Best-matching passages (no model read them):\n[1] invoice.pdf, page 1: Invoice INV-7 ... Total due 7,981.99 EUR"
    located = Answer("", passages, "retrieval-only", False, [Citation("invoice.pdf", 1, [(10, 10, 90, 30)], image)],
                     notice="retrieval-only: no-model-here is not a model folder",
                     answer_span=AnswerSpan("7,981.99 EUR", "invoice.pdf", 1, (10, 10, 90, 30), "value", 0.8, "label", 0.97))
    doubtful = Answer("", passages, "retrieval-only", False, [Citation("invoice.pdf", 1, [(10, 10, 90, 30)], image)],
                      notice="retrieval-only: no-model-here is not a model folder",
                      answer_span=AnswerSpan("Mira Havel", "invoice.pdf", 1, (10, 10, 90, 30), "value", 0.9, "label",
                                             0.70, needs_review=True))
    off_topic = Answer("", "The documents do not say.\n[1] handbook.pdf, page 1: Holiday policy: every employee ...",
                       "retrieval-only", True, notice="retrieval-only: no-model-here is not a model folder",
                       reason="none of the pages mentions 'FIFA' or 'World Cup'")
    scripted_answers(monkeypatch, located, off_topic, doubtful)
    at = open_app("Chat")
    at.chat_input[0].set_value("What is the total due?").run()
    assert not at.exception, at.exception
    shown = texts(at)
    lead = shown.index("**Most likely answer** (confidence 0.97): 7,981.99 EUR — invoice.pdf, page 1")
    assert shown.index("**Best-matching passages** (no model read them):") > lead  # the passages below it
    assert captions(at) == ["invoice.pdf · page 1"]
    at.chat_input[0].set_value("Who won the 2018 FIFA World Cup?").run()
    info = plain(at.info[0].value)
    assert info.startswith("**The documents do not answer this.** The documents do not say.")
    assert info.endswith("Why: none of the pages mentions 'FIFA' or 'World Cup'")
    assert "**Closest passages** (they do not answer it):" in texts(at)
    assert "[1] handbook.pdf, page 1: Holiday policy: every employee ..." in texts(at)
    assert [plain(w.value) for w in at.warning].count(
        "**Retrieval-only**: no model read these pages. Why: no-model-here is not a model folder") == 2
    at.chat_input[0].set_value("Who is the site manager?").run()  # a lead found a less sure way: to be checked
    assert "**Possible answer — check it** (confidence 0.70): Mira Havel — invoice.pdf, page 1" in [
        plain(w.value) for w in at.warning]


# ------------------------------------------------------------------------------------------ extract


def test_extract_fields_from_the_table_marks_low_confidence_and_downloads(library: Settings) -> None:
    llm = scripted({"member_since": "1843-01-01"})  # not printed on the page: kept, low confidence
    at = open_app("Extract", llm)
    at.session_state["fields:"] = {  # what typing into the table does
        "edited_rows": {}, "added_rows": [{"name": "full_name", "type": "str", "description": "applicant"},
                                          {"name": "newsletter", "type": "bool", "description": ""},
                                          {"name": "member_since", "type": "date", "description": "date joined"},
                                          {"name": "iban", "type": "str", "description": "bank account"}],
        "deleted_rows": []}
    at.multiselect(key="extract_docs").set_value(["membership.pdf"]).run()
    at.button(key="extract").click().run()
    assert not at.exception, at.exception
    rows = at.dataframe[-1].value.to_dict("records")  # the results (the field editor comes first)
    by_field = {r["field"]: r for r in rows}
    assert by_field["full_name"]["value"] == "Ada Lovelace" and by_field["full_name"]["page"] == 1
    assert by_field["full_name"]["check"] == "" and by_field["newsletter"]["value"] == "True"
    assert by_field["member_since"]["value"] == "1843-01-01"  # kept; its flag is the library's (test_extract.py)
    iban = by_field["iban"]
    assert (iban["value"], iban["confidence"], iban["check"]) == ("", 0.0, "not found") and iban["page"] != iban["page"]  # no page: NaN in the table
    at.selectbox(key="show_value").set_value("membership.pdf · full_name").run()
    assert [c for c in captions(at) if c.startswith("membership.pdf · page 1 · full_name")]  # (its label, when known)
    downloads = {b.proto.label: b.proto for b in at.get("download_button")}
    assert set(downloads) == {"Download CSV", "Download JSON"}
    assert downloads["Download CSV"].url and downloads["Download JSON"].url


def test_extract_loads_fields_from_a_json_schema(library: Settings) -> None:
    at = open_app("Extract", scripted())
    schema = {"type": "object", "properties": {"total": {"type": "number", "description": "amount due"},
                                               "due": {"type": "string", "format": "date"}}}
    at.file_uploader(key="schema_file").set_value(("invoice.schema.json", json.dumps(schema).encode(), "application/json")).run()
    assert at.data_editor[0].value.to_dict("records") == [
        {"name": "total", "type": "decimal", "description": "amount due"}, {"name": "due", "type": "date", "description": ""}]


def scripted_extraction(monkeypatch: pytest.MonkeyPatch, fields: dict[str, Any]) -> list[dict[str, Any]]:
    """``docagent.extract`` replaced by one that returns ``fields`` for each document asked for; the calls it got."""
    import docagent
    from docagent.types import Extraction

    calls: list[dict[str, Any]] = []

    def extract(**kwargs: Any) -> list[Extraction]:
        calls.append(kwargs)
        return [Extraction(doc, dict(fields)) for doc in kwargs["docs"]]

    monkeypatch.setattr(docagent, "extract", extract)
    return calls


def test_extract_keeps_every_field_chooses_no_document_for_you_and_shows_flags_empties_and_labels(
        library: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from docagent.tasks.extract import CONFIDENCE, NO_VALUE_CONFIDENCE
    from docagent.types import FieldValue

    widget = "topmostSubform[0].Page1[0].f1_01[0]"
    calls = scripted_extraction(monkeypatch, {
        "total": FieldValue(value="65", page=1, box=(10, 10, 50, 20), confidence=CONFIDENCE["text:gap"], source="text",
                            grounded=True, needs_review=True, reason="the label matched only in part ('Total for all 65+')"),
        widget: FieldValue(value="Ada", page=1, box=(60, 60, 200, 80), confidence=CONFIDENCE["acroform:name"],
                           source="acroform", grounded=True, label="Your first name and middle initial"),
        "member_no": FieldValue(value=None, page=1, box=(60, 90, 200, 110), confidence=CONFIDENCE["acroform:name"],
                                source="acroform", grounded=True, label="Member number", reason="the form field is empty"),
        "po_number": FieldValue(value=None, confidence=NO_VALUE_CONFIDENCE, source="none", reason="not found on the pages"),
    })
    at = open_app("Extract", scripted())
    assert at.multiselect(key="extract_docs").value == []  # four documents: none is guessed for you
    assert not at.data_editor[0].value.to_dict("records")  # and no invoice fields preset for them
    type_column = json.loads(at.data_editor[0].proto.columns)["type"]
    assert type_column.get("default") == "str" and not type_column.get("required")  # an untyped row is kept, as text
    at.session_state["fields:"] = {"edited_rows": {}, "deleted_rows": [], "added_rows": [
        {"name": "total", "type": "decimal"}, {"name": "po_number", "type": None}, {"name": "member_no"},
        {"name": None, "description": "a row someone forgot to name"}]}
    at.multiselect(key="extract_docs").set_value(["membership.pdf"]).run()
    at.button(key="extract").click().run()
    assert not at.exception, at.exception
    asked = {s.name: s.type for s in calls[0]["schema"]}
    assert asked == {"total": "decimal", "po_number": "str", "member_no": "str"}
    assert plain(at.warning[0].value) == "1 row without a name left out: give each field a name."
    rows = {r["field"]: r for r in at.dataframe[-1].value.to_dict("records")}
    assert (rows["total"]["check"], rows["total"]["why"]) == ("⚠ check it", "the label matched only in part ('Total for all 65+')")
    assert plain(at.warning[1].value).startswith("1 value to check by eye")
    assert (rows["member_no"]["value"], rows["member_no"]["why"]) == ("empty", "the form field is empty")
    assert (rows["po_number"]["value"], rows["po_number"]["check"]) == ("", "not found")
    assert rows[widget]["label"] == "Your first name and middle initial" and rows[widget]["value"] == "Ada"
    assert "None" not in {r["value"] for r in rows.values()}
    at.selectbox(key="show_value").set_value(f"membership.pdf · {widget}").run()
    assert f"membership.pdf · page 1 · {widget} (Your first name and middle initial)" in captions(at)


def test_extract_speaks_of_the_field_table_not_command_line_flags(library: Settings) -> None:
    at = open_app("Extract", scripted())
    at.multiselect(key="extract_docs").set_value(["invoice.pdf"]).run()  # no fields, and no form fields to read
    at.button(key="extract").click().run()
    assert not at.exception, at.exception
    said = " ".join([plain(w.value) for w in at.warning] + [plain(e.value) for e in at.error])
    assert "table above" in said
    assert "--" not in said and "docagent " not in said


# ------------------------------------------------------------------------------------------- charts


def test_charts_shows_the_table_the_expression_and_the_exact_result(library: Settings) -> None:
    llm = scripted(REVENUE, {"expression": 'percent_change(cell("Q1"), cell("Q4"))', "unit": "%"})
    at = open_app("Charts", llm)
    at.text_input(key="chart_q").set_value("By what percent did revenue grow from Q1 to Q4?").run()
    at.button(key="compute").click().run()  # the page is found from the question
    assert not at.exception, at.exception
    assert plain(at.metric[0].value) == "57.317073%"
    assert at.code[0].value == 'percent_change(cell("Q1"), cell("Q4"))'
    assert at.dataframe[0].value.to_dict("records")[-1] == {"category": "Q4", "Revenue": 1290.0}
    assert "report.pdf · page 1" in captions(at)


def test_charts_on_a_chosen_page_without_a_model_explains(library: Settings) -> None:
    at = open_app("Charts")
    at.text_input(key="chart_q").set_value("Sum of Q1 and Q2?").run()
    at.radio(key="chart_route").set_value("Choose it").run()
    at.selectbox(key="chart_doc").set_value("report.pdf").run()
    at.button(key="compute").click().run()
    assert at.warning[0].value.startswith("**No vision-language model is available**, so charts cannot be read")


@pytest.mark.slow
def test_charts_computes_an_expression_over_a_found_table_without_a_model(library: Settings, tmp_path: Path) -> None:
    from docagent.index.indexer import index_paths

    assert not index_paths([factories.results_pdf(tmp_path / "results.pdf")], library, progress=False).failed
    at = open_app("Charts")
    at.radio(key="chart_route").set_value("Choose it").run()
    at.selectbox(key="chart_doc").set_value("results.pdf").run()
    assert "Capital expenditures" in " ".join(plain(c.value) for c in at.caption)  # its rows and columns named
    at.text_input(key="chart_expr").set_value('cell("2019", "Revenue") - cell("2018", "Revenue")').run()
    at.button(key="compute").click().run()
    assert not at.exception, at.exception
    assert [plain(w.value) for w in at.warning] == [  # no model was needed; the scale is said
        "Note: the table's numbers are printed in millions of USD; the result has that scale applied (134.5 as the "
        "table prints it)"]
    assert plain(at.metric[0].value) == "134500000 USD"
    cells = at.dataframe[0].value.to_dict("records")
    assert [(c["row"], c["column"], c["printed"]) for c in cells] == [("Revenue", "2019", "1,234.5"),
                                                                       ("Revenue", "2018", "1,100.0")]
    assert "Table found on the page" in " ".join(plain(c.value) for c in at.caption)

    words = open_app("Charts")  # a question in words over the found table: no model either, found from the question
    words.text_input(key="chart_q").set_value("What is the difference in revenue between 2018 and 2019?").run()
    words.button(key="compute").click().run()
    assert not words.exception, words.exception
    assert plain(words.metric[0].value) == "134500000 USD"
    assert words.code[0].value == 'cell("2019", "Revenue") - cell("2018", "Revenue")'


@pytest.mark.slow
def test_charts_shows_a_table_whose_columns_share_a_header(library: Settings, tmp_path: Path) -> None:
    from docagent.index.indexer import index_paths

    path = factories.tables_pdf(tmp_path / "units.pdf", [("Units by region", ["", "Units", "Units"],
                                                          [["North", "10", "12"], ["South", "20", "22"]])])
    assert not index_paths([path], library, progress=False).failed
    at = open_app("Charts")
    at.radio(key="chart_route").set_value("Choose it").run()
    at.selectbox(key="chart_doc").set_value("units.pdf").run()
    assert '"Units (column 2)", "Units (column 3)"' in " ".join(plain(c.value) for c in at.caption)
    at.text_input(key="chart_expr").set_value('cell("Units (column 3)", "North") - cell("Units (column 2)", "North")').run()
    at.button(key="compute").click().run()
    assert not at.exception, at.exception  # two columns named alike were a crash (duplicate dataframe columns)
    assert plain(at.metric[0].value) == "2"
    assert list(at.dataframe[1].value.columns) == ["category", "Units (column 2)", "Units (column 3)"]


# ----------------------------------------------------- text from documents and models is never markdown

HOSTILE = "[click](http:evil.example)![x](http:evil.example)"  # a file name cannot hold "//"
HOSTILE_MODEL = "[click](http://evil.example)![x](http://evil.example/x.png)"


def escaped(value: str, literal: str) -> bool:
    """``value`` shows ``literal`` and no markdown link or image: every bracket and parenthesis escaped."""
    return plain(value) == literal and not re.search(r"(?<!\\)[\[\]()!]", value)


@pytest.fixture
def hostile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A store holding one invoice, indexed under a name that is markdown for a link and a remote image."""
    from docagent.index import index_paths

    name = f"{HOSTILE}.pdf"
    (tmp_path / "docs").mkdir()
    factories.text_pdf(tmp_path / "docs" / name, ["Invoice INV-9. Total due 120.00 EUR by 1 May."])
    settings = Settings(store=tmp_path / "store")
    assert index_paths([tmp_path / "docs"], settings, progress=False).documents == 1
    monkeypatch.setenv("DOCAGENT_STORE", str(settings.store))
    monkeypatch.setenv("DOCAGENT_VLM_MODEL", str(tmp_path / "no-model-here"))
    return name


@pytest.mark.slow
def test_document_names_are_shown_as_text_in_captions_everywhere(hostile: str) -> None:
    at = open_app("Chat")
    at.chat_input[0].set_value("What is the total due on invoice INV-9?").run()
    assert not at.exception, at.exception
    raw = [c for image in at.image for c in image.captions]
    assert raw and escaped(raw[0], f"{hostile} · page 1")
    at.button(key="answer0:0").click().run()  # the full page
    full = [c for image in at.image for c in image.captions][-1]
    assert escaped(re.sub(r"\d+ evidence boxes$", "4 evidence boxes", full), f"{hostile} · page 1 · 4 evidence boxes")

    at.sidebar.radio[0].set_value("Extract").run()
    at.session_state["fields:"] = {"edited_rows": {}, "added_rows": [{"name": "total", "type": "decimal"}],
                                   "deleted_rows": []}
    assert at.multiselect(key="extract_docs").value == [hostile]  # the only document: chosen already
    at.checkbox(key="use_model").uncheck().run()
    at.button(key="extract").click().run()
    assert not at.exception, at.exception
    label = f"{hostile} · total"  # selectbox options are plain text already
    at.selectbox(key="show_value").set_value(label).run()
    assert escaped(at.image[-1].captions[0], f"{hostile} · page 1 · total")


def test_model_output_and_document_names_are_text_in_the_chart_result(hostile: str) -> None:
    llm = scripted(REVENUE, {"expression": 'cell("Q1") + cell("Q2")', "unit": HOSTILE_MODEL})
    at = open_app("Charts", llm)
    at.text_input(key="chart_q").set_value("Sum of Q1 and Q2?").run()
    at.radio(key="chart_route").set_value("Choose it").run()
    at.selectbox(key="chart_doc").set_value(hostile).run()
    at.button(key="compute").click().run()
    assert not at.exception, at.exception
    assert escaped(at.metric[0].value, f"1780 {HOSTILE_MODEL}")
    assert escaped(at.image[0].captions[0], f"{hostile} · page 1")


# ----------------------------------------------------------------------------------------- settings


@pytest.mark.slow
def test_settings_change_the_model_top_k_and_splitting_on_loopback_and_show_the_machine(library: Settings,
                                                                                     tmp_path: Path) -> None:
    at = open_app("Settings")
    checks = {r["check"]: r for r in at.dataframe[0].value.to_dict("records")}
    assert {"model", "gpu", "torch", "embedding model"} <= set(checks)
    assert checks["model"]["detail"].startswith(f"{tmp_path / 'no-model-here'}: ")
    assert [t.label for t in at.text_input] == ["Vision-language model"]  # the store is not the visitor's to change
    at.text_input[0].set_value("http://127.0.0.1:9/v1")
    at.slider[0].set_value(2)
    at.radio[0].set_value("off")
    at.button[0].click().run()  # the form's Save
    assert at.session_state["config"] == {"k": 2, "splitting": "off", "max_upload_mb": 50.0,
                                          "model": "http://127.0.0.1:9/v1"}
    assert texts(at)[0].startswith(f"**Store:** {library.store}  \n")  # on loopback the visitor is on this machine
    at.sidebar.radio[0].set_value("Library").run()
    assert "**invoice.pdf**  \n2 pages" in texts(at)  # the same store
    assert plain(at.sidebar.caption[0].value) == f"Store: {library.store}"


@pytest.mark.slow
def test_settings_are_saved_with_the_store_for_the_next_session(library: Settings, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app("Settings")
    at.text_input[0].set_value("http://127.0.0.1:9/v1")
    at.slider[0].set_value(2)
    at.button[0].click().run()  # the form's Save
    saved = json.loads((library.store / "app-settings.json").read_text())
    assert saved == {"k": 2, "splitting": "auto", "model": "http://127.0.0.1:9/v1", "replaces": str(tmp_path / "no-model-here")}
    with PageStore(library) as store:  # the store's own layout is untouched
        assert store.document("invoice.pdf") is not None
    assert [s.value for s in at.success] == ["Saved for this store."]

    again = open_app("Settings")  # another browser session, or the app restarted
    assert again.text_input[0].value == "http://127.0.0.1:9/v1" and again.slider[0].value == 2
    monkeypatch.setenv("DOCAGENT_VLM_MODEL", "http://127.0.0.1:10/v1")  # the operator names another model: it wins
    third = open_app("Settings")
    assert third.text_input[0].value == "http://127.0.0.1:10/v1" and third.slider[0].value == 2


@pytest.mark.slow
def test_test_the_model_says_ok_or_why_not(library: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.test_http_api import free_port

    at = open_app("Settings", scripted())
    at.button(key="test_model").click().run()
    assert plain(at.success[0].value) == "The model is Scripted, given to the app."
    server = f"http://127.0.0.1:{free_port()}/v1"
    monkeypatch.setenv("DOCAGENT_VLM_MODEL", server)
    at = open_app("Settings")
    at.button(key="test_model").click().run()
    assert not at.exception, at.exception
    said = plain(at.error[0].value)
    assert said.startswith("**The model cannot be used**, so answers are retrieval-only. Why: cannot reach the model "
                           f"server at {server}")


def test_a_new_or_empty_store_says_so_on_every_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    listening: Callable) -> None:
    store = tmp_path / "typo-store"
    monkeypatch.setenv("DOCAGENT_STORE", str(store))
    monkeypatch.setenv("DOCAGENT_VLM_MODEL", str(tmp_path / "no-model-here"))
    at = open_app("Library")
    for page in ("Library", "Chat", "Extract", "Charts", "Settings"):
        at.sidebar.radio[0].set_value(page).run()
        assert not at.exception, at.exception
        assert plain(at.warning[0].value).startswith(f"**This store is new**: nothing is indexed at {store}. Add "
                                                     "documents in the **Library**, or, if your documents are in "
                                                     "another store, restart the app")
    at = open_app("Library")  # a later session finds it created, and still empty
    assert plain(at.warning[0].value) == f"**This store is empty**: nothing is indexed at {store}. Add documents in the **Library**."
    listening("0.0.0.0")  # beyond loopback: the folder's name, not the server's path
    monkeypatch.setenv("DOCAGENT_APP_BEHIND_AUTH_PROXY", "1")
    at = AppTest.from_file(MAIN, default_timeout=120).run()
    assert plain(at.warning[0].value).startswith("**This store is empty**: nothing is indexed at typo-store. ")
    assert str(tmp_path) not in plain(at.warning[0].value)


def test_while_the_first_documents_are_indexed_the_store_is_not_called_empty(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The walk: "This store is empty" stayed on screen while the first batch was indexed."""
    import time

    from docagent.index.catalog import JobRecord

    monkeypatch.setenv("DOCAGENT_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("DOCAGENT_VLM_MODEL", str(tmp_path / "no-model-here"))
    with PageStore(Settings(store=tmp_path / "store")) as store:  # a batch being indexed by the app server's runner
        store.catalog.put_job(JobRecord("job-1", "running", time.time(), time.time(), {"files": [], "total": 2}))
    at = open_app("Chat")
    assert not at.exception, at.exception
    assert not [w for w in at.warning if "empty" in w.value or "new" in w.value]
    assert plain(at.info[0].value).startswith("**Indexing your first documents**: they appear here as each is done")


# ------------------------------------------------------------------------------------ access control

PASSWORD = "correct horse battery staple"


def test_beyond_loopback_without_access_control_the_app_shows_nothing_but_what_to_do(library: Settings,
                                                                                    listening: Callable) -> None:
    listening("0.0.0.0")  # as `streamlit run app/main.py --server.address 0.0.0.0` would, by hand
    at = AppTest.from_file(MAIN, default_timeout=120).run()
    assert not at.exception, at.exception
    assert not at.sidebar.radio and "invoice" not in " ".join(texts(at))
    message = plain(at.error[0].value)
    assert "beyond loopback" in message and "DOCAGENT_APP_PASSWORD" in message and "--behind-auth-proxy" in message


@pytest.mark.slow
@pytest.mark.parametrize("host", ["0.0.0.0", "127.0.0.1"])
def test_with_a_password_the_app_asks_for_it_before_showing_anything(library: Settings, listening: Callable,
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      host: str) -> None:
    listening(host)
    monkeypatch.setenv("DOCAGENT_APP_PASSWORD", f"  {PASSWORD}\n")  # blanks around it are not part of it
    at = AppTest.from_file(MAIN, default_timeout=120).run()
    assert not at.exception, at.exception
    assert [t.label for t in at.text_input] == ["Password"] and at.text_input[0].proto.type == 1  # masked
    assert not at.sidebar.radio and not at.image and "invoice" not in " ".join(texts(at))
    at.text_input[0].set_value(PASSWORD[:-1])
    at.button[0].click().run()
    assert [e.value for e in at.error] == ["Wrong password."] and not at.sidebar.radio
    at.text_input[0].set_value(PASSWORD)
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert "**invoice.pdf**  \n2 pages" in texts(at) and not at.text_input  # the Library
    at.sidebar.radio[0].set_value("Chat").run()  # the session remembers
    assert at.chat_input


def test_a_short_password_is_refused_not_used(library: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCAGENT_APP_PASSWORD", "letmein")
    at = AppTest.from_file(MAIN, default_timeout=120).run()
    assert plain(at.error[0].value).startswith("DOCAGENT_APP_PASSWORD is shorter than 12 characters")
    assert not at.text_input and not at.sidebar.radio


def test_settings_beyond_loopback_fix_the_model_and_show_no_server_paths(library: Settings, listening: Callable,
                                                                          monkeypatch: pytest.MonkeyPatch,
                                                                          tmp_path: Path) -> None:
    listening("0.0.0.0")
    monkeypatch.setenv("DOCAGENT_APP_PASSWORD", PASSWORD)
    at = AppTest.from_file(MAIN, default_timeout=120).run()
    at.text_input[0].set_value(PASSWORD)
    at.button[0].click().run()
    at.sidebar.radio[0].set_value("Settings").run()
    assert not at.exception, at.exception
    assert not at.text_input  # neither the model nor the store can be changed from the page
    at.slider[0].set_value(3)
    at.button[0].click().run()
    assert at.session_state["config"] == {"k": 3, "splitting": "auto", "max_upload_mb": 50.0}
    shown = texts(at) + [plain(c.value) for c in at.caption] + [plain(c.value) for c in at.sidebar.caption]
    assert texts(at)[1].startswith("**Store:** store  \n") and "Store: store" in shown  # the name, not the path
    assert not at.dataframe  # the machine's details (paths) only on loopback
    assert not [t for t in shown if str(tmp_path) in t or "/tmp" in t]
    at.sidebar.radio[0].set_value("Chat").run()
    banner = plain(at.warning[0].value)
    assert str(tmp_path) not in banner and "no-model-here" in banner and "`docagent app --model`" in banner


def test_a_visitor_cannot_point_the_app_at_another_store(library: Settings, tmp_path: Path) -> None:
    at = open_app("Library")
    at.session_state["config"]["store"] = str(tmp_path / "other")  # what the old Settings form saved
    at.run()
    assert "**invoice.pdf**  \n2 pages" in texts(at)
    assert plain(at.sidebar.caption[0].value) == f"Store: {library.store}"


@pytest.mark.slow
def test_chat_without_a_model_computes_arithmetic_asked_in_words(library: Settings, tmp_path: Path) -> None:
    from docagent.index.indexer import index_paths

    assert not index_paths([factories.results_pdf(tmp_path / "results.pdf")], library, progress=False).failed
    at = open_app("Chat")
    at.chat_input[0].set_value("What is the difference in capital expenditures between 2018 and 2019?").run()
    assert not at.exception, at.exception
    lead = next(plain(m.value) for m in at.markdown if "Computed without a model" in m.value)
    assert lead.startswith('**Computed without a model:** 30000000 = cell("2019", "Capital expenditures") - '
                           'cell("2018", "Capital expenditures") (results.pdf, page 1)'), lead
    assert captions(at) == ["results.pdf · page 1"]  # the cells read, boxed on their page
