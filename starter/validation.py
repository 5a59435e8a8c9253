"""The one line a starter or MCP caller sees for input that fails validation: `invalid WHERE: MESSAGE`,
WHERE the first bad field as that caller spells it (pydantic's report is many lines)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from pydantic import ValidationError

__all__ = ["first_invalid", "positive_int"]


def first_invalid(error: ValidationError, whole: str, spell: Callable[[str], str] = str) -> str:
    """`invalid WHERE: MESSAGE` of the first error: WHERE its dotted field path (`whole` when the
    error is the object's own), passed through `spell`."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or whole
    return f"invalid {spell(where)}: {first['msg']}"


def positive_int(value: str) -> int:
    """An argparse type: a whole number of at least 1 (a usage error before anything connects)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"at least 1, got {number}")
    return number
