"""docagent inside agents: LangChain tools over the tasks, and a bounded tool-calling agent.

    from docagent.agents import make_tools, run_agent
    tools = make_tools(settings=settings)          # search_documents, ask_documents, read_page,
                                                   # extract_fields, chart_compute, get_table, calculator
    answer = run_agent("What did Q3 revenue grow by?", llm=chat_model, max_steps=6)
    answer.text, answer.citations                  # Citations: doc, page, evidence boxes
    answer.steps[0].artifact                       # a tool's typed result: PagesFound, PageAnswer, ChartResult ...
"""

from docagent.agents.agent import AgentAnswer, AgentStep, run_agent
from docagent.agents.tools import (
    AskDocumentsTool,
    ChartComputeTool,
    ChartResult,
    DocumentTool,
    ExtractFieldsTool,
    FieldsFound,
    GetTableTool,
    PageAnswer,
    PagesFound,
    ReadPageTool,
    SearchDocumentsTool,
    TablesFound,
    ToolArtifact,
    calculator,
    make_tools,
)

__all__ = [
    "AgentAnswer",
    "AgentStep",
    "AskDocumentsTool",
    "ChartComputeTool",
    "ChartResult",
    "DocumentTool",
    "ExtractFieldsTool",
    "FieldsFound",
    "GetTableTool",
    "PageAnswer",
    "PagesFound",
    "ReadPageTool",
    "SearchDocumentsTool",
    "TablesFound",
    "ToolArtifact",
    "calculator",
    "make_tools",
    "run_agent",
]
