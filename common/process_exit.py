"""Ending a command-line process without CPython's interpreter teardown.

The Temporal SDK's Rust core and gRPC keep native threads that may still hold the GIL machinery while
the interpreter finalizes, and CPython then aborts ("PyGILState_Release ... finalizing",
temporalio/sdk-python#300): a clean exit turns into exit -6 now and then. The entry points end with
`exit_now`, which runs the atexit handlers (span export flushes) and flushes stdio, as a normal exit
would, and then leaves without finalization.
"""

from __future__ import annotations

import atexit
import os
import sys
from typing import NoReturn

__all__ = ["exit_now"]


def exit_now(code: int) -> NoReturn:
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
