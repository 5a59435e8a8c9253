"""Crash and restart: 20 runs (research and agent, each ending in a real delivery) on a worker process
that is SIGKILLed at random points and replaced, and a dev server that is killed and restarted on
its SQLite file mid-way. Every run completes, every delivery arrives once, no completed LLM step is
requested again, and an in-flight step is re-run at most once per crash.

Kill points are chosen by a seeded RNG (CHAOS_SEED to vary them) and fire on observed progress: the
n-th request at the local Anthropic server, the n-th accepted webhook, the n-th email, never on a timer.
The kill happens inside the receiving server's handler, before it answers: the worker dies with that
step in flight, which is the worst moment for it.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError

from activities.delivery.email import message_id_for
from bench.histories import run_chain
from common.converter import build_data_converter
from common.settings import try_load_settings
from tests.chaos.histories import (
    CompletedStep,
    completed_llm_steps,
    times_of,
    workflow_task_failures,
    workflow_task_spans,
)
from tests.chaos.processes import DevServer, WorkerProcess, clean_environment
from tests.fakes.anthropic_server import AnthropicServer
from tests.fakes.receivers import HttpReceiver, SmtpServer
from tests.fakes.scripted_server import RecordedRequest, Reply
from workflows.models import AgentInput, AgentResult, ApprovalDecision, ResearchInput, ResearchResult

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(300)]

CLOCK_SLACK_S = 0.05  # between a disruption's wall-clock stamp and a request's monotonic one
SEED = int(os.environ.get("CHAOS_SEED", "5"))
RESEARCH_RUNS = 10
AGENT_RUNS = 10
LLM_REQUESTS = RESEARCH_RUNS * 4 + AGENT_RUNS * 3  # plan + 2 subtopics + synthesis; 3 agent turns
LLM_KILLS = 4
APPROVER = "ops"
TASK_QUEUE = "chaos"
ALL_DONE_WITHIN_S = 200
# The runs' workflow task timeout: Temporal's default (10 s) unless CHAOS_TASK_TIMEOUT_S says otherwise
# (to measure the trade-off described in docs/operations.md).
TASK_TIMEOUT = (
    timedelta(seconds=float(os.environ["CHAOS_TASK_TIMEOUT_S"]))
    if "CHAOS_TASK_TIMEOUT_S" in os.environ
    else None
)
RECOVERY_GUARD_S = 15.0  # a loose regression guard; the measured figure is printed and documented


@dataclass
class Disruption:
    kind: str  # "worker" or "server"
    reason: str
    at: float  # time.time()


@dataclass
class Replacement:
    killed_at: float
    spawned_at: float
    ready_at: float


@dataclass
class Chaos:
    """Decides, from progress the receivers observe, when to kill; kills the worker on the spot."""

    rng: random.Random
    llm_thresholds: list[int]
    server_threshold: int
    webhook_threshold: int
    email_threshold: int
    on_disruption: Callable[[str, str], None]  # (kind, reason), called from receiver threads
    armed: bool = False
    worker: WorkerProcess | None = None
    server_restart_due: bool = False
    killed_message_ids: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def planned(cls, seed: int, on_disruption: Callable[[str, str], None]) -> Chaos:
        rng = random.Random(seed)
        # Spread over the first 80 % of the expected requests, at least 6 apart, so that each kill
        # meets a worker that has been running for a while.
        while True:
            points = sorted(rng.sample(range(6, int(LLM_REQUESTS * 0.8)), LLM_KILLS))
            if all(b - a >= 6 for a, b in itertools.pairwise(points)):
                break
        server = rng.randint(points[1] + 2, points[2] - 2)
        return cls(
            rng=rng,
            llm_thresholds=points,
            server_threshold=server,
            webhook_threshold=rng.randint(2, 6),
            email_threshold=rng.randint(2, 6),
            on_disruption=on_disruption,
        )

    def on_llm_request(self, count: int) -> None:
        with self._lock:
            if self.llm_thresholds and count >= self.llm_thresholds[0] and self._kill(f"llm request {count}"):
                self.llm_thresholds.pop(0)
            elif self.armed and not self.server_restart_due and count >= self.server_threshold > 0:
                self.server_threshold = 0
                self.server_restart_due = True
                self.armed = False
                self.on_disruption("server", f"after llm request {count}")

    def on_webhook_accepted(self, count: int) -> None:
        with self._lock:
            if 0 < self.webhook_threshold <= count and self._kill(f"webhook accepted {count}"):
                self.webhook_threshold = 0

    def on_email_accepted(self, count: int, message_id: str) -> None:
        with self._lock:
            if 0 < self.email_threshold <= count and self._kill(f"email accepted {count}"):
                self.email_threshold = 0
                self.killed_message_ids.append(message_id)

    def _kill(self, reason: str) -> bool:
        if not self.armed or self.worker is None or not self.worker.is_ready:
            return False  # a replacement is starting or the server restarts: the next event decides
        self.armed = False
        self.worker.kill()
        self.on_disruption("worker", reason)
        return True

    @property
    def pending(self) -> bool:
        return bool(self.llm_thresholds or self.webhook_threshold or self.email_threshold)


class ChaosAnthropicServer(AnthropicServer):
    def __init__(self, on_request: Callable[[int], None]) -> None:
        super().__init__()
        self._on_request = on_request

    async def answer(self, request: RecordedRequest, reply: Reply) -> Reply:
        self._on_request(len(self.requests))  # may SIGKILL the worker that sent this request
        return await super().answer(request, reply)


class ChaosHttpReceiver(HttpReceiver):
    def __init__(self, on_accepted: Callable[[int], None]) -> None:
        super().__init__()
        self._on_accepted = on_accepted

    def _handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> int | str:
        answered = super()._handle(method, path, headers, body)
        if answered == 200:
            self._on_accepted(len(self.accepted))  # processed; the sender dies before the answer
        return answered


class ChaosSmtpServer(SmtpServer):
    def __init__(self, on_accepted: Callable[[int, str], None]) -> None:
        super().__init__()
        self._on_accepted = on_accepted
        self.arrivals: list[tuple[str, float]] = []  # (Message-ID, time.time()) of every stored mail

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        if reply.startswith("250"):
            message_id = self.messages[-1].message_id
            self.arrivals.append((message_id, time.time()))
            # Stored; the sender dies before it reads the 250, so its ledger still says "pending".
            self._on_accepted(len(self.messages), message_id)
        return reply


@dataclass
class Run:
    handle: WorkflowHandle[Any, Any]
    kind: str  # "research" or "agent"
    channel: str  # "webhook" or "email"
    needs_approval: bool


def plan_runs(http_url: str) -> list[tuple[str, ResearchInput | AgentInput, str, bool]]:
    runs: list[tuple[str, ResearchInput | AgentInput, str, bool]] = []
    for i in range(RESEARCH_RUNS):
        webhook = i % 2 == 0
        approvers = [APPROVER] if i % 3 == 0 else []
        params: ResearchInput | AgentInput = ResearchInput(
            topic=f"lighthouse keeping, part {i}",
            max_subtopics=2,
            deliver_to=f"{http_url}/reports/{i}" if webhook else f"mailto:team{i}@example.com",
            approvers=approvers,
        )
        runs.append((f"chaos-research-{i}", params, "webhook" if webhook else "email", bool(approvers)))
    for i in range(AGENT_RUNS):
        webhook = i % 2 == 0
        goal = (
            f"Research lighthouse keepers and send a webhook to {http_url}/agent/{i}"
            if webhook
            else f"Research lighthouse keepers and send an email to crew{i}@example.com"
        )
        params = AgentInput(
            goal=goal,
            tools=["search_docs", "send_webhook" if webhook else "send_email"],
            approvers=[APPROVER],
            continue_as_new_after_iterations=1 if i % 3 == 1 else None,
        )
        runs.append((f"chaos-agent-{i}", params, "webhook" if webhook else "email", True))
    return runs


async def approve_when_pending(client: Client, stop: asyncio.Event) -> int:
    """The approver: sends the `approve` Update to every run whose AiPhase says it waits. Visibility
    needs no worker, so this keeps looking while workers die; a lost or refused Update is retried on
    the next look (the validator refuses repeats, so retrying is safe)."""
    approved: set[str] = set()
    in_flight: dict[str, asyncio.Task[None]] = {}

    async def send(workflow_id: str) -> None:
        handle = client.get_workflow_handle(workflow_id)
        decision = ApprovalDecision(approver=APPROVER, approved=True, comment="chaos test")
        try:
            await asyncio.wait_for(handle.execute_update("approve", decision), 20)
            approved.add(workflow_id)
        except Exception:
            pass  # refused (already decided, not pending yet), lost in a restart, or timed out

    while not stop.is_set():
        try:
            async for execution in client.list_workflows(
                "AiPhase = 'awaiting_approval' AND ExecutionStatus = 'Running'"
            ):
                task = in_flight.get(execution.id)
                if task is None or task.done():
                    in_flight[execution.id] = asyncio.create_task(send(execution.id))
        except RPCError:
            pass  # the server is restarting
        try:
            await asyncio.wait_for(stop.wait(), 0.1)
        except TimeoutError:
            pass
    for task in in_flight.values():
        task.cancel()
    return len(approved)


async def result_of(run: Run) -> Any:
    """The run's result, riding out the server restart (the long poll fails while it is down)."""
    while True:
        try:
            return await run.handle.result()
        except RPCError:
            await asyncio.sleep(0.2)


