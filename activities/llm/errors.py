"""Provider errors, classified once (docs/design.md, principle 4).

Every provider turns its failures into a Temporal `ApplicationError` here, so retries are decided in
one place and Temporal owns them (the SDK clients run with `max_retries=0`):

- 400/401/402/403/404/413/422, and a 429 that says a spend limit is reached, are non-retryable with a
  typed `type`; a prompt too long for the model gets its own type (`LLMPromptTooLong`) so an agent can
  shorten its context instead of failing.
- 408/409/429/5xx/529, timeouts and connection errors are retryable; `retry-after-ms` / `retry-after`
  become `next_retry_delay`.
- An `x-should-retry: true|false` header overrides the status.

What reaches Temporal is short: a one-line message, the type, and the details a person needs
(provider, status, request id, retry-after), never the provider exception's chained traceback (a
pending activity's last failure is dropped as "Failure exceeds size limit" when it is too big). The
worker log keeps the whole trace, once, at warning level.
"""

from __future__ import annotations

import email.utils
import logging
import math
import re
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
from temporalio.exceptions import ApplicationError

# The type names live in their own module: workflow code imports them without this module's SDKs.
from activities.llm.error_types import (
    AUTHENTICATION,
    BAD_REQUEST,
    CLIENT_ERROR,
    CONFLICT,
    CONNECTION_ERROR,
    INVALID_RESPONSE,
    NON_RETRYABLE_ERROR_TYPES,
    NOT_FOUND,
    OVERLOADED,
    PAYMENT_REQUIRED,
    PERMISSION_DENIED,
    PROMPT_TOO_LONG,
    RATE_LIMITED,
    REQUEST_TOO_LARGE,
    RETRY_REQUESTED,
    SERVER_ERROR,
    SPEND_LIMIT,
    TIMEOUT,
    UNPROCESSABLE,
)

__all__ = ["classified_errors", "classify_exception", "classify_status", "invalid_response", "retry_delay"]

_NON_RETRYABLE_STATUS = {
    400: BAD_REQUEST,
    401: AUTHENTICATION,
    402: PAYMENT_REQUIRED,
    403: PERMISSION_DENIED,
    404: NOT_FOUND,
    413: REQUEST_TOO_LARGE,
    422: UNPROCESSABLE,
}
_RETRYABLE_STATUS = {408: TIMEOUT, 409: CONFLICT, 429: RATE_LIMITED, 529: OVERLOADED}

# An Anthropic error event inside a 200 stream carries only its error type.
_STATUS_OF_ERROR_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "timeout_error": 504,
    "api_error": 500,
    "overloaded_error": 529,
}

# Anthropic: "prompt is too long: 210000 tokens > 200000 maximum"; OpenAI: code
# context_length_exceeded; vLLM/Ollama: "... maximum context length ..." / "context window".
_PROMPT_TOO_LONG = re.compile(
    r"prompt is too long|context[_ ]length|context window|maximum context|too many (input )?tokens",
    re.IGNORECASE,
)
# Anthropic error codes contract_/enforced_/linked_organization_spend_limit_reached; OpenAI's
# insufficient_quota; messages that say a usage or spend limit is reached or credit is exhausted.
_SPEND_LIMIT = re.compile(
    r"spend[_ ]limit|insufficient_quota|usage limit|credit balance|exceeded your current quota",
    re.IGNORECASE,
)
log = logging.getLogger(__name__)
_MAX_MESSAGE_CHARS = 500
# A server asking for a longer wait than this is capped: the schedule-to-close timeout bounds the
# whole call anyway, and a wait longer than it would only end in a timeout.
_MAX_RETRY_DELAY = timedelta(minutes=10)


def classify_status(
    *, provider: str, status: int, headers: Mapping[str, str], body: object
) -> ApplicationError:
    """The error for an HTTP error response (or an error event in a stream) from any provider."""
    error_type, error_code, message = _error_fields(body)
    if status < 400:  # an error event inside a successful stream: the status it stands for
        if error_code and error_code.isdigit() and 400 <= int(error_code) < 600:
            status = int(error_code)  # vLLM puts the status in `code`
        else:
            status = _STATUS_OF_ERROR_TYPE.get(error_type or "", 500)
    evidence = " ".join(part for part in (error_type, error_code, message) if part)

    if status == 429 and _SPEND_LIMIT.search(evidence):
        kind = SPEND_LIMIT
    elif status in (400, 413, 422) and _PROMPT_TOO_LONG.search(evidence):
        kind = PROMPT_TOO_LONG
    elif status in _NON_RETRYABLE_STATUS:
        kind = _NON_RETRYABLE_STATUS[status]
    elif status in _RETRYABLE_STATUS:
        kind = _RETRYABLE_STATUS[status]
    elif status >= 500:
        kind = SERVER_ERROR
    else:
        kind = CLIENT_ERROR
    retryable = kind not in NON_RETRYABLE_ERROR_TYPES

    should_retry = _header(headers, "x-should-retry")
    if should_retry == "true" and not retryable:
        kind, retryable = RETRY_REQUESTED, True
    elif should_retry == "false":
        retryable = False

    text = one_line(f"{provider} HTTP {status}: {message or error_type or 'no error message'}")
    details: dict[str, Any] = {"provider": provider, "status": status}
    delay = retry_delay(headers) if retryable else None
    if delay is not None:
        details["retry_after_s"] = delay.total_seconds()
    if error_type:
        details["provider_error_type"] = error_type
    if error_code:
        details["provider_error_code"] = error_code
    request_id = _header(headers, "request-id") or _header(headers, "x-request-id")
    if request_id:
        details["request_id"] = request_id
    return ApplicationError(
        text,
        details,
        type=kind,
        non_retryable=not retryable,
        next_retry_delay=delay,
    )


