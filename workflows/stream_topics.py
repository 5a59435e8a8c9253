"""Topics of the Workflow Stream each run hosts (`temporalio.contrib.workflow_streams`): what
`starter.watch` subscribes to. Publishing adds no history event; only a subscriber's polls do."""

__all__ = ["PHASE_TOPIC", "STEPS_TOPIC"]

PHASE_TOPIC = "phase"  # str: the run's phase, each time it changes
STEPS_TOPIC = "steps"  # StepRecord: each finished step, as `status.completed_steps` lists it
