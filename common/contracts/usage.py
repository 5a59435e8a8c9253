"""`Usage`: tokens of one or more model calls — the one usage shape of the product, in LLM replies,
failed attempts, step totals, child reports, `status` and results.

Replies recorded before this shape used Anthropic's names for the cache counts
(`cache_read_input_tokens`, `cache_creation_input_tokens`); they still read, into the fields below.
"""

from __future__ import annotations

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

__all__ = ["Usage"]


class Usage(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    input_tokens: int = 0  # input not read from or written to the prompt cache
    output_tokens: int = 0
    cache_read_tokens: int = Field(
        default=0, validation_alias=AliasChoices("cache_read_tokens", "cache_read_input_tokens")
    )
    cache_write_tokens: int = Field(
        default=0, validation_alias=AliasChoices("cache_write_tokens", "cache_creation_input_tokens")
    )

    def plus(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
        )

    __add__ = plus

    @property
    def all_input_tokens(self) -> int:
        """Every input token the model read: uncached, read from the cache, written to it."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens
