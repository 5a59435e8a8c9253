"""Safe arithmetic for the `calculator` tool: the expression is parsed with `ast` and only numbers,
parentheses and arithmetic operators are evaluated. Nothing is ever passed to `eval`.

Limits keep one tool call cheap: `2 ** 10 ** 10` would otherwise pin a CPU and fill memory, so
exponents and intermediate integers are bounded before the operation runs.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field

from activities.tools.declare import tool
from common.contracts.tools import ToolObservation

__all__ = ["MAX_EXPONENT", "CalculatorError", "CalculatorInput", "calculator", "evaluate", "format_number"]

Number = int | float

MAX_EXPONENT = 1000
MAX_INT_BITS = 4096  # ~1233 decimal digits: plenty for arithmetic, nowhere near a CPU problem

_BINARY: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Number], Number]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}


class CalculatorInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    expression: str = Field(
        min_length=1, max_length=500, description="Arithmetic expression, e.g. '(17 * 23) / 4'"
    )


@tool(description="Evaluate an arithmetic expression (+ - * / % ** and parentheses).")
async def calculator(params: CalculatorInput) -> ToolObservation:
    try:
        value = evaluate(params.expression)
    except CalculatorError as error:
        return ToolObservation(content=f"cannot evaluate {params.expression!r}: {error}", is_error=True)
    return ToolObservation(content=format_number(value))


class CalculatorError(ValueError):
    """An expression the calculator refuses or cannot evaluate; the message is for the model."""


def evaluate(expression: str) -> Number:
    """The value of an arithmetic expression, or `CalculatorError` saying what is wrong."""
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
        raise CalculatorError(f"not an arithmetic expression: {expression!r}") from error
    try:
        return _eval(tree.body)
    except ZeroDivisionError:
        raise CalculatorError("division by zero") from None
    except OverflowError:
        raise CalculatorError("result too large") from None
    except RecursionError:
        raise CalculatorError("expression nested too deeply") from None


def format_number(value: Number) -> str:
    """Integers exactly; floats to 15 significant digits, without a trailing `.0`."""
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return format(value, ".15g")
    return str(value)


def _eval(node: ast.expr) -> Number:
    if isinstance(node, ast.Constant):
        # bool is an int subclass, and complex numbers are not arithmetic the model asked for.
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise CalculatorError(f"unsupported value: {node.value!r}")
        return _checked(node.value)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow):
            _check_power(left, right)
        return _checked(_BINARY[type(node.op)](left, right))
    raise CalculatorError(f"unsupported syntax: {ast.unparse(node)!r} (only numbers and + - * / // % **)")


def _check_power(base: Number, exponent: Number) -> None:
    if abs(exponent) > MAX_EXPONENT:
        raise CalculatorError(f"exponent {format_number(exponent)} is larger than {MAX_EXPONENT}")
    if isinstance(base, int) and isinstance(exponent, int) and abs(base) > 1 and exponent > 0:
        # The result has about exponent * log2(base) bits: refuse before computing it.
        if exponent * math.log2(abs(base)) > MAX_INT_BITS:
            raise CalculatorError("result too large")
    if isinstance(base, int | float) and base < 0 and isinstance(exponent, float):
        if not exponent.is_integer():
            raise CalculatorError("fractional power of a negative number")


def _checked(value: Number) -> Number:
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise CalculatorError("result too large")
    if isinstance(value, float) and not math.isfinite(value):
        raise CalculatorError("result too large")
    if isinstance(value, complex):  # e.g. (-8) ** 0.5 under operator.pow
        raise CalculatorError("result is not a real number")
    return value
