"""Constrained decoding: the model can only write text that a JSON schema accepts.

llguidance (the grammar engine behind vLLM's, SGLang's and llama.cpp's structured output) compiles the
schema against the tokenizer and answers, at each step, which tokens keep the text inside the grammar; a
transformers ``LogitsProcessor`` masks the others. Whitespace is fixed (compact JSON), so a model cannot
wander in blanks. Tool calls use the same machinery through a small JSON protocol::

    {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}    call tools
    {"content": "It is sunny."}                                                   answer directly
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from docagent.errors import ConfigError

__all__ = [
    "GrammarConstraint",
    "parse_tool_protocol",
    "response_format_schema",
    "tool_protocol_prompt",
    "tool_protocol_schema",
]

_MAX_CALLS = 8


def response_format_schema(response_format: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema inside an OpenAI-style ``response_format`` (or a bare schema)."""
    if response_format.get("type") == "json_schema":
        inner: dict[str, Any] = response_format.get("json_schema", {})
        schema: dict[str, Any] = inner.get("schema", inner)
        return schema
    if response_format.get("type") == "json_object":
        return {"type": "object"}
    return response_format


def _tool_function(tool: dict[str, Any]) -> dict[str, Any]:
    function: dict[str, Any] = tool.get("function", tool)
    return function


def _chosen(tools: Sequence[dict[str, Any]], tool_choice: Any) -> tuple[list[dict[str, Any]], bool]:
    """The tools the model may call and whether it must call one."""
    functions = [_tool_function(t) for t in tools]
    if isinstance(tool_choice, dict):
        tool_choice = _tool_function(tool_choice).get("name")
    if tool_choice in (None, "auto"):
        return functions, False
    if tool_choice in ("any", "required", True):
        return functions, True
    named = [f for f in functions if f["name"] == tool_choice]
    if not named:
        msg = f"tool_choice names {tool_choice!r}, which is not among the bound tools {[f['name'] for f in functions]}"
        raise ConfigError(msg)
    return named, True


def _arguments(function: dict[str, Any]) -> dict[str, Any]:
    """A tool's arguments schema; a function takes no arguments beyond those it declares."""
    params = dict(function.get("parameters") or {"type": "object", "properties": {}})
    params.setdefault("additionalProperties", False)
    return params


def tool_protocol_schema(tools: Sequence[dict[str, Any]], tool_choice: Any = None) -> dict[str, Any]:
    """JSON schema of the tool protocol for OpenAI-format ``tools`` under ``tool_choice``."""
    functions, required = _chosen(tools, tool_choice)
    variants = [
        {
            "type": "object",
            "properties": {"name": {"const": f["name"]}, "arguments": _arguments(f)},
            "required": ["name", "arguments"],
            "additionalProperties": False,
        }
        for f in functions
    ]
    calls = {
        "type": "object",
        "properties": {"tool_calls": {"type": "array", "items": {"anyOf": variants}, "minItems": 1, "maxItems": _MAX_CALLS}},
        "required": ["tool_calls"],
        "additionalProperties": False,
    }
    if required:
        return calls
    answer = {"type": "object", "properties": {"content": {"type": "string"}}, "required": ["content"],
              "additionalProperties": False}
    return {"anyOf": [calls, answer]}


def tool_protocol_prompt(tools: Sequence[dict[str, Any]], tool_choice: Any = None) -> str:
    """Instructions that tell the model which tools exist and how to call them."""
    functions, required = _chosen(tools, tool_choice)
    lines = [('You can call tools. To call tools, reply with JSON only: '
              '{"tool_calls": [{"name": <tool name>, "arguments": {...}}]}.')]
    if not required:
        lines.append('To answer without a tool, reply {"content": <your answer>}.')
    lines.append("Tools:")
    for f in functions:
        params = json.dumps(f.get("parameters", {}), ensure_ascii=False)
        lines.append(f"- {f['name']}: {f.get('description', '').strip()} Arguments (JSON schema): {params}")
    return "\n".join(lines)


