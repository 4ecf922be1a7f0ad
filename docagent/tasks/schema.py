"""Extraction schemas: a pydantic model, a JSON Schema (dict or file), or a quick field list
(``"invoice_number:str, date:date, total:decimal"``), all turned into one typed pydantic model whose
fields may be null (a field can be absent from a document)."""

from __future__ import annotations

import datetime as dt
import json
import re
import typing
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import jsonschema
from pydantic import BaseModel, Field, create_model

from docagent.errors import ConfigError

__all__ = ["ExtractionSchema", "FieldSpec", "coerce", "fields_of", "schema_model"]

TYPES: dict[str, type] = {"str": str, "int": int, "float": float, "decimal": Decimal, "date": dt.date, "bool": bool}
_JSON_TYPES = {"string": "str", "integer": "int", "number": "decimal", "boolean": "bool"}


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str = "str"
    """``str``, ``int``, ``float``, ``decimal``, ``date`` or ``bool``; a field given no type (``""``, None) is a string."""
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", str(self.type or "").strip().lower() or "str")
        object.__setattr__(self, "description", str(self.description or ""))

    @property
    def words(self) -> str:
        """The name as words (``invoice_number`` / ``invoiceNumber`` -> ``invoice number``), for matching labels."""
        spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", self.name)
        return " ".join(re.sub(r"[_\-.]+", " ", spaced).lower().split())


def _parse_list(text: str) -> list[FieldSpec]:
    specs = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, kind = part.partition(":")
        kind = kind.strip().lower() or "str"
        if kind not in TYPES:
            msg = f"field {name.strip()!r}: unknown type {kind!r}; use one of {', '.join(TYPES)}"
            raise ConfigError(msg)
        if not re.fullmatch(r"[A-Za-z_][\w]*", name.strip()):
            msg = f"field name {name.strip()!r} must be letters, digits and underscores"
            raise ConfigError(msg)
        specs.append(FieldSpec(name.strip(), kind))
    if not specs:
        msg = 'the field list is empty; write it like "invoice_number:str, date:date, total:decimal"'
        raise ConfigError(msg)
    return specs


def _from_annotation(annotation: Any) -> str:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    base = args[0] if args else annotation
    for name, kind in TYPES.items():
        if base is kind:
            return name
    return "str"


ExtractionSchema = type[BaseModel] | dict[str, Any] | str | Path | list[FieldSpec]
"""What names the fields to extract: a pydantic model class, a JSON Schema (a dict, or the path of a ``.json``
file), a field list (``"total:decimal, date:date"``) or :class:`FieldSpec` objects."""


def fields_of(schema: ExtractionSchema) -> list[FieldSpec]:
    """The fields of a pydantic model class, a JSON Schema (dict, or path of a ``.json`` file), a field list
    or a list of :class:`FieldSpec`."""
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return [FieldSpec(n, _from_annotation(f.annotation), f.description or "") for n, f in schema.model_fields.items()]
    if isinstance(schema, (str, Path)) and str(schema).endswith(".json"):
        try:
            schema = json.loads(Path(schema).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            msg = f"cannot read the JSON Schema {schema}: {e}"
            raise ConfigError(msg) from e
    if isinstance(schema, dict):
        props = schema.get("properties")
        if not isinstance(props, dict) or not props:
            msg = "a JSON Schema for extraction needs an object with 'properties'"
            raise ConfigError(msg)
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as e:
            where = "/".join(str(p) for p in e.absolute_path) or "the schema"
            msg = f"not a valid JSON Schema: at {where}: {e.message}"
            raise ConfigError(msg) from e
        specs = []
        for name, prop in props.items():
            prop = prop if isinstance(prop, dict) else {}  # `true`: any value, read as text
            kind = prop.get("type", "string")
            kind = next((k for k in kind if k != "null"), "string") if isinstance(kind, list) else kind
            specs.append(FieldSpec(name, "date" if prop.get("format") == "date" else _JSON_TYPES.get(kind, "str"),
                                   prop.get("description", "")))
        return specs
    if isinstance(schema, str):
        return _parse_list(schema)
    if isinstance(schema, list) and schema and all(isinstance(s, FieldSpec) for s in schema):
        unknown = [s.type for s in schema if s.type not in TYPES]
        if unknown:
            msg = f"unknown field type {unknown[0]!r}; use one of {', '.join(TYPES)}"
            raise ConfigError(msg)
        return schema
    msg = "the schema must be a pydantic model, a JSON Schema (dict or .json file), a field list or FieldSpecs"
    raise ConfigError(msg)


def schema_model(specs: list[FieldSpec], name: str = "Fields") -> type[BaseModel]:
    """A pydantic model with one nullable field per spec: what the model is asked to fill."""
    fields: dict[str, Any] = {s.name: (TYPES[s.type] | None, Field(default=None, description=s.description or None))
                              for s in specs}
    return create_model(name, **fields)


_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y", "%d %B %Y", "%d %b %Y", "%B %d, %Y",
                 "%b %d, %Y", "%Y/%m/%d", "%d/%m/%y", "%m/%d/%y", "%d-%m-%y", "%d.%m.%y", "%d %b %y",
                 "%d-%b-%Y", "%d-%b-%y")


def coerce(value: Any, kind: str) -> Any:
    """``value`` as ``kind`` (dates and amounts read the usual printed forms); ValueError when it is not one."""
    if value is None or value == "":
        return None
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("yes", "true", "x", "on", "1", "checked"):
            return True
        if text in ("no", "false", "off", "0", "", "unchecked"):
            return False
        raise ValueError(f"{value!r} is not yes/no")
    if kind in ("int", "float", "decimal"):
        if re.search(r"\d\S*\s+(?!\d{3}(?:\D|$))\d", str(value)):  # "19% 94.43", "2 45.00": two numbers, not one
            raise ValueError(f"{value!r} is not one number")
        text = re.sub(r"[^\d,.\-]", "", str(value))
        if text.count(",") and text.count("."):  # the last separator is the decimal one: 1,234.56 / 1.234,56
            text = text.replace(".", "").replace(",", ".") if text.rfind(",") > text.rfind(".") else text.replace(",", "")
        elif text.count(",") == 1 and len(text.split(",")[1]) != 3:
            text = text.replace(",", ".")  # 12,50
        else:
            text = text.replace(",", "")
        try:
            number = Decimal(text)
        except InvalidOperation as e:
            raise ValueError(f"{value!r} is not a number") from e
        return int(number) if kind == "int" else float(number) if kind == "float" else number
    if kind == "date":
        if isinstance(value, dt.date):
            return value
        text = " ".join(str(value).split())
        for fmt in _DATE_FORMATS:
            try:
                day = dt.datetime.strptime(text, fmt).date()
            except ValueError:
                continue
            if "%Y" not in fmt or day.year >= 1000:  # "01-02-16" is 2016, not the year 16
                return day
        raise ValueError(f"{value!r} is not a date")
    return str(value).strip()
