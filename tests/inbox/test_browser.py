"""End to end in headless Chromium: the inbox served by uvicorn, the dev server, a worker, and a real
webhook receiver for the delivery."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect
from temporalio.client import Client, WorkflowExecutionStatus

from common.settings import Settings
from inbox.runs import AWAITING_APPROVAL
from tests.fakes.receivers import HttpReceiver
from tests.inbox.conftest import PASSWORDS
from tests.inbox.pending import TOPIC, start_pending_research
from worker.app import build_worker
from workflows.models import ApprovalDecision, WorkflowStatus

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
            await expect(row.locator("td.action pre")).to_have_text(pending.action)  # in full
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
            await expect(page.locator("[data-testid=action]")).to_contain_text(http_receiver.url)
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
