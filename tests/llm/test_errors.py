"""The one place provider errors are classified: status, body shape, headers and exceptions."""

from __future__ import annotations

import email.utils
import time
from datetime import timedelta

import anthropic
import httpx
import httpx2
import pytest

from activities.llm import error_types
from activities.llm.errors import classify_exception, classify_status, retry_delay
from workflows.activity_options import LLM_CALL


def anthropic_body(error_type: str, message: str = "boom", code: str | None = None) -> dict[str, object]:
    error: dict[str, object] = {"type": error_type, "message": message}
    if code:
        error["details"] = {"error_code": code}
    return {"type": "error", "error": error}


@pytest.mark.parametrize(
    ("status", "body", "expected", "retryable"),
    [
        (400, anthropic_body("invalid_request_error"), error_types.BAD_REQUEST, False),
        (401, anthropic_body("authentication_error"), error_types.AUTHENTICATION, False),
        (402, anthropic_body("billing_error"), error_types.PAYMENT_REQUIRED, False),
        (403, anthropic_body("permission_error"), error_types.PERMISSION_DENIED, False),
        (404, anthropic_body("not_found_error"), error_types.NOT_FOUND, False),
        (413, anthropic_body("request_too_large"), error_types.REQUEST_TOO_LARGE, False),
        (422, anthropic_body("invalid_request_error"), error_types.UNPROCESSABLE, False),
        (418, "teapot", error_types.CLIENT_ERROR, False),
        (408, anthropic_body("timeout_error"), error_types.TIMEOUT, True),
        (409, anthropic_body("conflict_error"), error_types.CONFLICT, True),
        (429, anthropic_body("rate_limit_error"), error_types.RATE_LIMITED, True),
        (500, anthropic_body("api_error"), error_types.SERVER_ERROR, True),
        (503, "Service Unavailable", error_types.SERVER_ERROR, True),
        (529, anthropic_body("overloaded_error"), error_types.OVERLOADED, True),
        # Spend limits: Anthropic's error codes, OpenAI's insufficient_quota, and the wording.
        (
            429,
            anthropic_body("rate_limit_error", code="contract_spend_limit_reached"),
            error_types.SPEND_LIMIT,
            False,
        ),
        (
            429,
            anthropic_body("rate_limit_error", code="enforced_spend_limit_reached"),
            error_types.SPEND_LIMIT,
            False,
        ),
        (
            429,
            {"error": {"type": "insufficient_quota", "code": "insufficient_quota"}},
            error_types.SPEND_LIMIT,
            False,
        ),
        (
            429,
            anthropic_body("rate_limit_error", "You have reached your specified API usage limits"),
            error_types.SPEND_LIMIT,
            False,
        ),
        # A ramp limit is a rate limit: retry after the server's delay.
        (429, anthropic_body("rate_limit_error", code="ramp_limit_exceeded"), error_types.RATE_LIMITED, True),
        # Prompt too long, in each provider's words.
        (
            400,
            anthropic_body("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"),
            error_types.PROMPT_TOO_LONG,
            False,
        ),
        (
            400,
            {"error": {"message": "too long", "code": "context_length_exceeded"}},
            error_types.PROMPT_TOO_LONG,
            False,
        ),
        (
            400,
            {"error": "input length exceeds the context window of the model"},
            error_types.PROMPT_TOO_LONG,
            False,
        ),
        # An error event inside a 200 stream: its type (Anthropic) or numeric code (vLLM) decides.
        (200, anthropic_body("overloaded_error"), error_types.OVERLOADED, True),
        (200, anthropic_body("invalid_request_error"), error_types.BAD_REQUEST, False),
        (
            200,
            {"error": {"message": "bad", "type": "BadRequestError", "code": 400}},
            error_types.BAD_REQUEST,
            False,
        ),
        (200, {"error": {"message": "model crashed"}}, error_types.SERVER_ERROR, True),
    ],
)
def test_status_and_body_decide_the_type(status: int, body: object, expected: str, retryable: bool) -> None:
    error = classify_status(provider="p", status=status, headers={}, body=body)
    assert error.type == expected
    assert error.non_retryable is (not retryable)
    assert (expected in error_types.NON_RETRYABLE_ERROR_TYPES) is (not retryable)


