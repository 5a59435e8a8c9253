"""The product's workflow patches, taken together by runs started since.

Every `workflow.patched(id)` a run takes for the first time writes a marker and makes the SDK upsert
the TemporalChangeVersion search attribute: an event and an index write on the server each. A new
agent run took two at its start (the tenant's search attribute, sparse upserts) and a session three:
two of a 10-step agent's five upserts (docs/benchmarks.md, seventh pass). A run started since the
current generation takes one patch, `GENERATION`, and with it every change guarded by a patch before
it; a run recorded before replays through the patches it took. A later change gets a patch of its
own as usual, or is folded into a new generation: `patched_since(id, folded_into=...)` names the
generation that first covers it, so a run of an earlier generation still takes the change's own patch.

Workflow code only: deterministic, no I/O.
"""

from __future__ import annotations

from temporalio import workflow

__all__ = ["GENERATION", "GENERATIONS", "current_generation", "patched_since"]

# workflow.patched ids, oldest first. A new run takes the newest only; each covers those before it.
# 2026-12b: the step records go through the payload store at continue-as-new (workflows/kit/context.py).
GENERATIONS = ("generation-2026-12", "generation-2026-12b")
GENERATION = GENERATIONS[-1]


def _since(generation: str) -> bool:
    """Whether the run took `generation` or a later one (newest first: a new run writes one marker)."""
    later = GENERATIONS[GENERATIONS.index(generation) :]
    return any(workflow.patched(taken) for taken in reversed(later))


def current_generation() -> bool:
    """True for a run started on any generation (memoized by the SDK per run)."""
    return _since(GENERATIONS[0])


def patched_since(patch_id: str, folded_into: str = GENERATIONS[0]) -> bool:
    """`workflow.patched(patch_id)` for a change a generation folds in (`folded_into`, the first that
    does): a run of that generation or a later one has it without a marker of its own."""
    return _since(folded_into) or workflow.patched(patch_id)
