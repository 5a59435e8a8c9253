"""The starter checks the tools it knows and leaves `server__tool` names to the worker (only the
worker reads MCP_SERVERS_FILE; its run fails at start if a server or tool is unknown)."""

from __future__ import annotations

import pytest

from starter.api import StarterError, check_input
from workflows.models import AgentInput


def test_mcp_tool_names_pass_the_starters_check() -> None:
    check_input(AgentInput(goal="g", tools=["files__read_file", "files__*", "calculator"]))


def test_unknown_plain_names_are_still_refused() -> None:
    with pytest.raises(StarterError, match="unknown tools \\['calculater'\\]"):
        check_input(AgentInput(goal="g", tools=["files__read_file", "calculater"]))
