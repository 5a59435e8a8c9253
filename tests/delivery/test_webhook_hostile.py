"""Webhook delivery against hostile receivers and destinations: a double-gzip error body, slow-drip
bodies, private addresses (literal and behind a name), and the token in a webhook URL's query string
kept out of every error message, receipt, log line and tool observation."""

from __future__ import annotations

import logging
import time
import tracemalloc
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.delivery.activity import DeliveryActivities
from activities.delivery.models import DeliveryRequest
from activities.delivery.webhook import WebhookSender
from activities.tools.models import SideEffectToolInput
from common.egress import EgressPolicy, egress_client, parse_allow_private
from common.settings import Settings
from tests.delivery.conftest import tools_of
from tests.fakes.receivers import DROP, HostileHttpServer, HttpReceiver

TOKEN = "tok-5ecr3t-42"


def _request(target: str, key: str = "wf-1/deliver") -> DeliveryRequest:
    return DeliveryRequest(
        target=target, idempotency_key=key, subject="Report", body="# Report", data={"n": 1}
    )


async def _failure(deliveries: DeliveryActivities, target: str) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(deliveries.deliver, _request(target))
    return caught.value


@pytest_asyncio.fixture
async def strict_deliveries(delivery_settings: Settings) -> AsyncIterator[DeliveryActivities]:
    """Deliveries with the product's default egress policy: public addresses only."""
    activities = DeliveryActivities.from_settings(
        delivery_settings.model_copy(update={"egress_allow_private": ""})
    )
    try:
        yield activities
    finally:
        await activities.aclose()


async def test_a_double_gzip_error_body_is_read_only_up_to_the_cap(
    deliveries: DeliveryActivities, hostile: HostileHttpServer
) -> None:
    """The receiver answers 500 with 590 bytes that inflate to 256 MB: the message gets an excerpt,
    and the worker never holds more than a few steps of inflated bytes (before: 805 MB, 0.86 s with
    the event loop blocked)."""
    tracemalloc.start()
    try:
        error = await _failure(deliveries, f"{hostile.url}/bomb")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.type == "DeliveryUnavailable" and error.message.endswith("answered HTTP 500")
    assert error.message.isprintable()  # 2 KB of inflated NUL bytes: nothing printable to show
    assert peak < 16 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB"


async def test_a_slow_drip_error_body_cannot_hold_the_delivery(
    delivery_settings: Settings, hostile: HostileHttpServer
) -> None:
    activities = DeliveryActivities.from_settings(
        delivery_settings.model_copy(update={"delivery_timeout_s": 0.5})
    )
    try:
        started = time.monotonic()
        error = await _failure(activities, f"{hostile.url}/drip?token={TOKEN}")
        elapsed = time.monotonic() - started
    finally:
        await activities.aclose()
    assert error.type == "DeliveryUnavailable" and not error.non_retryable
    assert "no complete answer within 0.5 s" in error.message and TOKEN not in error.message
    assert elapsed < 2.0
    assert hostile.state.drip_stopped.wait(5)


async def test_a_slow_drip_success_body_is_not_waited_for(
    deliveries: DeliveryActivities, hostile: HostileHttpServer
) -> None:
    started = time.monotonic()
    receipt = await ActivityEnvironment().run(deliveries.deliver, _request(f"{hostile.url}/drip-ok"))
    assert receipt.detail == "HTTP 200" and time.monotonic() - started < 2.0


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("169.254.169.254", "link-local"),
        ("[::1]", "loopback"),
        ("10.20.30.40", "private"),
        ("127.0.0.1", "loopback"),
        ("[::ffff:169.254.169.254]", "link-local"),
    ],
)
async def test_private_destinations_are_refused_without_retry(
    strict_deliveries: DeliveryActivities, host: str, kind: str
) -> None:
    error = await _failure(strict_deliveries, f"http://{host}/hook?token={TOKEN}")
    assert error.type == "DestinationRefused" and error.non_retryable
    assert f"is a {kind} address" in error.message and TOKEN not in error.message


