"""The prose under the table in docs/benchmarks.md (the harness rewrites the whole file)."""

ANALYSIS = """## What changed (TBD)
"""
