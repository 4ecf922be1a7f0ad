"""Structured answers from any chat model: native structured output when it has one, JSON asked for in
words otherwise, and a bounded loop that sends validation errors back for another try."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from pydantic import BaseModel

__all__ = ["ask_json", "ask_until_valid"]


def ask_json(llm: BaseChatModel, model_cls: type[BaseModel],
             messages: list[BaseMessage]) -> tuple[str, dict[str, Any] | None, str | None]:
    """``(raw text, values, error)`` from one structured call; models without structured output are asked
    for JSON in words and parsed here."""
    try:
        runnable = llm.with_structured_output(model_cls, include_raw=True)
    except NotImplementedError:
        runnable = None
    if runnable is not None:
        out: Any = runnable.invoke(messages)  # include_raw: {"raw": AIMessage, "parsed": ..., "parsing_error": ...}
        raw = out["raw"].content if isinstance(out["raw"].content, str) else json.dumps(out["raw"].content)
        if out.get("parsing_error") is not None:
            return raw, None, str(out["parsing_error"]).split("\n")[0]
        return raw, out["parsed"].model_dump(mode="json"), None
    schema = json.dumps(model_cls.model_json_schema())
    reply = llm.invoke([*messages, HumanMessage(f"Reply with one JSON object only, following this JSON schema: {schema}")])
    raw = reply.content if isinstance(reply.content, str) else str(reply.content)
    text = raw.strip().removeprefix("```json").removeprefix("```").removesuffix("```").strip()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        return raw, None, f"the reply is not valid JSON ({e.msg} at character {e.pos})"
    if not isinstance(data, dict):
        return raw, None, "the reply is JSON but not an object"
    return raw, data, None


def ask_until_valid(llm: BaseChatModel, model_cls: type[BaseModel], messages: list[BaseMessage], check: Callable[[dict[str, Any]], list[str]],
                    retries: int) -> tuple[dict[str, Any] | None, list[str]]:
    """``(data, problems)``: the model's structured answer, re-asked with ``check``'s problems (and any
    JSON error) up to ``retries`` times; ``problems`` is empty when the last answer passed."""
    data: dict[str, Any] | None = None
    problems: list[str] = []
    for _ in range(retries + 1):
        raw, data, error = ask_json(llm, model_cls, messages)
        problems = [error] if error else []
        if data is not None:
            problems += check(data)
        if not problems:
            break
        messages = [*messages, AIMessage(raw), HumanMessage(
            "That answer failed validation: " + "; ".join(problems) + ". Reply again, fixed.")]
    return data, problems
