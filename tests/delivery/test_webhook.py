"""Webhook delivery against a real local HTTP receiver that deduplicates by Idempotency-Key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.delivery.activity import DeliveryActivities
from activities.delivery.models import DeliveryRequest
from activities.delivery.webhook import classify_status, retry_after
from tests.fakes.receivers import DROP, HttpReceiver


def _request(receiver: HttpReceiver, key: str = "wf-1/deliver") -> DeliveryRequest:
    return DeliveryRequest(
        target=f"{receiver.url}/hooks/reports",
        idempotency_key=key,
        subject="Tide pools: report",
        body="# Tide pools\n\nThey are wet.",
        data={"topic": "tide pools", "subtopics": ["a", "b"], "cost_usd": 0.0012},
    )


async def test_post_carries_the_key_and_the_json_report(
    deliveries: DeliveryActivities, http_receiver: HttpReceiver
) -> None:
    receipt = await ActivityEnvironment().run(deliveries.deliver, _request(http_receiver))
    assert (receipt.channel, receipt.detail, receipt.duplicate) == ("webhook", "HTTP 200", False)
    [request] = http_receiver.requests
    assert request.method == "POST" and request.path == "/hooks/reports"
    assert request.headers["idempotency-key"] == "wf-1/deliver"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "idempotency_key": "wf-1/deliver",
        "subject": "Tide pools: report",
        "text": "# Tide pools\n\nThey are wet.",
        "data": {"topic": "tide pools", "subtopics": ["a", "b"], "cost_usd": 0.0012},
    }


async def test_a_repeat_is_a_duplicate_receipt_not_a_second_delivery(
    deliveries: DeliveryActivities, http_receiver: HttpReceiver
) -> None:
    env = ActivityEnvironment()
    first = await env.run(deliveries.deliver, _request(http_receiver))
    again = await env.run(deliveries.deliver, _request(http_receiver))
    assert (first.duplicate, again.duplicate, again.detail) == (False, True, "HTTP 409")
    assert http_receiver.accepted_count("wf-1/deliver") == 1
    assert http_receiver.attempts("wf-1/deliver") == 2


async def test_lost_response_then_retry_is_delivered_once(
    deliveries: DeliveryActivities, http_receiver: HttpReceiver
) -> None:
    """The receiver processed the POST but the answer never came back: the retry with the same key
    is recognised, so the receiver holds exactly one delivery."""
    http_receiver.script(DROP)
    env = ActivityEnvironment()
    with pytest.raises(ApplicationError) as caught:
        await env.run(deliveries.deliver, _request(http_receiver))
    assert caught.value.type == "DeliveryUnavailable" and not caught.value.non_retryable
    receipt = await env.run(deliveries.deliver, _request(http_receiver))
    assert receipt.duplicate
    assert http_receiver.accepted_count("wf-1/deliver") == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 413, 422, 302])
async def test_client_errors_are_rejected_without_retry(
    deliveries: DeliveryActivities, http_receiver: HttpReceiver, status: int
) -> None:
    http_receiver.script(status)
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(deliveries.deliver, _request(http_receiver))
    assert caught.value.type == "DeliveryRejected" and caught.value.non_retryable
    assert f"HTTP {status}" in caught.value.message
    assert http_receiver.accepted_count("wf-1/deliver") == 0


@pytest.mark.parametrize("status", [500, 502, 503, 408, 429])
async def test_server_errors_and_throttling_are_retried(
    deliveries: DeliveryActivities, http_receiver: HttpReceiver, status: int
) -> None:
    http_receiver.script(status)
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(deliveries.deliver, _request(http_receiver))
    assert caught.value.type == "DeliveryUnavailable" and not caught.value.non_retryable


async def test_unreachable_receiver_is_retried(deliveries: DeliveryActivities) -> None:
    stopped = HttpReceiver().start()
    url = stopped.url
    stopped.stop()
    request = DeliveryRequest(target=f"{url}/x", idempotency_key="wf/deliver", subject="s", body="b")
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(deliveries.deliver, request)
    assert caught.value.type == "DeliveryUnavailable" and "ConnectError" in caught.value.message


def test_status_classification() -> None:
    verdicts = {
        status: classify_status(status) for status in (200, 201, 204, 409, 408, 429, 500, 503, 400, 404, 301)
    }
    assert verdicts == {
        200: "delivered",
        201: "delivered",
        204: "delivered",
        409: "duplicate",
        408: "retry",
        429: "retry",
        500: "retry",
        503: "retry",
        400: "rejected",
        404: "rejected",
        301: "rejected",
    }


def test_retry_after_seconds_and_dates() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert retry_after("7") == timedelta(seconds=7)
    assert retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now) == timedelta(seconds=30)
    assert retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now) == timedelta(0)
    assert retry_after("soon") is None and retry_after(None) is None
