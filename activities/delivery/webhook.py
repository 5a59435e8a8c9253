"""Webhook delivery: one JSON POST with an `Idempotency-Key` header, over a shared connection pool.

The receiver does the deduplication (the usual `Idempotency-Key` contract): a retry of a POST it has
already processed either gets the first answer again (2xx) or a 409, and both count as delivered.

Hostile or broken receivers are bounded: one deadline covers the whole request (a body trickled a
byte at a time cannot hold the activity), an error body is read only up to a small cap after
decompression, a 2xx body is not read at all, and the client's egress policy refuses private
destinations at connect time. The URL's query string and credentials appear in no message.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import quote

import httpx

from activities.delivery.failures import destination_refused, rejected, unavailable
from common.egress import EgressRefused
from common.http_body import BodyError, read_capped
from common.redact import redact_url, scrub

__all__ = ["WebhookSender", "classify_status", "retry_after"]

IDEMPOTENCY_HEADER = "Idempotency-Key"
USER_AGENT = "ai-workflows-delivery/1"
ERROR_BODY_BYTES = 2048  # of an error answer, read for the message (decompressed size)

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

    def __init__(self, client: httpx.AsyncClient, timeout_s: float = 30.0):
        self._client = client
        self._timeout_s = timeout_s

    async def post(self, url: str, payload: dict[str, Any], idempotency_key: str) -> WebhookOutcome:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            IDEMPOTENCY_HEADER: header_value(idempotency_key),
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }
        shown = redact_url(url)  # every message below names the URL this way, and only this way
        try:
            async with asyncio.timeout(self._timeout_s):
                return await self._post(url, shown, body, headers)
        except TimeoutError:
            raise unavailable(f"webhook {shown}: no complete answer within {self._timeout_s:g} s") from None
        except EgressRefused as error:
            raise destination_refused(f"webhook {shown}: {scrub(str(error), url)}") from None
        except httpx.TransportError as error:
            # Includes a timeout after the request went out: the retry carries the same key, so a
            # receiver that did process it answers 409 or its stored response.
            detail = scrub(str(error), url)
            raise unavailable(f"webhook {shown}: {type(error).__name__}: {detail}") from None

    async def _post(self, url: str, shown: str, body: bytes, headers: dict[str, str]) -> WebhookOutcome:
        async with self._client.stream("POST", url, content=body, headers=headers) as response:
            verdict = classify_status(response.status_code)
            if verdict == "delivered":  # the body is not read: nothing in it changes the outcome
                return WebhookOutcome(response.status_code, duplicate=False)
            if verdict == "duplicate":
                return WebhookOutcome(response.status_code, duplicate=True)
            excerpt = scrub(await _excerpt(response), url)
        summary = f"webhook {shown} answered HTTP {response.status_code}{excerpt}"
        if verdict == "retry":
            raise unavailable(summary, retry_after(response.headers.get("retry-after")))
        raise rejected(summary)


async def _excerpt(response: httpx.Response, limit: int = 200) -> str:
    try:
        raw, _ = await read_capped(response, ERROR_BODY_BYTES)
    except BodyError as error:
        return f" ({error})"
    decoded = raw.decode(response.encoding or "utf-8", errors="replace")
    # One line of printable text: a hostile body's control characters do not reach logs or the UI.
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in decoded).split())
    if not text:
        return ""
    return ": " + (text if len(text) <= limit else text[: limit - 3] + "...")
