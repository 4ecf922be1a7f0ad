"""``with_structured_output`` for docagent's chat models: bind a schema, parse, validate against it."""

from __future__ import annotations

from operator import itemgetter
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.output_parsers.openai_tools import (
    JsonOutputKeyToolsParser,
    PydanticToolsParser,
)
from langchain_core.runnables import (
    Runnable,
    RunnableLambda,
    RunnableMap,
    RunnablePassthrough,
)
from langchain_core.utils.function_calling import (
    convert_to_json_schema,
    convert_to_openai_tool,
)
from langchain_core.utils.pydantic import is_basemodel_subclass

from docagent.errors import ConfigError

__all__ = ["structured_output_runnable"]


def _validator(schema: dict[str, Any]) -> RunnableLambda:
    import jsonschema
    from langchain_core.exceptions import OutputParserException

    validator = jsonschema.Draft202012Validator(schema)

    def validate(value: Any) -> Any:
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.path))
        if errors:
            where = "/".join(str(p) for p in errors[0].path) or "(root)"
            msg = f"model output does not follow the schema at {where}: {errors[0].message}"
            raise OutputParserException(msg, llm_output=str(value))
        return value

    return RunnableLambda(validate, name="ValidateJsonSchema")


def structured_output_runnable(llm: BaseChatModel, schema: Any, *, include_raw: bool = False,
                               method: str = "json_schema", **kwargs: Any) -> Runnable:
    """What ``llm.with_structured_output(schema, ...)`` returns, for a model that understands
    ``response_format`` (JSON schema) and ``bind_tools``. ``json_mode`` with a schema constrains to the
    schema too (any JSON object without one)."""
    kwargs.pop("strict", None)  # output is always constrained and validated: strictness is not optional here
    if kwargs:
        msg = f"unsupported argument(s) {sorted(kwargs)} for with_structured_output"
        raise ConfigError(msg)
    if schema is None and method != "json_mode":
        msg = "with_structured_output needs a schema (a pydantic class or a JSON schema dict), or method='json_mode'"
        raise ConfigError(msg)
    pydantic = isinstance(schema, type) and is_basemodel_subclass(schema)
    if schema is None:
        json_schema: dict[str, Any] = {"type": "object"}
    elif isinstance(schema, dict) and "function" not in schema and "title" not in schema:
        json_schema = schema  # a bare JSON schema: used as given
        schema = {**schema, "title": "output"}
    else:
        json_schema = convert_to_json_schema(schema)
    trace = {"schema": json_schema, "kwargs": {"method": method}}
    if method == "function_calling":
        tool = convert_to_openai_tool(schema)
        name = tool["function"]["name"]
        bound = llm.bind_tools([schema], tool_choice=name, ls_structured_output_format=trace)
        parser: Runnable = (PydanticToolsParser(tools=[schema], first_tool_only=True) if pydantic
                            else JsonOutputKeyToolsParser(key_name=name, first_tool_only=True))
    elif method in ("json_schema", "json_mode"):
        if method == "json_mode" and schema is None:
            response_format: dict[str, Any] = {"type": "json_object"}
        else:
            response_format = {"type": "json_schema", "json_schema": {
                "name": json_schema.get("title", "output"), "schema": json_schema, "strict": True}}
        bound = llm.bind(response_format=response_format, ls_structured_output_format=trace)
        parser = PydanticOutputParser(pydantic_object=schema) if pydantic else JsonOutputParser()
    else:
        msg = f"unknown method {method!r}: use 'json_schema', 'function_calling' or 'json_mode'"
        raise ConfigError(msg)
    if not pydantic and schema is not None:
        parser = parser | _validator(json_schema)
    if not include_raw:
        return bound | parser
    parsed = RunnablePassthrough.assign(parsed=itemgetter("raw") | parser, parsing_error=lambda _: None)
    fallback = RunnablePassthrough.assign(parsed=lambda _: None)
    return RunnableMap(raw=bound) | parsed.with_fallbacks([fallback], exception_key="parsing_error")
