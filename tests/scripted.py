"""A scripted chat model for logic tests: replies from a script, keeps every prompt it was given.

    llm = scripted("The total is 7,981.99 [1].")                         # text
    llm = scripted(call("search_documents", query="total"), "It is 42.")  # a tool call, then text
"""

from __future__ import annotations

import json
from typing import Any

from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from pydantic import BaseModel, Field


class Scripted(GenericFakeChatModel):
    """Answers from a script and keeps its prompts; has no structured output (JSON is asked for in words).
    ``bind_tools`` binds the tool names and tool_choice, which each call records."""

    prompts: list[Any] = Field(default_factory=list)
    bound: list[dict[str, Any]] = Field(default_factory=list)
    """Per call, what was bound to it: ``{"tools": names, "tool_choice": ...}`` or ``{}``."""

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        self.prompts.append(messages)
        self.bound.append({k: kwargs[k] for k in ("tools", "tool_choice") if k in kwargs})
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)  # _stream comes here too

    def with_structured_output(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def bind_tools(self, tools: Any, *, tool_choice: Any = None, **kwargs: Any) -> Any:
        return self.bind(tools=[getattr(t, "name", None) or t.get("name") for t in tools], tool_choice=tool_choice)


def call(name: str, id: str | None = None, **args: Any) -> AIMessage:
    """An assistant turn that calls one tool."""
    return AIMessage("", tool_calls=[{"name": name, "args": args, "id": id or f"call_{name}", "type": "tool_call"}])


def scripted(*replies: str | AIMessage | BaseModel | dict) -> Scripted:
    def message(r: Any) -> AIMessage:
        if isinstance(r, AIMessage):
            return r
        if isinstance(r, BaseModel):
            return AIMessage(r.model_dump_json())
        return AIMessage(json.dumps(r) if isinstance(r, dict) else r)

    return Scripted(messages=iter([message(r) for r in replies]))
