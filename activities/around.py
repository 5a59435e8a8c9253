"""`AroundActivities`: a worker interceptor that runs a context manager (async or not) around every
activity the worker executes, inside the activity's context (`activity.info()` works). The worker's
activity interceptors that only need "before and after" (tool resources, liveness heartbeats, the
in-flight journal) are this one class with their own context manager."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any

from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

__all__ = ["AroundActivities", "AroundActivity"]

AroundActivity = Callable[
    [ExecuteActivityInput], AbstractAsyncContextManager[Any] | AbstractContextManager[Any]
]


class AroundActivities(Interceptor):
    def __init__(self, around: AroundActivity) -> None:
        self._around = around

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Around(next, self._around)


class _Around(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, around: AroundActivity) -> None:
        super().__init__(next)
        self._around_activity = around

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        around = self._around_activity(input)
        if isinstance(around, AbstractAsyncContextManager):
            async with around:
                return await self.next.execute_activity(input)
        with around:
            return await self.next.execute_activity(input)
