"""`starter eval`: each selected closed run is re-run as a fork from its first model step, with the
candidate model (and system prompt) in eval mode, a few cases at a time; each candidate is read back
from its history and scored against the original (starter/eval/scoring.py)."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowFailureError
from temporalio.service import RPCError

from common.contracts.evals import RecordedRun
from starter import api
from starter.eval.history import read_run
from starter.eval.report import EvalCaseReport, EvalReport, RunSide
from starter.eval.scoring import checks_of, differences
from starter.eval.select import DEFAULT_LIMIT, read_selected, select_ids
from starter.fork import start_fork

__all__ = ["DEFAULT_CASE_TIMEOUT_S", "DEFAULT_CONCURRENCY", "EvalOptions", "run_eval"]

DEFAULT_CONCURRENCY = 4  # cases running at once
DEFAULT_CASE_TIMEOUT_S = 600.0  # how long one candidate run may take before its case fails


@dataclass(frozen=True)
class EvalOptions:
    candidate_model: str
    query: str | None = None
    ids: tuple[str, ...] = ()
    limit: int = DEFAULT_LIMIT  # runs a query selects at most
    candidate_system: Path | None = None
    min_pass: float | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    case_timeout_s: float = DEFAULT_CASE_TIMEOUT_S


async def run_eval(client: Client, options: EvalOptions) -> EvalReport:
    """Selects the runs, runs every case (at most `concurrency` at once) and scores them. A problem
    with the selection or the candidate's options is `StarterError` before any case starts; a case
    that cannot run is a failed case with its reason."""
    system = _read_system(options.candidate_system)
    sources = await read_selected(
        client, await select_ids(client, query=options.query, ids=options.ids, limit=options.limit)
    )
    if system is not None:
        _check_system_field(sources)
    gate = asyncio.Semaphore(max(options.concurrency, 1))

    async def one(source: RecordedRun) -> EvalCaseReport:
        async with gate:
            return await _run_case(client, source, options, system)

    cases = list(await asyncio.gather(*(one(source) for source in sources)))
    return EvalReport.of(
        cases,
        candidate_model=options.candidate_model,
        candidate_system=str(options.candidate_system) if options.candidate_system else None,
        min_pass=options.min_pass,
    )


async def _run_case(
    client: Client, source: RecordedRun, options: EvalOptions, system: str | None
) -> EvalCaseReport:
    original = RunSide.of(source)
    fork_step = source.first_model_step()
    if fork_step is None:
        return EvalCaseReport(
            workflow_type=source.workflow_type,
            passed=False,
            original=original,
            error="the run has no model step",
        )
    try:
        candidate = await _candidate_run(client, source, fork_step, options, system)
    except (api.StarterError, RPCError, TimeoutError) as error:
        reason = f"the candidate run did not complete: {_one_line(error)}"
        return EvalCaseReport(
            workflow_type=source.workflow_type,
            fork_step=fork_step,
            passed=False,
            original=original,
            error=reason,
        )
    found = differences(source, candidate, checks_of(source.workflow_type))
    return EvalCaseReport(
        workflow_type=source.workflow_type,
        fork_step=fork_step,
        passed=not found,
        differences=found,
        original=original,
        candidate=RunSide.of(candidate),
    )


async def _candidate_run(
    client: Client, source: RecordedRun, fork_step: int, options: EvalOptions, system: str | None
) -> RecordedRun:
    # The fork checks that this code still replays the source up to the fork point, names its source
    # (memo, AiForkOf) and starts it on the source's task queue; the patch puts it in eval mode.
    patch: dict[str, Any] = {"eval_mode": True}
    if system is not None:
        patch["system"] = system
    handle, _ = await start_fork(
        client,
        f"{source.workflow_id}/{source.run_id}",
        fork_step,
        model=options.candidate_model,
        input_patch=json.dumps(patch),
        workflow_id=f"{source.workflow_id[:180]}-eval-{uuid.uuid4().hex[:8]}",
    )
    try:
        await asyncio.wait_for(handle.result(), options.case_timeout_s)
    except WorkflowFailureError:
        pass  # a failed candidate is scored like any other run (its outcome is "failed")
    except TimeoutError:
        await handle.terminate("starter eval: the case took longer than its timeout")
        raise TimeoutError(f"{handle.id} took longer than {options.case_timeout_s:g} s") from None
    return await read_run(client, handle.id)


def _read_system(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise api.StarterError(f"--candidate-system {path}: cannot read: {reason}") from None


def _check_system_field(sources: list[RecordedRun]) -> None:
    """`--candidate-system` replaces the input's `system`: every selected workflow must have one."""
    for source in sources:
        model = api.input_model_of(source.workflow_type)
        has_system = "system" in model.model_fields if model is not None else "system" in source.input
        if not has_system:
            raise api.StarterError(
                f"--candidate-system: {source.workflow_type}'s input has no `system` field "
                f"(run {source.workflow_id}); select runs of workflows that take one"
            )


def _one_line(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text.splitlines()[0][:300]
