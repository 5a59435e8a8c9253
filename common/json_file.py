"""An operator's JSON file (MCP_SERVERS_FILE, APPROVAL_RULES_FILE), read with a one-line error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["read_json_file"]


def read_json_file(path: str | Path, where: str, error: type[Exception]) -> Any:
    """The parsed JSON in `path`; a file that cannot be read or is not JSON raises `error` with one
    line starting with `where` (the setting and the path)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as cause:
        raise error(f"{where}: cannot read it: {cause.strerror or cause}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as cause:
        raise error(f"{where}: not JSON: {cause}") from None
