"""Re-exports the delivery activity's request and receipt: the definitions live in `common.contracts.delivery` (the contracts both workflows and activities import)."""

from common.contracts.delivery import *  # noqa: F403 - the same names, defined once
from common.contracts.delivery import __all__ as __all__
