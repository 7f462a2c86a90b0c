"""How one run grades, beyond the rubric: the hidden cases' seed and the limits of each submission's run.

The rubric file gives the defaults ([cases] seed, [limits]); the user's --seed and --timeout
override them for one run. Changing a setting changes neither the rubric nor the assignment.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from grader.models import Limits

DEFAULT_LIMITS = Limits(timeout=10.0, statement=1.0, call=2.0)


@dataclass(frozen=True)
class RunSettings:
    """The seed of the hidden cases and the sandbox's limits for one run."""

    seed: int
    limits: Limits

    def with_options(self, *, seed: int | None = None, timeout: float | None = None) -> RunSettings:
        """These settings with the user's --seed and --timeout where given."""
        return RunSettings(self.seed if seed is None else seed, limits_within(self.limits, timeout))


def limits_within(limits: Limits, timeout: float | None) -> Limits:
    """The limits with the user's --timeout, keeping the inner budgets within it."""
    if timeout is None:
        return limits
    return dataclasses.replace(limits, timeout=timeout, statement=min(limits.statement, timeout / 4),
                               call=min(limits.call, timeout / 4))


def defaults_from(data: dict) -> RunSettings:
    """The defaults of a parsed rubric.toml; KeyError, TypeError or ValueError when a key is missing or bad."""
    limits = data.get("limits", {})
    return RunSettings(
        seed=int(data["cases"]["seed"]),
        limits=Limits(
            timeout=float(limits.get("timeout", DEFAULT_LIMITS.timeout)),
            statement=float(limits.get("statement", DEFAULT_LIMITS.statement)),
            call=float(limits.get("call", DEFAULT_LIMITS.call)),
            memory_mb=int(limits.get("memory_mb", DEFAULT_LIMITS.memory_mb)),
            output_bytes=int(limits.get("output_bytes", DEFAULT_LIMITS.output_bytes)),
        ),
    )
