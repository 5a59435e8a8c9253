"""Typed input and output of the LLM activity. Provider-neutral: Anthropic-style content blocks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field
from temporalio.exceptions import ApplicationError
from temporalio.exceptions import TimeoutError as TemporalTimeout

from common.contracts.lean_model import LeanModel
from common.contracts.usage import Usage

# The step kinds the shipped workflows use (and the offline model answers in kind). `step_kind` is
# any string: a workflow of your own names its steps ("classify", "draft_reply", ...) and the offline
# model gives an unknown kind a generic deterministic reply.
__all__ = [
    "KNOWN_STEP_KINDS",
    "REPLY_TOPIC",
    "AttemptProgress",
    "ContentBlock",
    "LLMRequest",
    "LLMResponse",
    "Message",
    "ProviderReply",
    "ReplyChunk",
    "SpentUsage",
    "StepKind",
    "TextBlock",
    "ToolResultBlock",
    "ToolSpec",
    "ToolUseBlock",
    "UnpublishedReply",
    "Usage",
    "spent_usage_of",
]

StepKind = Literal["plan", "research", "synthesize", "agent", "chat", "answer"]
KNOWN_STEP_KINDS: tuple[str, ...] = get_args(StepKind)


class TextBlock(LeanModel):
    model_config = ConfigDict(frozen=True)

    type: Literal["text"] = "text"
    text: str


class ToolUseBlock(LeanModel):
    model_config = ConfigDict(frozen=True)

    type: Literal["tool_use"] = "tool_use"
    id: str
    name: str
    input: dict[str, Any] = Field(default_factory=dict)


class ToolResultBlock(LeanModel):
    model_config = ConfigDict(frozen=True)

    type: Literal["tool_result"] = "tool_result"
    tool_use_id: str
    content: str
    is_error: bool = False


ContentBlock = Annotated[TextBlock | ToolUseBlock | ToolResultBlock, Field(discriminator="type")]


class Message(LeanModel):
    # Messages and their blocks are frozen: a sent message's JSON is kept while it lives
    # (common/message_json.py); to change one, make a new one (`model_copy(update=...)`).
    model_config = ConfigDict(frozen=True)

    role: Literal["user", "assistant"]
    content: list[ContentBlock]

    @classmethod
    def user_text(cls, text: str) -> Message:
        return cls(role="user", content=[TextBlock(text=text)])


class ToolSpec(BaseModel):
    """What the model sees of a tool: its name, what it does, and the JSON schema of its input."""

    name: str
    description: str
    input_schema: dict[str, Any]


class LLMRequest(BaseModel):
    model: str | None = None  # None: the worker's LLM_MODEL / provider default
    system: str = ""
    messages: list[Message]
    tools: list[ToolSpec] = Field(default_factory=list)
    max_tokens: int = Field(default=1024, gt=0)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    prompt_caching: bool = True
    # What the step is for: labels spans and summaries, and lets the offline model answer in kind.
    # One of KNOWN_STEP_KINDS, or a kind of your own.
    step_kind: str = Field(default="chat", min_length=1, max_length=100)
    step: str = ""
    # A run with a budget sets it: a model without a price fails (`UnpricedModel`) before the call
    # instead of costing an uncounted $0.
    require_price: bool = False
    # The run's tenant (`KitInput.tenant`): a tenant with a budget (TENANT_BUDGETS_FILE) reserves the
    # call's worst-case cost before it is sent. None: no tenant limit applies.
    tenant: str | None = None
    # A JSON schema the reply must follow: the provider enforces it where it can (Anthropic: a forced
    # tool whose input is the reply; OpenAI-compatible: `response_format`), and the reply's text is
    # then the JSON document. The caller still validates it.
    response_schema: dict[str, Any] | None = None
    # Publish the reply's text on the run's Workflow Stream (topic `reply`, `ReplyChunk`s) while the
    # model writes it, for a chat client to show as it comes; the returned response is the same.
    stream_reply: bool = False
    # Set by the kit (`RunContext.llm`): the run publishes the streamed reply's end itself, from the
    # result (`LLMResponse.unpublished_reply`), so the call returns without a last Signal round trip.
    run_publishes_reply_end: bool = False


# The Workflow Stream topic of streamed replies (here, not in workflows/: the activity publishes it).
REPLY_TOPIC = "reply"


class ReplyChunk(BaseModel):
    """A piece of a model reply's text, as `llm.complete` publishes it on topic `reply` when the
    request has `stream_reply`: the deltas of one batch interval, joined. A step's text is its
    chunks' text in `seq` order. A retried attempt streams the reply again from `seq` 0 with its own
    `attempt`: a client drops what it showed of an earlier attempt of the same step."""

    step: str
    text: str
    seq: int = Field(ge=0)  # the chunk's index within this attempt's reply
    attempt: int = Field(default=1, ge=1)  # the activity attempt that wrote it


class UnpublishedReply(BaseModel):
    """The end of a streamed reply that the activity left to its run (`run_publishes_reply_end`):
    the text from `offset` on, to be published as chunk `seq` of `attempt`. Every chunk before it
    reached the run before the result did."""

    offset: int = Field(ge=0)
    seq: int = Field(ge=0)
    attempt: int = Field(ge=1)


class SpentUsage(BaseModel):
    """What some attempts of one model call used and cost. A failed call carries it in its
    `ApplicationError` details (`spent_usage_of`), so a workflow counts what it paid for."""

    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0
    attempts: int = 0
    priced: bool = True

    def plus(self, other: SpentUsage) -> SpentUsage:
        return SpentUsage(
            usage=self.usage + other.usage,
            cost_usd=self.cost_usd + other.cost_usd,
            attempts=self.attempts + other.attempts,
            priced=self.priced and other.priced,
        )


class AttemptProgress(BaseModel):
    """An attempt's heartbeat details: what the earlier, failed attempts spent, and the usage this
    attempt has seen so far. The next attempt reads them (`activity.info().heartbeat_details`)."""

    attempt: int
    earlier: SpentUsage = Field(default_factory=SpentUsage)
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0
    priced: bool = True

    def spent(self) -> SpentUsage:
        """Earlier attempts plus this one, as if this one failed."""
        this = SpentUsage(usage=self.usage, cost_usd=self.cost_usd, attempts=1, priced=self.priced)
        return self.earlier.plus(this)


def spent_usage_of(error: BaseException | None) -> SpentUsage | None:
    """The usage a failed or cancelled `llm.complete` spent: from its failure's details, or a timed-out
    attempt's last heartbeat. None when the error carries none."""
    details: Sequence[Any] = ()
    if isinstance(error, ApplicationError):
        details = error.details
    elif isinstance(error, TemporalTimeout):
        details = error.last_heartbeat_details
    for detail in details:
        if isinstance(detail, dict) and "spent_usage" in detail:
            return SpentUsage.model_validate(detail["spent_usage"])
        if isinstance(detail, dict) and "earlier" in detail and "attempt" in detail:
            return AttemptProgress.model_validate(detail).spent()
    return None


class ProviderReply(BaseModel):
    """What a provider returns; the activity adds latency and cost."""

    content: list[ContentBlock]
    stop_reason: str
    usage: Usage
    model: str


class LLMResponse(ProviderReply):
    provider: str
    latency_ms: float
    # Every attempt's cost: the answering one (`usage`) plus the failed ones before it
    # (`retried_usage`, `retried_cost_usd`). 0 with `priced=False`: the model has no known price.
    cost_usd: float
    retried_usage: Usage = Field(default_factory=Usage)
    retried_cost_usd: float = 0.0
    retried_attempts: int = 0
    priced: bool = True
    unpublished_reply: UnpublishedReply | None = None  # with `run_publishes_reply_end`

    def text(self) -> str:
        return "".join(block.text for block in self.content if isinstance(block, TextBlock))

    def tool_calls(self) -> list[ToolUseBlock]:
        return [block for block in self.content if isinstance(block, ToolUseBlock)]