def parse_tool_protocol(text: str) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
    """``(content, tool_calls, invalid_tool_calls)`` from a protocol reply. A call cut short (the token
    budget ran out) is an invalid tool call; text that is not protocol JSON is plain content."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        if text.lstrip().startswith('{"tool_calls"'):
            error = f"the tool call was cut short ({e}); raise max_tokens"
            return "", [], [{"name": None, "args": text, "id": None, "error": error, "type": "invalid_tool_call"}]
        return text, [], []
    if isinstance(data, dict) and isinstance(data.get("tool_calls"), list):
        calls = [
            {"name": c.get("name", ""), "args": c.get("arguments") or {}, "id": f"call_{uuid.uuid4().hex[:24]}",
             "type": "tool_call"}
            for c in data["tool_calls"]
            if isinstance(c, dict)
        ]
        return "", calls, []
    if isinstance(data, dict) and isinstance(data.get("content"), str) and len(data) == 1:
        return data["content"], [], []
    return text, [], []


def closing_token_classes(tokenizer: Any, vocab_size: int) -> Any:
    """Boolean masks over the vocabulary, in order of preference when a reply must end soon:
    tokens that close a string (``"``, ``"}``), tokens that close containers (``}``, ``]``), a comma
    (on to the next required property), and ``0`` (the shortest number)."""
    import torch

    classes = torch.zeros((4, vocab_size), dtype=torch.bool)
    for token_id in range(min(len(tokenizer), vocab_size)):
        text = tokenizer.decode([token_id]).strip()
        if not text:
            continue
        if text[0] == '"' and set(text) <= set('"}]'):
            classes[0, token_id] = True
        elif set(text) <= set("}]"):
            classes[1, token_id] = True
        elif text == ",":
            classes[2, token_id] = True
        elif text == "0":
            classes[3, token_id] = True
    return classes


def closing_reserve(schema: Any) -> int:
    """Tokens kept in reserve to finish a reply: enough to write every property name of the schema
    with an empty value and close all brackets."""
    if isinstance(schema, dict):
        own = sum(len(k) + 8 for k in schema.get("properties", {}) if isinstance(k, str)) + 2
        return own + sum(closing_reserve(v) for v in schema.values())
    if isinstance(schema, list):
        return sum(closing_reserve(v) for v in schema)
    return 0


class GrammarConstraint:
    """A transformers logits processor that keeps every row of a batch inside a JSON schema.

    One llguidance matcher per row; rows that reached the end of their grammar (or of generation)
    are left alone while the others go on. When only a reserve of the token budget is left, the
    constraint steers towards the shortest way out (close the string, empty values, close brackets),
    so even a model that would ramble (or random weights) ends with JSON that parses; the reply is
    then marked ``truncated``.
    """

    def __init__(self, ll_tokenizer: Any, schema: dict[str, Any], batch_size: int, vocab_size: int,
                 stop_ids: Sequence[int], *, max_new_tokens: int, closing_classes: Any) -> None:
        import llguidance
        import torch

        grammar = llguidance.LLMatcher.grammar_from_json_schema(schema, defaults={"whitespace_flexible": False})
        is_error, messages = llguidance.LLMatcher.validate_grammar_with_warnings(grammar, ll_tokenizer)
        if is_error:
            msg = f"this JSON schema cannot be used for constrained decoding: {'; '.join(messages)}"
            raise ConfigError(msg)
        self.matchers = [llguidance.LLMatcher(ll_tokenizer, grammar) for _ in range(batch_size)]
        self.done = [False] * batch_size
        self.stop_ids = set(stop_ids)
        self.vocab_size = vocab_size
        self.bitmask = torch.full((batch_size, (vocab_size + 31) // 32), -1, dtype=torch.int32)
        self._bits = torch.arange(32, dtype=torch.int32)
        self._started = False
        self.steps = 0
        self.max_new_tokens = max_new_tokens
        self.reserve = min(8 + closing_reserve(schema), max_new_tokens)
        self.closing = closing_classes
        self.truncated = [False] * batch_size

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import llguidance.torch as llt
        import torch

        if self._started:
            for row, matcher in enumerate(self.matchers):
                if self.done[row]:
                    continue
                token = int(input_ids[row, -1])
                if token in self.stop_ids and matcher.is_accepting():
                    self.done[row] = True
                    continue
                if not matcher.consume_token(token):
                    self.done[row] = True  # cannot happen with the mask applied; never poison the other rows
        self._started = True
        for row, matcher in enumerate(self.matchers):
            if self.done[row]:
                self.bitmask[row].fill_(-1)
            else:
                llt.fill_next_token_bitmask(matcher, self.bitmask, row)
        allowed = ((self.bitmask.unsqueeze(-1) >> self._bits) & 1).flatten(1)[:, : scores.shape[-1]].bool()
        if allowed.shape[-1] < scores.shape[-1]:  # logits wider than the tokenizer: the extra ids are never text
            pad = allowed.new_zeros((allowed.shape[0], scores.shape[-1] - allowed.shape[-1]))
            allowed = torch.cat([allowed, pad], dim=-1)
        self.steps += 1
        if self.max_new_tokens - self.steps < self.reserve:
            for row in range(allowed.shape[0]):
                if self.done[row] or self.matchers[row].is_accepting():
                    continue
                for preferred in self.closing[:, : allowed.shape[-1]]:
                    narrowed = allowed[row] & preferred
                    if narrowed.any():
                        allowed[row] = narrowed
                        self.truncated[row] = True
                        break
        return scores.masked_fill(~allowed.to(scores.device), float("-inf"))
