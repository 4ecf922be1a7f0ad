import docagent


def test_public_names_are_pinned() -> None:
    assert docagent.__all__ == [
        "Answer",
        "AnswerSpan",
        "CalculationError",
        "ChartAnswer",
        "Citation",
        "ConfigError",
        "Context",
        "CorruptDocumentError",
        "DocagentError",
        "DocumentLoadError",
        "EmptyDocumentError",
        "EncryptedDocumentError",
        "Extraction",
        "FailedFile",
        "FieldValue",
        "FileTooLargeError",
        "IndexReport",
        "ModelError",
        "ModelLoadError",
        "ModelOutOfMemoryError",
        "Page",
        "PageHit",
        "PageRetriever",
        "PageStore",
        "Question",
        "ReportPeriod",
        "Settings",
        "StoreError",
        "StoreMismatchError",
        "Table",
        "TableCell",
        "UnsupportedFileError",
        "Widget",
        "Word",
        "__version__",
        "ask",
        "chart",
        "extract",
        "index",
        "remove",
        "search",
        "tables",
    ]
    for name in docagent.__all__:
        assert hasattr(docagent, name), name


def test_model_names_are_pinned() -> None:
    import docagent.models

    assert docagent.models.__all__ == [
        "IDEFICS2_8B", "IDEFICS3_8B", "SMOLVLM_256M", "SPECS", "ChatIdefics2", "ModelSpec", "spec_for",
    ]
    for name in docagent.models.__all__:
        assert hasattr(docagent.models, name), name


def test_agent_names_are_pinned() -> None:
    import docagent.agents

    assert docagent.agents.__all__ == [
        "AgentAnswer", "AgentStep", "AskDocumentsTool", "ChartComputeTool", "ChartResult", "DocumentTool",
        "ExtractFieldsTool", "FieldsFound", "GetTableTool", "PageAnswer", "PagesFound", "ReadPageTool",
        "SearchDocumentsTool", "TablesFound", "ToolArtifact", "calculator", "make_tools", "run_agent",
    ]
    for name in docagent.agents.__all__:
        assert hasattr(docagent.agents, name), name


def test_library_does_not_import_app_or_connectors() -> None:
    import pathlib
    import re

    root = pathlib.Path(docagent.__file__).parent
    offenders = [p for p in root.rglob("*.py") if re.search(r"^\s*(from|import)\s+(app|connectors)\b", p.read_text(), re.M)]
    assert offenders == []
