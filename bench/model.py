"""The benchmark's model: an in-process `LLMProvider` with configurable latency and reply size.

Product and baseline workers in the bench's process call the same instance through the same
`LLMActivities`, so both pay the same model cost; the harness changes `config` between figures (they
run one after another). A worker in a process of its own (`bench/worker_process.py`) makes its own
instance, alike on both sides.
- agent turns: a text of `reply_bytes` and one `calculator` call, every turn (the run ends at its
  iteration cap);
- plan: a JSON array of as many subtopics as the system prompt asks for ("at most N");
- research / synthesize: a short text after `research_latency_s` / `latency_s`.
`hang_first_attempt_of` makes the first attempt of the agent turn with that many assistant messages
before it sleep (heartbeating) until its worker is killed; the retry answers at once.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import itertools
import json
import math
import operator
import re
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from temporalio import activity

from activities.llm.providers.base import Heartbeat
from common.contracts.llm import (
    ContentBlock,
    LLMRequest,
    Message,
    ProviderReply,
    TextBlock,
    ToolUseBlock,
    Usage,
)

BENCH_MODEL = "claude-haiku-4-5"  # a priced model: cost changes every step, as in production
_AT_MOST = re.compile(r"at most (\d+)")
_HEARTBEAT_EVERY_S = 0.2


@dataclass
class ModelConfig:
    latency_s: float = 0.0
    research_latency_s: float = 0.0
    reply_bytes: int = 200
    hang_first_attempt_of: int | None = None  # agent turn index (assistant messages so far)


class BenchModel:
    name = "bench"
    default_model = BENCH_MODEL

    def __init__(self, config: ModelConfig | None = None, on_hang: Callable[[], None] | None = None) -> None:
        self.config = config or ModelConfig()
        self.on_hang = on_hang  # the resume figure's worker process says when the call is in flight

    async def complete(self, request: LLMRequest, model: str, heartbeat: Heartbeat) -> ProviderReply:
        config = self.config
        turn = sum(1 for message in request.messages if message.role == "assistant")
        latency = config.research_latency_s if request.step_kind == "research" else config.latency_s
        if (
            request.step_kind == "agent"
            and turn == config.hang_first_attempt_of
            and activity.in_activity()
            and activity.info().attempt == 1
        ):
            latency = 3600.0  # until the worker is killed
            if self.on_hang is not None:
                self.on_hang()
        await _sleep_heartbeating(latency, heartbeat)
        content: list[ContentBlock]
        if request.step_kind == "plan":
            match = _AT_MOST.search(request.system)
            count = int(match.group(1)) if match else 4
            content = [TextBlock(text=json.dumps([f"subtopic {i + 1}" for i in range(count)]))]
            stop = "end_turn"
        elif request.step_kind == "agent":
            # Unique per run (the goal's digest): replies of different runs never deduplicate.
            run = hashlib.sha256(request.messages[0].model_dump_json().encode()).hexdigest()[:8]
            content = [
                TextBlock(text=_filler(f"run {run} turn {turn}: ", config.reply_bytes)),
                ToolUseBlock(id=f"toolu_{turn}", name="calculator", input={"expression": f"{turn} + 1"}),
            ]
            stop = "tool_use"
        else:
            content = [TextBlock(text=_filler(f"{request.step_kind} notes: ", config.reply_bytes))]
            stop = "end_turn"
        prompt_chars = _prompt_chars(request.messages) + len(request.system)
        return ProviderReply(
            content=content,
            stop_reason=stop,
            usage=Usage(input_tokens=math.ceil(prompt_chars / 4), output_tokens=config.reply_bytes // 4 + 10),
            model=model,
        )


# A real model counts a prompt on its own machines; this one runs in the worker's process, and
# writing every message of a 2,000-message transcript again in every call was a third of the
# product's main thread in a 1,000-step agent (the raw loop sends only the newest messages, so it paid
# almost none of it). The product's worker hands the model the same message objects step after step
# (they are frozen), so per transcript (its first message's id) the last prompt's messages are kept
# with their JSON lengths summed, and only the messages after them are written: the first message
# weakly (the entry goes with it), the others held, so none of them can be another's address and
# comparing by identity finds the kept beginning. Why not a weak reference per message, as before: an
# object the collector tracks per message in the worker whose collector passes decide the 1,000-step
# agent's slowest task (a reference with a callback, before that, was four). Short prompts (the raw
# loop's) are written whole and keep nothing.
_SHORT = 16  # messages
_KEPT_PROMPTS = 1024  # transcripts (the throughput shape runs 200 agents at once)
_prompts: OrderedDict[int, tuple[weakref.ref[Message], list[Message], list[int]]] = OrderedDict()


def _json_length(message: Message) -> int:
    return len(message.model_dump_json())


def _forget_prompt(key: int, _: object) -> None:
    _prompts.pop(key, None)


def _prompt_chars(messages: list[Message]) -> int:
    """The characters of `messages`' JSON, each message of a long transcript written once."""
    if len(messages) < _SHORT:
        return sum(map(_json_length, messages))
    first = messages[0]
    key = id(first)
    sums: list[int] = []
    kept = _prompts.pop(key, None)
    if (
        kept is not None
        and kept[0]() is first
        and len(kept[1]) < len(messages)
        and all(map(operator.is_, itertools.islice(messages, 1, None), kept[1]))
    ):
        sums = kept[2]
        first_ref = kept[0]
    else:
        first_ref = weakref.ref(first, functools.partial(_forget_prompt, key))
    total = sums[-1] if sums else 0
    for message in messages[len(sums) :]:
        total += _json_length(message)
        sums.append(total)
    _prompts[key] = (first_ref, messages[1:], sums)
    if len(_prompts) > _KEPT_PROMPTS:
        _prompts.popitem(last=False)
    return total


def _filler(prefix: str, size: int) -> str:
    words = "the quick brown fox jumps over the lazy dog "
    body = (words * (size // len(words) + 1))[: max(0, size - len(prefix))]
    return prefix + body


async def _sleep_heartbeating(seconds: float, heartbeat: Heartbeat) -> None:
    if seconds <= 0:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        heartbeat()
        await asyncio.sleep(min(left, _HEARTBEAT_EVERY_S))
