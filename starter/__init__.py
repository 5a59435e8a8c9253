"""Start and steer runs: `python -m starter ...`, or import these async functions from a service."""

from starter.api import (
    StarterError,
    approve,
    get_result,
    get_status,
    reject,
    start_agent,
    start_answer,
    start_index,
    start_research,
    start_workflow,
)
from starter.watch import watch

__all__ = [
    "StarterError",
    "approve",
    "get_result",
    "get_status",
    "reject",
    "start_agent",
    "start_answer",
    "start_index",
    "start_research",
    "start_workflow",
    "watch",
]
