"""Which tools a run offers when it names none: the built-in ones only. A tool an installed
extension declares is offered to the runs that name it, never silently to every agent."""

from __future__ import annotations

from pydantic import BaseModel

from activities.kit import BUILTIN_TOOLS, READ_ONLY_TOOLS
from activities.tools.declare import ToolRegistry, tool
from workflows.kit import RegisteredTool, choose_tools, registered_tools


class NoteInput(BaseModel):
    text: str


async def _write_note(params: NoteInput) -> str:
    return params.text


def test_an_extension_tool_is_offered_only_when_named() -> None:
    extension_tool = tool(_write_note, name="write_note", description="Write a note.", into=ToolRegistry())
    available = {**registered_tools(), "write_note": RegisteredTool(extension_tool)}
    default = [t.name for t in choose_tools(available, None, can_approve=True)]
    assert default == [t.name for t in BUILTIN_TOOLS]
    without_approvers = [t.name for t in choose_tools(available, None, can_approve=False)]
    assert without_approvers == list(READ_ONLY_TOOLS)
    assert [t.name for t in choose_tools(available, ["write_note"], can_approve=False)] == ["write_note"]
