"""docagent inside agents: the seven LangChain tools (standard suites + behaviour) and the bounded agent loop.

Logic runs with scripted chat models over a real store; the plumbing runs end to end on the tiny random
Idefics2, whose tool calls parse because decoding is constrained to the tools' schemas.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langchain_tests.integration_tests import ToolsIntegrationTests
from langchain_tests.unit_tests import ToolsUnitTests

from docagent.agents import (
    AskDocumentsTool,
    ChartComputeTool,
    ExtractFieldsTool,
    PageAnswer,
    PagesFound,
    ReadPageTool,
    SearchDocumentsTool,
    calculator,
    make_tools,
    run_agent,
)
from docagent.cli import main
from docagent.config import Settings
from docagent.index.embeddings import Embedder
from docagent.index.indexer import index_paths
from docagent.index.store import PageStore
from docagent.tasks.chart import ChartRow, ChartTable
from tests import factories
from tests.scripted import Scripted, call, scripted

INVOICE = ["Invoice INV-7 from Northwind Solar. Panels 4,536.00 Inverter 2,150.00. Total due 7,981.99 EUR by 13 April.",
           "Payment terms: bank transfer to IBAN DE44 5001 0517 5407 3249 31 within 30 days."]
HANDBOOK = ["Holiday policy: every employee gets 28 days of paid leave per year."]
REPORT = ["Quarterly revenue 2025 (thousand EUR): Q1 820 Q2 960 Q3 1,130 Q4 1,290"]
REVENUE = ChartTable(title="Revenue", unit="thousand EUR", series=["Revenue"],
                     rows=[ChartRow(category=q, values=[v]) for q, v in [("Q1", 820), ("Q2", 960), ("Q3", 1130), ("Q4", 1290)]])
NAMES = ["search_documents", "ask_documents", "read_page", "extract_fields", "chart_compute", "get_table", "calculator"]


def build_library(root: Path) -> Settings:
    docs = root / "docs"
    docs.mkdir(parents=True)
    factories.text_pdf(docs / "invoice.pdf", INVOICE)
    factories.text_pdf(docs / "handbook.pdf", HANDBOOK)
    factories.text_pdf(docs / "report.pdf", REPORT)
    factories.form_pdf(docs / "membership.pdf")
    settings = Settings(store=root / "store")
    assert not index_paths([docs], settings, progress=False).failed
    return settings


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder):
    settings = build_library(tmp_path_factory.mktemp("agents"))
    with PageStore(settings, embedder=embedder) as store:
        yield store


def cycling(*replies: Any) -> Scripted:
    """A scripted model that starts its script over when it runs out (the standard suites call tools often)."""
    llm = scripted(*replies)
    llm.messages = itertools.cycle(list(llm.messages))
    return llm


# ------------------------------------------------------------------------- LangChain standard suites


class _Bound:
    """One tool class bound to the module's store (and a scripted page reader) for the standard suites."""

    tool_cls: Any
    example: dict[str, Any]
    replies: tuple[Any, ...] = ()

    @pytest.fixture(autouse=True)
    def _library(self, library: PageStore) -> None:
        self._store = library

    @property
    def tool_constructor(self) -> Any:
        return self.tool_cls

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"store": self._store, "settings": self._store.settings,
                "llm": cycling(*self.replies) if self.replies else None}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return self.example


class _Search(_Bound):
    tool_cls = SearchDocumentsTool
    example = {"query": "total due on the invoice", "k": 2}


class _Ask(_Bound):
    tool_cls = AskDocumentsTool
    example = {"question": "What is the total due on the invoice?"}
    replies = ("The total due is 7,981.99 EUR [1].",)


class _ReadPage(_Bound):
    tool_cls = ReadPageTool
    example = {"doc": "invoice.pdf", "page": 1, "question": "What is the total due?"}
    replies = ("7,981.99 EUR [1]",)


