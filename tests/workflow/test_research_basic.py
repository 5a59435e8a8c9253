from temporalio.client import Client

from common.settings import Settings
from starter import api
from worker.app import build_worker
from workflows.models import ResearchInput


async def test_research_completes_on_offline_model(
    ts_client: Client, settings: Settings, task_queue: str
) -> None:
    async with build_worker(ts_client, settings):
        handle = await api.start_research(
            ts_client, ResearchInput(topic="tide pools", max_subtopics=3), task_queue=task_queue
        )
        result = await handle.result()
    assert len(result.subtopics) == 3
    assert all("tide pools" in s for s in result.subtopics)
    assert "[offline model]" in result.report
    steps = [s.step for s in result.steps]
    assert steps[0] == "plan" and steps[-1] == "synthesize"
    assert sorted(steps[1:-1]) == ["research 1", "research 2", "research 3"]
    assert abs(result.cost_usd - sum(s.cost_usd for s in result.steps)) < 1e-12
    assert result.cost_usd > 0