def test_x_should_retry_overrides_the_status() -> None:
    forced = classify_status(provider="p", status=400, headers={"x-should-retry": "true"}, body={})
    assert (forced.type, forced.non_retryable) == (error_types.RETRY_REQUESTED, False)
    # The forced type must not be one the retry policy refuses to retry.
    assert forced.type not in (LLM_CALL.retry.non_retryable_error_types or [])
    refused = classify_status(provider="p", status=503, headers={"X-Should-Retry": "False"}, body={})
    assert (refused.type, refused.non_retryable) == (error_types.SERVER_ERROR, True)
    assert refused.next_retry_delay is None


def test_retry_after_becomes_next_retry_delay() -> None:
    error = classify_status(provider="p", status=429, headers={"retry-after": "2"}, body={})
    assert error.next_retry_delay == timedelta(seconds=2)
    precise = classify_status(
        provider="p", status=529, headers={"retry-after-ms": "1500", "retry-after": "9"}, body={}
    )
    assert precise.next_retry_delay == timedelta(milliseconds=1500)
    # A non-retryable error carries no delay even if the server sent one.
    assert (
        classify_status(provider="p", status=400, headers={"retry-after": "5"}, body={}).next_retry_delay
        is None
    )


def test_retry_after_forms() -> None:
    in_30s = email.utils.formatdate(time.time() + 30, usegmt=True)
    delay = retry_delay({"retry-after": in_30s})
    assert delay is not None and timedelta(seconds=27) <= delay <= timedelta(seconds=30)
    assert retry_delay({"retry-after": "0.5"}) == timedelta(milliseconds=500)
    assert retry_delay({"retry-after": "soon"}) is None
    assert retry_delay({"retry-after": "-3"}) is None
    assert retry_delay({"retry-after": "86400"}) == timedelta(minutes=10)  # capped
    assert retry_delay({}) is None


def test_details_name_the_provider_error_but_keep_the_message_short() -> None:
    error = classify_status(
        provider="anthropic",
        status=429,
        headers={"request-id": "req_123"},
        body=anthropic_body("rate_limit_error", "x" * 5000, code="ramp_limit_exceeded"),
    )
    assert error.details[0] == {
        "provider": "anthropic",
        "status": 429,
        "provider_error_type": "rate_limit_error",
        "provider_error_code": "ramp_limit_exceeded",
        "request_id": "req_123",
    }
    assert len(error.message) < 600


def test_transport_exceptions_of_every_client_are_retryable() -> None:
    request = httpx2.Request("POST", "http://127.0.0.1/v1/messages")
    cases = [
        (anthropic.APITimeoutError(request=request), error_types.TIMEOUT),
        (anthropic.APIConnectionError(request=request), error_types.CONNECTION_ERROR),
        (httpx.ReadTimeout("slow"), error_types.TIMEOUT),
        (httpx.ConnectError("refused"), error_types.CONNECTION_ERROR),
        (httpx2.ReadTimeout("slow"), error_types.TIMEOUT),
        (httpx2.RemoteProtocolError("peer closed"), error_types.CONNECTION_ERROR),
    ]
    for exception, expected in cases:
        error = classify_exception("p", exception)
        assert error is not None and error.type == expected and not error.non_retryable, exception


def test_anthropic_status_error_uses_its_response() -> None:
    response = httpx2.Response(
        429,
        headers={"retry-after": "3"},
        json=anthropic_body("rate_limit_error"),
        request=httpx2.Request("POST", "http://127.0.0.1/v1/messages"),
    )
    exception = anthropic.RateLimitError("rate limited", response=response, body=response.json())
    error = classify_exception("anthropic", exception)
    assert error is not None
    assert (error.type, error.next_retry_delay) == (error_types.RATE_LIMITED, timedelta(seconds=3))


def test_other_exceptions_are_not_provider_errors() -> None:
    assert classify_exception("p", ValueError("a bug")) is None


def test_llm_call_policy_lists_the_non_retryable_types() -> None:
    assert set(LLM_CALL.retry.non_retryable_error_types or []) >= error_types.NON_RETRYABLE_ERROR_TYPES
    assert LLM_CALL.heartbeat is not None and LLM_CALL.heartbeat < LLM_CALL.start_to_close
