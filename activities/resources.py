"""What a worker's tools share for the worker's lifetime (HTTP pools, a ledger, a client of your own),
made once on first use from the worker's settings.

A tool reads them with `resources()` while it runs; the worker's `ResourcesInterceptor` says whose
they are, so two workers in one process (tests, several task queues) keep their own.

    @tool(description="Look up a customer by email.")
    async def lookup_customer(params: LookupInput) -> str:
        crm = resources().get("crm", CrmClient.from_settings)
        ...
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from activities.around import AroundActivities
from common.settings import Settings

__all__ = ["ResourcesInterceptor", "WorkerResources", "resources", "using"]

T = TypeVar("T")


class WorkerResources:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._made: dict[str, Any] = {}

    def get(self, name: str, factory: Callable[[Settings], T]) -> T:
        """The worker's one `name`, made by `factory(settings)` the first time it is asked for."""
        if name not in self._made:
            self._made[name] = factory(self.settings)
        made: T = self._made[name]
        return made

    def provide(self, name: str, made: object) -> None:
        """Sets `name` to an object made elsewhere (tests, or a worker that shares one client)."""
        self._made[name] = made

    async def aclose(self) -> None:
        """Closes what was made (each object's `aclose()` or `close()`, where it has one)."""
        made, self._made = list(self._made.values()), {}
        for thing in made:
            closer = getattr(thing, "aclose", None) or getattr(thing, "close", None)
            if closer is not None:
                outcome = closer()
                if inspect.isawaitable(outcome):
                    await outcome


_current: ContextVar[WorkerResources] = ContextVar("worker_resources")


def resources() -> WorkerResources:
    """The running worker's resources (inside a tool or any activity of a kit worker)."""
    try:
        return _current.get()
    except LookupError:
        raise RuntimeError("resources() is for activities of a worker built with the kit's plugin") from None


@contextmanager
def using(worker_resources: WorkerResources) -> Iterator[WorkerResources]:
    """Makes `resources()` answer with `worker_resources` in this block: for running a tool's
    activity directly (tests, `temporalio.testing.ActivityEnvironment`), outside a worker."""
    token = _current.set(worker_resources)
    try:
        yield worker_resources
    finally:
        _current.reset(token)


class ResourcesInterceptor(AroundActivities):
    """Makes `resources()` answer with this worker's resources inside its activities."""

    def __init__(self, worker_resources: WorkerResources) -> None:
        super().__init__(lambda _input: using(worker_resources))
