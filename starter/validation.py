"""The one line a starter or MCP caller sees for input that fails validation: `invalid WHERE: MESSAGE`,
WHERE the first bad field as that caller spells it (pydantic's report is many lines)."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import ValidationError

__all__ = ["first_invalid"]


def first_invalid(error: ValidationError, whole: str, spell: Callable[[str], str] = str) -> str:
    """`invalid WHERE: MESSAGE` of the first error: WHERE its dotted field path (`whole` when the
    error is the object's own), passed through `spell`."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or whole
    return f"invalid {spell(where)}: {first['msg']}"
