"""What docagent does with documents, each over any LangChain chat model.

    qa        ask: answers with page citations and evidence boxes, or an honest abstention
"""

from docagent.tasks.qa import ask

__all__ = ["ask"]
