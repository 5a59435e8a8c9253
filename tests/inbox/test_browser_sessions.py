"""A session's conversation page end to end in headless Chromium: the inbox served by uvicorn, the dev
server, the product's worker running SessionWorkflow on a scripted model. alice opens the session
from the list, sends a message and sees the reply arrive without the page reloading, steers a
running turn, interrupts another, and approves a webhook call inline; the workflow records her
decision on the action hash the page showed."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect
from temporalio.client import Client, WorkflowExecutionStatus

from common.settings import Settings
from tests.inbox.test_browser import sign_in, update_inputs
from tests.workflow.doubles import Recorder
from tests.workflow.support import worker_with
from workflows.kit import SessionInput, WorkflowStatus
from workflows.kit.testing import ScriptedModel
from workflows.session import SessionWorkflow

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

WEBHOOK = {"url": "https://hooks.example/pay", "payload": {"invoice": "INV-7", "amount": 120}}
RULES: list[dict[str, Any]] = [
    {"match": {"contains": "HTTP 200"}, "reply": {"text": "Paid: the webhook answered HTTP 200."}},
    {
        "match": {"contains": "pay the invoice"},
        "reply": {"tool_calls": [{"name": "send_webhook", "input": WEBHOOK}]},
    },
    {"match": {"contains": "weather"}, "reply": {"text": "Sunny, 21 degrees."}},
    {"match": {"contains": "write slowly"}, "reply": {"text": "A slow first draft.", "delay_s": 3}},
    {"match": {"contains": "in French"}, "reply": {"text": "Voilà, en français."}},
    # An interrupting message joins the cut-off one (the conversation's last user message): first.
    {"match": {"contains": "stop"}, "reply": {"text": "Stopped."}},
    {"match": {"contains": "write an essay"}, "reply": {"text": "never finished", "delay_s": 60}},
]
SLOW = 20_000  # ms: a turn on a loaded machine (the feed reads every 0.5 s)


async def say(page: Page, text: str, mode: str = "queue") -> None:
    """Types a message and sends it with the page's form, then waits for the outcome it shows."""
    await page.select_option("[data-testid=mode-select]", mode)
    await page.fill("form.message textarea[name=text]", text)
    await page.click("form.message button[type=submit]")
    await expect(page.locator("[data-testid=send-feedback]")).to_contain_text(f"({mode})")
    await expect(page.locator("form.message textarea[name=text]")).to_have_value("")


def entry(page: Page, role: str, text: str) -> Any:
    return page.locator(f'#transcript li[data-role="{role}"]', has_text=text)


async def test_a_reviewer_talks_steers_interrupts_and_approves_inline_without_reloading(
    browser: Browser, inbox_url: str, dev_client: Client, settings: Settings
) -> None:
    model, recorder = ScriptedModel(RULES), Recorder()
    async with worker_with(dev_client, settings, [model.activity, *recorder.activities()]):
        handle = await dev_client.start_workflow(
            SessionWorkflow.run,
            SessionInput(tools=["send_webhook"], approvers=["alice"]),
            id=f"session-{uuid.uuid4().hex[:8]}",
            task_queue=settings.temporal_task_queue,
        )
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        try:
            page = await context.new_page()
            await sign_in(page, inbox_url, "alice")
            await page.goto(f"{inbox_url}/sessions")
            await page.click(f'a[href="/sessions/{handle.id}"]')
            await expect(page.locator("h1")).to_have_text(handle.id)
            # A mark on this document: still there at the end means the page never reloaded.
            await page.evaluate("window.sameDocument = true")

            # A message typed and sent; it shows with alice as sender, then the reply arrives.
            await say(page, "what is the <weather>?")
            sent = entry(page, "user", "what is the <weather>?")
            await expect(sent.locator(".who")).to_have_text("alice")
            await expect(entry(page, "assistant", "Sunny, 21 degrees.")).to_be_visible(timeout=SLOW)

            # Steer: the message joins the running turn, whose next step answers it.
            await say(page, "write slowly")
            await expect(page.locator("[data-testid=phase]")).to_have_text("thinking", timeout=SLOW)
            await say(page, "in French", mode="steer")
            steered = entry(page, "user", "in French")
            await expect(steered.locator("[data-testid=mode]")).to_have_text("steer")
            await expect(entry(page, "assistant", "Voilà, en français.")).to_be_visible(timeout=SLOW)

            # Interrupt: the running turn stops, the message starts the next one.
            await say(page, "write an essay")
            await expect(page.locator("[data-testid=phase]")).to_have_text("thinking", timeout=SLOW)
            await say(page, "stop", mode="interrupt")
            await expect(entry(page, "user", "stop").locator("[data-testid=mode]")).to_have_text("interrupt")
            await expect(page.locator("[data-testid=turn-outcome]", has_text="interrupted")).to_be_visible(
                timeout=SLOW
            )
            await expect(entry(page, "assistant", "Stopped.")).to_be_visible(timeout=SLOW)
            await expect(page.locator("#transcript")).not_to_contain_text("never finished")
            assert await page.evaluate("window.sameDocument") is True

            # The turn's tool call waits for approval: the whole action shows inline, live.
            await say(page, "pay the invoice")
            approval = page.locator("[data-testid=pending-approval]")
            await expect(approval).to_be_visible(timeout=SLOW)
            await expect(approval.locator("[data-testid=action-title]")).to_contain_text("send_webhook")
            await expect(approval.locator('dd[data-field="url"] pre')).to_have_text(WEBHOOK["url"])
            shown_hash = await approval.locator("[data-testid=action-hash]").inner_text()
            status = await handle.query("status", result_type=WorkflowStatus)
            assert status.pending_approval is not None and status.pending_approval.action_hash == shown_hash

            await approval.locator("button.approve").click()
            await expect(page.locator("[data-testid=flash]")).to_contain_text("Approved as alice")
            assert page.url == f"{inbox_url}/sessions/{handle.id}"  # back on the conversation
            await expect(entry(page, "assistant", "Paid: the webhook answered HTTP 200.")).to_be_visible(
                timeout=SLOW
            )
            await expect(page.locator("[data-testid=pending-approval]")).to_have_count(0)
            status = await handle.query("status", result_type=WorkflowStatus)
        finally:
            await context.close()
            if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                await handle.terminate("the test is over")
    [decision] = status.decisions
    assert (decision.approver, decision.approved, decision.via) == ("alice", True, "update")
    [received] = await update_inputs(dev_client, handle.id)
    assert (received.approver, received.action_hash) == ("alice", shown_hash)
    [(tool, request)] = recorder.side_effects
    assert (tool, request.arguments["url"]) == ("send_webhook", WEBHOOK["url"])
