"""`approval.notify_escalation`: tells someone that an approval passed its deadline undecided.

Always a warning in the worker log; when `APPROVAL_ESCALATION_URL` is set, also a JSON POST there
(a chat webhook, a pager, the inbox). The notice holds the action text and the approvers, never a
secret. A failed POST raises, so the workflow's NOTIFY retry policy repeats it; the workflow then
applies its policy either way. The POST goes through the egress policy like every outbound request
(an internal receiver must be named in EGRESS_ALLOW_PRIVATE), and the URL's secrets (query, userinfo)
appear in no message.
"""

from __future__ import annotations

import logging

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from common.contracts.runs import EscalationNotice
from common.egress import EgressPolicy, EgressRefused, egress_client, parse_allow_private
from common.redact import redact_url, scrub
from common.settings import Settings

__all__ = ["ApprovalNotifier"]

logger = logging.getLogger(__name__)
NOTIFY_TIMEOUT_S = 10.0


class ApprovalNotifier:
    """Built once per worker: the escalation URL and a pooled HTTP client."""

    def __init__(
        self, url: str | None, client: httpx.AsyncClient | None = None, policy: EgressPolicy | None = None
    ) -> None:
        self._url = url
        self._client = client
        self._policy = policy or parse_allow_private("")

    @classmethod
    def from_settings(cls, settings: Settings) -> ApprovalNotifier:
        return cls(
            settings.approval_escalation_url, policy=parse_allow_private(settings.egress_allow_private)
        )

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = egress_client(self._policy, timeout=httpx.Timeout(NOTIFY_TIMEOUT_S))
        return self._client

    @activity.defn(name="approval.notify_escalation")
    async def notify_escalation(self, notice: EscalationNotice) -> None:
        logger.warning(
            "approval escalated: workflow %s (%s) passed its deadline %s undecided; approvers %s; "
            "policy %r applies; action: %s",
            notice.workflow_id,
            notice.workflow_type,
            notice.deadline.isoformat(),
            ", ".join(notice.approvers),
            notice.policy,
            notice.action[:200],
        )
        if not self._url:
            return
        info = activity.info()
        try:
            response = await self._http().post(
                self._url,
                json={"event": "approval_escalated", **notice.model_dump(mode="json")},
                # One notice per workflow and deadline, whatever the retries: receivers can dedupe.
                headers={"Idempotency-Key": f"{notice.workflow_id}/escalation/{notice.action_hash[:16]}"},
            )
        except EgressRefused as error:
            raise ApplicationError(
                f"escalation webhook {redact_url(self._url)} refused by the egress policy: {error}",
                type="DestinationRefused",
                non_retryable=True,
            ) from None
        except httpx.HTTPError as error:
            raise ApplicationError(
                f"escalation webhook {redact_url(self._url)} unreachable: {scrub(str(error), self._url)}"
            ) from None
        if response.status_code >= 500 or response.status_code == 429:
            raise ApplicationError(f"escalation webhook answered {response.status_code}, will retry")
        if response.status_code >= 400:
            raise ApplicationError(
                f"escalation webhook refused the notice: HTTP {response.status_code}",
                type="EscalationRefused",
                non_retryable=True,
            )
        logger.info("escalation notice for %s delivered (attempt %d)", notice.workflow_id, info.attempt)
