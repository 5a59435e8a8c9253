"""The Temporal Web UI shows an encrypted run in clear text through the codec server, in a real
browser: Chromium signs in at the codec server's /login, then opens the run in the dev server's Web UI
(codec endpoint configured, "Include cross-origin credentials" on), which posts the payloads to
/decode with the session cookie, from its allowed origin."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from common.converter import encrypted_data_converter
from common.devserver import dev_server_args, wait_for_port
from common.encryption import new_key_entry
from common.settings import Settings
from starter import api
from tests.inbox.browser import chromium
from tests.security.codec_process import codec_server, free_port
from worker.app import build_worker
from workflows.models import ResearchInput

KEYS = new_key_entry("k1")
TOKEN = "web-ui-codec-token-5e1c"
TEMPORAL_CLI = Path(sys.executable).parent / "temporal"

pytestmark = pytest.mark.browser


@contextlib.contextmanager
def dev_server_with_ui(codec_url: str) -> Iterator[tuple[str, str]]:
    """A dev server whose Web UI is configured with the codec endpoint; yields (address, UI URL)."""
    port, ui_port = free_port(), free_port()
    command = [
        str(TEMPORAL_CLI),
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        *dev_server_args(port=port, ui_port=ui_port),
        "--ui-codec-endpoint",
        codec_url,
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port("127.0.0.1", port)
        wait_for_port("127.0.0.1", ui_port)
        yield f"127.0.0.1:{port}", f"http://127.0.0.1:{ui_port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextlib.asynccontextmanager
async def encrypted_run(address: str, settings: Settings, topic: str) -> AsyncIterator[str]:
    client = await Client.connect(address, data_converter=encrypted_data_converter(KEYS))
    async with build_worker(client, settings):
        handle = await api.start_research(
            client, ResearchInput(topic=topic, max_subtopics=1), task_queue=settings.temporal_task_queue
        )
        await handle.result()
        yield handle.id


# The Web UI keeps its codec settings (Settings -> Codec Server) in localStorage under these keys.
UI_CODEC_SETTINGS = """
localStorage.setItem('overrideRemoteCodecConfiguration', 'true');
localStorage.setItem('endpoint', JSON.stringify(%r));
localStorage.setItem('includeCredentials', 'true');
"""


async def test_web_ui_decodes_an_encrypted_run_through_the_codec_server(settings: Settings) -> None:
    secret = f"canary-ui-{uuid.uuid4().hex[:8]}"
    port = free_port()
    codec_url = f"http://127.0.0.1:{port}"
    with dev_server_with_ui(codec_url) as (address, ui_url):
        with codec_server(KEYS, TOKEN, ui_url, port=port) as server:
            async with encrypted_run(address, settings, f"harbour pilots {secret}") as workflow_id:
                async with chromium() as browser:
                    context = await browser.new_context()
                    page = await context.new_page()
                    await page.goto(f"{server.url}/login")
                    await page.fill("input[name=token]", TOKEN)
                    await page.click("button[type=submit]")
                    await page.get_by_text("Signed in").wait_for()

                    await context.add_init_script(UI_CODEC_SETTINGS % server.url)
                    await page.goto(f"{ui_url}/namespaces/default/workflows/{workflow_id}")
                    # The run's input, shown decoded: only the codec server could have produced it.
                    await page.get_by_text(secret).first.wait_for(timeout=30_000)
                    await context.close()
        log = "\n".join(server.log)
    assert "POST /decode" in log and "200" in log
