"""The workflow classes a worker registers."""

from workflows.agent import AgentWorkflow
from workflows.answer import AnswerWorkflow
from workflows.index import IndexWorkflow
from workflows.research import ResearchWorkflow
from workflows.session import SessionWorkflow

__all__ = ["WORKFLOWS"]

WORKFLOWS: list[type] = [ResearchWorkflow, AgentWorkflow, IndexWorkflow, AnswerWorkflow, SessionWorkflow]
