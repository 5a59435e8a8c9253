"""The workflow side of the kit: what a durable AI workflow of your own is built from.

    from workflows.kit import KitInput, KitWorkflow, RunContext

See docs/building-workflows.md. The shipped workflows (`AgentWorkflow`, `ResearchWorkflow`,
`AnswerWorkflow`, `IndexWorkflow`) use exactly these names (tests/kit/test_public_surface.py).
"""

from common.contracts.delivery import DeliveryReceipt
from common.contracts.llm import (
    REPLY_TOPIC,
    LLMRequest,
    LLMResponse,
    Message,
    ReplyChunk,
    TextBlock,
    ToolResultBlock,
    ToolSpec,
    ToolUseBlock,
)
from common.contracts.mcp import McpToolInfo
from common.contracts.runs import invalid_input
from common.contracts.sessions import *  # noqa: F403 - the session contracts, listed once there
from common.contracts.sessions import __all__ as _session_contracts
from common.contracts.tools import ToolObservation
from workflows.actions import compact_json, masked_url, proposed_action, visible
from workflows.activity_options import DELIVERY, LLM_CALL, NOTIFY, TOOL_CALL, ActivityOptions
from workflows.approval import action_hash
from workflows.kit.base import KitWorkflow
from workflows.kit.context import MAX_OBSERVATION_CHARS, AgentTurn, RunContext
from workflows.kit.delivery import Delivered, approve_and_deliver, delivery_channel
from workflows.kit.evals import EvalChecks
from workflows.kit.mcp import McpTool, discover_mcp_tools, mcp_servers_named, mcp_tools_from, offer_run_tools
from workflows.kit.spend import TENANT_BUDGET_EXHAUSTED_OUTCOME
from workflows.kit.tools import (
    InvalidArguments,
    RegisteredTool,
    WorkflowTool,
    choose_tools,
    describe_validation_error,
    registered_tools,
)
from workflows.models import (
    ActionField,
    ApprovalDecision,
    ApprovalRecord,
    ForkFrom,
    KitInput,
    PendingApproval,
    ProposedAction,
    RunCarry,
    StepRecord,
    UsageTotals,
    WorkflowStatus,
)
from workflows.patches import patched_since

__all__ = [
    *_session_contracts,
    "DELIVERY",
    "LLM_CALL",
    "MAX_OBSERVATION_CHARS",
    "NOTIFY",
    "REPLY_TOPIC",
    "TENANT_BUDGET_EXHAUSTED_OUTCOME",
    "TOOL_CALL",
    "ActionField",
    "ActivityOptions",
    "AgentTurn",
    "ApprovalDecision",
    "ApprovalRecord",
    "Delivered",
    "DeliveryReceipt",
    "EvalChecks",
    "ForkFrom",
    "InvalidArguments",
    "KitInput",
    "KitWorkflow",
    "LLMRequest",
    "LLMResponse",
    "McpTool",
    "McpToolInfo",
    "Message",
    "PendingApproval",
    "ProposedAction",
    "RegisteredTool",
    "ReplyChunk",
    "RunCarry",
    "RunContext",
    "StepRecord",
    "TextBlock",
    "ToolObservation",
    "ToolResultBlock",
    "ToolSpec",
    "ToolUseBlock",
    "UsageTotals",
    "WorkflowStatus",
    "WorkflowTool",
    "action_hash",
    "approve_and_deliver",
    "choose_tools",
    "compact_json",
    "delivery_channel",
    "describe_validation_error",
    "discover_mcp_tools",
    "invalid_input",
    "masked_url",
    "mcp_servers_named",
    "mcp_tools_from",
    "offer_run_tools",
    "patched_since",
    "proposed_action",
    "registered_tools",
    "visible",
]
