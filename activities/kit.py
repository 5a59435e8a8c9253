"""The activity side of the kit: declare tools, reach what a worker shares, and the contracts a tool
returns. See docs/building-workflows.md.

    from activities.kit import ToolCall, ToolError, resources, tool

The grounded-answer index's activities (scan, index, retrieve) and its answer checks are here too:
`IndexWorkflow` and `AnswerWorkflow` are built from them.
"""

from activities.resources import WorkerResources, resources
from activities.retrieval.activities import index_batch, remove_files, retrieve, scan_corpus
from activities.retrieval.grounding import (
    ANSWER_SYSTEM,
    Citation,
    GeneratedAnswer,
    answer_prompt,
    check_answer,
    citations_of,
    reask_prompt,
)
from activities.retrieval.models import *  # noqa: F403 - the index's contracts, listed once there
from activities.retrieval.models import __all__ as _index_contracts
from activities.tools.builtin import BUILTIN_TOOLS, READ_ONLY_TOOLS
from activities.tools.declare import (
    ToolApproval,
    ToolCall,
    ToolDefinition,
    ToolError,
    ToolOptions,
    ToolRegistry,
    registry,
    tool,
)
from common.contracts.tools import SideEffectToolInput, ToolObservation

__all__ = [
    *_index_contracts,
    "ANSWER_SYSTEM",
    "BUILTIN_TOOLS",
    "READ_ONLY_TOOLS",
    "Citation",
    "GeneratedAnswer",
    "SideEffectToolInput",
    "ToolApproval",
    "ToolCall",
    "ToolDefinition",
    "ToolError",
    "ToolObservation",
    "ToolOptions",
    "ToolRegistry",
    "WorkerResources",
    "answer_prompt",
    "check_answer",
    "citations_of",
    "index_batch",
    "reask_prompt",
    "registry",
    "remove_files",
    "resources",
    "retrieve",
    "scan_corpus",
    "tool",
]
