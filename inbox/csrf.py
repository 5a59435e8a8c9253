"""Cross-site request protection for every form POST.

Three layers, each enough on its own against a forged form on another site: the session cookie is
`SameSite=Lax` (not sent on cross-site POSTs), the form must carry the session's CSRF token, and the
browser's `Origin` header (sent on every POST by current browsers) must be this site.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from starlette.requests import Request

from inbox.auth import SESSION_CSRF

__all__ = ["CrossSiteRequest", "check_post", "csrf_token"]


class CrossSiteRequest(Exception):
    """A POST that did not come from this site's own forms."""


def csrf_token(request: Request) -> str:
    """The session's token (made on first use, also before sign-in for the sign-in form)."""
    token = request.session.get(SESSION_CSRF)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[SESSION_CSRF] = token
    return token


def _same_origin(request: Request, origin: str) -> bool:
    parts = urlsplit(origin)
    host = request.headers.get("host", "")
    return parts.scheme in ("http", "https") and bool(host) and parts.netloc.lower() == host.lower()


def check_post(request: Request, form_token: object) -> None:
    """Raise `CrossSiteRequest` unless the Origin is this site and the form's token is the session's."""
    origin = request.headers.get("origin")
    if origin is not None and not _same_origin(request, origin):
        raise CrossSiteRequest(f"the request came from {origin}, not from this site")
    if origin is None:
        referer = request.headers.get("referer")
        if referer is not None and not _same_origin(request, referer):
            raise CrossSiteRequest("the request came from another site")
    expected = request.session.get(SESSION_CSRF)
    if not isinstance(expected, str) or not isinstance(form_token, str):
        raise CrossSiteRequest("the form has no valid token; reload the page and try again")
    if not hmac.compare_digest(expected.encode(), form_token.encode()):
        raise CrossSiteRequest("the form's token does not match your session; reload the page and try again")