class _Extract(_Bound):
    tool_cls = ExtractFieldsTool
    example = {"doc": "invoice.pdf", "fields": [{"name": "total_due", "type": "decimal", "description": "amount due"}]}
    replies = ({"total_due": "7,981.99"},)


class _Chart(_Bound):
    tool_cls = ChartComputeTool
    example = {"doc": "report.pdf", "page": 1, "question": "By what percent did revenue grow from Q1 to Q4?"}
    replies = (REVENUE, {"expression": 'percent_change(cell("Q1"), cell("Q4"))', "unit": "%"})


class _Calculator:
    tool_constructor = calculator
    tool_invoke_params_example = {"expression": "percent_change(820, 1290)"}


class TestSearchUnit(_Search, ToolsUnitTests): ...
class TestSearchIntegration(_Search, ToolsIntegrationTests): ...
class TestAskUnit(_Ask, ToolsUnitTests): ...
class TestAskIntegration(_Ask, ToolsIntegrationTests): ...
class TestReadPageUnit(_ReadPage, ToolsUnitTests): ...
class TestReadPageIntegration(_ReadPage, ToolsIntegrationTests): ...
class TestExtractUnit(_Extract, ToolsUnitTests): ...
class TestExtractIntegration(_Extract, ToolsIntegrationTests): ...
class TestChartUnit(_Chart, ToolsUnitTests): ...
class TestChartIntegration(_Chart, ToolsIntegrationTests): ...
class TestCalculatorUnit(_Calculator, ToolsUnitTests): ...
class TestCalculatorIntegration(_Calculator, ToolsIntegrationTests): ...


# ------------------------------------------------------------------------------------ the tools


def run(tool: Any, **args: Any) -> ToolMessage:
    return tool.invoke({"name": tool.name, "args": args, "id": "1", "type": "tool_call"})


def test_make_tools_gives_seven_described_tools_bound_to_one_store(library: PageStore) -> None:
    tools = make_tools(store=library)
    assert [t.name for t in tools] == NAMES
    for t in tools:
        schema = t.tool_call_schema.model_json_schema()
        assert t.description and schema["properties"]
        assert all(p.get("description") for p in schema["properties"].values()), t.name
    assert all(t.store is library and t.ctx.store is library for t in tools[:5])


def test_search_returns_compact_json_with_doc_page_score_and_snippet(library: PageStore) -> None:
    message = run(make_tools(store=library)[0], query="total due on the invoice", k=2)
    content = json.loads(message.content)
    top = content["results"][0]
    assert (top["doc"], top["page"]) == ("invoice.pdf", 1) and top["score"] > 0 and "7,981.99" in top["snippet"]
    assert set(top) == {"doc", "page", "score", "snippet"} and " " not in message.content.split('"snippet"')[0]
    assert isinstance(message.artifact, PagesFound)
    full = message.artifact.to_json()  # the structured result adds each page image's URI, the model's text does not
    assert [{k: v for k, v in r.items() if k != "image"} for r in full["results"]] == content["results"]
    assert library.image_bytes(full["results"][0]["image"]).startswith(b"\x89PNG")
    assert [(h.doc, h.page) for h in message.artifact.hits][0] == ("invoice.pdf", 1)  # typed: the PageHits themselves


def test_ask_documents_cites_doc_and_page_and_keeps_the_boxes_in_the_artifact(library: PageStore) -> None:
    ask_tool = make_tools(store=library, llm=scripted("The total due is 7,981.99 EUR [1]."))[1]
    message = run(ask_tool, question="What is the total due on the invoice?")
    content = json.loads(message.content)
    assert content["citations"] == [{"doc": "invoice.pdf", "page": 1}] and not content["abstained"]
    assert isinstance(message.artifact, PageAnswer)
    assert message.artifact.to_json()["citations"][0]["boxes"]  # evidence boxes travel in the artifact, not the content
    assert message.artifact.answer.citations[0].boxes  # as the Answer's own Citations