async def test_a_name_resolving_to_loopback_is_refused_when_connecting(http_receiver: HttpReceiver) -> None:
    """The URL names `hooks.test`; the resolver (a hostile DNS answer) says 127.0.0.1. The check runs
    on the resolved address, and the connection then goes to the checked address."""
    port = httpx.URL(http_receiver.url).port

    async def resolve(host: str, port: int) -> list[str]:
        return {"hooks.test": ["127.0.0.1"]}[host]

    url = f"http://hooks.test:{port}/in?token={TOKEN}"
    async with egress_client(EgressPolicy(), timeout=httpx.Timeout(5.0), resolver=resolve) as client:
        with pytest.raises(ApplicationError) as caught:
            await WebhookSender(client, 5.0).post(url, {"a": 1}, "wf/1")
    assert caught.value.type == "DestinationRefused" and "hooks.test (127.0.0.1)" in caught.value.message
    assert http_receiver.requests == []
    policy = parse_allow_private("hooks.test")
    async with egress_client(policy, timeout=httpx.Timeout(5.0), resolver=resolve) as client:
        outcome = await WebhookSender(client, 5.0).post(url, {"a": 1}, "wf/1")
    assert outcome.status == 200 and http_receiver.accepted_count("wf/1") == 1


async def test_send_webhook_to_a_private_address_is_an_observation_for_the_model(
    strict_deliveries: DeliveryActivities,
) -> None:
    request = SideEffectToolInput(
        arguments={"url": f"http://169.254.169.254/latest/meta-data?token={TOKEN}", "payload": {}},
        idempotency_key="wf/tool-1",
    )
    observation = await ActivityEnvironment().run(tools_of(strict_deliveries).send_webhook, request)
    assert observation.is_error and "link-local address" in observation.content
    assert TOKEN not in observation.content


async def test_the_token_appears_in_no_error_receipt_observation_or_log(
    deliveries: DeliveryActivities,
    strict_deliveries: DeliveryActivities,
    http_receiver: HttpReceiver,
    hostile: HostileHttpServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    query = f"?token={TOKEN}&sig={TOKEN}x"
    texts: list[str] = []
    env = ActivityEnvironment()

    # every failing path: HTTP statuses (the receiver echoes nothing, but the message names the URL)
    for status in (400, 500, 503):
        http_receiver.script(status)
        texts.append((await _failure(deliveries, f"{http_receiver.url}/in{query}")).message)
    http_receiver.script(DROP)  # connection closed without an answer
    texts.append((await _failure(deliveries, f"{http_receiver.url}/in{query}")).message)
    texts.append((await _failure(deliveries, f"http://127.0.0.1:1/in{query}")).message)  # refused
    texts.append((await _failure(deliveries, f"http://user:{TOKEN}@127.0.0.1:1/in")).message)  # userinfo
    texts.append((await _failure(deliveries, f"{hostile.url}/bomb{query}")).message)  # error body
    texts.append((await _failure(strict_deliveries, f"http://10.0.0.1/in{query}")).message)  # egress
    texts.append((await _failure(deliveries, f"http://127.0.0.1:99999/in{query}")).message)  # bad URL
    # the successful paths: the receipt and the tool observations
    receipt = await env.run(deliveries.deliver, _request(f"{http_receiver.url}/in{query}", key="wf-1/ok"))
    texts += [receipt.target, receipt.detail]
    for key in ("wf/tool-ok", "wf/tool-ok"):  # delivered, then a duplicate
        observation = await env.run(
            tools_of(deliveries).send_webhook,
            SideEffectToolInput(
                arguments={"url": f"{http_receiver.url}/t{query}", "payload": {}}, idempotency_key=key
            ),
        )
        texts.append(observation.content)
    http_receiver.script(422)
    refused = await env.run(
        tools_of(deliveries).send_webhook,
        SideEffectToolInput(
            arguments={"url": f"{http_receiver.url}/t{query}", "payload": {}}, idempotency_key="wf/t2"
        ),
    )
    texts.append(refused.content)

    assert len(texts) == 14 and all(texts)
    assert receipt.target == f"{http_receiver.url}/in"
    leaked = [text for text in texts if TOKEN in text]
    assert leaked == []
    assert caplog.records, "nothing was logged: the log check would prove nothing"
    assert TOKEN not in caplog.text
    assert "/in" in caplog.text  # httpx's request lines are there, with the URL redacted
