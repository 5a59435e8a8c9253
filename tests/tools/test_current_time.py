from __future__ import annotations

from datetime import UTC, datetime

import pytest

from activities.tools.current_time import CurrentTimeInput, current_time, current_time_tool

FIXED = datetime(2025, 1, 15, 12, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "text"),
    [
        ("UTC", "2025-01-15T12:30:00+00:00 (Wednesday, UTC)"),
        ("Europe/Paris", "2025-01-15T13:30:00+01:00 (Wednesday, Europe/Paris)"),
        ("Pacific/Kiritimati", "2025-01-16T02:30:00+14:00 (Thursday, Pacific/Kiritimati)"),
    ],
)
def test_time_in_zone(zone: str, text: str) -> None:
    observation = current_time(zone, FIXED)
    assert not observation.is_error and observation.content == text


@pytest.mark.parametrize("zone", ["Mars/Olympus", "../../etc/passwd", "", "/usr/share/zoneinfo/UTC"])
def test_unknown_zone_is_an_error_observation(zone: str) -> None:
    observation = current_time(zone, FIXED)
    assert observation.is_error and "unknown time zone" in observation.content


async def test_activity_uses_the_clock() -> None:
    before = datetime.now(UTC)
    observation = await current_time_tool.activity(CurrentTimeInput(timezone="UTC"))
    after = datetime.now(UTC)
    stamp = datetime.fromisoformat(observation.content.split(" ")[0])
    assert before.replace(microsecond=0) <= stamp <= after
