"""The rubric: what the instructor declares about grading, from rubric.toml.

The file also says where the folder's files are (layout.py) and the run's defaults
(settings.py); this module reads only the grading: the function, its steps and points, the
tolerance, the credit for error carried forward, the step model's words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from grader.errors import ConfigError
from grader.models import FINAL, ITERATION, Step, Tolerance, Words


@dataclass(frozen=True)
class Rubric:
    """An assignment's grading rules."""

    title: str
    function: str
    """The graded function."""
    returns: tuple[str, ...]
    """Step names of the values the graded function returns, in order."""
    steps: tuple[Step, ...]
    tolerance: Tolerance
    carried_forward_credit: float
    hidden_cases: int
    """How many hidden cases a grade is made of (besides the public case)."""
    iteration: tuple[str, ...] = ("iteration",)
    """The word for one iteration of the graded function's loop ("record"), outer loop first when nested."""
    updates: tuple[str, ...] = ()
    """Arguments the function is meant to change in place: no warning for them; a step so named is their value after the call."""
    words: Words = field(default_factory=lambda: Words())
    """The exercise's words for the parts of a value, in shape messages."""

    @property
    def max_score(self) -> float:
        return float(sum(step.points for step in self.steps))

    @property
    def step_names(self) -> tuple[str, ...]:
        return tuple(step.name for step in self.steps)

    @property
    def iteration_steps(self) -> tuple[str, ...]:
        """The steps captured per iteration."""
        return tuple(step.name for step in self.steps if step.per_iteration)

    def label(self, position: tuple[int, ...] | list[int]) -> str:
        """An iteration in the rubric's words: "record 3", "epoch 2, record 3"."""
        numbers = tuple(position)
        if len(numbers) > len(self.iteration):  # loops of the student's own around the rubric's: the innermost count
            numbers = numbers[-len(self.iteration):]
        return ", ".join(f"{word} {number}" for word, number in zip(self.iteration, numbers))


def rubric_from(data: dict, path: Path) -> Rubric:
    """The grading rules of a parsed rubric.toml; KeyError, TypeError or ValueError when a key is missing or bad."""
    head, cases, tolerance = data["assignment"], data["cases"], data["tolerance"]
    scoring = data.get("scoring", {})
    steps = tuple(_step(step) for step in data["steps"])
    words = data.get("words", {})
    iteration = head.get("iteration", "iteration")
    return Rubric(
        title=str(head["title"]),
        function=str(head["function"]),
        returns=tuple(str(name) for name in head["returns"]),
        steps=steps,
        tolerance=Tolerance(float(tolerance["rtol"]), float(tolerance["atol"])),
        carried_forward_credit=float(scoring.get("carried_forward_credit", 1.0)),
        hidden_cases=int(cases["hidden"]),
        iteration=(str(iteration),) if isinstance(iteration, str) else tuple(str(word) for word in iteration),
        updates=tuple(str(name) for name in head.get("updates", [])),
        words=Words(**{key: str(words[key]) for key in ("unit", "row", "column") if key in words}),
    )


def check(rubric: Rubric, data: dict, path: Path) -> None:
    """What no single key tells: ConfigError when the rubric's parts do not fit together."""
    names = rubric.step_names
    if len(set(names)) != len(names) or not set(rubric.returns) <= set(names):
        raise ConfigError(f"rubric {path}: step names must be unique and include every returned name")
    unknown = set(data.get("words", {})) - {"unit", "row", "column"}
    if unknown or not rubric.iteration or not all(rubric.iteration):
        raise ConfigError(f"rubric {path}: [words] takes unit, row, column; iteration is a word or a list of words")
    if set(rubric.returns) & set(rubric.iteration_steps):
        raise ConfigError(f"rubric {path}: a returned step is captured once, not per iteration")
    if not 0.0 <= rubric.carried_forward_credit <= 1.0:
        raise ConfigError(f"rubric {path}: carried_forward_credit must be between 0 and 1")


def _step(table: dict) -> Step:
    capture = str(table.get("capture", FINAL))
    if capture not in (FINAL, ITERATION):
        raise ValueError(f"capture {capture!r} (final or iteration)")
    carried = table.get("carried")
    return Step(str(table["name"]), float(table["points"]), str(table.get("hint", "")), capture,
                None if carried is None else str(carried))