def test_ask_documents_without_a_model_says_retrieval_only(library: PageStore, tmp_path: Path) -> None:
    settings = library.settings.model_copy(update={"vlm_model": str(tmp_path / "no-such-model")})
    message = run(make_tools(store=library, settings=settings)[1], question="How many days of paid leave?")
    content = json.loads(message.content)
    assert message.status == "success" and content["mode"] == "retrieval-only"
    assert content["citations"][0]["doc"] == "handbook.pdf" and "retrieval-only" in content["notice"]
    lead = content["answer_span"]  # the lead, with how sure it is, as everywhere else
    assert lead["text"] == "28" and 0 < lead["confidence"] < 1 and isinstance(lead["needs_review"], bool)


def test_read_page_reads_exactly_the_page_it_is_given(library: PageStore) -> None:
    llm = scripted("Bank transfer within 30 days [1].")
    message = run(make_tools(store=library, llm=llm)[2], doc="invoice.pdf", page=2, question="How do I pay?")
    assert json.loads(message.content)["citations"] == [{"doc": "invoice.pdf", "page": 2}]
    images = [b["path"] for b in llm.prompts[0][1].content if b.get("type") == "image"]
    assert images == [str(library.page_image("invoice.pdf", 2).path())]


@pytest.mark.parametrize(("args", "expected"), [
    ({"doc": "missing.pdf", "page": 1, "question": "q"}, "no document named 'missing.pdf'; the indexed documents are: "),
    ({"doc": "invoice.pdf", "page": 9, "question": "q"}, "invoice.pdf has 2 pages; page 9 does not exist"),
    ({"doc": "invoice.pdf", "page": 0, "question": "q"}, "invalid arguments (page: Input should be greater than or equal to 1)"),
    ({"doc": "invoice.pdf", "question": "q"}, "invalid arguments (page: Field required)"),
])
def test_bad_calls_come_back_as_tool_errors_the_agent_can_act_on(library: PageStore, args: dict, expected: str) -> None:
    message = run(make_tools(store=library, llm=scripted("unused"))[2], **args)
    assert message.status == "error" and message.content.startswith(expected), message.content
    if "indexed documents" in expected:
        assert "invoice.pdf" in message.content and str(library.root) not in message.content


def test_read_page_without_a_model_is_a_tool_error_that_names_the_way_out(library: PageStore, tmp_path: Path) -> None:
    settings = library.settings.model_copy(update={"vlm_model": str(tmp_path / "no-such-model")})
    message = run(make_tools(store=library, settings=settings)[2], doc="invoice.pdf", page=1, question="total?")
    assert message.status == "error" and "no vision-language model is available" in message.content
    assert "use search_documents or ask_documents" in message.content


def test_extract_fields_reads_form_fields_and_reports_missing_ones_as_null(library: PageStore) -> None:
    tool = make_tools(store=library, llm=scripted({"membership_fee": None}))[3]
    fields = [{"name": "full_name", "type": "str"}, {"name": "newsletter", "type": "bool"},
              {"name": "membership_fee", "type": "decimal", "description": "the yearly fee"}]
    content = json.loads(run(tool, doc="membership.pdf", fields=fields).content)
    from docagent.tasks.extract import CONFIDENCE

    assert content["fields"]["full_name"] == {"value": "Ada Lovelace", "page": 1, "confidence": CONFIDENCE["acroform:name"],
                                              "source": "acroform", "grounded": True, "needs_review": False,
                                              "label": "Applicant's full name", "reason": ""}
    assert content["fields"]["newsletter"]["value"] is True
    assert content["fields"]["membership_fee"]["value"] is None
    assert content["fields"]["membership_fee"]["reason"] == "the model did not find it on the pages"
    everything = json.loads(run(tool, doc="membership.pdf").content)  # no fields: every form field by name
    assert set(everything["fields"]) == {"full_name", "member_no", "newsletter", "plan"}


