"""The inbox's signed decision end to end in headless Chromium (issue 25): the inbox runs with its own
key (`INBOX_SIGNING_KEY_FILE`), the worker with `APPROVER_KEYS_FILE` listing that key as allowed to
sign for alice, and nothing else: no unsigned decision would count. Alice approves in the run's page
with "for the rest of this run" ticked; the run records her as the approver and the inbox as the
signer, the webhook is delivered once, and a second call of the tool to the same target runs without
asking anyone, recorded as covered by her decision."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, expect
from temporalio.client import Client, WorkflowExecutionStatus

from common.approval_signing import new_key_pair
from common.settings import Settings
from starter import api
from tests.fakes.receivers import HttpReceiver
from tests.inbox.browser import served_inbox
from tests.inbox.test_browser import sign_in
from tests.starter.runs import pending_approval
from workflows.kit.pytest_plugin import run_kit_worker
from workflows.kit.testing import ScriptedModel
from workflows.models import AgentInput

pytestmark = pytest.mark.browser


def two_hooks_to(url: str) -> ScriptedModel:
    """Two turns, each sending a webhook to `url` (different payloads: two different actions with
    the same target), then an answer."""
    turns = [
        {
            "match": {"step_kind": "agent", "turn": turn},
            "reply": {
                "tool_calls": [{"name": "send_webhook", "input": {"url": url, "payload": {"n": turn}}}]
            },
        }
        for turn in (0, 1)
    ]
    return ScriptedModel([*turns, {"reply": {"text": "both sent"}}])


@pytest_asyncio.fixture
async def signing_inbox(
    inbox_settings: Settings, dev_client: Client, tmp_path: Path
) -> AsyncIterator[tuple[str, Path]]:
    """The inbox signing with its own key; yields its URL and the keys file that lets it sign for
    alice (what the workers read)."""
    key, public = new_key_pair("inbox", tmp_path / "keys")
    keys_file = tmp_path / "approvers.json"
    keys_file.write_text(json.dumps({"inbox": {"key": public.read_text().strip(), "signs_for": ["alice"]}}))
    signing = inbox_settings.model_copy(
        update={
            "temporal_address": dev_client.service_client.config.target_host,
            "inbox_signing_key_file": key,
        }
    )
    async with served_inbox(signing) as url:
        yield url, keys_file


async def test_the_inbox_signs_the_reviewers_approval_for_the_rest_of_the_run(
    browser: Browser,
    signing_inbox: tuple[str, Path],
    dev_client: Client,
    settings: Settings,
    http_receiver: HttpReceiver,
) -> None:
    inbox_url, keys_file = signing_inbox
    hook = f"{http_receiver.url}/signed"
    worker_settings = settings.model_copy(
        update={"approver_keys_file": str(keys_file), "egress_allow_private": "127.0.0.1"}
    )
    async with run_kit_worker(dev_client, worker_settings, model=two_hooks_to(hook)):
        handle = await api.start_agent(
            dev_client,
            AgentInput(goal="send both hooks", tools=["send_webhook"], approvers=["alice"]),
            task_queue=settings.temporal_task_queue,
            workflow_id=f"agent-signed-{uuid.uuid4().hex[:8]}",
        )
        context = await browser.new_context()
        try:
            pending = await pending_approval(dev_client, handle.id)
            page = await context.new_page()
            await sign_in(page, inbox_url, "alice")
            await page.goto(f"{inbox_url}/runs/{handle.id}")
            await expect(page.locator("[data-testid=action-hash]")).to_have_text(pending.action_hash)
            await page.locator("[data-testid=for-run]").check()
            await page.locator("button.approve").click()
            await expect(page.locator("[data-testid=flash]")).to_contain_text("Approved as alice")
            # Bounded: were the second call to ask again, nobody would answer it.
            result = await asyncio.wait_for(handle.result(), 30)

            # The run's page lists both decisions: alice's, signed by the inbox, and the one it covered.
            await page.reload()
            decided = page.locator("[data-testid=decided-by]")
            await expect(decided).to_have_count(2)
            await expect(decided.first).to_contain_text("alice")
            await expect(page.locator("[data-testid=signed-by]").first).to_have_text("inbox")
            await expect(page.locator("table.decisions")).to_contain_text("for the rest of the run")
        finally:
            await context.close()
            if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                await handle.terminate("test failed before the run ended")

    assert result.outcome == "completed"
    first, covered = result.decisions
    # Verified by the run against the keys file its worker read: the inbox's key, for alice.
    assert (first.approver, first.signed_by, first.via, first.for_run) == ("alice", "inbox", "update", True)
    assert first.signature is not None and first.action_hash == pending.action_hash
    # The second call (same tool, same target, another payload) asked nobody.
    assert (covered.approver, covered.via, covered.signed_by) == ("alice", "for_run", None)
    assert covered.action_hash != first.action_hash
    # Each call delivered once: two requests, two different idempotency keys, each accepted once.
    assert [request.path for request in http_receiver.requests] == ["/signed", "/signed"]
    assert sorted(http_receiver.accepted_keys().values()) == [1, 1]
    assert [request.json() for request in http_receiver.accepted] == [{"n": 0}, {"n": 1}]
