"""Report files: atomic write (temp file + fsync + rename), a name derived from the key, and a
repeat with the same key that changes nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.delivery import file as report_file
from activities.delivery.activity import DeliveryActivities
from activities.delivery.file import file_name_for, write_report
from activities.delivery.models import DeliveryRequest


def _request(
    directory: Path, body: str = "# Report\n\nfindings\n", key: str = "research-42/deliver"
) -> DeliveryRequest:
    return DeliveryRequest(target=f"file:{directory}", idempotency_key=key, subject="Report", body=body)


async def test_report_file_is_written_under_the_key_name(
    deliveries: DeliveryActivities, tmp_path: Path
) -> None:
    out = tmp_path / "reports" / "nested"  # created on demand
    receipt = await ActivityEnvironment().run(deliveries.deliver, _request(out))
    path = out / "research-42__deliver.md"
    assert (receipt.channel, receipt.detail, receipt.duplicate) == ("file", str(path.resolve()), False)
    assert path.read_text() == "# Report\n\nfindings\n"
    assert os.listdir(out) == ["research-42__deliver.md"]  # no temporary file left behind


async def test_a_repeat_is_a_duplicate_and_leaves_the_file_untouched(
    deliveries: DeliveryActivities, tmp_path: Path
) -> None:
    env = ActivityEnvironment()
    await env.run(deliveries.deliver, _request(tmp_path))
    path = tmp_path / "research-42__deliver.md"
    inode, mtime = path.stat().st_ino, path.stat().st_mtime_ns
    again = await env.run(deliveries.deliver, _request(tmp_path))
    assert again.duplicate
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (inode, mtime)


async def test_other_content_for_the_key_replaces_the_file_atomically(tmp_path: Path) -> None:
    """After a workflow reset the step may produce a different report: the file is swapped whole."""
    first = await write_report(tmp_path, "wf/deliver", "old report")
    old_inode = first.path.stat().st_ino
    second = await write_report(tmp_path, "wf/deliver", "new report")
    assert (second.duplicate, second.replaced) == (False, True)
    assert second.path.read_text() == "new report"
    assert second.path.stat().st_ino != old_inode  # a new file renamed over the old one, not rewritten


async def test_a_crash_mid_write_never_shows_a_partial_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await write_report(tmp_path, "wf/deliver", "complete old report")

    def die(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report_file.os, "replace", die)  # the process "dies" before the rename
    with pytest.raises(ApplicationError) as caught:
        await write_report(tmp_path, "wf/deliver", "half of a new rep")
    assert caught.value.type == "DeliveryUnavailable" and not caught.value.non_retryable
    assert (tmp_path / "wf__deliver.md").read_text() == "complete old report"
    assert sorted(os.listdir(tmp_path)) == ["wf__deliver.md"]


async def test_leftovers_of_a_killed_attempt_are_cleaned_up(tmp_path: Path) -> None:
    leftover = tmp_path / ".wf__deliver.md.abcd1234.tmp"  # what a SIGKILLed attempt leaves behind
    leftover.write_text("partial")
    unrelated = tmp_path / ".wf__deliver.md.other.md.abcd1234.tmp"  # another key's temporary file
    unrelated.write_text("someone else's")
    await write_report(tmp_path, "wf/deliver", "full report")
    assert not leftover.exists() and unrelated.exists()


async def test_a_directory_that_cannot_be_one_is_rejected(
    deliveries: DeliveryActivities, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the directory should be")
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(deliveries.deliver, _request(blocker / "reports"))
    assert caught.value.type == "DeliveryRejected" and caught.value.non_retryable


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("research-42/deliver", "research-42__deliver.md"),
        ("agent.run_7/step-3", "agent.run_7__step-3.md"),
    ],
)
def test_plain_keys_give_readable_names(key: str, name: str) -> None:
    assert file_name_for(key) == name


def test_names_never_collide_and_never_escape_the_directory() -> None:
    keys = ["a/b", "a__b", "a_b", "a b", "a/b/", "../../etc/passwd", ".hidden/x", "é/x", "x" * 400, "x" * 401]
    names = [file_name_for(key) for key in keys]
    assert len(set(names)) == len(keys)
    for name in names:
        assert "/" not in name and not name.startswith(".") and len(name) < 255


async def _refused(deliveries: DeliveryActivities, target: str) -> ApplicationError:
    request = DeliveryRequest(target=target, idempotency_key="wf/deliver", subject="Report", body="x")
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(deliveries.deliver, request)
    assert caught.value.non_retryable
    return caught.value


async def test_a_relative_target_lands_under_the_root(deliveries: DeliveryActivities, tmp_path: Path) -> None:
    assert deliveries.file_root == tmp_path  # the test settings' DELIVERY_FILE_ROOT
    receipt = await ActivityEnvironment().run(deliveries.deliver, _request(Path("team/reports")))
    assert receipt.detail == str((tmp_path / "team" / "reports" / "research-42__deliver.md").resolve())


async def test_dot_dot_is_refused_where_the_target_is_parsed(
    deliveries: DeliveryActivities, tmp_path: Path
) -> None:
    error = await _refused(deliveries, "file:reports/../../outside")
    assert error.type == "InvalidDeliveryRequest" and "'..'" in error.message
    assert not (tmp_path.parent / "outside").exists()


async def test_an_absolute_path_outside_the_root_is_refused(
    deliveries: DeliveryActivities, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    error = await _refused(deliveries, f"file:{elsewhere}")
    assert error.type == "DestinationRefused" and "outside DELIVERY_FILE_ROOT" in error.message
    assert list(elsewhere.iterdir()) == []


async def test_a_symlink_out_of_the_root_is_refused(
    deliveries: DeliveryActivities, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (tmp_path / "reports").symlink_to(elsewhere, target_is_directory=True)
    for target in ("file:reports", "file:reports/nested", f"file:{tmp_path / 'reports'}"):
        error = await _refused(deliveries, target)
        assert error.type == "DestinationRefused", target
    assert list(elsewhere.iterdir()) == []


async def test_a_symlink_inside_the_root_is_followed(deliveries: DeliveryActivities, tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real", target_is_directory=True)
    receipt = await ActivityEnvironment().run(deliveries.deliver, _request(Path("alias")))
    assert receipt.detail == str((tmp_path / "real" / "research-42__deliver.md").resolve())
