"""Re-exports the LLM activity's request and reply: the definitions live in `common.contracts.llm` (the contracts both workflows and activities import)."""

from common.contracts.llm import (
    KNOWN_STEP_KINDS,
    AttemptProgress,
    ContentBlock,
    LLMRequest,
    LLMResponse,
    Message,
    ProviderReply,
    SpentUsage,
    StepKind,
    TextBlock,
    ToolResultBlock,
    ToolSpec,
    ToolUseBlock,
    Usage,
    spent_usage_of,
)

__all__ = [
    "KNOWN_STEP_KINDS",
    "AttemptProgress",
    "ContentBlock",
    "LLMRequest",
    "LLMResponse",
    "Message",
    "ProviderReply",
    "SpentUsage",
    "StepKind",
    "TextBlock",
    "ToolResultBlock",
    "ToolSpec",
    "ToolUseBlock",
    "Usage",
    "spent_usage_of",
]
