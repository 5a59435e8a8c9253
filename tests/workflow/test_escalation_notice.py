"""Escalation through the real parts: the product's worker (real activities, offline model) and a
real HTTP receiver at APPROVAL_ESCALATION_URL. A deadline passes undecided: the notice arrives once
(retried through a 500, with a stable Idempotency-Key), then the policy decides; a receiver that
refuses the notice does not keep the run from deciding."""

from __future__ import annotations

import uuid

from temporalio.client import Client

from common.settings import Settings
from tests.fakes.receivers import HttpReceiver
from worker.app import build_worker
from workflows.models import ResearchInput
from workflows.research import ResearchWorkflow


async def run_past_deadline(client: Client, settings: Settings, receiver: HttpReceiver) -> tuple[str, str]:
    with_url = settings.model_copy(update={"approval_escalation_url": f"{receiver.url}/escalations"})
    params = ResearchInput(topic="tide pools", max_subtopics=1, approvers=["alice"], approval_timeout_s=900)
    async with build_worker(client, with_url):
        handle = await client.start_workflow(
            ResearchWorkflow.run,
            params,
            id=f"research-{uuid.uuid4().hex}",
            task_queue=settings.temporal_task_queue,
        )
        result = await handle.result()
    assert result.approval is not None
    return handle.id, result.outcome


async def test_escalation_notice_reaches_the_webhook_once(
    ts_client: Client, settings: Settings, http_receiver: HttpReceiver
) -> None:
    http_receiver.script(500)  # the first attempt fails; the NOTIFY retry policy repeats it
    workflow_id, outcome = await run_past_deadline(ts_client, settings, http_receiver)

    assert outcome == "rejected"
    [notice] = http_receiver.accepted
    assert notice.path == "/escalations"
    body = notice.json()
    assert body["event"] == "approval_escalated" and body["workflow_id"] == workflow_id
    assert body["approvers"] == ["alice"] and body["policy"] == "reject"
    assert "tide pools" in body["action"]
    assert notice.idempotency_key == f"{workflow_id}/escalation/{body['action_hash'][:16]}"
    assert http_receiver.attempts(notice.idempotency_key) == 2


async def test_a_refused_notice_still_lets_the_policy_decide(
    ts_client: Client, settings: Settings, http_receiver: HttpReceiver
) -> None:
    http_receiver.script(404)  # non-retryable: one attempt, then the run goes on
    _, outcome = await run_past_deadline(ts_client, settings, http_receiver)
    assert outcome == "rejected"
    assert len(http_receiver.requests) == 1 and http_receiver.accepted == []


async def test_the_escalation_url_goes_through_the_egress_policy(
    ts_client: Client, settings: Settings, http_receiver: HttpReceiver
) -> None:
    """Without EGRESS_ALLOW_PRIVATE naming it, a receiver on a private address is refused (the
    escalation URL could otherwise reach cloud metadata or an internal admin API), once, with no
    token in the message; the policy still decides."""
    strict = settings.model_copy(update={"egress_allow_private": ""})
    _, outcome = await run_past_deadline(ts_client, strict, http_receiver)
    assert outcome == "rejected"
    assert http_receiver.requests == []
