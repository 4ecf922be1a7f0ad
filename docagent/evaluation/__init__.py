"""Measure docagent on your own labelled data: ``docagent eval retrieval QRELS``."""

from docagent.evaluation.retrieval import Query, evaluate_retrieval, load_qrels

__all__ = ["Query", "evaluate_retrieval", "load_qrels"]
