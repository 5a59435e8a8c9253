"""The reservation's worst case bounds what a call can cost: its input is counted as the request's
UTF-8 bytes (no tokenizer makes more tokens than bytes), so dense text cannot slip past a budget."""

from activities.spend.guard import estimated_input_tokens
from common.contracts.llm import LLMRequest, Message, TextBlock


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
