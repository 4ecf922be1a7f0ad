"""docagent seen from other systems. Each module imports docagent; docagent imports none of them.

    openai_server   chat models behind OpenAI-compatible servers (TGI, vLLM)
    http_api        the HTTP API (FastAPI): upload, list, remove, search, ask (streaming), extract, chart
    mcp_server      the document tools over the Model Context Protocol, on stdio
    commands        `docagent serve` and `docagent mcp`, registered through entry points
"""
