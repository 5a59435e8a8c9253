"""Tracing and metrics setup. Interceptors are added to every client (and so to every worker)."""

from __future__ import annotations

from temporalio.client import Interceptor

from common.settings import Settings


def client_interceptors(settings: Settings) -> list[Interceptor]:
    return []
