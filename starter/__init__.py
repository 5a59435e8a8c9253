"""Start and steer runs: `python -m starter ...`, or import these async functions from a service."""

from starter.api import get_status, start_research

__all__ = ["get_status", "start_research"]
