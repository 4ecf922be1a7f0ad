"""docagent seen from other systems. Each module imports docagent; docagent imports none of them.

    openai_server   chat models behind OpenAI-compatible servers (TGI, vLLM)
"""
