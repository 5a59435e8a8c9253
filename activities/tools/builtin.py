"""The product's built-in tools, declared in one file each; importing this module registers them."""

from __future__ import annotations

from activities.tools.calculator import calculator
from activities.tools.current_time import current_time_tool
from activities.tools.declare import ToolDefinition
from activities.tools.http_get import http_get_tool
from activities.tools.search_docs import search_docs_tool
from activities.tools.send_email import send_email
from activities.tools.send_webhook import send_webhook

__all__ = ["BUILTIN_TOOLS", "READ_ONLY_TOOLS"]

BUILTIN_TOOLS: tuple[ToolDefinition, ...] = (
    calculator,
    http_get_tool,
    search_docs_tool,
    current_time_tool,
    send_webhook,
    send_email,
)
READ_ONLY_TOOLS: tuple[str, ...] = tuple(t.name for t in BUILTIN_TOOLS if not t.side_effect)
