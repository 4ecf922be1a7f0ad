"""What docagent does with documents, each over any LangChain chat model, in a :class:`docagent.Context`
(settings, store, model: ``context=`` on each, else one is made of ``settings``/``store``/``llm``/``model``).

    qa        ask: answers with page citations and evidence boxes, or an honest abstention
    extract   fields into a schema: form widgets exactly, the rest by the model, grounded on the page
    chart     chart arithmetic: the model transcribes the table, the calculator computes
    calc      the calculator: exact arithmetic over numbers and table cells, nothing else
    schema    extraction schemas (pydantic, JSON Schema, field lists) and value coercion
"""

from docagent.tasks.chart import chart
from docagent.tasks.extract import extract
from docagent.tasks.qa import ask

__all__ = ["ask", "chart", "extract"]
