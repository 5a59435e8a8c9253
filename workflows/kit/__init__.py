"""The workflow side of the kit: what a durable AI workflow of your own is built from.

    from workflows.kit import KitInput, KitWorkflow, RunContext

See docs/building-workflows.md. The shipped workflows (`AgentWorkflow`, `ResearchWorkflow`) use
exactly these names.
"""

from workflows.actions import compact_json, masked_url, proposed_action, visible
from workflows.activity_options import DELIVERY, LLM_CALL, NOTIFY, TOOL_CALL, ActivityOptions
from workflows.approval import action_hash
from workflows.kit.base import KitWorkflow
from workflows.kit.context import MAX_OBSERVATION_CHARS, RunContext, invalid_input
from workflows.kit.tools import InvalidArguments, RegisteredTool, WorkflowTool, describe_validation_error
from workflows.models import KitInput

__all__ = [
    "DELIVERY",
    "LLM_CALL",
    "MAX_OBSERVATION_CHARS",
    "NOTIFY",
    "TOOL_CALL",
    "ActivityOptions",
    "InvalidArguments",
    "KitInput",
    "KitWorkflow",
    "RegisteredTool",
    "RunContext",
    "WorkflowTool",
    "action_hash",
    "compact_json",
    "describe_validation_error",
    "invalid_input",
    "masked_url",
    "proposed_action",
    "visible",
]
