"""Grading a class: resume from the results log, reuse the cache, grade the rest, keep every grade on disk.

Each grade is appended to the results log the moment it is made, so after Ctrl-C or a crash a
rerun with the same output folder grades only what is missing. The content cache serves any
run, any output folder: a submission whose bytes, path, grader version, solutions, seed and
limits are unchanged is never run again. Reports are then assembled from the log, one grade
at a time, so memory stays flat however large the class. A grade the grader's own failure
caused (`store.is_final`) is never cached and never resumed: the next run grades it again.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from array import array
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from grader import batch, records, store
from grader.assignment import Assignment
from grader.models import ERROR, Grade, Submission
from grader.shard import Shard

if TYPE_CHECKING:
    from grader.sandbox.layers import Layer

RESULTS_LOG = "results.jsonl"
CACHE_FILE = "grades.jsonl"
ROUTES_FILE = "routes.jsonl"
"""In the cache folder: the assignment each notebook's bytes are for (grader/routing.py)."""
GRADED, RESUMED, CACHED = "graded", "resumed", "cached"


def reuses_nothing(out: Path | None, cache_dir: Path | None) -> bool:
    """No grade of an earlier run can be taken: no results log in `out` to resume and no cache file in `cache_dir`
    (None: --no-cache, which also ignores the results log). Cheap: two `stat` calls, nothing read."""
    if cache_dir is None:
        return True
    return not (cache_dir / CACHE_FILE).exists() and (out is None or not (out / RESULTS_LOG).exists())


def default_cache_dir(out: Path | None) -> Path:
    """OUT/.cache with --out; else $XDG_CACHE_HOME/backprop-grader (~/.cache/backprop-grader)."""
    if out is not None:
        return out / ".cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "backprop-grader"


# With one child a CPU, a 2-CPU virtual machine sat idle a tenth of a class run (the benchmark's bare forks as well):
# one child more kept it busy, 0.87-0.92x the time of 400 notebooks, 0.96x of 120, but 1.08x of 50 and 1.19x of 8,
# where the extra server's start costs more than it saves (docs/scale.md, eleventh round).
EXTRA_LANE_FROM = 50
"""Notebooks a CPU from which a group gets one fork server more than the CPU count when --jobs is not given."""


def lanes(jobs: int | None, notebooks: int) -> int:
    """The fork servers that grade `notebooks` notebooks: `jobs` when given, else the CPU count, one more for a group
    of at least EXTRA_LANE_FROM notebooks a CPU."""
    if jobs is not None:
        return jobs
    cpus = os.cpu_count() or 1
    return cpus + (notebooks >= EXTRA_LANE_FROM * cpus)


@dataclass(frozen=True)
class Settings:
    """How to grade a class."""

    seed: int | None
    """Seed of the hidden cases; None: each assignment's rubric seed."""
    jobs: int | None
    """--jobs; None: `lanes` chooses for each group."""
    timeout: float | None = None
    out: Path | None = None
    """Output folder; holds the results log. None: the log lives in a temporary folder."""
    cache_dir: Path | None = None
    """Content cache folder; None with --no-cache (which also ignores the results log)."""
    shard: Shard | None = None


@dataclass(frozen=True)
class Group:
    """The submissions of a run graded against one assignment."""

    assignment: Assignment
    submissions: tuple[Submission, ...]
    refusals: Mapping[str, str] = field(default_factory=dict)
    """Submission (as given) -> why it is refused (a notebook for another assignment): an error row, never run."""
    read: Mapping[str, bytes] = field(default_factory=dict)
    """Submission (as given, of this group or another) -> SHA-256 of the bytes read to route it (with a cache): a
    grade kept for them is found without reading the file again (`batch.Grader.grade_all`)."""


@dataclass(frozen=True)
class Counts:
    """Where the grades of a run came from."""

    graded: int
    resumed: int
    """Found in the results log of an earlier, interrupted or repeated, run."""
    cached: int


