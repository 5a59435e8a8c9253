"""End to end in headless Chromium: the inbox served by uvicorn, the dev server, a worker, and a real
webhook receiver for the delivery."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page

from tests.inbox.conftest import PASSWORDS

pytestmark = pytest.mark.browser


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
