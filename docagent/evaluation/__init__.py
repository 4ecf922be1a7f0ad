"""Measure docagent on your own labelled data: ``docagent eval retrieval QRELS``, ``docagent eval qa LABELS``."""

from docagent.evaluation.qa import Label, evaluate_qa, load_labels
from docagent.evaluation.retrieval import Query, evaluate_retrieval, load_qrels

__all__ = ["Label", "Query", "evaluate_qa", "evaluate_retrieval", "load_labels", "load_qrels"]
