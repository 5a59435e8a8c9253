"""`python -m starter mcp` over stdio, as a desktop client launches it, with the official Python
client: the tools it lists, a cited answer with progress, a run started then fetched, bad inputs as
tool errors, and a research run that outlives the client that started it."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
from mcp_types import ToolAnnotations
from temporalio.client import WorkflowExecutionStatus

from starter import api
from tests.answer.support import ANSWER_SENTENCE, ANSWER_SOURCE, QUESTION
from tests.mcp_server.support import (
    APPROVER,
    Product,
    ProgressSeen,
    error_text,
    payload,
    stdio_client,
)
from tests.starter.cli import run_cli
from tests.starter.runs import pending_approval
from workflows.answer import AnswerInput
from workflows.models import AgentInput, ResearchInput

pytestmark = pytest.mark.timeout(300)

TOOLS = {
    "ask",
    "research",
    "agent",
    "start_run",
    "run_status",
    "run_result",
    "pending_approvals",
    "session_send",
    "session_transcript",
}
READ_ONLY = {"run_status", "run_result", "pending_approvals", "session_transcript"}


async def test_lists_tools_with_annotations_and_the_workflows_schemas(product: Product) -> None:
    async with stdio_client(product.env) as client:
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
        templates = (await client.list_resource_templates()).resource_templates
    # No approve / reject: this server was given no approver's key.
    assert set(listed) == TOOLS
    for name, tool in listed.items():
        annotations = tool.annotations
        assert isinstance(annotations, ToolAnnotations)
        assert annotations.read_only_hint is (name in READ_ONLY), name
        assert annotations.destructive_hint is False, name
    # The arguments are the workflows' own fields: their bounds, defaults and required ones.
    ask = listed["ask"].input_schema
    assert ask["required"] == ["question"] and set(ask["properties"]) == {"question", "corpus", "top_k"}
    top_k = AnswerInput.model_json_schema()["properties"]["top_k"]
    assert {key: ask["properties"]["top_k"][key] for key in ("default", "minimum", "maximum")} == {
        key: top_k[key] for key in ("default", "minimum", "maximum")
    }
    assert (
        ask["properties"]["corpus"]["pattern"]
        == AnswerInput.model_json_schema()["properties"]["corpus"]["pattern"]
    )
    research = listed["research"].input_schema["properties"]
    assert (
        research["max_subtopics"]["maximum"]
        == ResearchInput.model_json_schema()["properties"]["max_subtopics"]["maximum"]
    )
    assert research["depth"]["enum"] == ["quick", "deep"] and research["wait_s"]["default"] == 60
    agent = listed["agent"].input_schema
    assert agent["required"] == ["goal"]
    assert (
        agent["properties"]["max_iterations"]["default"] == AgentInput.model_fields["max_iterations"].default
    )
    assert listed["session_send"].input_schema["properties"]["mode"]["enum"] == [
        "queue",
        "steer",
        "interrupt",
    ]
    assert sorted(template.uri_template for template in templates) == [
        "run://{workflow_id}",
        "run://{workflow_id}/result",
    ]


async def test_ask_answers_from_the_corpus_with_citations_and_progress(product: Product) -> None:
    seen = ProgressSeen()
    async with stdio_client(product.env) as client:
        result = await client.call_tool(
            "ask", {"question": QUESTION, "corpus": product.corpus, "top_k": 3}, progress_callback=seen
        )
    answered = payload(result)
    assert answered["outcome"] == "grounded", answered
    assert ANSWER_SENTENCE in answered["answer"]
    assert {"source": ANSWER_SOURCE, "passage_id": f"{ANSWER_SOURCE}#0", "quote": ANSWER_SENTENCE} in [
        {key: citation[key] for key in ("source", "passage_id", "quote")}
        for citation in answered["citations"]
    ]
    # Progress came from the run's own steps, numbered in order, ending with the run's end.
    assert any(message.startswith("done: retrieve [retrieval]") for message in seen.messages), seen.messages
    assert any(message.startswith("done: generate [llm offline-model]") for message in seen.messages)
    assert seen.messages[-1] == "run ended: completed"
    assert [progress for progress, _, _ in seen.notes] == list(range(1, len(seen.notes) + 1))
    described = await product.client.get_workflow_handle(answered["workflow_id"]).describe()
    assert described.workflow_type == "AnswerWorkflow"


async def test_start_run_then_run_result_status_and_resources(product: Product) -> None:
    async with stdio_client(product.env) as client:
        started = payload(
            await client.call_tool(
                "start_run",
                {
                    "workflow_type": "AnswerWorkflow",
                    "input": {"question": QUESTION, "corpus": product.corpus},
                },
            )
        )
        workflow_id = started["workflow_id"]
        seen = ProgressSeen()
        fetched = payload(
            await client.call_tool(
                "run_result", {"workflow_id": workflow_id, "wait_s": 120}, progress_callback=seen
            )
        )
        status = payload(await client.call_tool("run_status", {"workflow_id": workflow_id}))
        status_resource = await client.read_resource(f"run://{workflow_id}")
        result_resource = await client.read_resource(f"run://{workflow_id}/result")

    assert started == {"workflow_id": workflow_id, "workflow_type": "AnswerWorkflow"}
    assert fetched["done"] is True and fetched["execution_status"] == "completed"
    assert fetched["result"]["outcome"] == "grounded" and fetched["result"]["question"] == QUESTION
    assert status["execution_status"] == "completed" and status["status"]["phase"] == "completed"
    assert status["status"]["outcome"] == "grounded"
    assert status["status"]["completed_steps"][0]["step"] == "retrieve"
    assert json.loads(status_resource.contents[0].text) == status  # type: ignore[union-attr]
    assert json.loads(result_resource.contents[0].text) == fetched  # type: ignore[union-attr]


async def test_bad_inputs_are_tool_errors_with_one_line_reasons(product: Product) -> None:
    unknown = f"mcp-nope-{uuid.uuid4().hex[:6]}"
    async with stdio_client(product.env) as client:
        calls = [
            (
                ("ask", {"question": QUESTION, "top_k": 100}),
                "invalid top_k: Input should be less than or equal to 50",
            ),
            (("ask", {"question": "   "}), "invalid question: must not be blank"),
            (("ask", {}), "invalid question: Field required"),
            (
                ("start_run", {"workflow_type": "NoSuchWorkflow"}),
                "unknown workflow type 'NoSuchWorkflow' (known: ",
            ),
            (
                ("start_run", {"workflow_type": "AnswerWorkflow", "input": {"top_k": 3}}),
                "invalid question: Field required",
            ),
            (
                ("agent", {"goal": "x", "tools": ["no_such_tool"], "wait_s": 0}),
                "invalid input: ",
            ),
            (("run_status", {"workflow_id": unknown}), f"no workflow with id {unknown!r}"),
            (("run_result", {"workflow_id": unknown, "wait_s": 1}), f"no workflow with id {unknown!r}"),
            (("session_send", {"workflow_id": unknown, "text": "hello"}), f"no workflow with id {unknown!r}"),
            (
                ("research", {"topic": "kelp", "wait_s": 601}),
                "invalid wait_s: Input should be less than or equal to 600",
            ),
        ]
        results = [
            (await client.call_tool(name, arguments), expected) for (name, arguments), expected in calls
        ]
        # The server is still there, and still serving.
        still = await client.list_tools()

    for result, expected in results:
        assert result.is_error is True, (expected, result)
        text = error_text(result)
        assert text.startswith(expected) and "\n" not in text, text
    assert len(still.tools) == len(TOOLS)


async def test_a_research_run_outlives_its_client_and_a_new_client_fetches_it(product: Product) -> None:
    """The first client starts a research run that waits for ana's approval and goes away while the
    call waits; a second client (a server with ana's key) finds it in the pending approvals,
    approves it signed, and fetches the report."""
    seen = ProgressSeen()
    topic = f"tide pools {uuid.uuid4().hex[:6]}"

    async def first_client() -> None:
        async with stdio_client(product.env) as client:
            await client.call_tool(
                "research",
                {"topic": topic, "max_subtopics": 2, "approvers": [APPROVER], "wait_s": 300},
                progress_callback=seen,
            )

    calling = asyncio.create_task(first_client())
    await seen.until("phase: awaiting_approval")
    calling.cancel()  # the client disconnects mid-call: its server process is gone with it
    with pytest.raises(asyncio.CancelledError):
        await calling

    async with stdio_client(product.approver_env()) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        pending = payload(await client.call_tool("pending_approvals", {}))
        # Other tests' runs may wait too (one dev server): ours is the one about this topic.
        ours = [run for run in pending["runs"] if topic in run["status"]["pending_approval"]["action"]]
        assert len(ours) == 1, pending
        workflow_id = ours[0]["workflow_id"]
        described = await product.client.get_workflow_handle(workflow_id).describe()
        assert described.status == WorkflowExecutionStatus.RUNNING  # nobody cancelled the run
        waiting = ours[0]["status"]["pending_approval"]
        approved = payload(
            await client.call_tool(
                "approve",
                {"workflow_id": workflow_id, "comment": "via MCP", "action_hash": waiting["action_hash"]},
            )
        )
        fetched = payload(await client.call_tool("run_result", {"workflow_id": workflow_id, "wait_s": 120}))

    assert names == TOOLS | {"approve", "reject"}
    assert ours[0]["workflow_type"] == "ResearchWorkflow" and waiting["approvers"] == [APPROVER]
    assert approved["decision"]["approver"] == APPROVER and approved["decision"]["approved"] is True
    assert fetched["done"] is True and fetched["result"]["outcome"] == "completed"
    assert fetched["result"]["topic"] == topic and fetched["result"]["report"]
    # The decision the run recorded is the signed one: its workers check signatures.
    status = await api.get_status(product.client, workflow_id)
    assert status.decisions_authenticated is True
    assert [(d.approver, d.comment) for d in status.decisions] == [(APPROVER, "via MCP")]


async def test_research_returns_where_the_run_stands_after_wait_s_and_reject_decides_it(
    product: Product,
) -> None:
    topic = f"kelp {uuid.uuid4().hex[:6]}"
    async with stdio_client(product.approver_env()) as client:
        started = payload(
            await client.call_tool(
                "research", {"topic": topic, "max_subtopics": 1, "approvers": [APPROVER], "wait_s": 0}
            )
        )
        workflow_id = started["workflow_id"]
        await pending_approval(product.client, workflow_id)
        waiting = payload(await client.call_tool("run_result", {"workflow_id": workflow_id, "wait_s": 0}))
        rejected = payload(
            await client.call_tool("reject", {"workflow_id": workflow_id, "comment": "not now"})
        )
        again = await client.call_tool("reject", {"workflow_id": workflow_id})
        ended = payload(await client.call_tool("run_result", {"workflow_id": workflow_id, "wait_s": 120}))

    assert started["done"] is False and started["execution_status"] == "running"
    assert started["workflow_type"] == "ResearchWorkflow"
    assert waiting["done"] is False and waiting["status"]["phase"] == "awaiting_approval"
    assert waiting["status"]["pending_approval"]["approvers"] == [APPROVER]
    assert rejected["decision"]["approved"] is False and rejected["decision"]["comment"] == "not now"
    assert again.is_error is True
    assert (
        error_text(again) == f"{workflow_id}: nothing is waiting for a decision, so there is nothing to sign"
    )
    assert ended["done"] is True and ended["result"]["outcome"] == "rejected"


async def test_an_approver_needs_both_settings_and_a_usable_key(product: Product, tmp_path: Path) -> None:
    exposed = tmp_path / "ana.key"
    exposed.write_bytes(product.approver_key.read_bytes())
    exposed.chmod(0o644)
    cases = [
        (
            {"MCP_SERVER_APPROVER": APPROVER},
            "configuration error: MCP_SERVER_APPROVER_KEY_FILE and MCP_SERVER_APPROVER: set both",
        ),
        (
            {"MCP_SERVER_APPROVER": APPROVER, "MCP_SERVER_APPROVER_KEY_FILE": str(exposed)},
            f"configuration error: MCP_SERVER_APPROVER_KEY_FILE: {exposed}: open to group or others",
        ),
    ]
    for extra, expected in cases:
        refused = await run_cli("mcp", env=product.server_env(**extra), timeout_s=60)
        assert refused.returncode == 2, refused.stderr
        assert refused.stderr.startswith(expected) and refused.stderr.count("\n") == 1, refused.stderr


async def test_a_run_that_did_not_complete_is_a_tool_error(product: Product) -> None:
    async with stdio_client(product.env) as client:
        started = payload(
            await client.call_tool(
                "research", {"topic": f"reefs {uuid.uuid4().hex[:6]}", "approvers": [APPROVER], "wait_s": 0}
            )
        )
        await product.client.get_workflow_handle(started["workflow_id"]).terminate("stopped by the test")
        ended = await client.call_tool("run_result", {"workflow_id": started["workflow_id"], "wait_s": 30})
    assert ended.is_error is True
    assert error_text(ended) == f"{started['workflow_id']}: the run ended terminated"
