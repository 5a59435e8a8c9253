"""Secrets live only in the worker process: API keys, SMTP password and payload keys set in a real
`python -m worker`'s environment appear in no history, no log line and no span it writes. The worker reaches
Temporal over TLS with an API key (through a TLS proxy to the dev server), as it would on Temporal
Cloud, so the Temporal API key is really used on the wire."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from temporalio.client import Client

from common.encryption import new_key_entry
from starter import api
from tests.security.history import client_with_keys, raw_history
from tests.security.tls import make_pki, tls_proxy
from workflows.models import ResearchInput, ResearchResult

PAYLOAD_KEYS = new_key_entry("k1")
SECRETS = {
    "TEMPORAL_API_KEY": "canary-temporal-api-key-0a1b",
    "ANTHROPIC_API_KEY": "canary-anthropic-key-2c3d",
    "OPENAI_API_KEY": "canary-openai-key-4e5f",
    "SMTP_PASSWORD": "canary-smtp-password-6a7b",
    "CODEC_SERVER_TOKEN": "canary-codec-token-8c9d",
}


async def test_api_keys_reach_no_history_and_no_log_line(
    dev_client: Client, task_queue: str, tmp_path: Path
) -> None:
    pki = make_pki(tmp_path)
    log_file = tmp_path / "worker.log"
    with tls_proxy(dev_client.service_client.config.target_host, pki, require_client_cert=False) as address:
        env = {
            **os.environ,
            **SECRETS,
            "LLM_PROVIDER": "offline",  # the Anthropic key is set but unused: only its secrecy is tested
            "PAYLOAD_KEYS": PAYLOAD_KEYS,
            "TEMPORAL_ADDRESS": address,
            "TEMPORAL_TLS_CA": str(pki.ca),
            "TEMPORAL_TLS_SERVER_NAME": "localhost",
            "TEMPORAL_TASK_QUEUE": task_queue,
            "WORKER_GRACEFUL_SHUTDOWN_S": "5",
            # Every span the worker makes, printed by the real OTel SDK's console exporter.
            "OTEL_TRACES_CONSOLE": "true",
        }
        with log_file.open("w") as log:
            worker = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "worker", env=env, stdout=log, stderr=subprocess.STDOUT
            )
            try:
                client = client_with_keys(dev_client, PAYLOAD_KEYS)
                handle = await api.start_research(
                    client, ResearchInput(topic="key hygiene", max_subtopics=2), task_queue=task_queue
                )
                result = await client.get_workflow_handle(handle.id, result_type=ResearchResult).result()
                assert "[offline model]" in result.report
            finally:
                worker.send_signal(signal.SIGTERM)
                await asyncio.wait_for(worker.wait(), timeout=60)

    output = log_file.read_text()
    # The capture works: the worker's start-up and shutdown lines and its spans are there.
    assert "registered workflows" in output and "stopped" in output, output
    assert '"trace_id"' in output and "RunActivity:llm.complete" in output and "gen_ai." in output
    _, history = await raw_history(dev_client, handle.id)
    key_material = PAYLOAD_KEYS.split(":", 1)[1]
    for name, secret in [*SECRETS.items(), ("PAYLOAD_KEYS", key_material)]:
        assert secret not in output, f"{name} leaked into the worker's log or spans"
        assert secret.encode() not in history, f"{name} leaked into history"
