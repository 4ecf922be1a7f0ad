"""The calculator: exact, bounded, and unable to run anything but arithmetic."""

from __future__ import annotations

import ast
import decimal
import time
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docagent.agents import calculator
from docagent.errors import CalculationError
from docagent.tasks.calc import MAX_BITS, evaluate, number_text

CELLS = {("Revenue", "2023"): 820.0, ("Revenue", "2024"): 1290.5, ("Cost", "2023"): 500.0, ("Cost", "2024"): 610.25}


@pytest.mark.parametrize(("expression", "value"), [
    ("1 + 2 * 3", 7),
    ("(1 + 2) * 3", 9),
    ("7 / 2", Fraction(7, 2)),
    ("0.1 + 0.2", Fraction(3, 10)),  # exact, not 0.30000000000000004
    ("0.1000000000000000000001 * 10 ** 22", 10**21 + 1),  # numbers as written, not the nearest float
    ("12345678901234567.5 * 2", 24691357802469135),
    ("1e400 / 1e399", 10),
    ("1_000.5e-3", Fraction("1.0005")),
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
    ("1e-9999 + 1", "too small"),
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


def test_a_table_value_that_is_not_a_number_is_refused() -> None:
    for bad in (float("nan"), float("inf")):
        with pytest.raises(CalculationError, match="not a finite number"):
            evaluate('sum(col("Share"))', {("Share", "2023"): bad})


def test_a_single_series_cell_needs_only_its_category() -> None:
    assert evaluate('cell("2023") * 2', {("Share", "2023"): 12.5}) == 25


def test_number_text() -> None:
    assert [number_text(Fraction(x)) for x in ("2094.6", "-12.50", "1/3", "-2/3", "0", "-1/10000000", "-1/30000000")] == [
        "2094.6", "-12.5", "0.333333", "-0.666667", "0", "-0.0000001", "0"]


def test_large_results_are_exact_to_the_last_digit() -> None:
    assert number_text(evaluate("2 ** 100")) == "1267650600228229401496703205376"
    assert number_text(evaluate("-(10 ** 40) / 3")) == "-" + "3" * 40 + ".333333"
    assert number_text(evaluate("10 ** 30 + 0.5")) == "1" + "0" * 30 + ".5"
    assert number_text(evaluate("2 ** -20")) == "0.00000095367431640625"  # a decimal that ends is printed in full
    big = evaluate("(10 ** 300 + 1) * (10 ** 300 - 1)")
    assert big == 10**600 - 1 and number_text(big) == "9" * 600
    assert number_text(evaluate("3 ** 900 / 3 ** 899")) == "3"
    assert int(number_text(evaluate("7 ** 1000 + 1"))) == 7**1000 + 1  # 2,808 bits: inside MAX_BITS


@pytest.mark.parametrize(("expression", "text"), [
    ("round(10 ** 27 / 7, 2)", "142857142857142857142857142.86"),  # was decimal.InvalidOperation
    ("round(-10 ** 27 / 7, 2)", "-142857142857142857142857142.86"),
    ("round(2 ** 200 / 3)", str((2**200 + 1) // 3)),
    ("round(2.675, 2)", "2.68"),  # the text 2.675 is exactly 2675/1000, not the float below it
    ("round(2.665, 2)", "2.67"),  # half away from zero: round-half-even would give 2.66
    ("round(0.125, 2)", "0.13"),
    ("round(0.5)", "1"),
    ("round(1.5)", "2"),
    ("round(2.5)", "3"),
    ("round(-2.5)", "-3"),
    ("round(-2.675, 2)", "-2.68"),
    ("round(-0.004, 2)", "0"),
    ("round(-1 / 3, 4)", "-0.3333"),
    ("round(2 / 3, 12)", "0.666666666667"),
])
def test_round_is_exact_and_half_away_from_zero(expression: str, text: str) -> None:
    assert number_text(evaluate(expression)) == text


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

    def spy(name, *args, **kwargs):
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
def _expressions(draw, depth: int = 3):
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


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(_expressions())
def test_agrees_with_exact_arithmetic(case: tuple[str, Fraction]) -> None:
    text, value = case
    try:
        assert evaluate(text) == value
    except CalculationError as e:  # only the size bound may refuse a valid expression
        assert "too large" in str(e)


# Random integer expressions as Python syntax trees: ast.unparse writes them with exactly the parentheses
# Python needs (so precedence and "-3 ** 2" are exercised too) and reference() evaluates the same tree with
# fractions.Fraction. benchmarks/fuzz.py runs the same comparison for minutes.

_INTEGERS = st.one_of(st.integers(0, 12), st.integers(0, 10**6), st.integers(0, 10**40))


def integer_expressions(max_leaves: int = 12) -> st.SearchStrategy[ast.expr]:
    """Trees of whole numbers with + - * / **, small whole exponents, unary minus and round(x, n)."""
    numbers = _INTEGERS.map(lambda n: ast.Constant(n))
    exponents = st.one_of(st.integers(-6, 6), st.integers(-80, 80)).map(
        lambda n: ast.Constant(n) if n >= 0 else ast.UnaryOp(ast.USub(), ast.Constant(-n)))

    def extend(children: st.SearchStrategy[ast.expr]) -> st.SearchStrategy[ast.expr]:
        return st.one_of(
            st.builds(ast.BinOp, children, st.sampled_from([ast.Add(), ast.Sub(), ast.Mult(), ast.Div()]), children),
            st.builds(ast.BinOp, children, st.just(ast.Pow()), exponents),
            st.builds(ast.UnaryOp, st.just(ast.USub()), children),
            st.builds(lambda x, n: ast.Call(ast.Name("round"), [x] + ([ast.Constant(n)] if n else []), []),
                      children, st.integers(0, 12)))

    return st.recursive(numbers, extend, max_leaves=max_leaves)


class TooLarge(Exception):
    """The reference met a value the calculator must refuse (over MAX_BITS)."""


def reference(node: ast.expr, sizes: list[int]) -> Fraction:
    """The exact value of ``node`` by fractions.Fraction, in the calculator's order (left, then right).
    Appends every intermediate's size in bits to ``sizes``; raises ZeroDivisionError, or TooLarge as soon
    as a value passes MAX_BITS (it never builds one much larger)."""
    if isinstance(node, ast.Constant):
        value = Fraction(node.value)
    elif isinstance(node, ast.Call):  # round(x, n): by decimal with ample precision, half away from zero
        x, places = reference(node.args[0], sizes), node.args[1].value if len(node.args) > 1 else 0
        with decimal.localcontext(prec=12_000, rounding=decimal.ROUND_HALF_UP):
            value = Fraction(_decimal(x).quantize(decimal.Decimal(10) ** -places))
    elif isinstance(node, ast.UnaryOp):
        value = -reference(node.operand, sizes)
    else:
        left, right = reference(node.left, sizes), reference(node.right, sizes)
        if isinstance(node.op, ast.Pow):
            bits = max(left.numerator.bit_length(), left.denominator.bit_length())
            if (bits - 1) * abs(int(right)) > MAX_BITS:  # the result has more bits than this
                sizes.append(MAX_BITS + 1)
                raise TooLarge
            value = left ** int(right)  # ZeroDivisionError for 0 ** -n
        else:
            value = {ast.Add: left.__add__, ast.Sub: left.__sub__, ast.Mult: left.__mul__,
                     ast.Div: left.__truediv__}[type(node.op)](right)
    sizes.append(max(value.numerator.bit_length(), value.denominator.bit_length()))
    if sizes[-1] > MAX_BITS:
        raise TooLarge
    return value


def _decimal(x: Fraction) -> decimal.Decimal:
    """``x`` as a Decimal: exact for any decimal that ends within MAX_BITS, else 12,000 digits."""
    with decimal.localcontext(prec=12_000):
        return decimal.Decimal(x.numerator) / decimal.Decimal(x.denominator)


def reference_text(x: Fraction, places: int = 6) -> str:
    """What number_text must print, by Decimal: every digit of a decimal that ends, else ``places``."""
    d = _decimal(x)
    if Fraction(d) != x:
        with decimal.localcontext(prec=12_000, rounding=decimal.ROUND_HALF_UP):
            d = d.quantize(decimal.Decimal(10) ** -places)
    text = f"{d:f}"
    text = text.rstrip("0").rstrip(".") if "." in text else text
    return "0" if text in ("-0", "") else text


def agrees_with_reference(tree: ast.expr) -> str | None:
    """None when evaluate() gives the exact value or refuses for a reason the reference confirms; else what
    went wrong. A size refusal needs a value over MAX_BITS / 2: the power check estimates from the base's
    size, so it may refuse a result up to about half the bound (a 6-bit base to the 700th is 3,501 bits)."""
    text, sizes = ast.unparse(tree), []
    try:
        expected: Fraction | type[Exception] = reference(tree, sizes)
    except (ZeroDivisionError, TooLarge) as e:
        expected = type(e)
    try:
        got = evaluate(text)
    except CalculationError as e:
        if "division by zero" in str(e) and expected is ZeroDivisionError:
            return None
        if "too large" in str(e) and max(sizes, default=0) > MAX_BITS // 2:
            return None
        return f"{text}: refused ({e}) but the reference gives {expected}"
    except Exception as e:  # noqa: BLE001 - what this looks for
        return f"{text}: {type(e).__name__}: {e}"
    if got != expected:
        return f"{text}: gives {got}, the reference {expected}"
    if number_text(got) != reference_text(got):
        return f"{text}: number_text gives {number_text(got)}, the reference {reference_text(got)}"
    return None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(integer_expressions())
def test_integer_expressions_agree_with_fractions(tree: ast.expr) -> None:
    assert agrees_with_reference(tree) is None
