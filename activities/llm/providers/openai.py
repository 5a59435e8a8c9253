"""Any OpenAI-compatible `/chat/completions` server (Ollama, vLLM, LM Studio) over httpx.

Streamed (`stream: true`) so the activity heartbeats while tokens arrive, exactly like the Anthropic
provider; one `httpx.AsyncClient` per worker process. Tool calls map to our `ToolUseBlock`s and tool
results to `role: tool` messages.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from temporalio.exceptions import ApplicationError

from activities.llm.call_context import CallContext, report_usage
from activities.llm.errors import classified_errors, classify_status, invalid_response
from activities.llm.providers.base import Heartbeat, report_text
from common.contracts import llm

__all__ = ["DEFAULT_OPENAI_MODEL", "OpenAICompatibleProvider"]

DEFAULT_OPENAI_MODEL = "llama3.1"
_RESPONSE_TIMEOUT_S = 600.0
_CONNECT_TIMEOUT_S = 5.0
_STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
}


class OpenAICompatibleProvider:
    name = "openai"

    def __init__(self, base_url: str, api_key: str | None = None, default_model: str = DEFAULT_OPENAI_MODEL):
        self.default_model = default_model
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers=headers,
            timeout=httpx.Timeout(_RESPONSE_TIMEOUT_S, connect=_CONNECT_TIMEOUT_S),
        )

    async def complete(self, request: llm.LLMRequest, model: str, heartbeat: Heartbeat) -> llm.ProviderReply:
        context = CallContext.current()
        body = chat_request_body(request, model)
        timeout = httpx.Timeout(
            _RESPONSE_TIMEOUT_S, connect=_CONNECT_TIMEOUT_S, read=context.read_timeout(_RESPONSE_TIMEOUT_S)
        )
        with classified_errors(self.name):
            async with self._client.stream(
                "POST", "/chat/completions", json=body, headers=context.headers(request), timeout=timeout
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise classify_status(
                        provider=self.name,
                        status=response.status_code,
                        headers=response.headers,
                        body=_json_or_text(response.text),
                    )
                assembler = ChatStreamAssembler(self.name, model)
                if response.headers.get("content-type", "").startswith("application/json"):
                    # A server that ignores `stream: true` answers with one JSON body.
                    await response.aread()
                    assembler.add_completion(_json_or_text(response.text))
                else:
                    async for line in response.aiter_lines():
                        if assembler.add_sse_line(line):
                            heartbeat()  # each chunk proves the stream is moving (worker/liveness.py)
                return assembler.reply()


def chat_request_body(request: llm.LLMRequest, model: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": to_openai_messages(request.system, request.messages),
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if request.response_schema is not None:
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "response", "schema": request.response_schema},
        }
    if request.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": tool.input_schema,
                },
            }
            for tool in request.tools
        ]
    return body


def to_openai_messages(system: str, messages: list[llm.Message]) -> list[dict[str, Any]]:
    """Anthropic-style turns as chat messages: tool results become `role: tool` messages, which must
    directly follow the assistant message whose `tool_calls` they answer."""
    converted: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for message in messages:
        texts = [block.text for block in message.content if isinstance(block, llm.TextBlock)]
        if message.role == "assistant":
            calls = [
                {
                    "id": block.id,
                    "type": "function",
                    "function": {"name": block.name, "arguments": json.dumps(block.input)},
                }
                for block in message.content
                if isinstance(block, llm.ToolUseBlock)
            ]
            assistant: dict[str, Any] = {"role": "assistant", "content": "\n".join(texts) or None}
            if calls:
                assistant["tool_calls"] = calls
            converted.append(assistant)
            continue
        for block in message.content:
            if isinstance(block, llm.ToolResultBlock):
                content = f"ERROR: {block.content}" if block.is_error else block.content
                converted.append({"role": "tool", "tool_call_id": block.tool_use_id, "content": content})
        if texts:
            converted.append({"role": "user", "content": "\n".join(texts)})
    return converted


class ChatStreamAssembler:
    """Builds one reply from streamed chunks (or from one non-streamed completion)."""

    def __init__(self, provider: str, requested_model: str):
        self._provider = provider
        self._model = requested_model
        self._text: list[str] = []
        self._calls: dict[int, dict[str, str]] = {}
        self._finish: str | None = None
        self._usage = llm.Usage()
        self._done = False

    def add_sse_line(self, line: str) -> bool:
        """Feeds one line of the event stream; True when it carried a chunk."""
        if not line.startswith("data:"):
            return False
        data = line[len("data:") :].strip()
        if data == "[DONE]":
            self._done = True
            return True
        try:
            chunk = json.loads(data)
        except json.JSONDecodeError:
            raise invalid_response(self._provider, f"stream chunk is not JSON: {data[:200]}") from None
        self._add_chunk(chunk)
        return True

    def add_completion(self, completion: object) -> None:
        if not isinstance(completion, dict) or "choices" not in completion:
            raise invalid_response(self._provider, f"not a chat completion: {str(completion)[:200]}")
        for choice in completion["choices"]:
            choice["delta"] = choice.get("message") or {}
        self._add_chunk(completion)
        self._done = True

    def reply(self) -> llm.ProviderReply:
        if not self._done and self._finish is None:
            raise invalid_response(self._provider, "stream ended before the completion finished")
        if self._finish is None:
            raise self._broken("no chunk gave a finish_reason")
        for index, call in self._calls.items():
            if not call["name"]:
                raise self._broken(f"tool call {index} has no function name")
        content: list[llm.ContentBlock] = []
        text = "".join(self._text)
        if text:
            content.append(llm.TextBlock(text=text))
        for index in sorted(self._calls):
            call = self._calls[index]
            content.append(
                llm.ToolUseBlock(
                    id=call["id"] or f"call_{index}",
                    name=call["name"],
                    input=_arguments(call["arguments"]),
                )
            )
        finish = self._finish or "stop"
        stop_reason = "tool_use" if self._calls else _STOP_REASONS.get(finish, finish)
        return llm.ProviderReply(
            content=content, stop_reason=stop_reason, usage=self._usage, model=self._model
        )

    def _add_chunk(self, chunk: dict[str, Any]) -> None:
        if "error" in chunk:
            raise classify_status(provider=self._provider, status=200, headers={}, body=chunk)
        self._model = chunk.get("model") or self._model
        if isinstance(chunk.get("usage"), dict):
            self._usage = _usage(chunk["usage"])
            # Billed from here on: kept in the heartbeat details if this attempt fails.
            report_usage(self._usage, self._model)
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("content"):
                self._text.append(delta["content"])
                report_text(delta["content"])
            for position, call in enumerate(delta.get("tool_calls") or []):
                index = call.get("index", position)
                function = call.get("function") or {}
                if index not in self._calls and not (call.get("id") or function.get("name")):
                    # A call's first delta names it; arguments for a call never started are a
                    # piece of a call we did not see.
                    raise self._broken(f"tool call {index} continued before it started")
                slot = self._calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
                slot["id"] = call.get("id") or slot["id"]
                slot["name"] += function.get("name") or ""
                arguments = function.get("arguments")
                # Streamed as string fragments; some servers send the whole object at once.
                slot["arguments"] += arguments if isinstance(arguments, str) else json.dumps(arguments or {})
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]

    def _broken(self, what: str) -> ApplicationError:
        return invalid_response(self._provider, f"malformed stream: {what}")


def _usage(raw: dict[str, Any]) -> llm.Usage:
    """OpenAI counts cached tokens inside `prompt_tokens`; we count them apart, as Anthropic does, so
    the price table charges them at the cache-read rate."""
    details = raw.get("prompt_tokens_details") or {}
    cached = int(details.get("cached_tokens") or 0)
    return llm.Usage(
        input_tokens=max(0, int(raw.get("prompt_tokens") or 0) - cached),
        output_tokens=int(raw.get("completion_tokens") or 0),
        cache_read_tokens=cached,
    )


def _arguments(raw: str) -> dict[str, Any]:
    """The tool input the model wrote. Not a JSON object (small local models do that): kept as text,
    so the tool's schema check rejects it and the agent sees why."""
    try:
        parsed = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError:
        return {"_unparsed_arguments": raw}
    return parsed if isinstance(parsed, dict) else {"_unparsed_arguments": raw}


def _json_or_text(text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
