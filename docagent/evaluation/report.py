"""What every evaluation report offers: typed fields to read, and the JSON document ``docagent eval ... --json``
prints.

    report = evaluate_qa(labels, answer)
    report.metrics.accuracy        # typed
    report.to_json()               # {"metrics": {...}, "results": [...]}, as the command prints it
    report["metrics"]              # a key of that JSON document, for code written when reports were dicts
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["Report"]


class Report:
    """Base of the evaluation reports (frozen dataclasses): :meth:`to_json` and ``report[key]``."""

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready data: by default its fields, nested dataclasses as dicts."""
        assert dataclasses.is_dataclass(self), "a Report is a dataclass"
        return dataclasses.asdict(self)

    def __getitem__(self, key: str) -> Any:
        """``report["metrics"]``: a key of :meth:`to_json` (what reports were before they were typed)."""
        return self.to_json()[key]
