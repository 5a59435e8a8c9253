"""What a grounded answer is: the structured reply the model must give (`GeneratedAnswer`), the
prompt that shows it the passages, and the checks that make an answer grounded — it parses, every
citation names a retrieved passage, and every quote is found in that passage (whitespace and case
normalised). Pure functions: the workflow runs them deterministically."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from html import escape, unescape

from pydantic import BaseModel, Field, ValidationError

from activities.retrieval.models import Passage
from activities.retrieval.text import normalized

__all__ = [
    "ANSWER_SYSTEM",
    "Citation",
    "CitedQuote",
    "GeneratedAnswer",
    "answer_prompt",
    "check_answer",
    "citations_of",
    "parse_prompt",
    "reask_prompt",
]

ANSWER_SYSTEM = (
    "You answer questions only from the passages you are given. Support every statement with a "
    "citation: the passage's id and a quote copied exactly from that passage. If the passages do not "
    "contain the answer, set no_answer to true and leave answer and citations empty. Reply with JSON "
    "that follows the schema."
)


class CitedQuote(BaseModel):
    passage_id: str = Field(description="the id of the passage the quote is copied from")
    quote: str = Field(description="words copied exactly from that passage")


class GeneratedAnswer(BaseModel):
    """The model's structured reply."""

    answer: str = ""
    citations: list[CitedQuote] = Field(default_factory=list)
    no_answer: bool = Field(default=False, description="true when the passages do not answer the question")


class Citation(BaseModel):
    source: str  # the file's path in the corpus
    passage_id: str
    quote: str


_PASSAGE = re.compile(r'<passage id="([^"]*)" source="([^"]*)">\n(.*?)\n</passage>', re.DOTALL)
_QUESTION = re.compile(r"^Question: (.*)$", re.MULTILINE)


def answer_prompt(question: str, passages: Sequence[Passage]) -> str:
    blocks = [
        f'<passage id="{escape(p.passage_id)}" source="{escape(p.source)}">\n{p.text}\n</passage>'
        for p in passages
    ]
    return f"Question: {' '.join(question.split())}\n\nPassages:\n" + "\n".join(blocks)


def parse_prompt(text: str) -> tuple[str, list[Passage]]:
    """The question and passages of an `answer_prompt` (for the offline model)."""
    question = _QUESTION.search(text)
    passages = [
        Passage(passage_id=unescape(pid), source=unescape(source), text=body)
        for pid, source, body in _PASSAGE.findall(text)
    ]
    return (question.group(1) if question else ""), passages


def reask_prompt(errors: Sequence[str]) -> str:
    listed = "\n".join(f"- {error}" for error in errors)
    return (
        f"Your reply was not accepted:\n{listed}\n"
        "Reply again with JSON that follows the schema, citing only the passages above and quoting "
        "them exactly."
    )


def check_answer(reply: str, passages: Sequence[Passage]) -> tuple[GeneratedAnswer | None, list[str]]:
    """The parsed answer and every reason it is not grounded (none: it is)."""
    try:
        answer = GeneratedAnswer.model_validate(json.loads(reply))
    except json.JSONDecodeError as error:
        return None, [f"the reply is not JSON ({error.msg} at position {error.pos})"]
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "reply"
        return None, [f"the reply does not follow the schema: {where}: {first['msg']}"]
    if answer.no_answer:
        return answer, []
    errors: list[str] = []
    if not answer.answer.strip():
        errors.append("the answer is empty (set no_answer when the passages do not answer the question)")
    if not answer.citations:
        errors.append("the answer cites no passage")
    by_id = {p.passage_id: p for p in passages}
    for number, cited in enumerate(answer.citations, start=1):
        passage = by_id.get(cited.passage_id)
        if passage is None:
            errors.append(f"citation {number} names passage {cited.passage_id!r}, which was not retrieved")
        elif not normalized(cited.quote):
            errors.append(f"citation {number} has an empty quote")
        elif normalized(cited.quote) not in normalized(passage.text):
            errors.append(
                f"citation {number}: the quote {cited.quote[:120]!r} is not in passage {cited.passage_id!r}"
            )
    return answer, errors


def citations_of(answer: GeneratedAnswer, passages: Sequence[Passage]) -> list[Citation]:
    by_id = {p.passage_id: p for p in passages}
    return [
        Citation(source=by_id[c.passage_id].source, passage_id=c.passage_id, quote=c.quote)
        for c in answer.citations
        if c.passage_id in by_id
    ]
