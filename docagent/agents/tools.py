"""LangChain tools over docagent's tasks."""

from __future__ import annotations

from langchain_core.tools import ToolException, tool

from docagent.errors import CalculationError
from docagent.tasks.calc import evaluate, number_text

__all__ = ["calculator"]


@tool(parse_docstring=True)
def calculator(expression: str) -> str:
    """Compute an arithmetic expression exactly. Use it for every sum, difference, ratio or average.

    Args:
        expression: numbers with + - * / ** and parentheses, and the functions sum, mean, median, min, max,
            abs, round(x, n) and percent_change(old, new); for example "percent_change(820, 1290)".
    """
    try:
        return number_text(evaluate(expression))
    except CalculationError as e:
        raise ToolException(str(e)) from e


calculator.handle_tool_error = True  # a refused expression goes back to the agent as text, not an exception
