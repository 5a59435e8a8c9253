"""The reservation's worst case bounds what a call can cost: its input is counted as the request's
UTF-8 bytes (no tokenizer makes more tokens than bytes), so dense text cannot slip past a budget."""

from activities.spend.guard import estimated_input_tokens
from common.contracts.llm import LLMRequest, Message, TextBlock, ToolSpec


def request_of(text: str) -> LLMRequest:
    return LLMRequest(messages=[Message(role="user", content=[TextBlock(text=text)])], max_tokens=16)


def test_the_input_bound_is_at_least_the_text_in_bytes_for_every_script() -> None:
    for text in ("word " * 2000, "1234567890" * 1000, "漢字かな交じり文" * 1000, "🙂" * 2000):
        # A character guess (chars / 3) gave 1/9 of the bytes for CJK and 1/12 for emoji here.
        assert estimated_input_tokens(request_of(text)) >= len(text.encode())


def test_the_system_prompt_counts_too() -> None:
    bare = estimated_input_tokens(request_of("hi"))
    with_system = request_of("hi").model_copy(update={"system": "ß" * 500})
    assert estimated_input_tokens(with_system) >= bare + 1000


def test_a_request_with_tools_counts_the_prompt_a_provider_adds_for_tool_use() -> None:
    # Anthropic bills a tool-use system prompt of its own with every request that offers tools: up
    # to 530 tokens (Claude 3 Opus; 346 for later models), far more than a small tool's JSON.
    tool = ToolSpec(name="t", description="", input_schema={"type": "object"})
    with_tool = request_of("hi").model_copy(update={"tools": [tool]})
    request_json = len(with_tool.model_dump_json(include={"messages", "tools"}).encode())
    assert estimated_input_tokens(with_tool) >= request_json + 530
    schema = request_of("hi").model_copy(update={"response_schema": {"type": "object"}})
    assert estimated_input_tokens(schema) >= estimated_input_tokens(request_of("hi")) + 530  # a forced tool
