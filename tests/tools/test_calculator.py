"""The calculator evaluates arithmetic only, within limits, and explains what it refuses."""

from __future__ import annotations

import pytest

from activities.tools.calculator import (
    MAX_EXPONENT,
    CalculatorError,
    CalculatorInput,
    calculator,
    evaluate,
    format_number,
)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("(17 * 23) / 4", (17 * 23) / 4),
        ("2 ** 10 - 1", 2**10 - 1),
        ("-3 + +4 * 2", -3 + +4 * 2),
        ("7 // 2 + 7 % 3", 7 // 2 + 7 % 3),
        ("1.5e3 * 2", 1.5e3 * 2),
        ("2 ** -2", 2**-2),
        ("(-8) ** 3", (-8) ** 3),
        ("  ((1 + 2) * (3 + 4))  ", (1 + 2) * (3 + 4)),
        ("10 ** 300 // 10 ** 299", 10**300 // 10**299),
    ],
)
def test_evaluates_arithmetic(expression: str, expected: float) -> None:
    assert evaluate(expression) == expected


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("__import__('os').system('true')", "unsupported syntax"),
        ("x + 1", "unsupported syntax"),
        ("abs(-1)", "unsupported syntax"),
        ("(1).__class__", "unsupported syntax"),
        ("[1, 2]", "unsupported syntax"),
        ("1 < 2", "unsupported syntax"),
        ("lambda: 1", "unsupported syntax"),
        ("'a' * 3", "unsupported value"),
        ("True + 1", "unsupported value"),
        ("2j * 2", "unsupported value"),
        ("1 +", "not an arithmetic expression"),
        ("1; 2", "not an arithmetic expression"),
        ("1 / 0", "division by zero"),
        ("5 % 0", "division by zero"),
        (f"2 ** {MAX_EXPONENT + 1}", "exponent"),
        ("2 ** 10 ** 10", "exponent"),
        ("999 ** 999", "too large"),
        ("9 ** 999 * 9 ** 999 * 9 ** 999 * 9 ** 999", "too large"),
        ("1e308 * 10", "too large"),
        ("(-8) ** 0.5", "fractional power of a negative number"),
        ("(" * 300 + "1" + ")" * 300, "not an arithmetic expression"),
    ],
)
def test_refuses_with_a_reason(expression: str, reason: str) -> None:
    with pytest.raises(CalculatorError, match=reason):
        evaluate(expression)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (4.0, "4"),
        (0.1 + 0.2, format(0.1 + 0.2, ".15g")),
        (2**70, str(2**70)),
        (1e20, "1e+20"),
        (-2.5, "-2.5"),
    ],
)
def test_format_number(value: float, text: str) -> None:
    assert format_number(value) == text


async def test_activity_returns_value_or_error_observation() -> None:
    ok = await calculator.activity(CalculatorInput(expression="(17 * 23) / 4"))
    bad = await calculator.activity(CalculatorInput(expression="open('x')"))
    assert not ok.is_error and float(ok.content) == pytest.approx((17 * 23) / 4)
    assert bad.is_error and "open('x')" in bad.content and "unsupported syntax" in bad.content
