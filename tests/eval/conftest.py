"""The eval tests' fixtures (tests/eval/world.py)."""

from tests.eval.world import world  # noqa: F401 - the fixture of every eval test that needs a worker
