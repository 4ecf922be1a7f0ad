"""The calculator: exact, bounded, and unable to run anything but arithmetic."""

from __future__ import annotations

import time
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docagent.agents import calculator
from docagent.errors import CalculationError
from docagent.tasks.calc import evaluate, number_text

CELLS = {("Revenue", "2023"): 820.0, ("Revenue", "2024"): 1290.5, ("Cost", "2023"): 500.0, ("Cost", "2024"): 610.25}


@pytest.mark.parametrize(("expression", "value"), [
    ("1 + 2 * 3", 7),
    ("(1 + 2) * 3", 9),
    ("7 / 2", Fraction(7, 2)),
    ("0.1 + 0.2", Fraction(3, 10)),  # exact, not 0.30000000000000004
    ("-3 ** 2", -9),
    ("2 ** -2", Fraction(1, 4)),
    ("10 − 4 × 2 ÷ 4", 8),  # typographic operators
    ("sum(1, 2, 3)", 6),
    ("mean(1, 2, 3, 4)", Fraction(5, 2)),
    ("avg([2, 4])", 3),
    ("median(5, 1, 3)", 3),
    ("median(1, 2, 3, 4)", Fraction(5, 2)),
    ("min(3, -1, 2) + max(3, -1, 2)", 2),
    ("abs(-2.5)", Fraction(5, 2)),
    ("round(2 / 3, 2)", Fraction(67, 100)),
    ("percent_change(80, 100)", 25),
    ("percent_change(-50, -25)", 50),
    ('cell("Revenue", "2024") - cell("Revenue", "2023")', Fraction("470.5")),
    ('sum(col("Cost"))', Fraction("1110.25")),
    ('percent_change(cell("Revenue", "2023"), cell("Revenue", "2024"))', Fraction("470.5") / 820 * 100),
    ('mean(col("Revenue")) / mean(col("Cost"))', Fraction("1055.25") / Fraction("555.125")),
])
def test_computes_exactly(expression: str, value: Fraction) -> None:
    assert evaluate(expression, CELLS) == value


@pytest.mark.parametrize(("expression", "message"), [
    ("", "empty"),
    ("__import__('os').system('true')", "only plain calls"),
    ("(1).real", "Attribute is not allowed"),
    ("open('/etc/passwd')", "unknown function 'open'"),
    ("x + 1", "Name is not allowed"),
    ("(lambda: 1)()", "only plain calls"),
    ("lambda: 1", "Lambda is not allowed"),
    ("[i for i in range(10)]", "ListComp is not allowed"),
    ("'a' * 3", "Constant is not allowed"),
    ("1 if 1 else 2", "IfExp is not allowed"),
    ("1 < 2", "Compare is not allowed"),
    ("2 ** 0.5", "whole-number powers"),
    ("10 ** 10 ** 10", "exponents are limited"),
    ("99999999 ** 999", "too large"),
    ("1 / 0", "division by zero"),
    ("0 ** -1", "division by zero"),
    ("1 // 2", "operator FloorDiv is not allowed"),
    ("sum()", "no numbers"),
    ("round(1.5, 1, 2)", "wrong number of arguments"),
    ("percent_change(0, 5)", "from 0"),
    ('cell("Profit", "2024")', "no series 'Profit'"),
    ('cell("Revenue", "2031")', "no category '2031'"),
    ('cell("2024")', "several series"),
    ("cell(Revenue)", "quoted names"),
    ('col("Revenue") + 1', "wrap a column"),
    ('col("Revenue")', "list of numbers"),
    ("sum(x=1)", "only plain calls"),
    ("1 +", "not an arithmetic expression"),
    ("1" * 3000, "longer than"),
    ("+".join(["1"] * 300), "more than 400 parts"),
])
def test_refuses_with_a_reason(expression: str, message: str) -> None:
    with pytest.raises(CalculationError, match=message):
        evaluate(expression, CELLS)


def test_deep_nesting_fails_cleanly() -> None:
    with pytest.raises(CalculationError):
        evaluate("(" * 1000 + "1" + ")" * 1000)
    with pytest.raises(CalculationError):
        evaluate("-" * 1900 + "1")


def test_a_single_series_cell_needs_only_its_category() -> None:
    assert evaluate('cell("2023") * 2', {("Share", "2023"): 12.5}) == 25


def test_number_text() -> None:
    assert [number_text(Fraction(x)) for x in ("2094.6", "-12.50", "1/3", "0", "-1/10000000")] == [
        "2094.6", "-12.5", "0.333333", "0", "0"]


def test_calculator_is_a_langchain_tool_that_reports_refusals() -> None:
    assert calculator.name == "calculator" and "expression" in calculator.args
    assert calculator.invoke({"expression": "percent_change(820, 1290)"}) == "57.317073"
    assert "unknown function '__import__'" in calculator.invoke({"expression": "__import__('os')"})


# ------------------------------------------------------------------ properties

_OPS = ["+", "-", "*", "/", "**", "%", "//", "<<", "&", ".", ",", " if ", " and ", "[", "]", "(", ")", "'", "x", "_"]
_FUNCS = ["sum(", "mean(", "max(", "abs(", "round(", "eval(", "exec(", "__import__(", "open(", "getattr(", "lambda:"]
_TOKEN = st.one_of(st.integers(-10**6, 10**6).map(str), st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr),
                   st.sampled_from(_OPS), st.sampled_from(_FUNCS))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_TOKEN, min_size=1, max_size=40).map(" ".join))
def test_random_text_never_runs_code_and_never_hangs(text: str) -> None:
    calls = []
    import builtins

    real_import = builtins.__import__

    def spy(name, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        calls.append(name)
        return real_import(name, *args, **kwargs)

    builtins.__import__ = spy
    start = time.perf_counter()
    try:
        result = evaluate(text)
    except CalculationError:
        result = None
    finally:
        builtins.__import__ = real_import
    assert time.perf_counter() - start < 1.0
    dangerous = {"os", "subprocess", "sys", "shutil", "socket", "importlib", "builtins", "ctypes", "pty"}
    assert not dangerous & {c.split(".")[0] for c in calls}
    assert result is None or isinstance(result, Fraction)


_small = st.fractions(min_value=-1000, max_value=1000, max_denominator=1000)


@st.composite
def _expressions(draw, depth: int = 3):  # noqa: ANN001, ANN202
    """A random expression and its exact value, built side by side."""
    if depth == 0 or draw(st.booleans()):
        value = draw(_small)
        text = f"({value.numerator} / {value.denominator})" if value.denominator != 1 else f"({value.numerator})"
        return text, value
    left_text, left = draw(_expressions(depth - 1))
    right_text, right = draw(_expressions(depth - 1))
    op = draw(st.sampled_from(["+", "-", "*", "/", "**"]))
    if op == "/" and right == 0:
        op = "+"
    if op == "**":
        exponent = draw(st.integers(-3, 3))
        if left == 0 and exponent < 0:
            exponent = 2
        return f"({left_text} ** {exponent})", left ** exponent
    value = {"+": left + right, "-": left - right, "*": left * right, "/": left / right if right else None}[op]
    return f"({left_text} {op} {right_text})", value


@settings(max_examples=300, deadline=None)
@given(_expressions())
def test_agrees_with_exact_arithmetic(case: tuple[str, Fraction]) -> None:
    text, value = case
    try:
        assert evaluate(text) == value
    except CalculationError as e:  # only the size bound may refuse a valid expression
        assert "too large" in str(e)
