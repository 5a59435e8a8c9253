"""The product converter's copies per serialization and store context (`ProductDataConverter`): the
SDK asks for one per payload it visits, so they are kept instead of rebuilt, and they still pick the
store's selector by context and carry the store context the driver scopes objects by."""

from __future__ import annotations

from pathlib import Path

from temporalio.converter import (
    ActivitySerializationContext,
    StorageDriverStoreContext,
    StorageDriverWorkflowInfo,
    WorkflowSerializationContext,
)

from common.converter import BoundarySelector, build_data_converter
from common.settings import try_load_settings

ACTIVITY = ActivitySerializationContext(
    namespace="default",
    workflow_id="wf-1",
    workflow_type="AgentWorkflow",
    activity_type="llm.complete",
    activity_task_queue="q",
    is_local=False,
    activity_id="1",
)
WORKFLOW = WorkflowSerializationContext(namespace="default", workflow_id="wf-1")


def selector_of(converter: object) -> BoundarySelector:
    selector = converter.external_storage.driver_selector  # type: ignore[attr-defined]
    assert isinstance(selector, BoundarySelector)
    return selector


def test_copies_per_context_are_kept_and_pick_the_selector(tmp_path: Path) -> None:
    converter = build_data_converter(
        try_load_settings(payload_store_dir=tmp_path, payload_keys=None, _env_file=None)
    )
    internal = converter.with_context(ACTIVITY)
    public = converter.with_context(WORKFLOW)
    assert selector_of(internal).internal and not selector_of(public).internal
    # Asked again (the SDK asks per payload): the same objects, nothing rebuilt.
    assert converter.with_context(ACTIVITY) is internal
    assert not selector_of(internal.with_context(WORKFLOW)).internal
    assert internal.payload_converter is converter.payload_converter


def test_a_store_bound_copy_keeps_its_target_and_selector(tmp_path: Path) -> None:
    converter = build_data_converter(
        try_load_settings(payload_store_dir=tmp_path, payload_keys=None, _env_file=None)
    )
    target = StorageDriverWorkflowInfo(id="wf-1", run_id="run-1", type="AgentWorkflow", namespace="default")
    bound = converter.with_context(ACTIVITY)._with_store_context(StorageDriverStoreContext(target=target))
    storage = bound.external_storage
    assert storage is not None
    assert storage._store_context.target == target and storage._select_context.target == target
    assert selector_of(bound).internal
    # The unbound converter is untouched: another run's payloads get their own target.
    assert converter.external_storage._store_context.target is None  # type: ignore[union-attr]


def test_the_answers_per_context_stay_bounded_and_right(tmp_path: Path) -> None:
    converter = build_data_converter(
        try_load_settings(payload_store_dir=tmp_path, payload_keys=None, _env_file=None)
    )
    for number in range(2_000):  # one context per activity of a long run
        context = ACTIVITY if number % 2 else WORKFLOW
        if number % 2:
            context = ActivitySerializationContext(**{**ACTIVITY.__dict__, "activity_id": str(number)})
        copy = converter.with_context(context)
        assert selector_of(copy).internal == (number % 2 == 1)
    assert 0 < len(converter._by_context) <= 512  # type: ignore[attr-defined]
