"""The retrieval activities' failures: typed, one line, retryable or not."""

from __future__ import annotations

from temporalio.exceptions import ApplicationError

__all__ = ["index_unavailable", "invalid_corpus"]


def index_unavailable(message: str) -> ApplicationError:
    """The index or the embeddings endpoint failed for now (locked file, server down): retried."""
    return ApplicationError(message, type="IndexUnavailable")


def invalid_corpus(message: str) -> ApplicationError:
    """The request can never succeed (no such folder, a path outside it): not retried."""
    return ApplicationError(message, type="InvalidCorpus", non_retryable=True)
