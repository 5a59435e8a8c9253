"""What the worker, the starters and the tests share: settings, the Temporal connection, telemetry."""