@contextmanager
def classified_errors(provider: str) -> Iterator[None]:
    """Around a provider call: every failure leaves as a classified `ApplicationError` (an error this
    module does not know is re-raised unchanged)."""
    try:
        yield
    except ApplicationError:
        raise
    except Exception as error:
        classified = classify_exception(provider, error)
        if classified is None:
            raise
        log.warning("%s [%s]", classified.message, classified.type, exc_info=error)
        raise classified from None


def classify_exception(provider: str, error: BaseException) -> ApplicationError | None:
    """The error for an exception a provider's client raised; None if it is not a provider error."""
    # The anthropic SDK (and httpx2, its transport) are imported only by a worker configured for
    # Anthropic (activities/llm/factory.py: the SDK is the slowest import of a worker's start-up).
    # An exception of theirs means they are loaded, so they are looked at only then.
    if "anthropic" in sys.modules:
        classified = _classify_anthropic(provider, error)
        if classified is not None:
            return classified
    transport_timeouts: tuple[type[BaseException], ...] = (httpx.TimeoutException,)
    transport_errors: tuple[type[BaseException], ...] = (httpx.TransportError,)
    if "httpx2" in sys.modules:
        import httpx2

        transport_timeouts += (httpx2.TimeoutException,)
        transport_errors += (httpx2.TransportError,)
    if isinstance(error, transport_timeouts):
        return _transport(provider, TIMEOUT, "timed out", error)
    if isinstance(error, transport_errors):
        return _transport(provider, CONNECTION_ERROR, "connection failed", error)
    return None


def _classify_anthropic(provider: str, error: BaseException) -> ApplicationError | None:
    import anthropic

    if isinstance(error, anthropic.APIStatusError):
        return classify_status(
            provider=provider,
            status=error.status_code,
            headers=error.response.headers,
            body=error.body,
        )
    if isinstance(error, anthropic.APITimeoutError):
        return _transport(provider, TIMEOUT, "timed out", error)
    if isinstance(error, anthropic.APIConnectionError):
        return _transport(provider, CONNECTION_ERROR, "connection failed", error)
    if isinstance(error, anthropic.APIResponseValidationError):
        return invalid_response(provider, f"response did not match the API schema: {error.message}")
    return None


def invalid_response(provider: str, what: str) -> ApplicationError:
    """A response we cannot read. Retryable: a truncated or garbled reply is usually transient."""
    return ApplicationError(one_line(f"{provider}: {what}"), {"provider": provider}, type=INVALID_RESPONSE)


def one_line(text: str) -> str:
    """A failure message as one short line: what `temporal workflow describe` and the Web UI show."""
    return " ".join(text.split())[:_MAX_MESSAGE_CHARS]


def retry_delay(headers: Mapping[str, str]) -> timedelta | None:
    """`retry-after-ms` (milliseconds, more precise) first, then `retry-after` (seconds or HTTP date)."""
    seconds: float | None = None
    millis = _header(headers, "retry-after-ms")
    if millis is not None:
        seconds = _as_float(millis)
        seconds = seconds / 1000 if seconds is not None else None
    after = _header(headers, "retry-after")
    if seconds is None and after is not None:
        seconds = _as_float(after)
        if seconds is None:
            seconds = _seconds_until(after)
    if seconds is None or math.isnan(seconds) or seconds <= 0:
        return None
    # Capped before it becomes a timedelta: a hostile `1e308` or `inf` would overflow it.
    return timedelta(seconds=min(seconds, _MAX_RETRY_DELAY.total_seconds()))


def _transport(provider: str, kind: str, what: str, error: BaseException) -> ApplicationError:
    return ApplicationError(
        one_line(f"{provider}: {what} ({type(error).__name__}: {error})"),
        {"provider": provider},
        type=kind,
    )


def _error_fields(body: object) -> tuple[str | None, str | None, str | None]:
    """(type, code, message) of an error body in any of the shapes providers use:
    Anthropic `{"type": "error", "error": {"type", "message", "details": {"error_code"}}}`,
    OpenAI `{"error": {"type", "code", "message"}}`, Ollama `{"error": "message"}`, or plain text."""
    if isinstance(body, str):
        return None, None, body or None
    if not isinstance(body, Mapping):
        return None, None, None
    error = body.get("error", body)
    if isinstance(error, str):
        return None, None, error
    if not isinstance(error, Mapping):
        return None, None, None
    details = error.get("details")
    code = details.get("error_code") if isinstance(details, Mapping) else None
    code = code if code is not None else error.get("code")
    error_type = error.get("type")
    message = error.get("message")
    return (
        str(error_type) if error_type is not None else None,
        str(code) if code is not None else None,
        str(message) if message is not None else None,
    )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive lookup that works for httpx, httpx2 and plain dict headers."""
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    return value.strip().lower() if name == "x-should-retry" and value is not None else value


def _seconds_until(http_date: str) -> float | None:
    """Seconds from now to an HTTP date; None for one that is no date (or none a clock can hold)."""
    try:
        parsed = email.utils.parsedate_tz(http_date)
        return email.utils.mktime_tz(parsed) - time.time() if parsed else None
    except (OverflowError, ValueError):
        return None


def _as_float(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None
