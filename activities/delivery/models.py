"""Re-exports the delivery activity's request and receipt: the definitions live in `common.contracts.delivery` (the contracts both workflows and activities import)."""

from common.contracts.delivery import (
    DeliveryReceipt,
    DeliveryRequest,
)

__all__ = [
    "DeliveryReceipt",
    "DeliveryRequest",
]
