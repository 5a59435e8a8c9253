"""An answer with approvers and a delivery target: the reviewer sees the question, the outcome and
the answer with its citations in full; once approved it is delivered once (the kit's
approve-and-deliver, shared with research); rejected, nothing is delivered."""

from __future__ import annotations

from pathlib import Path

from temporalio.client import Client

from common.settings import Settings
from starter import api
from tests.answer.support import ANSWER_SENTENCE, start_answer
from tests.workflow.support import pending_approval


async def test_an_approved_answer_is_delivered_with_its_citations(
    ts_client: Client, corpus_worker: Settings, tmp_path: Path
) -> None:
    handle = await start_answer(ts_client, corpus_worker, approvers=["ana"], deliver_to="file:answers")
    status = await pending_approval(handle)
    pending = status.pending_approval
    assert pending is not None and pending.proposed is not None
    await api.approve(ts_client, handle.id, "ana", "cited well", action_hash=pending.action_hash)
    result = await handle.result()

    fields = {f.name: f for f in pending.proposed.fields}
    assert fields["deliver_to"].target and fields["outcome"].value == "grounded"
    assert f'[1] tides.md (tides.md#0): "{ANSWER_SENTENCE}"' in fields["report"].value
    assert result.outcome == "grounded" and result.delivery_outcome == "completed"
    assert result.approval is not None and result.approval.approver == "ana"
    assert result.delivery is not None and result.delivery.channel == "file"
    [written] = list((tmp_path / "answers").iterdir())
    assert ANSWER_SENTENCE in written.read_text()
    assert [s.step for s in result.steps][-1] == "deliver"


async def test_a_rejected_answer_is_not_delivered(
    ts_client: Client, corpus_worker: Settings, tmp_path: Path
) -> None:
    handle = await start_answer(ts_client, corpus_worker, approvers=["ana"], deliver_to="file:answers")
    await pending_approval(handle)
    await api.reject(ts_client, handle.id, "ana", "not this one")
    result = await handle.result()
    assert (result.outcome, result.delivery_outcome, result.delivery) == ("grounded", "rejected", None)
    assert not (tmp_path / "answers").exists()
