"""The tool catalog: pure data (names, descriptions, input schemas, side-effect flags), importable by
workflows to validate a model's tool call before any activity runs.

Each tool `NAME` runs as the activity `tool.NAME`. A read-only tool's activity takes its input model
and returns `ToolObservation`; a side-effect tool's activity takes `SideEffectToolInput` (validated
arguments + idempotency key) and only runs after the approval gate approved that exact call.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from activities.llm.models import ToolSpec


class CalculatorInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    expression: str = Field(
        min_length=1, max_length=500, description="Arithmetic expression, e.g. '(17 * 23) / 4'"
    )


class HttpGetInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(description="http(s) URL on an allowed host")


class SearchDocsInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1, max_length=500, description="Words to search for")
    limit: int = Field(default=3, ge=1, le=10)


class CurrentTimeInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    timezone: str = Field(default="UTC", description="IANA time zone name")


class SendWebhookInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(description="http(s) URL to POST to")
    payload: dict[str, Any] = Field(description="JSON object to send")


class SendEmailInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: str = Field(description="Recipient email address")
    subject: str = Field(max_length=200)
    body: str = Field(max_length=50_000)


class ToolDefinition(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str
    description: str
    input_model: type[BaseModel]
    side_effect: bool = False

    @property
    def activity_name(self) -> str:
        return f"tool.{self.name}"

    def spec(self) -> ToolSpec:
        return ToolSpec(
            name=self.name, description=self.description, input_schema=self.input_model.model_json_schema()
        )


TOOLS: dict[str, ToolDefinition] = {
    tool.name: tool
    for tool in (
        ToolDefinition(
            name="calculator",
            description="Evaluate an arithmetic expression (+ - * / % ** and parentheses).",
            input_model=CalculatorInput,
        ),
        ToolDefinition(
            name="http_get",
            description="Fetch a web page or API response from an allowed host; returns text.",
            input_model=HttpGetInput,
        ),
        ToolDefinition(
            name="search_docs",
            description="Search the local document corpus; returns matching passages with file names.",
            input_model=SearchDocsInput,
        ),
        ToolDefinition(
            name="current_time",
            description="The current date and time in a time zone.",
            input_model=CurrentTimeInput,
        ),
        ToolDefinition(
            name="send_webhook",
            description="POST a JSON payload to a URL. Side effect: needs human approval.",
            input_model=SendWebhookInput,
            side_effect=True,
        ),
        ToolDefinition(
            name="send_email",
            description="Send an email. Side effect: needs human approval.",
            input_model=SendEmailInput,
            side_effect=True,
        ),
    )
}