def test_chart_compute_is_exact_and_a_chart_it_cannot_compute_is_an_error(library: PageStore) -> None:
    ok = make_tools(store=library, llm=scripted(REVENUE, {"expression": 'cell("Q4") - cell("Q1")'}))[4]
    content = json.loads(run(ok, doc="report.pdf", page=1, question="How much higher was Q4 than Q1?").content)
    assert (content["exact"], content["doc"], content["page"]) == ("470", "report.pdf", 1)
    bad = make_tools(store=library, llm=cycling(REVENUE, {"expression": 'cell("Q9")'}))[4]
    message = run(bad, doc="report.pdf", page=1, question="What was Q9?")
    assert message.status == "error" and message.content.startswith("report.pdf page 1: Cannot compute it")


def test_calculator_refusal_is_a_tool_error() -> None:
    message = run(calculator, expression="__import__('os')")
    assert message.status == "error" and message.content.startswith("unknown function '__import__'; allowed: ")


# ------------------------------------------------------------------------------------- the agent


def test_the_agent_calls_the_right_tools_and_carries_citations_to_the_answer(library: PageStore) -> None:
    reader = scripted("The total due is 7,981.99 EUR [1].")
    agent_llm = scripted(
        call("search_documents", query="invoice total due"),
        call("read_page", doc="invoice.pdf", page=1, question="What is the total due?"),
        "The invoice's total due is 7,981.99 EUR [invoice.pdf, page 1].",
    )
    answer = run_agent("What is the total due on the invoice?", llm=agent_llm, tools=make_tools(store=library, llm=reader))
    assert [(s.tool, s.args, s.ok) for s in answer.steps] == [
        ("search_documents", {"query": "invoice total due"}, True),
        ("read_page", {"doc": "invoice.pdf", "page": 1, "question": "What is the total due?"}, True),
    ]
    assert answer.text == "The invoice's total due is 7,981.99 EUR [invoice.pdf, page 1]." and answer.stopped == "answered"
    assert [(c.doc, c.page) for c in answer.citations] == [("invoice.pdf", 1)] and answer.citations[0].boxes
    assert answer.to_json()["citations"] == [{"doc": "invoice.pdf", "page": 1,  # the JSON as before: no answer_box
                                              "boxes": [list(b) for b in answer.citations[0].boxes]}]
    assert [b["tool_choice"] for b in agent_llm.bound] == ["any", None, None]  # the documents are consulted first
    assert agent_llm.bound[0]["tools"] == NAMES
    tool_results = [m for m in agent_llm.prompts[-1] if isinstance(m, ToolMessage)]
    assert [m.name for m in tool_results] == ["search_documents", "read_page"]
    assert all(m.content.startswith("<document>") for m in tool_results)


def test_the_step_bound_is_honoured_and_the_answer_is_asked_for(library: PageStore) -> None:
    agent_llm = cycling(call("search_documents", query="leave"))  # a model that would search forever
    agent_llm.messages = itertools.chain([call("search_documents", query="leave")] * 3,
                                         [AIMessage("28 days [handbook.pdf, page 1].")])
    answer = run_agent("How much paid leave?", llm=agent_llm, tools=make_tools(store=library), max_steps=3)
    assert answer.rounds == 3 and len(answer.steps) == 3 and answer.stopped == "step_limit"
    assert agent_llm.bound[-1]["tool_choice"] == "none"  # the last turn may not call tools
    assert "No more tool calls are possible" in agent_llm.prompts[-1][-1].content
    assert answer.text == "28 days [handbook.pdf, page 1]."
    assert [(c.doc, c.page) for c in answer.citations] == [("handbook.pdf", 1)]  # named, and seen in a search


