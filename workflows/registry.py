"""The workflow classes a worker registers."""

from workflows.agent import AgentWorkflow
from workflows.research import ResearchWorkflow

WORKFLOWS: list[type] = [ResearchWorkflow, AgentWorkflow]
