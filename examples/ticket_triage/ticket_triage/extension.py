"""What this package adds to a worker: `python -m worker` loads `EXTENSION` through the entry point
`ai_workflows.plugins` (pyproject.toml) and registers the workflow and the tools' activities."""

from __future__ import annotations

from ticket_triage.tools import lookup_customer, send_reply
from ticket_triage.workflow import TicketTriageWorkflow
from worker.plugin import Extension

__all__ = ["EXTENSION"]

EXTENSION = Extension(
    name="ticket_triage",
    workflows=[TicketTriageWorkflow],
    tools=[lookup_customer, send_reply],
)
