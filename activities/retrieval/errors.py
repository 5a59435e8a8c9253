"""The retrieval activities' failures: typed, one line, retryable or not."""

from __future__ import annotations

from temporalio.exceptions import ApplicationError

__all__ = ["corpus_too_large", "index_path_refused", "index_unavailable", "invalid_corpus"]


def index_unavailable(message: str) -> ApplicationError:
    """The index or the embeddings endpoint failed for now (locked file, server down): retried."""
    return ApplicationError(message, type="IndexUnavailable")


def invalid_corpus(message: str) -> ApplicationError:
    """The request can never succeed (no such folder, a path outside it): not retried."""
    return ApplicationError(message, type="InvalidCorpus", non_retryable=True)


def index_path_refused(message: str) -> ApplicationError:
    """A folder (or a file) outside the worker's INDEX_ROOTS: never read, not retried."""
    return ApplicationError(message, type="IndexPathRefused", non_retryable=True)


def corpus_too_large(message: str) -> ApplicationError:
    """The folder holds more than INDEX_MAX_CORPUS_BYTES of indexable files: not retried."""
    return ApplicationError(message, type="IndexCorpusTooLarge", non_retryable=True)
