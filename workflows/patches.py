"""The product's workflow patches, taken together by runs started since.

Every `workflow.patched(id)` a run takes for the first time writes a marker and makes the SDK upsert
the TemporalChangeVersion search attribute: an event and an index write on the server each. A new
agent run took two at its start (the tenant's search attribute, sparse upserts) and a session three:
two of a 10-step agent's five upserts (docs/benchmarks.md, seventh pass). A run started since the
current generation takes one patch, `GENERATION`, and with it every change guarded by a patch before
it; a run recorded before replays through the patches it took. A later change gets a patch of its
own as usual (and a new generation may fold it in).

Workflow code only: deterministic, no I/O.
"""

from __future__ import annotations

from temporalio import workflow

__all__ = ["GENERATION", "current_generation", "patched_since"]

GENERATION = "generation-2026-12"  # workflow.patched id


def current_generation() -> bool:
    """True for a run started on the current generation (memoized by the SDK per run)."""
    return workflow.patched(GENERATION)


def patched_since(patch_id: str) -> bool:
    """`workflow.patched(patch_id)` for a change made before the current generation: a run of the
    current generation has it without a marker of its own."""
    return current_generation() or workflow.patched(patch_id)
