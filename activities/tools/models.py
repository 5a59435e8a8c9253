"""Re-exports a tool activity's input and observation: the definitions live in `common.contracts.tools` (the contracts both workflows and activities import)."""

from common.contracts.tools import *  # noqa: F403 - the same names, defined once
from common.contracts.tools import __all__ as __all__
