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
from activities.retrieval.models import (
    BatchRequest,
    BatchResult,
    Passage,
    RemoveRequest,
    RetrieveRequest,
    ScanRequest,
    ScanResult,
)
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
    "ANSWER_SYSTEM",
    "BUILTIN_TOOLS",
    "READ_ONLY_TOOLS",
    "BatchRequest",
    "BatchResult",
    "Citation",
    "GeneratedAnswer",
    "Passage",
    "RemoveRequest",
    "RetrieveRequest",
    "ScanRequest",
    "ScanResult",
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
