"""What docagent does with documents, each over any LangChain chat model.

    qa        ask: answers with page citations and evidence boxes, or an honest abstention
    extract   fields into a schema: form widgets exactly, the rest by the model, grounded on the page
    schema    extraction schemas (pydantic, JSON Schema, field lists) and value coercion
"""

from docagent.tasks.extract import extract
from docagent.tasks.qa import ask

__all__ = ["ask", "extract"]
