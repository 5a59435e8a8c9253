"""The workflow classes a worker registers."""

from workflows.research import ResearchWorkflow

WORKFLOWS: list[type] = [ResearchWorkflow]
