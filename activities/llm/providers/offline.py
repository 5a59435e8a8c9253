"""A deterministic local model: no network, same input -> same output.

It lets every workflow run end to end on a machine with no network and no API key. Its replies say
they come from the offline model. It answers in kind (`LLMRequest.step_kind`): a JSON list of
subtopics for a plan, notes for a research step, a report for a synthesis, and ReAct tool calls for
an agent turn, derived from the goal:
- an arithmetic expression in the goal -> `calculator`;
- "time" or "date" -> `current_time`;
- any other goal with `search_docs` available -> `search_docs` on the goal's words;
- "webhook" / "email" with such a tool available -> `send_webhook` / `send_email` with the findings;
- "[loop]" in the goal -> it keeps calling tools (exercises iteration caps and budgets).
For a grounded answer (`step_kind="answer"`) it quotes the passage sentence that best matches the
question, or says `no_answer` when none shares a word with it.
A session's turn (`step_kind="session"`) answers the latest user message and quotes the one before
it, so a conversation shows that it remembers (`session_reply`).
Any other step kind (a workflow of your own: "classify", "draft_reply", ...) gets
"[offline model] KIND (ref DIGEST): " and the start of the first user message.
A streamed reply (`LLMRequest.stream_reply`) comes in a few chunks split between words
(`text_chunks`), a short pause apart so a chat client sees it arrive.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
from itertools import pairwise
from typing import Any

from activities.llm.providers.base import Heartbeat, report_text, wants_text
from activities.retrieval.grounding import CitedQuote, GeneratedAnswer, parse_prompt
from activities.retrieval.query import keywords
from common.contracts.llm import (
    KNOWN_STEP_KINDS,
    ContentBlock,
    LLMRequest,
    Message,
    ProviderReply,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
)

__all__ = ["OFFLINE_MODEL", "OfflineProvider", "session_reply", "stream_text", "text_chunks"]

OFFLINE_MODEL = "offline-model"
LABEL = "[offline model]"
_EXPRESSION = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?(?:\s*[-+*/%^]\s*\(?\s*\d+(?:\.\d+)?\s*\)?)+)")
_PLAN_ANGLES = (
    "Background and definitions of {t}",
    "Current state of {t}",
    "Key open problems in {t}",
    "Practical applications of {t}",
    "Risks and limitations of {t}",
    "Future directions of {t}",
    "Notable tools and methods for {t}",
    "Costs and trade-offs of {t}",
)


# A streamed local reply: between 3 and 6 chunks (fewer for a reply of fewer words), a pause apart.
MIN_CHUNKS, MAX_CHUNKS = 3, 6
WORDS_PER_CHUNK = 12
CHUNK_PAUSE_S = 0.05


def text_chunks(text: str) -> list[str]:
    """`text` in a few pieces split after whitespace (their join is `text`): 3 to 6 of them, about
    twelve words each, fewer only when the text has fewer words; none for an empty text."""
    words = re.findall(r"\s*\S+\s*", text) or ([text] if text else [])
    if not words:
        return []
    count = min(len(words), MAX_CHUNKS, max(MIN_CHUNKS, math.ceil(len(words) / WORDS_PER_CHUNK)))
    bounds = [round(i * len(words) / count) for i in range(count + 1)]
    return ["".join(words[start:end]) for start, end in pairwise(bounds)]


async def stream_text(content: list[ContentBlock]) -> None:
    """Reports the reply's text in chunks, as a streaming provider would (only when listened to)."""
    if not wants_text():
        return
    first = True
    for block in content:
        if not isinstance(block, TextBlock):
            continue
        for chunk in text_chunks(block.text):
            if not first:
                await asyncio.sleep(CHUNK_PAUSE_S)  # pacing a local reply, not synchronisation
            report_text(chunk)
            first = False


def _tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _message_text(message: Message) -> str:
    parts: list[str] = []
    for block in message.content:
        if isinstance(block, TextBlock):
            parts.append(block.text)
        elif isinstance(block, ToolResultBlock):
            parts.append(block.content)
        else:
            parts.append(json.dumps(block.input, sort_keys=True))
    return "\n".join(parts)


def _first_user_text(request: LLMRequest) -> str:
    for message in request.messages:
        if message.role == "user":
            return _message_text(message)
    return ""


