"""Re-exports the LLM activity's request and reply: the definitions live in `common.contracts.llm` (the contracts both workflows and activities import)."""

from common.contracts.llm import *  # noqa: F403 - the same names, defined once
from common.contracts.llm import __all__ as __all__
