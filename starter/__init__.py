"""Start and steer runs: `python -m starter ...`, or import these async functions from a service
(`starter.api.__all__`, and `watch`)."""

from starter.api import *  # noqa: F403 - the starter's functions, listed once in starter.api
from starter.api import __all__ as _api_names
from starter.watch import watch

__all__ = [*_api_names, "watch"]
