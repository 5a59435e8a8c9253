"""`python -m bench.store_cut [--messages N] [--reply-bytes N]`: the payload store's cut of an agent's
growing request, step by step, as the product's driver sees it (one driver for the whole run, so what
it remembers between steps counts). Prints the cut's time per step (mean over the run and over its
last 20 steps) and what storing every step wrote, for docs/benchmarks.md "Performance at parity"."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from temporalio.api.common.v1 import Payload
from temporalio.converter import StorageDriverStoreContext, StorageDriverWorkflowInfo

from activities.llm.models import LLMRequest, Message, TextBlock, ToolResultBlock, ToolUseBlock
from common.payload_store import ContentAddressedDriver, LocalObjectStore

__all__ = ["main", "requests"]


def requests(messages: int, reply_bytes: int) -> list[Payload]:
    """The JSON payload of every step's request of an agent whose transcript reaches `messages`."""
    transcript = [Message.user_text("Find the answer, naïvely: 漢字 and emoji 🚀")]
    payloads = []
    step = 0
    while len(transcript) < messages:
        reply = TextBlock(text=f"step {step} " + "x" * reply_bytes)
        call = ToolUseBlock(id=f"toolu_{step}", name="calculator", input={"expression": f"{step} * 1.5"})
        transcript.append(Message(role="assistant", content=[reply, call]))
        transcript.append(Message(role="user", content=[ToolResultBlock(tool_use_id=call.id, content="1.5")]))
        request = LLMRequest(system="be careful", messages=transcript, step_kind="agent", step=f"step {step}")
        payloads.append(
            Payload(metadata={"encoding": b"json/plain"}, data=request.model_dump_json().encode())
        )
        step += 1
    return payloads


async def _run(messages: int, reply_bytes: int) -> None:
    payloads = requests(messages, reply_bytes)
    context = StorageDriverStoreContext(
        target=StorageDriverWorkflowInfo(namespace="default", id="bench-cut", run_id="r1")
    )
    with tempfile.TemporaryDirectory(prefix="ai-workflows-store-cut-") as scratch:
        driver = ContentAddressedDriver(LocalObjectStore(Path(scratch)))
        cuts, stores = [], []
        for payload in payloads:
            serialized = payload.SerializeToString(deterministic=True)
            start = time.perf_counter()
            driver._cut(payload, serialized)
            cuts.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            await driver.store(context, [payload])  # what a step pays: the cut, hashing, new writes
            stores.append((time.perf_counter() - start) * 1000)
        print(
            f"{len(payloads)} steps up to {messages} messages ({len(payloads[-1].data) / 1024:.0f} KiB): "
            f"cut ms per step mean {statistics.mean(cuts):.3f}, last 20 {statistics.mean(cuts[-20:]):.3f}; "
            f"store ms per step mean {statistics.mean(stores):.3f}, last 20 {statistics.mean(stores[-20:]):.3f}; "
            f"objects written {driver.counters.objects_written} "
            f"({driver.counters.object_bytes_written / 1024:.0f} KiB)",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.store_cut", description=__doc__)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--reply-bytes", type=int, default=2048)
    args = parser.parse_args(argv)
    asyncio.run(_run(args.messages, args.reply_bytes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
