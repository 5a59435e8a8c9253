"""A workflow id reused after its run finished is a new run: its report is delivered again. The
idempotency key names the run chain (`{workflow_id}/{first run id}/deliver`): stable across retries,
resets and continue-as-new, new for a new run under the same id. (Before, both runs used
`{workflow_id}/deliver` and the second mail was skipped as a duplicate.)"""

from __future__ import annotations

from temporalio.client import Client

from activities.delivery.email import message_id_for
from common.settings import Settings
from tests.fakes.receivers import SmtpServer
from worker.app import build_worker
from workflows.models import ResearchInput, ResearchResult
from workflows.research import ResearchWorkflow


async def test_a_reused_workflow_id_delivers_its_own_report(
    dev_client: Client, delivery_settings: Settings, smtp_server: SmtpServer
) -> None:
    params = ResearchInput(topic="tide pools", max_subtopics=1, deliver_to="mailto:team@example.com")
    workflow_id = f"reused-{delivery_settings.temporal_task_queue}"
    runs: list[tuple[str, ResearchResult]] = []
    async with build_worker(dev_client, delivery_settings):
        for _ in range(2):
            handle = await dev_client.start_workflow(
                ResearchWorkflow.run, params, id=workflow_id, task_queue=delivery_settings.temporal_task_queue
            )
            runs.append((handle.first_execution_run_id or "", await handle.result()))
    assert [result.outcome for _, result in runs] == ["completed", "completed"]
    assert [result.delivery and result.delivery.duplicate for _, result in runs] == [False, False]
    expected = [message_id_for(f"{workflow_id}/{run_id}/deliver") for run_id, _ in runs]
    assert [mail.message_id for mail in smtp_server.messages] == expected
