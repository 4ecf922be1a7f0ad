"""Tools over docagent's tasks, for LangChain agents.

    calculator   exact arithmetic (numbers, + - * / **, sum, mean, median, min, max, abs, round, percent_change)
"""

from docagent.agents.tools import calculator

__all__ = ["calculator"]
