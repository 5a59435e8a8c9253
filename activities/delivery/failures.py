"""The typed errors a delivery raises, so workflows, the starter and the Web UI can tell them apart.

`DeliveryRejected`, `DestinationRefused` and the two `Invalid*` types are non-retryable: the receiver or the input said no,
and asking again cannot change that. `DeliveryUnavailable` is retryable: the receiver (or the dedupe
ledger) could not be reached or asked us to come back later; Temporal retries it with the DELIVERY
retry policy, and the idempotency key makes every retry safe.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from pydantic import ValidationError
from temporalio.exceptions import ApplicationError

__all__ = [
    "DELIVERY_REJECTED",
    "DESTINATION_REFUSED",
    "bad_argument",
    "check_idempotency_key",
    "destination_refused",
    "invalid_request",
    "refusal_told_to_the_model",
    "rejected",
    "unavailable",
]

DELIVERY_REJECTED = "DeliveryRejected"
DELIVERY_UNAVAILABLE = "DeliveryUnavailable"
# The egress policy or the file root refused where the delivery would go (no request was sent).
DESTINATION_REFUSED = "DestinationRefused"
INVALID_DELIVERY_REQUEST = "InvalidDeliveryRequest"
INVALID_TOOL_ARGUMENTS = "InvalidToolArguments"

# A receiver's Retry-After is honoured, but never beyond this: one bad header must not park a run.
_MAX_RETRY_AFTER = timedelta(minutes=10)


def rejected(message: str) -> ApplicationError:
    return ApplicationError(message, type=DELIVERY_REJECTED, non_retryable=True)


def destination_refused(message: str) -> ApplicationError:
    return ApplicationError(message, type=DESTINATION_REFUSED, non_retryable=True)


def unavailable(message: str, retry_after: timedelta | None = None) -> ApplicationError:
    delay = min(retry_after, _MAX_RETRY_AFTER) if retry_after is not None else None
    return ApplicationError(message, type=DELIVERY_UNAVAILABLE, next_retry_delay=delay)


def invalid_request(message: str) -> ApplicationError:
    return ApplicationError(message, type=INVALID_DELIVERY_REQUEST, non_retryable=True)


def invalid_tool_arguments(message: str) -> ApplicationError:
    return ApplicationError(message, type=INVALID_TOOL_ARGUMENTS, non_retryable=True)


def describe_validation_error(error: ValidationError) -> str:
    """The first problem of a pydantic validation error, on one line (`field: message`)."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "arguments"
    return f"{where}: {first.get('msg', 'invalid value')}"


def check_idempotency_key(key: str) -> str:
    """The key travels in an HTTP header, an email header and a file name: refuse what cannot
    (control characters would split headers; the length keeps headers and ledger rows small)."""
    if not key or not key.strip():
        raise invalid_request("idempotency_key is empty")
    if len(key) > 512:
        raise invalid_request("idempotency_key is longer than 512 characters")
    if not key.isprintable():
        raise invalid_request("idempotency_key contains control characters")
    return key


@contextmanager
def refusal_told_to_the_model(tool: str, *refusals: str) -> Iterator[None]:
    """In a side-effect tool: a refusal the model can act on (`refusals`: error types such as
    DeliveryRejected) becomes an error observation (`ToolError`); anything else still raises."""
    from activities.tools.declare import ToolError

    try:
        yield
    except ApplicationError as error:
        if error.type in refusals:
            raise ToolError(f"{tool} failed: {error.message}") from None
        raise


@contextmanager
def bad_argument(tool: str, field: str) -> Iterator[None]:
    """A `ValueError` from checking an approved argument is a non-retryable `InvalidToolArguments`."""
    try:
        yield
    except ValueError as error:
        raise invalid_tool_arguments(f"{tool}: {field}: {error}") from None
