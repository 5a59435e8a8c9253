"""What every page handler of the inbox shares: the signed-in guard and rendering a template (with
the reviewer and the form token every page's forms need)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from inbox.auth import signed_in_reviewer
from inbox.csrf import csrf_token

__all__ = ["Handler", "error_page", "render", "render_fragment", "reviewer_only"]

Handler = Callable[[Request], Awaitable[Response]]


def reviewer_only(handler: Callable[[Request, str], Awaitable[Response]]) -> Handler:
    """Pages for signed-in reviewers: a GET without a session goes to the sign-in page, any other
    request without one is refused."""

    async def guarded(request: Request) -> Response:
        reviewer = signed_in_reviewer(request)
        if reviewer is None:
            if request.method == "GET":
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
            return error_page(request, 403, "Sign in first.")
        return await handler(request, reviewer)

    return guarded


def _templates(request: Request) -> Jinja2Templates:
    templates: Jinja2Templates = request.app.state.templates
    return templates


def _base_context(request: Request) -> dict[str, Any]:
    return {"reviewer": signed_in_reviewer(request), "csrf_token": csrf_token(request)}


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    return _templates(request).TemplateResponse(
        request, name, {**_base_context(request), **context}, status_code=status_code
    )


def render_fragment(request: Request, name: str, context: dict[str, Any]) -> str:
    """A template's HTML (escaped like every page) for a piece of a page sent as it changes."""
    return _templates(request).get_template(name).render({**_base_context(request), **context})


def error_page(request: Request, status_code: int, message: str) -> Response:
    return render(request, "error.html", {"message": message}, status_code=status_code)
