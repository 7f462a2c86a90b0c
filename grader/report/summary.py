"""The class summary of a batch: built one grade at a time, so no grade needs to be kept.

Only graded submissions say anything about what the class understood: an invalid file, a
notebook that raised before the function existed or one that timed out has no step verdicts.
Those are counted apart, by status, and never in the scores' spread or the steps' pass rates.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from grader.models import GRADED, PASS, Grade

_BUCKETS = 11  # 0-9 %, 10-19 %, ..., 90-99 %, 100 %


def mistake_title(name: str) -> str:
    """A catalogue mistake's id as words ("outer_product_transposed" -> "Outer product transposed").

    The catalogue names each mistake by a stable snake_case id and has no other short name; its
    explanation is a paragraph addressed to the student, too long for a class overview.
    """
    words = name.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


@dataclass(frozen=True)
class Mistake:
    """A known mistake diagnosed in a class, with how many submissions made it."""

    step: str
    name: str
    """The catalogue's id, as in the JSON report's `misconception`."""
    title: str
    """What an instructor reads."""
    count: int


@dataclass(frozen=True)
class ClassSummary:
    """What an instructor wants to know about a whole class."""

    count: int
    """Every submission, graded or not."""
    graded: int
    """Submissions with status `graded`: the ones every figure below but `statuses` is about."""
    max_score: float
    mean: float
    """Mean score of the graded submissions, in points."""
    median: float
    full_marks: int
    statuses: tuple[tuple[str, int], ...]
    """Submission status -> count, most frequent first."""
    distribution: tuple[tuple[str, int], ...]
    """Score bucket label ("0-9 %" ... "100 %") -> graded submissions in it, lowest first."""
    step_pass: tuple[tuple[str, int], ...]
    """Step name -> graded submissions that passed it, in rubric order (out of `graded`)."""
    first_wrong: tuple[tuple[str, int], ...]
    """Step name -> graded submissions whose first wrong step it is, most frequent first."""
    mistakes: tuple[Mistake, ...]
    """Known mistakes diagnosed, most frequent first."""

    def pass_rate(self, passed: int) -> float:
        return passed / self.graded if self.graded else 0.0

    @property
    def not_graded(self) -> tuple[tuple[str, int], ...]:
        """Status -> count of the submissions that could not be graded (invalid, error, timeout)."""
        return tuple((status, count) for status, count in self.statuses if status != GRADED)


@dataclass
class SummaryBuilder:
    """Accumulates grades into a ClassSummary."""

    step_names: tuple[str, ...]
    max_score: float
    _count: int = 0
    _graded: int = 0
    _total: float = 0.0
    _scores: Counter = field(default_factory=Counter)
    _statuses: Counter = field(default_factory=Counter)
    _buckets: Counter = field(default_factory=Counter)
    _passed: Counter = field(default_factory=Counter)
    _first_wrong: Counter = field(default_factory=Counter)
    _mistakes: Counter = field(default_factory=Counter)

    def add(self, grade: Grade) -> None:
        self._count += 1
        self._statuses[grade.status] += 1
        if grade.status != GRADED:
            return
        self._graded += 1
        self._total += grade.score
        self._scores[grade.score] += 1
        self._buckets[min(int(grade.percent // 10), _BUCKETS - 1)] += 1
        self._passed.update(step.name for step in grade.steps if step.status == PASS)
        if grade.first_wrong_step:
            self._first_wrong[grade.first_wrong_step] += 1
        self._mistakes.update({(d.step, d.misconception) for d in grade.diagnoses})

    def build(self) -> ClassSummary:
        labels = [f"{10 * bucket}-{10 * bucket + 9} %" for bucket in range(_BUCKETS - 1)] + ["100 %"]
        return ClassSummary(
            count=self._count,
            graded=self._graded,
            max_score=self.max_score,
            mean=self._total / self._graded if self._graded else 0.0,
            median=_median(self._scores, self._graded),
            full_marks=self._scores[self.max_score],
            statuses=tuple(self._statuses.most_common()),
            distribution=tuple((label, self._buckets[bucket]) for bucket, label in enumerate(labels)),
            step_pass=tuple((name, self._passed[name]) for name in self.step_names),
            first_wrong=tuple(self._first_wrong.most_common()),
            mistakes=tuple(Mistake(step, name, mistake_title(name), count)
                           for (step, name), count in self._mistakes.most_common()),
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


def totals(summary: ClassSummary) -> str:
    """One line of counts that never calls a file graded when it was not."""
    points = f"{summary.max_score:g}"
    head = f"{summary.count} submission{'s' if summary.count != 1 else ''}: {summary.graded} graded"
    if summary.graded:
        head += (f" (mean {summary.mean:.2f}/{points}, median {summary.median:g}/{points}, "
                 f"{summary.full_marks} with full marks)")
    apart = ", ".join(f"{count} {status}" for status, count in sorted(summary.not_graded))
    return head + (f"; not graded: {apart}" if apart else "")


def render_text(summary: ClassSummary) -> str:
    """The closing paragraph of a batch in the terminal."""
    lines = ["Summary: " + totals(summary)]
    if summary.graded:
        lines.append("  scores of the graded: "
                     + "  ".join(f"{label} {count}" for label, count in summary.distribution if count))
        lines.append("  pass rate per step: " + ", ".join(f"{name} {summary.pass_rate(passed):.0%}"
                                                          for name, passed in summary.step_pass))
    if summary.first_wrong:
        common = ", ".join(f"{name} ({count})" for name, count in summary.first_wrong[:3])
        lines.append(f"  most frequent first wrong steps: {common}")
    if summary.mistakes:
        common = ", ".join(f"{m.title} [{m.step}] ({m.count})" for m in summary.mistakes[:5])
        lines.append(f"  most frequent mistakes: {common}")
    return "\n".join(lines)
