"""chart: the model transcribes, the calculator computes; ChartQA tables; eval chart."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from fractions import Fraction
from pathlib import Path

import pytest

from docagent.cli import main
from docagent.config import Settings
from docagent.evaluation.chart import (
    evaluate_chart,
    load_chart_labels,
    relaxed_match,
    table_accuracy,
)
from docagent.index.store import PageStore
from docagent.models import ChatIdefics2
from docagent.tasks.chart import (
    ChartAnswer,
    ChartRow,
    ChartTable,
    chart,
    needs_arithmetic,
    table_from_csv,
)
from docagent.tasks.qa import ask
from tests import factories
from tests.scripted import scripted

CHARTQA = Path(__file__).resolve().parents[2] / "shared" / "data" / "chartqa"
REVENUE = ChartTable(title="Revenue", unit="thousand EUR", series=["Revenue"],
                     rows=[ChartRow(category=q, values=[v]) for q, v in [("Q1", 820), ("Q2", 960), ("Q3", 1130), ("Q4", 1290)]])


@pytest.fixture
def report(docs_dir: Path) -> Path:
    """A born-digital page whose text layer prints the chart's numbers."""
    return factories.text_pdf(docs_dir / "report.pdf", ["Quarterly revenue 2025 (thousand EUR): Q1 820 Q2 960 Q3 1,130 Q4 1,290"])


def test_the_model_transcribes_and_the_program_computes(store: PageStore, settings: Settings, report: Path) -> None:
    llm = scripted(REVENUE, {"expression": 'percent_change(cell("Q1"), cell("Q4"))', "unit": "%"})
    answer = chart(f"{report}:1", "By what percent did revenue grow from Q1 to Q4?", llm=llm, store=store, settings=settings)
    assert answer.value == Fraction(470, 820) * 100 and answer.unit == "%"
    assert answer.text == "57.317073%" and (answer.doc, answer.page) == ("report.pdf", 1)
    assert answer.mismatches == []  # every transcribed value is printed on the page
    shown = answer.explain()
    assert "| Q4 | 1290 |" in shown and 'percent_change(cell("Q1"), cell("Q4"))' in shown
    assert llm.prompts[0][1].content[0]["type"] == "image"  # step 1 reads the page image


def test_a_misread_value_is_flagged_against_the_text_layer(store: PageStore, settings: Settings, report: Path) -> None:
    misread = REVENUE.model_copy(update={"rows": [*REVENUE.rows[:3], ChartRow(category="Q4", values=[1920])]})
    llm = scripted(misread, {"expression": 'sum(col("Revenue"))'})
    answer = chart(report, "What is the total revenue of the year?", llm=llm, store=store, settings=settings)
    assert answer.value == 820 + 960 + 1130 + 1920
    assert answer.mismatches == ["Revenue / Q4 = 1920 is not printed on the page"]


def test_bad_names_are_sent_back_and_then_it_fails_clearly(store: PageStore, settings: Settings, report: Path) -> None:
    llm = scripted(REVENUE, {"expression": 'cell("Q5") - cell("Q1")'}, {"expression": 'cell("Q4") - cell("Q1")'})
    answer = chart(report, "How much more revenue in Q4 than in Q1?", llm=llm, store=store, settings=settings)
    assert answer.value == 470 and "no category 'Q5'" in llm.prompts[2][-2].content  # the re-ask, before the JSON hint
    llm = scripted(REVENUE, *[{"expression": "profit * 2"}] * 3)
    answer = chart(report, "What was the profit?", llm=llm, store=store, settings=settings)
    assert answer.value is None and answer.error.startswith("the table does not answer it: Name is not allowed")
    assert answer.text.startswith("Cannot compute it:") and answer.table is not None
    llm = scripted("no table here", "still none", '{"series": []}')
    answer = chart(report, "Sum?", llm=llm, store=store, settings=settings)
    assert answer.value is None and answer.error.startswith("the chart could not be transcribed")


@pytest.mark.slow
@pytest.mark.skipif(not CHARTQA.exists(), reason="../shared/data/chartqa is not beside this checkout")
def test_arithmetic_over_the_real_chartqa_tables_is_exact(tmp_path: Path) -> None:
    settings = Settings(store=tmp_path / "store", ocr="off")  # the scripted model reads the tables, not OCR
    rows = [json.loads(line) for line in (CHARTQA / "chartqa_qa.jsonl").read_text().splitlines()]
    checked = 0
    with PageStore(settings) as store:
        for row in rows:
            truth_text = (CHARTQA / row["table"]).read_text()
            table = table_from_csv(truth_text)
            cells = table.cells()
            series = table.series[0]
            exact = {}  # the first series, exactly as the CSV prints it
            for record in list(csv.reader(io.StringIO(truth_text.strip())))[1:]:
                with contextlib.suppress(ValueError, ZeroDivisionError):
                    exact[record[0]] = Fraction(record[1].replace(",", "").rstrip("%"))
            numeric = [r.category for r in table.rows if (series, r.category) in cells and r.category in exact]
            if len(numeric) < 2:
                continue
            a, b = numeric[0], numeric[1]
            questions = [
                (f'sum(col("{series}"))', sum(Fraction(str(cells[(series, c.category)])) for c in table.rows
                                              if (series, c.category) in cells)),
                (f'cell("{series}", "{a}") - cell("{series}", "{b}")', exact[a] - exact[b]),
                (f'mean(cell("{series}", "{a}"), cell("{series}", "{b}"))', (exact[a] + exact[b]) / 2),
            ]
            if exact[b] != 0:
                questions.append((f'percent_change(cell("{series}", "{b}"), cell("{series}", "{a}"))',
                                  (exact[a] - exact[b]) / abs(exact[b]) * 100))
            for expression, expected in questions:
                llm = scripted(table, {"expression": expression})
                answer = chart(CHARTQA / row["image"], "compute it", llm=llm, store=store, settings=settings)
                assert answer.value == expected, (row["table"], expression, answer.error)
                checked += 1
    assert checked >= 150, checked


