"""A question as a keyword query: its words, without the function words that every passage has
(with them, any passage "matches" and nothing relevant could not be told from something relevant)."""

from __future__ import annotations

import re

__all__ = ["STOP_WORDS", "fts5_query", "keywords"]

STOP_WORDS = frozenset(
    """a about above after again all also am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers him his how i if in into is it its itself just me more most my no nor not of
    off on once only or other our out over own same she should so some such than that the their them then
    there these they this those through to too under until up very was we were what when where which while
    who whom why will with would you your yours tell explain describe please""".split()
)


def keywords(question: str) -> list[str]:
    """The question's content words, lower case, each once, in order."""
    seen: dict[str, None] = {}
    for word in re.findall(r"\w+", question.casefold()):
        if word not in STOP_WORDS and word not in seen:
            seen[word] = None
    return list(seen)


def fts5_query(question: str) -> str | None:
    """An FTS5 MATCH expression: any of the words, each quoted (no operator syntax from the question
    reaches FTS5). None when no content word is left."""
    words = keywords(question)
    return " OR ".join('"' + word.replace('"', '""') + '"' for word in words) or None