class ClassRun:
    """One batch over a class (or one shard of it), each submission graded against its group's assignment.

    The groups are graded one after the other, each by its own Grader, into one results log.
    """

    def __init__(self, groups: Sequence[Group], settings: Settings) -> None:
        self.groups = tuple(groups)
        self.settings = settings
        shard = settings.shard
        self._graders: list[batch.Grader | None] = [None] * len(self.groups)
        # Per submission of the run, in order: the submission, its index in the whole class (merging shards
        # restores that order) and its group's number; arrays, not an object each, as a class may be large.
        self.submissions: list[Submission] = []
        self._positions = array("q")
        self._group_of = array("I")
        self._fingerprints: list[str] = []
        position = 0
        for number, group in enumerate(self.groups):
            limits = group.assignment.defaults.with_options(timeout=settings.timeout).limits.as_wire()
            self._fingerprints.append(store.run_fingerprint(group.assignment.directory, group.assignment.name,
                                                            self._seed(group), limits))
            for submission in group.submissions:
                if shard is None or shard.holds(submission):
                    self.submissions.append(submission)
                    self._positions.append(position)
                    self._group_of.append(number)
                position += 1
        self.assignment_of = {submission.given: self.groups[number].assignment.name
                              for submission, number in zip(self.submissions, self._group_of)}
        """Submission (as given) -> the assignment it is graded against."""
        self._scratch = None
        if settings.out is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="backprop-grader-log-")
        log_dir = settings.out if settings.out is not None else Path(self._scratch.name)
        if settings.cache_dir is None and (log_dir / RESULTS_LOG).exists():
            (log_dir / RESULTS_LOG).unlink()  # --no-cache: grade everything again
        self.log = store.GradeLog(log_dir / RESULTS_LOG)
        self.cache = store.GradeLog(settings.cache_dir / CACHE_FILE) if settings.cache_dir is not None else None
        self._key_of: dict[str, str] = {}
        """Submission (as given) -> its key, known once its file is read (the digest of the bytes graded)."""
        self._layers: tuple[Layer, ...] | None = None
        self._counts = {GRADED: 0, RESUMED: 0, CACHED: 0}

    @property
    def counts(self) -> Counts:
        return Counts(self._counts[GRADED], self._counts[RESUMED], self._counts[CACHED])

    def _seed(self, group: Group) -> int:
        return group.assignment.defaults.seed if self.settings.seed is None else self.settings.seed

    def _grader(self, number: int) -> batch.Grader:
        """The group's grader, made when its group's turn comes (or when the sandbox layers are asked for)."""
        grader = self._graders[number]
        if grader is None:
            group = self.groups[number]
            graded_here = self._group_of.count(number)  # this shard's share of the group
            grader = batch.Grader(group.assignment, self._seed(group), lanes(self.settings.jobs, graded_here),
                                  self.settings.timeout)
            self._graders[number] = grader
        return grader

    def grades(self) -> Iterator[Grade]:
        """Every submission's grade in order, each in the results log (and the cache) before it is yielded.

        A grade known for the bytes routing read (`Group.read`) is served without reading the file again; any
        other file is read when its turn comes, and its grade kept under the digest of the bytes graded. Once
        every submission has its grade, the log keeps only this class's lines.
        """
        self._key_of = {}
        for number in range(len(self.groups)):
            members = [submission for submission, group in zip(self.submissions, self._group_of) if group == number]
            if not members:
                continue
            grader = self._grader(number)
            known = functools.partial(self._known, number=number, grader=grader)
            for outcome in grader.grade_all(members, known, self.groups[number].read):
                submission = outcome.grade.submission
                key = self._key(number, submission, outcome.digest)
                self._key_of[submission.given] = key
                source = outcome.earlier or GRADED
                self._counts[source] += 1
                cached_line = self.cache.line(key) if source == CACHED and self.cache is not None else None
                if cached_line is not None:
                    self.log.append_line(key, cached_line)  # the very record the grade was read from
                elif source != RESUMED:
                    record = records.to_record(outcome.grade)
                    self.log.append(key, record)
                    refused = submission.given in self.groups[number].refusals
                    if source == GRADED and self.cache is not None and store.is_final(record) and not refused:
                        self.cache.append(key, record)
                yield outcome.grade
            self._layers = grader.layers(False) or self._layers
            grader.close()  # its fork servers are not needed by the next group
        self.log.keep_only(set(self._key_of.values()))

    def layers(self, start: bool = True) -> tuple[Layer, ...] | None:
        """The sandbox layers in effect for this run's children (None if none ran and `start` is false)."""
        if self._layers is None and start and self.groups:
            self._layers = self._grader(0).layers(True)
        return self._layers

    def stored(self, assignment: str | None = None) -> Iterator[tuple[int, Grade]]:
        """(position in the whole class, grade) of every submission graded (of one assignment), read back from the log."""
        for submission, position, number in zip(self.submissions, self._positions, self._group_of):
            if assignment is not None and self.groups[number].assignment.name != assignment:
                continue
            key = self._key_of.get(submission.given)
            grade = records.grade_or_none(self.log.get(key), submission) if key is not None else None
            if grade is not None:
                yield position, grade

    def _key(self, number: int, submission: Submission, digest: str) -> str:
        key = store.submission_key(self._fingerprints[number], submission.given, digest)
        refusal = self.groups[number].refusals.get(submission.given)
        if refusal is not None:  # its own key: the same notebook graded later must not resume a refusal
            key = hashlib.sha256(f"{key}\0refused\0{refusal}".encode()).hexdigest()
        return key

    def _known(self, submission: Submission, digest: str, number: int, grader: batch.Grader) -> tuple[Grade, str] | None:
        refusal = self.groups[number].refusals.get(submission.given)
        if refusal is not None:  # decided here, never run, never cached: it depends on the other assignments too
            from grader import judge  # numpy: not loaded by a re-grade served from the cache

            return judge.unjudged(submission, grader.rubric, ERROR, [refusal]), GRADED
        key = self._key(number, submission, digest)
        for source, kept in ((RESUMED, self.log), (CACHED, self.cache)):
            record = kept.get(key) if kept is not None else None
            grade = records.grade_or_none(record, submission) if record is not None and store.is_final(record) else None
            if grade is not None:
                return grade, source
        return None

    def close(self) -> None:
        for grader in self._graders:
            if grader is not None:
                grader.close()
        self.log.close()
        if self.cache is not None:
            self.cache.close()
        if self._scratch is not None:
            self._scratch.cleanup()

    def __enter__(self) -> ClassRun:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