def test_ask_computes_arithmetic_questions_over_the_chart(store: PageStore, settings: Settings, report: Path) -> None:
    from docagent.index.indexer import index_paths

    index_paths([report], store=store, progress=False)
    llm = scripted(REVENUE, {"expression": 'cell("Q4") - cell("Q1")', "unit": "thousand EUR"})
    answer = ask("How much higher was revenue in Q4 than in Q1?", store=store, settings=settings, llm=llm)
    assert answer.text.startswith("470 thousand EUR") and not answer.abstained
    [citation] = answer.citations
    assert (citation.doc, citation.page) == ("report.pdf", 1) and len(citation.boxes) >= 2  # "820" and "1,290"
    assert needs_arithmetic("What is the average of the four quarters?") and not needs_arithmetic("Who signed it?")


def test_end_to_end_through_the_tiny_idefics2(store: PageStore, settings: Settings, report: Path,
                                             tiny_chat: ChatIdefics2) -> None:
    llm = ChatIdefics2.from_loaded(tiny_chat.hf_model, tiny_chat.processor, max_tokens=200)
    answer = chart(report, "What is the total revenue?", llm=llm, store=store, settings=settings, retries=0)
    # random weights: the table parses (constrained decoding); the question may not be computable from it
    assert answer.table is not None or answer.error.startswith("the chart could not be transcribed")
    assert answer.value is not None or answer.error
    json.dumps(answer.to_json())


@pytest.mark.slow
def test_cli_chart_json(store: PageStore, settings: Settings, report: Path, tiny_idefics2: Path, capsys) -> None:
    store.close()
    code = main(["chart", f"{report}:1", "What is the total revenue?", "--store", str(settings.store), "--json",
                 "--model", str(tiny_idefics2)])
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"answer", "value", "expression", "table", "doc", "page", "error"}
    assert code == (0 if out["value"] is not None else 1)
    assert main(["chart", f"{report}:7", "Sum?", "--store", str(settings.store)]) == 1
    assert "has 1 page; page 7 does not exist" in capsys.readouterr().err


def test_eval_chart_metrics(tmp_path: Path) -> None:
    assert relaxed_match(104.0, "100") and not relaxed_match(106.0, "100") and relaxed_match("George Brett", "george brett")
    truth = table_from_csv("Characteristic,In Italy,Outside Italy\n2019,37.85,35.22\n2018,39.03,37.68")
    close = ChartTable(series=["in italy", "OUTSIDE Italy"], rows=[ChartRow(category="2019", values=[37.9, 35.0]),
                                                                  ChartRow(category="2018", values=[39.0, 50.0])])
    assert table_accuracy(close, truth) == 0.75 and table_accuracy(None, truth) == 0.0
    assert table_from_csv("Characteristic,Share\nChina,32%\nJapan,9%").unit == "%"
    labels = tmp_path / "labels.jsonl"
    (tmp_path / "t.csv").write_text("Characteristic,In Italy,Outside Italy\n2019,37.85,35.22\n2018,39.03,37.68")
    labels.write_text(json.dumps({"image": "c.png", "table": "t.csv", "query": "Sum of 2019?", "label": "73.07"}))
    [label] = load_chart_labels(labels)
    report = evaluate_chart([label], lambda lb: ChartAnswer(lb.query, close, "x", Fraction("73.07")))
    assert report["metrics"] == {"questions": 1, "relaxed_accuracy": 1.0, "table_accuracy": 0.75, "tables_scored": 1}


@pytest.mark.skipif(not CHARTQA.exists(), reason="../shared/data/chartqa is not beside this checkout")
def test_eval_chart_on_chartqa_labels_with_an_oracle() -> None:
    labels = load_chart_labels(CHARTQA / "chartqa_qa.jsonl")
    assert len(labels) == 66 and all(lb.image.exists() and lb.table.exists() for lb in labels)

    def oracle(label):
        value = label.label.replace(",", "").rstrip("%")
        number = Fraction(value) if value.replace(".", "", 1).replace("-", "", 1).isdigit() else None
        return ChartAnswer(label.query, table_from_csv(label.table.read_text()), "oracle", number)

    m = evaluate_chart(labels, oracle)["metrics"]
    numeric = sum(lb.label.replace(",", "").rstrip("%").replace(".", "", 1).replace("-", "", 1).isdigit() for lb in labels)
    assert m["table_accuracy"] == 1.0 and m["relaxed_accuracy"] == pytest.approx(numeric / 66)
