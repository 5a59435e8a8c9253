"""`starter eval export`: the selected closed runs as regression cases, one `RecordedRun` JSON object
per line (its workflow type, input, result, steps, and every model reply and tool observation as
recorded), which the testing kit replays (`workflows.kit.testing.eval_cases`, `ScriptedModel.from_case`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from temporalio.client import Client

from common.contracts.evals import RecordedRun
from common.redact import masked_url
from starter.eval.select import DEFAULT_LIMIT, read_selected, select_ids

__all__ = ["export_cases"]


async def export_cases(
    client: Client, out: Path, *, query: str | None, ids: Sequence[str] | None, limit: int = DEFAULT_LIMIT
) -> int:
    """Writes the cases to `out` (replaced whole, its folder made when missing); how many."""
    runs = await read_selected(client, await select_ids(client, query=query, ids=ids, limit=limit))
    out.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(_kept(run).model_dump_json() + "\n" for run in runs)
    partial = out.with_name(out.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(out)  # a reader never sees half a file
    return len(runs)


def _kept(run: RecordedRun) -> RecordedRun:
    """The case as it is kept: a delivery target's query values and credentials masked (a webhook
    URL often carries its token there), as the memo, the Web UI and approvals show it. A replay runs
    in eval mode: it never delivers, so the masked target serves it as well."""
    target = run.input.get("deliver_to")
    if not isinstance(target, str):
        return run
    return run.model_copy(update={"input": {**run.input, "deliver_to": masked_url(target)}})