def test_unknown_tools_and_bad_arguments_are_reported_back_and_the_agent_recovers(library: PageStore) -> None:
    agent_llm = scripted(
        call("delete_documents", names=["invoice.pdf"]),
        call("chart_compute", doc="report.pdf", page="first", question="growth"),
        call("calculator", expression="1290 - 820"),
        "Revenue grew by 470 thousand EUR.",
    )
    answer = run_agent("How much did revenue grow?", llm=agent_llm, tools=make_tools(store=library, llm=scripted()))
    assert [(s.tool, s.ok) for s in answer.steps] == [("delete_documents", False), ("chart_compute", False), ("calculator", True)]
    assert answer.steps[0].result.startswith("there is no tool named 'delete_documents'; the tools are: search_documents")
    assert answer.steps[1].result.startswith("invalid arguments (page: Input should be a valid integer")
    assert answer.steps[2].result == 470 and answer.text == "Revenue grew by 470 thousand EUR."
    assert library.document("invoice.pdf") is not None


def test_citations_are_the_evidence_pages_when_the_answer_names_none(library: PageStore) -> None:
    reader = scripted(REVENUE, {"expression": 'percent_change(cell("Q1"), cell("Q4"))', "unit": "%"})
    agent_llm = scripted(call("chart_compute", doc="report.pdf", page=1, question="growth Q1 to Q4"), "About 57.3%.")
    answer = run_agent("Growth from Q1 to Q4?", llm=agent_llm, tools=make_tools(store=library, llm=reader))
    assert [(c.doc, c.page) for c in answer.citations] == [("report.pdf", 1)]
    assert answer.steps[0].result["exact"] == "2350/41"  # (1290 - 820) / 820 * 100, exactly


@pytest.mark.slow
def test_the_agent_end_to_end_on_the_tiny_idefics2(library: PageStore, tiny_chat: Any) -> None:
    """Random weights choose nonsense, but every call parses into a bound tool with schema-valid arguments."""
    llm = type(tiny_chat).from_loaded(tiny_chat._model, tiny_chat._processor, max_tokens=160)  # room for a call
    seen: list[Any] = []
    answer = run_agent("What is the total due on the invoice?", llm=llm, store=library, max_steps=2,
                       on_step=seen.append)
    assert answer.rounds >= 1 and answer.steps and seen == answer.steps
    first = answer.steps[0]
    assert first.tool in NAMES
    if not first.ok:  # a tool refusal (say, an unknown document) is fine; unparseable arguments are not
        assert not first.result.startswith(("invalid arguments", "the call could not be read")), first.result
    assert isinstance(answer.text, str) and answer.stopped in ("answered", "step_limit")


@pytest.mark.slow
def test_docagent_agent_cli_prints_the_answer_and_its_steps(library: PageStore, tiny_idefics2: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["agent", "What is the total due on the invoice?", "--store", str(library.root), "--model",
                 str(tiny_idefics2), "--max-steps", "1", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and set(out) >= {"answer", "citations", "steps", "rounds", "stopped"}
    assert out["rounds"] == 1 and out["steps"][0]["tool"] in NAMES


def test_docagent_agent_without_a_model_says_how_to_get_one(library: PageStore, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["agent", "total?", "--store", str(library.root), "--model", str(tmp_path / "nothing")])
    err = capsys.readouterr().err
    assert code == 1 and "docagent ask" in err


def test_a_model_is_loaded_once_per_process_and_a_failure_is_not_retried_at_once(tiny_idefics2: Path,
                                                                                 tmp_path: Path) -> None:
    from docagent.errors import ModelLoadError
    from docagent.models.resolve import loaded_chat_model

    first = loaded_chat_model(str(tiny_idefics2))
    assert loaded_chat_model(str(tiny_idefics2)) is first and first._model is not None
    errors = []
    for _ in range(2):
        with pytest.raises(ModelLoadError) as caught:
            loaded_chat_model(str(tmp_path / "missing-model"))
        errors.append(caught.value)
    # the same failure, remembered (no second slow attempt), raised afresh each time (no growing traceback)
    assert errors[0] is not errors[1] and type(errors[0]) is type(errors[1]) and str(errors[0]) == str(errors[1])
