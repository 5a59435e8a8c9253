"""Redaction of URL secrets: a webhook URL's query string (often a token) and userinfo (credentials).

One place for it, used by every outbound HTTP path (messages, receipts, logs), so a new error path
cannot forget a case: `redact_url` for showing a URL, `scrub` for text that may quote one.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

if TYPE_CHECKING:  # import-light: delivery target parsing (run in workflow code) uses this module
    import httpx

__all__ = [
    "REDACTED",
    "RedactUrlsInLogs",
    "masked_url",
    "masked_urls_in",
    "redact_url",
    "scrub",
    "url_secrets",
]

REDACTED = "[redacted]"


def redact_url(url: str | httpx.URL) -> str:
    """`scheme://host[:port]/path`: no userinfo, query string or fragment."""
    text = str(url)
    try:
        parts = urlsplit(text)
    except ValueError:
        return "<unparsable URL>"
    if not parts.scheme or not parts.netloc:
        # Not a URL with an authority (`mailto:`, `file:`): nothing of this kind to hide.
        return text.split("?", 1)[0].split("#", 1)[0]
    host_and_port = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host_and_port}{parts.path}"


def masked_url(url: str) -> str:
    """An operator-given URL as people see it: query values and credentials replaced, because they
    may hold a token. The keys stay, so a reviewer still sees that there is a query."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        return url
    try:
        port = parts.port
    except ValueError:
        return "<unparsable URL>"
    host = parts.hostname or ""
    netloc = host if port is None else f"{host}:{port}"
    if parts.username or parts.password:
        netloc = f"***@{netloc}"
    query = urlencode([(key, "***") for key, _ in parse_qsl(parts.query, keep_blank_values=True)])
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def masked_urls_in(value: Any) -> Any:
    """`value` (JSON-like: dicts, lists, strings) with every URL string masked (`masked_url`)."""
    if isinstance(value, str):
        return masked_url(value) if "://" in value else value
    if isinstance(value, dict):
        return {key: masked_urls_in(item) for key, item in value.items()}
    if isinstance(value, list):
        return [masked_urls_in(item) for item in value]
    return value


def url_secrets(url: str | httpx.URL) -> list[str]:
    """The parts of `url` that must never be shown, raw and percent-decoded, longest first."""
    try:
        parts = urlsplit(str(url))
    except ValueError:
        return [str(url)]
    found: set[str] = set()
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    for secret in (parts.query, parts.fragment, userinfo, *userinfo.split(":")):
        if secret:
            found.update({secret, unquote(secret)})
    return sorted((secret for secret in found if secret), key=len, reverse=True)


def scrub(text: str, *urls: str | httpx.URL) -> str:
    """`text` with every secret part of `urls` replaced (for library messages that quote a URL)."""
    for url in urls:
        for secret in url_secrets(url):
            text = text.replace(secret, REDACTED)
    return text


class RedactUrlsInLogs(logging.Filter):
    """Rewrites URL arguments of log records (httpx logs every request with its full URL at INFO)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(_is_httpx_url(arg) for arg in record.args):
            record.args = tuple(redact_url(str(arg)) if _is_httpx_url(arg) else arg for arg in record.args)
        return True


def _is_httpx_url(value: object) -> bool:
    return type(value).__name__ == "URL" and type(value).__module__.startswith("httpx")
