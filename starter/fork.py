"""`python -m starter fork RUN_ID --from-step N [--model M] [--input-patch JSON] [--id NEW_ID] [--wait]`:
a new run of the source's workflow type, on its task queue, with its first run's input (a JSON merge
patch applied, `model` and `fork_from` set). The steps before N reuse the source's recorded results
(the worker reads them from Temporal; workflows/kit/fork.py); from N on the run is live.

Before anything starts, the source is replayed with this version's workflows: a source this code no
longer makes before step N, a step beyond the source's steps, an unknown run or a bad patch is one
line and nothing starts.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ValidationError
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.fork import read_source
from common.contracts.runs import ForkFrom
from common.run_summary import headline
from common.search_attributes import FORK_OF
from starter import api
from starter.validation import first_invalid, positive_int

__all__ = ["add_fork_parser", "merge_patch", "start_fork"]


def add_fork_parser(commands: Any) -> None:
    fork = commands.add_parser("fork", help="a new run of run ID from its step N, reusing steps 1..N-1")
    fork.add_argument("run", metavar="RUN_ID", help="a workflow id (its latest run) or WORKFLOW_ID/RUN_ID")
    fork.add_argument(
        "--from-step",
        dest="step",
        type=positive_int,
        required=True,
        metavar="N",
        help="the first live step, as status numbers it",
    )
    fork.add_argument("--model", help="the model from step N on (default: the source's)")
    fork.add_argument(
        "--input-patch", metavar="JSON", help="a JSON merge patch (RFC 7386) to the source's input"
    )
    fork.add_argument("--id", dest="workflow_id", help="the fork's workflow id (default: generated)")
    fork.add_argument(
        "--wait", action="store_true", help="print progress until the run ends, then the result"
    )


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: an object patch merges key by key (null removes a key), anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def _patch(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        patch = json.loads(text)
    except json.JSONDecodeError as error:
        raise api.StarterError(f"--input-patch is not JSON: {error.msg} at character {error.pos}") from None
    if not isinstance(patch, dict):
        raise api.StarterError("--input-patch must be a JSON object (a merge patch of the input)")
    return patch


async def start_fork(
    client: Client,
    run: str,
    step: int,
    *,
    model: str | None = None,
    input_patch: str | None = None,
    workflow_id: str | None = None,
) -> tuple[WorkflowHandle[Any, Any], ForkFrom]:
    """Checks the fork (the source replays with this code up to `step`) and starts it."""
    from worker.plugin import KIT_MODULES

    patch = _patch(input_patch)
    source_id, _, run_id = run.partition("/")
    try:
        described = await client.get_workflow_handle(source_id, run_id=run_id or None).describe()
    except RPCError as error:
        if error.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
            raise api.StarterError(f"no run {run} to fork") from None
        raise
    try:
        source = ForkFrom(workflow_id=source_id, run_id=described.run_id, step=step)
    except ValidationError as error:
        raise api.StarterError(first_invalid(error, "fork", lambda where: "--from-step")) from None
    try:
        read = await read_source(client, source, api.known_workflows(), KIT_MODULES)
    except ApplicationError as error:
        raise api.StarterError(error.message) from None
    started = read.histories[0].events[0].workflow_execution_started_event_attributes
    workflow_type = read.steps.workflow_type
    payloads = list(started.input.payloads)
    original = (await client.data_converter.decode(payloads[:1]))[0] if payloads else {}
    params: dict[str, Any] = merge_patch(original, patch)
    params["fork_from"] = source.model_dump()
    if model is not None:
        params["model"] = model
    typed = _typed(workflow_type, params)
    summary = api.input_summary(typed)
    subject = headline(summary, 80)
    title = f"Fork of {source.label()}"
    details = "\n".join([f"**{title}**", "", *(f"- {key}: {value}" for key, value in summary.items())])
    try:
        handle = await client.start_workflow(
            workflow_type,
            typed,
            id=workflow_id or api.new_workflow_id("fork"),
            task_queue=started.task_queue.name,
            static_summary=f"{title}: {subject}" if subject else title,
            static_details=details,
            memo={"input": summary, "started_by": "starter fork", "forked_from": source.model_dump()},
            search_attributes=TypedSearchAttributes([SearchAttributePair(FORK_OF, source.label())]),
        )
    except WorkflowAlreadyStartedError as error:
        raise api.StarterError(f"a workflow with id {error.workflow_id!r} is already running") from None
    return handle, source


def _typed(workflow_type: str, params: dict[str, Any]) -> BaseModel | dict[str, Any]:
    """The patched input, validated when this process knows the workflow (one line if invalid)."""
    model = api.input_model_of(workflow_type)
    if model is None:
        return params
    try:
        return model.model_validate(params)
    except ValidationError as error:
        raise api.StarterError(f"the patched input: {first_invalid(error, 'input')}") from None
