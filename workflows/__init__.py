"""Deterministic workflow classes and their models: orchestration only, no I/O."""
