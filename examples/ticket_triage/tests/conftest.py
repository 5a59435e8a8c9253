"""The product's test fixtures (tests/conftest.py): the session's Temporal dev server, a
time-skipping server per test, a unique task queue and offline settings per test."""

from tests.conftest import (  # noqa: F401 - fixtures
    dev_client,
    dev_server_env,
    settings,
    task_queue,
    time_skipping_env,
)
