"""The `current_time` tool: the date and time now in an IANA time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field

from activities.tools.declare import tool
from common.contracts.tools import ToolObservation

__all__ = ["CurrentTimeInput", "current_time", "current_time_tool"]


class CurrentTimeInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    timezone: str = Field(default="UTC", description="IANA time zone name")


@tool(name="current_time", description="The current date and time in a time zone.")
async def current_time_tool(params: CurrentTimeInput) -> ToolObservation:
    return current_time(params.timezone)


def current_time(timezone: str, now: datetime | None = None) -> ToolObservation:
    """`now` (default: the clock) in `timezone`; an unknown zone is an error the model can correct."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        # ValueError: a malformed key such as "../etc" or an absolute path.
        return ToolObservation(
            content=f"unknown time zone {timezone!r}: use an IANA name such as 'UTC' or 'Europe/Paris'",
            is_error=True,
        )
    local = (now or datetime.now(UTC)).astimezone(zone)
    return ToolObservation(content=f"{local.isoformat(timespec='seconds')} ({local:%A}, {timezone})")
