"""The class summary of a batch: built one grade at a time, so no grade needs to be kept."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from grader.models import GRADED, PASS, Grade

_BUCKETS = 11  # 0-9 %, 10-19 %, ..., 90-99 %, 100 %


@dataclass(frozen=True)
class ClassSummary:
    """What an instructor wants to know about a whole class."""

    count: int
    max_score: float
    mean: float
    """Mean score, in points."""
    median: float
    full_marks: int
    statuses: tuple[tuple[str, int], ...]
    """Submission status -> count, most frequent first."""
    distribution: tuple[tuple[str, int], ...]
    """Score bucket label ("0-9 %" ... "100 %") -> count, lowest first."""
    step_pass: tuple[tuple[str, int], ...]
    """Step name -> submissions that passed it, in rubric order (out of `count`)."""
    first_wrong: tuple[tuple[str, int], ...]
    """Step name -> graded submissions whose first wrong step it is, most frequent first."""
    misconceptions: tuple[tuple[str, int], ...]
    """Misconception (step: name) -> submissions diagnosed with it, most frequent first."""

    def pass_rate(self, passed: int) -> float:
        return passed / self.count if self.count else 0.0


@dataclass
class SummaryBuilder:
    """Accumulates grades into a ClassSummary."""

    step_names: tuple[str, ...]
    max_score: float
    _count: int = 0
    _total: float = 0.0
    _scores: Counter = field(default_factory=Counter)
    _statuses: Counter = field(default_factory=Counter)
    _buckets: Counter = field(default_factory=Counter)
    _passed: Counter = field(default_factory=Counter)
    _first_wrong: Counter = field(default_factory=Counter)
    _misconceptions: Counter = field(default_factory=Counter)

    def add(self, grade: Grade) -> None:
        self._count += 1
        self._total += grade.score
        self._scores[grade.score] += 1
        self._statuses[grade.status] += 1
        self._buckets[min(int(grade.percent // 10), _BUCKETS - 1)] += 1
        self._passed.update(step.name for step in grade.steps if step.status == PASS)
        if grade.status == GRADED and grade.first_wrong_step:
            self._first_wrong[grade.first_wrong_step] += 1
        self._misconceptions.update({f"{d.step}: {d.misconception}" for d in grade.diagnoses})

    def build(self) -> ClassSummary:
        labels = [f"{10 * bucket}-{10 * bucket + 9} %" for bucket in range(_BUCKETS - 1)] + ["100 %"]
        return ClassSummary(
            count=self._count,
            max_score=self.max_score,
            mean=self._total / self._count if self._count else 0.0,
            median=_median(self._scores, self._count),
            full_marks=self._scores[self.max_score],
            statuses=tuple(self._statuses.most_common()),
            distribution=tuple((label, self._buckets[bucket]) for bucket, label in enumerate(labels)),
            step_pass=tuple((name, self._passed[name]) for name in self.step_names),
            first_wrong=tuple(self._first_wrong.most_common()),
            misconceptions=tuple(self._misconceptions.most_common()),
        )


def _median(scores: Counter, count: int) -> float:
    if not count:
        return 0.0
    middle = [(count - 1) // 2, count // 2]
    seen, found = 0, []
    for score in sorted(scores):
        while middle and middle[0] < seen + scores[score]:
            found.append(score)
            middle.pop(0)
        seen += scores[score]
    return sum(found) / 2


def render_text(summary: ClassSummary) -> str:
    """The closing paragraph of a batch in the terminal."""
    points = f"{summary.max_score:g}"
    parts = [f"{summary.count} submission{'s' if summary.count != 1 else ''}",
             f"mean {summary.mean:.2f}/{points}", f"median {summary.median:g}/{points}",
             f"{summary.full_marks} with full marks"]
    parts += [f"{count} {status}" for status, count in sorted(summary.statuses) if status != GRADED]
    lines = ["Summary: " + ", ".join(parts)]
    lines.append("  scores: " + "  ".join(f"{label} {count}" for label, count in summary.distribution if count))
    lines.append("  pass rate per step: " + ", ".join(f"{name} {summary.pass_rate(passed):.0%}"
                                                      for name, passed in summary.step_pass))
    if summary.first_wrong:
        common = ", ".join(f"{name} ({count})" for name, count in summary.first_wrong[:3])
        lines.append(f"  most frequent first wrong steps: {common}")
    if summary.misconceptions:
        common = ", ".join(f"{name} ({count})" for name, count in summary.misconceptions[:5])
        lines.append(f"  most frequent misconceptions: {common}")
    return "\n".join(lines)