def _user_texts(request: LLMRequest) -> list[str]:
    """What people said, in order: the text of each user message (tool results are not said)."""
    said = (
        " ".join(" ".join(b.text.split()) for b in message.content if isinstance(b, TextBlock))
        for message in request.messages
        if message.role == "user"
    )
    return [text for text in said if text]


def _quoted(text: str, limit: int = 200) -> str:
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def session_reply(request: LLMRequest) -> str:
    """A session's reply: about the latest user message, quoting the one before it when there is
    one (in a steered turn: the message the turn began with)."""
    said = _user_texts(request)
    if not said:
        return f"{LABEL} Nothing was said yet."
    latest = said[-1]
    count = f"{len(said)} message{'s' if len(said) > 1 else ''}"
    about = f"About {_quoted(latest)}: noted ({count} from you so far)."
    if len(said) == 1:
        return f"{LABEL} {about}"
    return f"{LABEL} You said earlier: {_quoted(said[-2])}. {about}"


class OfflineProvider:
    name = "offline"
    default_model = OFFLINE_MODEL

    async def complete(self, request: LLMRequest, model: str, heartbeat: Heartbeat) -> ProviderReply:
        heartbeat()
        reply = self.reply(request, model)
        await stream_text(reply.content)
        return reply

    def reply(self, request: LLMRequest, model: str) -> ProviderReply:
        """The answer to `request`, at once (`complete` also streams its text when asked)."""
        content: list[ContentBlock]
        if request.step_kind == "plan":
            content, stop = [TextBlock(text=self._plan(request))], "end_turn"
        elif request.step_kind == "research":
            content, stop = [TextBlock(text=self._research(request))], "end_turn"
        elif request.step_kind == "synthesize":
            content, stop = [TextBlock(text=self._synthesize(request))], "end_turn"
        elif request.step_kind == "answer":
            content, stop = [TextBlock(text=self._answer(request))], "end_turn"
        elif request.step_kind == "session":
            content, stop = [TextBlock(text=session_reply(request))], "end_turn"
        elif request.step_kind == "agent" and request.tools:
            content = self._agent_turn(request)
            stop = "tool_use" if any(isinstance(b, ToolUseBlock) for b in content) else "end_turn"
        elif request.step_kind in KNOWN_STEP_KINDS:  # "chat", or an agent turn without tools
            content = [TextBlock(text=f"{LABEL} {_first_user_text(request)[:500]}")]
            stop = "end_turn"
        else:
            content, stop = [TextBlock(text=self._generic(request))], "end_turn"
        prompt = request.system + "".join(_message_text(m) for m in request.messages)
        prompt += "".join(t.name + t.description for t in request.tools)
        output = "".join(b.text if isinstance(b, TextBlock) else json.dumps(b.model_dump()) for b in content)
        return ProviderReply(
            content=content,
            stop_reason=stop,
            usage=Usage(input_tokens=_tokens(prompt), output_tokens=_tokens(output)),
            model=model,
        )

    def _generic(self, request: LLMRequest) -> str:
        """A step kind of a workflow of your own: the kind, a digest of the whole request and the
        start of its first user message, so that the reply is deterministic and says what it answers."""
        material = request.system + "".join(_message_text(m) for m in request.messages)
        excerpt = " ".join(_first_user_text(request).split())[:300]
        return f"{LABEL} {request.step_kind} (ref {_digest(material)}): {excerpt}"

    def _plan(self, request: LLMRequest) -> str:
        topic = _first_user_text(request).strip().splitlines()[0] if request.messages else "the topic"
        topic = re.sub(r"^(topic|research)\s*:\s*", "", topic, flags=re.IGNORECASE)[:200]
        return json.dumps([angle.format(t=topic) for angle in _PLAN_ANGLES])

    def _research(self, request: LLMRequest) -> str:
        subject = _first_user_text(request).strip()
        headline = subject.splitlines()[0] if subject else "the subtopic"  # one line: reports list notes
        return (
            f"{LABEL} Notes on {headline[:300]} (ref {_digest(subject)}): this summary is generated "
            "locally from the request alone; connect a real model (LLM_PROVIDER) for real research."
        )

    def _synthesize(self, request: LLMRequest) -> str:
        material = _first_user_text(request)
        lines = [line.strip() for line in material.splitlines() if line.strip()]
        bullet_points = "\n".join(f"- {line[:200]}" for line in lines[:20])
        return f"{LABEL} Report (digest {_digest(material)})\n\n{bullet_points}"

    def _answer(self, request: LLMRequest) -> str:
        """A grounded answer: the sentence of the given passages that shares the most words with the
        question, quoted exactly from its passage; `no_answer` when no passage shares any."""
        question, passages = parse_prompt(_first_user_text(request))
        wanted = set(keywords(question))
        best: tuple[int, str, str] | None = None
        for passage in passages:
            for sentence in re.split(r"(?<=[.!?])\s+", passage.text):
                overlap = len(wanted & set(keywords(sentence)))
                if overlap and (best is None or overlap > best[0]):
                    best = (overlap, passage.passage_id, sentence.strip())
        if best is None:
            return GeneratedAnswer(no_answer=True).model_dump_json()
        _, passage_id, sentence = best
        return GeneratedAnswer(
            answer=f"{LABEL} {sentence}", citations=[CitedQuote(passage_id=passage_id, quote=sentence)]
        ).model_dump_json()

    def _agent_turn(self, request: LLMRequest) -> list[ContentBlock]:
        goal = _first_user_text(request)
        available = {tool.name for tool in request.tools}
        observations = [
            block
            for message in request.messages
            for block in message.content
            if isinstance(block, ToolResultBlock)
        ]
        turn = sum(1 for m in request.messages if m.role == "assistant")
        if "[loop]" in goal and available:
            tool = "calculator" if "calculator" in available else sorted(available)[0]
            args = {"expression": f"{turn} + 1"} if tool == "calculator" else {}
            return [ToolUseBlock(id=f"toolu_{turn}_0", name=tool, input=args)]
        if turn == 0:
            calls = self._first_calls(goal, available)
            if calls:
                return [TextBlock(text=f"{LABEL} I will use tools to answer."), *calls]
        elif turn == 1:
            side_effects = self._side_effect_calls(goal, available, observations)
            if side_effects:
                return side_effects
        findings = "; ".join(o.content[:200] for o in observations) or "no tool was needed"
        return [TextBlock(text=f"{LABEL} Answer to {goal[:200]!r}: {findings}")]

    def _first_calls(self, goal: str, available: set[str]) -> list[ContentBlock]:
        calls: list[ContentBlock] = []
        expression = _EXPRESSION.search(goal)
        if expression and "calculator" in available:
            calls.append(
                ToolUseBlock(
                    id="toolu_0_calc", name="calculator", input={"expression": expression.group(1).strip()}
                )
            )
        if re.search(r"\b(time|date|today)\b", goal, re.IGNORECASE) and "current_time" in available:
            calls.append(ToolUseBlock(id="toolu_0_time", name="current_time", input={}))
        if not calls and "search_docs" in available:
            words = re.findall(r"[A-Za-z]{4,}", goal)
            calls.append(
                ToolUseBlock(
                    id="toolu_0_docs", name="search_docs", input={"query": " ".join(words[:6]) or goal[:50]}
                )
            )
        return calls

    def _side_effect_calls(
        self, goal: str, available: set[str], observations: list[ToolResultBlock]
    ) -> list[ContentBlock]:
        summary = f"{LABEL} findings: " + "; ".join(o.content[:200] for o in observations)
        wanted: list[tuple[str, str, dict[str, Any]]] = []  # (call id, tool, arguments)
        url = re.search(r"https?://\S+", goal)
        if "webhook" in goal.lower() and url:
            wanted.append(
                (
                    "toolu_1_hook",
                    "send_webhook",
                    {"url": url.group(0).rstrip(".,"), "payload": {"summary": summary}},
                )
            )
        address = re.search(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", goal)
        if "email" in goal.lower() and address:
            wanted.append(
                (
                    "toolu_1_mail",
                    "send_email",
                    {"to": address.group(0), "subject": "Agent findings", "body": summary},
                )
            )
        return [ToolUseBlock(id=i, name=tool, input=args) for i, tool, args in wanted if tool in available]
