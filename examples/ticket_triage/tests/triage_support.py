"""Shared by the example's tests: the outbox as the receiver sees it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def outbox_messages(outbox: Path, workflow_id: str | None = None) -> list[dict[str, Any]]:
    """The messages `send_reply` delivered (of one run: its keys start with the workflow id)."""
    if not outbox.is_dir():
        return []
    messages = [json.loads(path.read_text()) for path in sorted(outbox.glob("*.json"))]
    if workflow_id is None:
        return messages
    return [m for m in messages if str(m["idempotency_key"]).startswith(f"{workflow_id}/")]


def outbox_names(outbox: Path) -> list[str]:
    """Every file of the outbox, hidden ones too."""
    return sorted(path.name for path in outbox.iterdir())
