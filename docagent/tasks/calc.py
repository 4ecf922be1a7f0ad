"""A calculator that can only calculate: arithmetic over numbers and named table cells, exactly.

    expression := number | cell("series", "category") | col("series") | f(expr, ...) | expr op expr | -expr | (expr)
    op         := + - * / ** (whole exponents, bounded result size)
    f          := sum mean median min max abs round percent_change

The text is parsed with Python's ``ast`` (parsing runs nothing) and only the node types above are walked;
anything else (names, attributes, lambdas, comprehensions, strings outside ``cell``/``col``) is refused
with a message that says what is allowed. Numbers are exact fractions until the end; size and depth are
bounded so no input can hang or exhaust memory. No ``eval``, no ``exec``.

Rounding, in ``round(x, n)`` and in :func:`number_text`, is half away from zero, as on paper and in
spreadsheets (``round(2.665, 2)`` is 2.67, ``round(-2.5)`` is -3), not Python's round-half-to-even; it is
done on the exact fraction, so ``round(2.675, 2)`` is 2.68 (the text ``2.675`` is 2675/1000, not a float).
"""

from __future__ import annotations

import ast
import statistics
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

from docagent.errors import CalculationError

__all__ = ["FUNCTIONS", "evaluate", "number_text"]

_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "‘": "'", "’": "'"})
"""Typographic quotes, as word processors and phones type them, read as plain ones."""
MAX_LENGTH = 2000
MAX_NODES = 400
MAX_BITS = 4096  # bits in a numerator or denominator: about 1,200 digits
MAX_EXPONENT = 1000

Value = Fraction | list[Fraction]


def _flat(args: Sequence[Value]) -> list[Fraction]:
    out: list[Fraction] = []
    for a in args:
        out.extend(a if isinstance(a, list) else [a])
    if not out:
        raise CalculationError("a function got no numbers")
    return out


def _half_away(x: Fraction, places: int) -> int:
    """``x`` times ``10**places``, rounded to a whole number, half away from zero, exactly."""
    scaled = x * Fraction(10**places)
    whole, rest = divmod(abs(scaled.numerator), scaled.denominator)
    whole += 2 * rest >= scaled.denominator
    return -whole if scaled < 0 else whole


def _round(x: Value, digits: Value = Fraction(0)) -> Fraction:
    if isinstance(x, list) or isinstance(digits, list) or digits.denominator != 1 or not 0 <= digits <= 12:
        raise CalculationError("round(x, n) takes one number and 0-12 decimals")
    return Fraction(_half_away(x, int(digits)), 10 ** int(digits))


def _percent_change(old: Value, new: Value) -> Fraction:
    if isinstance(old, list) or isinstance(new, list):
        raise CalculationError("percent_change(old, new) takes two numbers")
    if old == 0:
        raise CalculationError("percent_change from 0 is undefined")
    return (new - old) / abs(old) * 100


FUNCTIONS: dict[str, Callable[..., Fraction]] = {
    "sum": lambda *a: sum(_flat(a), Fraction(0)),
    "mean": lambda *a: sum(_flat(a), Fraction(0)) / len(_flat(a)),
    "avg": lambda *a: sum(_flat(a), Fraction(0)) / len(_flat(a)),
    "median": lambda *a: Fraction(statistics.median(_flat(a))),
    "min": lambda *a: min(_flat(a)),
    "max": lambda *a: max(_flat(a)),
    "abs": lambda x: abs(x) if not isinstance(x, list) else _refuse("abs takes one number"),
    "round": _round,
    "percent_change": _percent_change,
}


def _refuse(msg: str) -> Any:
    raise CalculationError(msg)


def _check(x: Fraction) -> Fraction:
    if x.numerator.bit_length() > MAX_BITS or x.denominator.bit_length() > MAX_BITS:
        raise CalculationError("the result is too large to compute")
    return x


def _power(base: Fraction, exp: Fraction) -> Fraction:
    if exp.denominator != 1:
        raise CalculationError("only whole-number powers are allowed")
    if abs(exp) > MAX_EXPONENT:
        raise CalculationError(f"exponents are limited to ±{MAX_EXPONENT}")
    if base == 0 and exp < 0:
        raise CalculationError("division by zero")
    bits = max(base.numerator.bit_length(), base.denominator.bit_length())
    if bits * abs(int(exp)) > MAX_BITS:
        raise CalculationError("the result is too large to compute")
    return base ** int(exp)


_BINARY = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b if b != 0 else _refuse("division by zero"),
    ast.Pow: _power,
}


