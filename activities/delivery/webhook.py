"""Webhook delivery: one JSON POST with an `Idempotency-Key` header, over a shared connection pool.

The receiver does the deduplication (the usual `Idempotency-Key` contract): a retry of a POST it has
already processed either gets the first answer again (2xx) or a 409, and both count as delivered.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import quote

import httpx

from activities.delivery.failures import rejected, unavailable

IDEMPOTENCY_HEADER = "Idempotency-Key"
USER_AGENT = "ai-workflows-delivery/1"

Verdict = Literal["delivered", "duplicate", "retry", "rejected"]


@dataclass(frozen=True)
class WebhookOutcome:
    status: int
    duplicate: bool


def classify_status(status: int) -> Verdict:
    """What an HTTP status means for a POST that carries an idempotency key."""
    if 200 <= status < 300:
        return "delivered"
    if status == 409:  # "already processed this key": the receiver has it, which is what we want
        return "duplicate"
    if status in (408, 429) or status >= 500:
        return "retry"
    # Other 4xx (and 1xx/3xx: redirects are not followed for a POST) will not change on a retry.
    return "rejected"


def retry_after(value: str | None, now: datetime | None = None) -> timedelta | None:
    """`Retry-After` as seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(timedelta(0), when - (now or datetime.now(UTC)))


def header_value(key: str) -> str:
    """HTTP header values are ASCII; a key with other characters is percent-encoded (stable too)."""
    return key if key.isascii() else quote(key, safe="!#$&'()*+,/:;=?@[]~")


class WebhookSender:
    """Posts JSON with an idempotency key; raises typed errors the retry policy understands."""

    def __init__(self, client: httpx.AsyncClient):
        self._client = client

    async def post(self, url: str, payload: dict[str, Any], idempotency_key: str) -> WebhookOutcome:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            IDEMPOTENCY_HEADER: header_value(idempotency_key),
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except httpx.TransportError as error:
            # Includes a timeout after the request went out: the retry carries the same key, so a
            # receiver that did process it answers 409 or its stored response.
            raise unavailable(f"webhook {url}: {type(error).__name__}: {error}") from None
        verdict = classify_status(response.status_code)
        if verdict == "delivered":
            return WebhookOutcome(response.status_code, duplicate=False)
        if verdict == "duplicate":
            return WebhookOutcome(response.status_code, duplicate=True)
        summary = f"webhook {url} answered HTTP {response.status_code}{_excerpt(response)}"
        if verdict == "retry":
            raise unavailable(summary, retry_after(response.headers.get("retry-after")))
        raise rejected(summary)


def _excerpt(response: httpx.Response, limit: int = 200) -> str:
    text = " ".join(response.text.split())
    if not text:
        return ""
    return ": " + (text if len(text) <= limit else text[: limit - 3] + "...")