async def test_runs_survive_worker_kills_and_a_server_restart(tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    wall_minus_monotonic = time.time() - time.monotonic()
    disruptions: list[Disruption] = []
    wake = asyncio.Queue[str]()

    def on_disruption(kind: str, reason: str) -> None:
        disruptions.append(Disruption(kind, reason, time.time()))
        loop.call_soon_threadsafe(wake.put_nowait, kind)

    chaos = Chaos.planned(SEED, on_disruption)
    plan = (
        list(chaos.llm_thresholds),
        chaos.server_threshold,
        chaos.webhook_threshold,
        chaos.email_threshold,
    )
    llm = ChaosAnthropicServer(chaos.on_llm_request)
    http = ChaosHttpReceiver(chaos.on_webhook_accepted)
    smtp = ChaosSmtpServer(chaos.on_email_accepted)
    http.start()
    smtp.start()
    server = DevServer(tmp_path)
    # The worker's external payload store (on by default): the test reads results and requests back.
    payload_store = tmp_path / "payloads"
    converter = build_data_converter(
        try_load_settings(llm_provider="offline", payload_store_dir=payload_store, _env_file=None)
    )
    workers: list[WorkerProcess] = []
    replacements: list[Replacement] = []
    with llm:
        try:
            await server.start()
            env = clean_environment(
                {
                    "TEMPORAL_ADDRESS": server.address,
                    "TEMPORAL_TASK_QUEUE": TASK_QUEUE,
                    "TEMPORAL_CONNECT_TIMEOUT_S": "60",
                    "LLM_PROVIDER": "anthropic",
                    "ANTHROPIC_API_KEY": "test",
                    "ANTHROPIC_BASE_URL": llm.base_url,
                    "SMTP_HOST": smtp.host,
                    "SMTP_PORT": str(smtp.port),
                    "DEDUPE_LEDGER_PATH": str(tmp_path / "dedupe-ledger.sqlite3"),
                    "PAYLOAD_STORE_DIR": str(payload_store),
                    "WORKER_GRACEFUL_SHUTDOWN_S": "0",
                    # As shipped; to measure Temporal's default instead (docs/operations.md): 10.
                    "WORKER_STICKY_QUEUE_TIMEOUT_S": os.environ.get("CHAOS_STICKY_QUEUE_TIMEOUT_S", "5"),
                    "OTEL_SDK_DISABLED": "true",
                    "EGRESS_ALLOW_PRIVATE": "127.0.0.1",  # the webhook receiver is on loopback
                }
            )

            async def start_worker() -> WorkerProcess:
                worker = WorkerProcess(env, tmp_path)
                workers.append(worker)
                await worker.wait_ready()
                chaos.worker, chaos.armed = worker, True
                return worker

            await start_worker()
            client = await Client.connect(server.address, data_converter=converter)
            runs = [
                Run(
                    await client.start_workflow(
                        "AgentWorkflow" if isinstance(params, AgentInput) else "ResearchWorkflow",
                        params,
                        id=workflow_id,
                        task_queue=TASK_QUEUE,
                        result_type=AgentResult if isinstance(params, AgentInput) else ResearchResult,
                        task_timeout=TASK_TIMEOUT,
                    ),
                    "agent" if isinstance(params, AgentInput) else "research",
                    channel,
                    approval,
                )
                for workflow_id, params, channel, approval in plan_runs(http.url)
            ]

            async def chaos_monkey() -> None:
                """Replaces killed workers at once; restarts the dev server when it is due."""
                while True:
                    kind = await wake.get()
                    if kind == "worker":
                        dead = workers[-1]
                        await dead.wait_dead()
                        worker = await start_worker()
                        assert dead.killed_at is not None and worker.ready_at is not None
                        replacements.append(Replacement(dead.killed_at, worker.spawned_at, worker.ready_at))
                    else:
                        await server.crash()
                        await server.start()
                        chaos.server_restart_due, chaos.armed = False, True

            approver_stop = asyncio.Event()
            monkey = asyncio.create_task(chaos_monkey())
            approver = asyncio.create_task(approve_when_pending(client, approver_stop))
            started = time.monotonic()
            try:
                results = await asyncio.wait_for(
                    asyncio.gather(*(result_of(run) for run in runs)), ALL_DONE_WITHIN_S
                )
            finally:
                elapsed = time.monotonic() - started
                monkey.cancel()
                approver_stop.set()
                approvals = await approver

            histories = {
                run.handle.id: await run_chain(client, run.handle.id, run.handle.first_execution_run_id)
                for run in runs
            }
        finally:
            for worker in workers:
                await worker.stop()
            await server.stop()
            http.stop()
            smtp.stop()

    kills = [d for d in disruptions if d.kind == "worker"]
    restarts = [d for d in disruptions if d.kind == "server"]
    print(f"\nchaos seed {SEED}: plan llm={plan[0]} server={plan[1]} webhook={plan[2]} email={plan[3]}")
    print(
        f"{len(runs)} runs done in {elapsed:.1f} s; {len(kills)} worker kills, {len(restarts)} server restart(s)"
    )
    for d in disruptions:
        print(f"  {d.kind} disruption: {d.reason}")

    # -- every run completed ---------------------------------------------------------------------
    assert len(kills) >= 5 and len(restarts) == 1, disruptions
    assert all(r.outcome == "completed" for r in results), [r.outcome for r in results]
    for run, result in zip(runs, results, strict=True):  # each gate opened by one Update of the approver
        decisions = [result.approval] if run.kind == "research" and result.approval else []
        decisions += result.decisions if run.kind == "agent" else []
        assert [(d.approver, d.approved, d.via) for d in decisions] == (
            [(APPROVER, True, "update")] if run.needs_approval else []
        ), run.handle.id
    print(f"approvals: {approvals} Updates accepted by the approver's client")
    for workflow_id, chain in histories.items():
        for history in chain:  # a crash never surfaced as a nondeterminism / task failure
            assert workflow_task_failures(history) == [], (workflow_id, workflow_task_failures(history))
    assert any(len(chain) > 1 for chain in histories.values())  # continue-as-new runs were among them

    # -- every delivery arrived exactly once -------------------------------------------------------
    check_webhooks(runs, http)
    check_emails(runs, smtp, chaos.killed_message_ids, disruptions)

    # -- LLM requests against history --------------------------------------------------------------
    completed = [
        step
        for chain in histories.values()
        for h in chain
        for step in await completed_llm_steps(h, converter)
    ]
    check_llm_requests(llm.requests, completed, disruptions, wall_minus_monotonic)

    # -- recovery: replacement worker ready -> the next completed step -----------------------------
    report_recovery(replacements, histories, [d.at for d in disruptions])


def check_webhooks(runs: list[Run], http: HttpReceiver) -> None:
    accepted = http.accepted_keys()
    expected_research = {
        f"{r.handle.id}/{r.handle.first_execution_run_id}/deliver"
        for r in runs
        if r.kind == "research" and r.channel == "webhook"
    }
    agents = [r.handle.id for r in runs if r.kind == "agent" and r.channel == "webhook"]
    assert all(count == 1 for count in accepted.values())  # the receiver's own dedupe, by key
    assert expected_research <= set(accepted)
    for workflow_id in agents:  # one approved send_webhook per agent, under one stable key
        keys = [k for k in accepted if k and k.startswith(f"{workflow_id}/") and "/step-" in k]
        assert len(keys) == 1, (workflow_id, keys)
    # Nothing else arrived: a key that changed across a retry would show up here as an extra.
    assert len(accepted) == len(expected_research) + len(agents), accepted
    repeats = len(http.requests) - len(http.accepted)
    print(f"webhooks: {len(accepted)} delivered once each; {repeats} repeat(s) refused by key")


def check_emails(
    runs: list[Run], smtp: ChaosSmtpServer, killed_message_ids: list[str], disruptions: list[Disruption]
) -> None:
    by_message_id = Counter(mail.message_id for mail in smtp.messages)
    keys = {mail.message_id: mail.message["X-Idempotency-Key"] for mail in smtp.messages}
    research = [
        f"{r.handle.id}/{r.handle.first_execution_run_id}"
        for r in runs
        if r.kind == "research" and r.channel == "email"
    ]
    agents = [r.handle.id for r in runs if r.kind == "agent" and r.channel == "email"]
    expected_ids = {message_id_for(f"{chain}/deliver") for chain in research}
    assert expected_ids <= set(by_message_id)
    for workflow_id in agents:
        ids = [
            m for m, key in keys.items() if str(key).startswith(f"{workflow_id}/") and "/step-" in str(key)
        ]
        assert len(ids) == 1, (workflow_id, ids)
    assert len(by_message_id) == len(research) + len(agents), by_message_id
    # The one window the ledger cannot close (docs/operations.md): the server stored the mail and the
    # worker died before reading the 250 (or before the ledger recorded it). The resend carries the
    # same Message-ID, so a mail store keeps one. A second copy therefore needs a crash after the first
    # copy arrived: at most one resend per crash, none without one.
    crash_times = sorted(d.at for d in disruptions)
    for message_id in by_message_id:
        arrivals = sorted(t for m, t in smtp.arrivals if m == message_id)
        for previous, following in itertools.pairwise(arrivals):
            assert any(previous <= t <= following for t in crash_times), (message_id, arrivals, crash_times)
    for message_id in killed_message_ids:  # the kill aimed at the window produced the resend
        assert by_message_id[message_id] >= 2, message_id
    resent = {m: n for m, n in by_message_id.items() if n > 1}
    print(
        f"emails: {len(by_message_id)} Message-IDs; resent after a crash in the documented window: {resent}"
    )


def check_llm_requests(
    requests: list[RecordedRequest],
    completed: list[CompletedStep],
    disruptions: list[Disruption],
    wall_minus_monotonic: float,
) -> None:
    completed_at = {step.step: step.completed_at for step in completed}
    assert len(completed_at) == len(completed) == LLM_REQUESTS  # one completion per step
    by_step: dict[str, list[float]] = {}
    for request in requests:
        by_step.setdefault(request.step, []).append(request.received_at + wall_minus_monotonic)
    assert set(by_step) == set(completed_at)
    crash_times = sorted(d.at for d in disruptions)
    extra = 0
    retry_delays: list[float] = []
    for step, arrivals in by_step.items():
        # No request for a step after its completion is in history (replay never re-runs it).
        assert max(arrivals) <= completed_at[step] + 0.001, step
        # Each repeat follows a crash that happened after the previous request of the step: at most
        # one re-run per crash, and none without one.
        for previous, following in itertools.pairwise(arrivals):
            # A kill planned on a request's arrival is stamped (wall clock, when the kill starts) a
            # few ms before that request's own arrival time (monotonic, converted): clock slack.
            crashes = [t for t in crash_times if previous - CLOCK_SLACK_S <= t <= following]
            assert crashes, (step, arrivals, crash_times)
            retry_delays.append(following - crashes[0])
        extra += len(arrivals) - 1
    print(f"llm: {len(requests)} requests for {len(by_step)} steps; {extra} re-run(s) of in-flight steps")
    if retry_delays:
        print(
            f"  crash -> in-flight LLM step requested again: {min(retry_delays):.1f}-{max(retry_delays):.1f} s"
        )


def report_recovery(
    replacements: list[Replacement], histories: dict[str, list[Any]], disruption_times: list[float]
) -> None:
    """Per replacement worker: how long the runs that were waiting for a workflow task when it came up
    waited after that, and when the next step completed. A task that was waiting on the dead worker's
    sticky queue moves after the sticky timeout (1 s); one the dead worker had already taken waits out
    the workflow task timeout (10 s, Temporal's default)."""
    spans = [span for chain in histories.values() for h in chain for span in workflow_task_spans(h)]
    activity_done = sorted(
        t
        for chain in histories.values()
        for h in chain
        for t in times_of(h, EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED)
    )
    lines = []
    for r in replacements:
        # Until the next crash: a run still waiting then is counted for the replacement after it.
        until = min((t for t in disruption_times if t > r.ready_at), default=float("inf"))
        waits = [done - r.ready_at for scheduled, done in spans if scheduled < r.ready_at < done <= until]
        next_activity = next(t for t in activity_done if t >= r.ready_at) - r.ready_at
        lines.append(
            f"  kill -> replacement polling {r.ready_at - r.killed_at:.2f} s (process start {r.ready_at - r.spawned_at:.2f} s); "
            f"{len(waits)} run(s) waiting for a workflow task: {sum(w <= 2 for w in waits)} resumed within 2 s, "
            f"all within {max(waits, default=0):.2f} s; "
            f"next completed step {next_activity:.2f} s"
        )
        assert max(waits, default=0) < RECOVERY_GUARD_S
    print("recovery:\n" + "\n".join(lines))