def evaluate(expression: str, cells: Mapping[tuple[str, str], float | Decimal] | None = None) -> Fraction:
    """The exact value of ``expression``; ``cells`` maps ``(series, category)`` to numbers for
    ``cell(...)`` and ``col(...)``. Raises :class:`CalculationError` for anything it will not compute."""
    if not isinstance(expression, str) or not expression.strip():
        raise CalculationError("the expression is empty")
    if len(expression) > MAX_LENGTH:
        raise CalculationError(f"the expression is longer than {MAX_LENGTH} characters")
    source = unicodedata.normalize("NFKC", expression).strip()  # full-width "２０２３" is 2023
    source = source.replace("×", "*").replace("÷", "/").replace("−", "-").translate(_QUOTES)  # “2023” is "2023"
    try:
        tree = ast.parse(source, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        raise CalculationError(f"not an arithmetic expression ({type(e).__name__})") from e
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise CalculationError(f"the expression has more than {MAX_NODES} parts")
    cells = cells or {}
    try:
        result = _walk(tree.body, cells, source)
    except RecursionError as e:
        raise CalculationError("the expression is nested too deeply") from e
    if isinstance(result, list):
        raise CalculationError("the expression gives a list of numbers; wrap it in sum(), mean(), ...")
    return result


def _names(cells: Mapping[tuple[str, str], float | Decimal]) -> str:
    series = sorted({s for s, _ in cells})
    return ", ".join(repr(s) for s in series[:12]) or "none (no table)"


def _cell(cells: Mapping[tuple[str, str], float | Decimal], args: list[ast.expr]) -> Fraction:
    keys = [a.value if isinstance(a, ast.Constant) and isinstance(a.value, (str, int)) else None for a in args]
    if None in keys or not 1 <= len(keys) <= 2:
        raise CalculationError('cell takes quoted names: cell("series", "category") or cell("category") for one series')
    series = {s for s, _ in cells}
    if len(keys) == 1:
        if len(series) != 1:
            raise CalculationError(f"the table has several series ({_names(cells)}): write cell(\"series\", \"category\")")
        keys = [next(iter(series)), keys[0]]
    key = (str(keys[0]), str(keys[1]))
    if key not in cells:
        if key[0] not in series:
            raise CalculationError(f"no series {key[0]!r} in the table; series: {_names(cells)}")
        categories = [c for s, c in cells if s == key[0]]
        raise CalculationError(f"no category {key[1]!r} in series {key[0]!r}; categories: {', '.join(map(repr, categories[:20]))}")
    return _cell_value(cells[key])


def _col(cells: Mapping[tuple[str, str], float | Decimal], args: list[ast.expr]) -> list[Fraction]:
    if len(args) != 1 or not isinstance(args[0], ast.Constant) or not isinstance(args[0].value, str):
        raise CalculationError('col takes one quoted series name: col("series")')
    values = [_cell_value(cells[key]) for key in cells if key[0] == args[0].value]  # reads only the column's cells
    if not values:
        raise CalculationError(f"no series {args[0].value!r} in the table; series: {_names(cells)}")
    return values


def _literal(node: ast.Constant, source: str) -> Fraction:
    """A number as written: ``0.1000000000000000000001`` and ``1e400`` exactly, not as the nearest float."""
    if isinstance(node.value, int):
        return _check(Fraction(node.value))
    text = ast.get_source_segment(source, node) or repr(node.value)
    _, _, exponent = text.lower().partition("e")
    try:
        if exponent and abs(int(exponent)) > MAX_BITS:  # refused before 10**exponent is built
            size = "large" if int(exponent) > 0 else "small"
            raise CalculationError(f"the number {text[:40]} is too {size} to compute with (exponents up to ±{MAX_BITS})")
        return _check(Fraction(text))
    except ValueError as e:
        msg = f"the number {text[:40]} could not be read"
        raise CalculationError(msg) from e


def _cell_value(value: float | Decimal) -> Fraction:
    try:
        return _check(Fraction(str(value)))
    except (ValueError, TypeError) as e:
        msg = f"the table value {value!r} is not a finite number"
        raise CalculationError(msg) from e


def _walk(node: ast.expr, cells: Mapping[tuple[str, str], float | Decimal], source: str) -> Value:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return _literal(node, source)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _walk(node.operand, cells, source)
        if isinstance(value, list):
            raise CalculationError("a sign applies to a number, not a list")
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) not in _BINARY:
        raise CalculationError(f"the operator {type(node.op).__name__} is not allowed: use + - * / **")
    if isinstance(node, ast.BinOp):
        left, right = _walk(node.left, cells, source), _walk(node.right, cells, source)
        if isinstance(left, list) or isinstance(right, list):
            raise CalculationError("arithmetic works on numbers; wrap a column in sum(), mean(), ...")
        return _check(_BINARY[type(node.op)](left, right))
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.keywords:
            raise CalculationError("only plain calls of the allowed functions, like sum(1, 2), are allowed")
        name = node.func.id
        if name == "cell":
            return _cell(cells, node.args)
        if name == "col":
            return _col(cells, node.args)
        if name in FUNCTIONS:
            args = [_walk(a, cells, source) for a in node.args]
            try:
                return _check(FUNCTIONS[name](*args))
            except TypeError as e:
                raise CalculationError(f"{name}: wrong number of arguments") from e
        raise CalculationError(f"unknown function {name!r}; allowed: {', '.join(['cell', 'col', *FUNCTIONS])}")
    if isinstance(node, (ast.List, ast.Tuple)):
        return _flat([_walk(e, cells, source) for e in node.elts])
    raise CalculationError(
        f"{type(node).__name__} is not allowed: use numbers, + - * / **, parentheses, cell(), col() and "
        + ", ".join(FUNCTIONS)
    )


def _terminating_places(denominator: int) -> int | None:
    """How many decimals ``1/denominator`` has when it ends (only 2s and 5s in it), else None."""
    twos = (denominator & -denominator).bit_length() - 1
    rest, fives = denominator >> twos, 0
    while rest % 5 == 0:
        rest, fives = rest // 5, fives + 1
    return max(twos, fives) if rest == 1 else None


def number_text(value: Fraction, places: int = 6) -> str:
    """A fraction as a decimal, by integer arithmetic so any size prints exactly: every digit of a whole
    number or of a decimal that ends (``1267650600228229401496703205376``, ``-12.5``, ``0.0000001``),
    and ``places`` decimals, rounded half away from zero, of one that does not (``0.333333``)."""
    value = Fraction(value)
    exact = _terminating_places(value.denominator)
    digits = exact if exact is not None else places
    scaled = _half_away(value, digits)
    whole, fraction = divmod(abs(scaled), 10**digits)
    text = f"{whole}.{fraction:0{digits}d}".rstrip("0").rstrip(".") if digits else str(whole)
    return f"-{text}" if scaled < 0 else text
