"""The activity side of the kit: declare tools, reach what a worker shares, and the contracts a tool
returns. See docs/building-workflows.md.

    from activities.kit import ToolCall, ToolError, resources, tool
"""

from activities.resources import WorkerResources, resources
from activities.tools.builtin import BUILTIN_TOOLS, READ_ONLY_TOOLS
from activities.tools.declare import ToolCall, ToolDefinition, ToolError, registry, tool
from activities.tools.models import SideEffectToolInput, ToolObservation

__all__ = [
    "BUILTIN_TOOLS",
    "READ_ONLY_TOOLS",
    "SideEffectToolInput",
    "ToolCall",
    "ToolDefinition",
    "ToolError",
    "ToolObservation",
    "WorkerResources",
    "registry",
    "resources",
    "tool",
]
