"""An operator's JSON file (MCP_SERVERS_FILE, APPROVAL_RULES_FILE), read and checked with one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

__all__ = ["first_problem", "read_json_file"]


def read_json_file(path: str | Path, where: str, error: type[Exception]) -> Any:
    """The parsed JSON in `path`; a file that cannot be read or is not JSON raises `error` with one
    line starting with `where` (the setting and the path)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as cause:
        raise error(f"{where}: cannot read it: {cause.strerror or cause}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as cause:
        raise error(f"{where}: not JSON: {cause}") from None


def first_problem(error: ValidationError) -> str:
    """`LOCATION: MESSAGE` of the first thing validation found wrong (dotted location)."""
    first = error.errors()[0]
    return ".".join(str(part) for part in first["loc"]) + f": {first['msg']}"
