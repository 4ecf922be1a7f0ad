"""One word rule (docagent/text.py) for the lexical index, retrieval, grounding and extraction: words of any
script are words everywhere."""

from __future__ import annotations

from pathlib import Path

import pymupdf

from docagent.index.store import PageStore
from docagent.tasks.extract import extract
from docagent.tasks.grounding import tokens
from docagent.text import words


def test_words_are_letters_and_digits_of_any_script() -> None:
    assert words("Straße 12, Фамилия_заявителя: naïve 10,431.54") == [
        "straße", "12", "фамилия", "заявителя", "naïve", "10", "431", "54"]
    assert tokens("Größe") == words("Größe") == ["größe"]


def _cyrillic_form(path: Path) -> Path:
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    for name, rect, value, tip in [("f1", pymupdf.Rect(130, 105, 400, 125), "Иванова", "Фамилия заявителя"),
                                   ("f2", pymupdf.Rect(130, 135, 400, 155), "Москва", "Город проживания")]:
        w = pymupdf.Widget()
        w.field_name, w.field_type, w.rect, w.field_value, w.field_label = name, pymupdf.PDF_WIDGET_TYPE_TEXT, rect, value, tip
        page.add_widget(w)
    doc.save(path)
    doc.close()
    return path


def test_form_fields_described_in_another_script_find_their_widgets(store: PageStore, settings, docs_dir: Path) -> None:
    """A schema whose descriptions are Russian, over a form whose tooltips are Russian: the ASCII-only word
    pattern extraction used found no words in either, so no field matched its widget."""
    schema = {"type": "object", "properties": {
        "surname": {"type": "string", "description": "фамилия заявителя"},
        "city": {"type": "string", "description": "город проживания"}}}
    [result] = extract([_cyrillic_form(docs_dir / "заявление.pdf")], schema, store=store, settings=settings,
                       use_model=False)
    assert {k: v.value for k, v in result.fields.items()} == {"surname": "Иванова", "city": "Москва"}
    assert all(v.source == "acroform" and v.page == 1 for v in result.fields.values())
