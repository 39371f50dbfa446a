"""CronSchedule and FixedRate: when a launch plan fires; plain data, read by LaunchPlan."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from slipstream.errors import DefinitionError
from slipstream.ir import ScheduleSpec

CRON_ALIASES = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)


@dataclass(frozen=True)
class CronSchedule:
    """Fire at the times of a cron expression: five fields ("0 * * * *") or an alias ("@daily").

    `kickoff_time_input_arg` names the workflow input (a datetime) that gets each firing's
    scheduled time.
    """

    schedule: str
    kickoff_time_input_arg: str | None = None

    def __post_init__(self) -> None:
        text = self.schedule
        if not isinstance(text, str) or not (
            text.strip() in CRON_ALIASES or len(text.split()) == 5
        ):
            raise DefinitionError(
                f"CronSchedule(schedule={text!r}): expected five cron fields such as "
                f"'0 * * * *', or one of {', '.join(sorted(CRON_ALIASES))}"
            )
        _check_arg(self.kickoff_time_input_arg, "CronSchedule")

    def to_spec(self) -> ScheduleSpec:
        return ScheduleSpec(
            cron=" ".join(self.schedule.split()),
            kickoff_time_input_arg=self.kickoff_time_input_arg or "",
        )


@dataclass(frozen=True)
class FixedRate:
    """Fire every `duration` (a timedelta), starting when the launch plan is activated."""

    duration: timedelta
    kickoff_time_input_arg: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.duration, timedelta) or self.duration.total_seconds() <= 0:
            raise DefinitionError(
                f"FixedRate(duration={self.duration!r}): expected a positive timedelta"
            )
        _check_arg(self.kickoff_time_input_arg, "FixedRate")

    def to_spec(self) -> ScheduleSpec:
        return ScheduleSpec(
            rate_seconds=self.duration.total_seconds(),
            kickoff_time_input_arg=self.kickoff_time_input_arg or "",
        )


Schedule = CronSchedule | FixedRate


def _check_arg(name: object, what: str) -> None:
    if name is not None and (not isinstance(name, str) or not name.isidentifier()):
        raise DefinitionError(
            f"{what}(kickoff_time_input_arg={name!r}): expected the name of a workflow input"
        )
