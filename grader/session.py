"""Grading a class: resume from the results log, reuse the cache, grade the rest, keep every grade on disk.

Each grade is appended to the results log the moment it is made, so after Ctrl-C or a crash a
rerun with the same output folder grades only what is missing. The content cache serves any
run, any output folder: a submission whose bytes, path, grader version, solutions, seed and
limits are unchanged is never run again. Reports are then assembled from the log, one grade
at a time, so memory stays flat however large the class. A grade the grader's own failure
caused (`store.is_final`) is never cached and never resumed: the next run grades it again.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from grader import batch, records, store
from grader.assignment import Assignment
from grader.models import Grade, Submission
from grader.sandbox.layers import Layer
from grader.shard import Shard

RESULTS_LOG = "results.jsonl"
CACHE_FILE = "grades.jsonl"
GRADED, RESUMED, CACHED = "graded", "resumed", "cached"


def default_cache_dir(out: Path | None) -> Path:
    """OUT/.cache with --out; else $XDG_CACHE_HOME/backprop-grader (~/.cache/backprop-grader)."""
    if out is not None:
        return out / ".cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "backprop-grader"


@dataclass(frozen=True)
class Settings:
    """How to grade a class."""

    seed: int
    jobs: int
    timeout: float | None = None
    out: Path | None = None
    """Output folder; holds the results log. None: the log lives in a temporary folder."""
    cache_dir: Path | None = None
    """Content cache folder; None with --no-cache (which also ignores the results log)."""
    shard: Shard | None = None


@dataclass(frozen=True)
class Counts:
    """Where the grades of a run came from."""

    graded: int
    resumed: int
    """Found in the results log of an earlier, interrupted or repeated, run."""
    cached: int


class ClassRun:
    """One batch over a class (or one shard of it)."""

    def __init__(self, assignment: Assignment, submissions: list[Submission], settings: Settings) -> None:
        self.assignment = assignment
        self.settings = settings
        shard = settings.shard
        chosen = [(position, s) for position, s in enumerate(submissions) if shard is None or shard.holds(s)]
        self.positions = [position for position, _ in chosen]
        """Index of each submission in the whole class (merging shards restores that order)."""
        self.submissions = [submission for _, submission in chosen]
        self._grader = batch.Grader(assignment, settings.seed, settings.jobs, settings.timeout)
        fingerprint = store.run_fingerprint(assignment.directory, assignment.name, settings.seed,
                                            self._grader.rubric.limits.as_wire())
        self._fingerprint = fingerprint
        self._keys: list[str] = []
        """The key of each submission graded so far, in order: known only once its file is read."""
        self._scratch = None
        if settings.out is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="backprop-grader-log-")
        log_dir = settings.out if settings.out is not None else Path(self._scratch.name)
        if settings.cache_dir is None and (log_dir / RESULTS_LOG).exists():
            (log_dir / RESULTS_LOG).unlink()  # --no-cache: grade everything again
        self.log = store.GradeLog(log_dir / RESULTS_LOG)
        self.cache = store.GradeLog(settings.cache_dir / CACHE_FILE) if settings.cache_dir is not None else None
        self._counts = {GRADED: 0, RESUMED: 0, CACHED: 0}

    @property
    def counts(self) -> Counts:
        return Counts(self._counts[GRADED], self._counts[RESUMED], self._counts[CACHED])

    def grades(self) -> Iterator[Grade]:
        """Every submission's grade in order, each in the results log (and the cache) before it is yielded.

        Each file is read once, when its turn comes: its key is the digest of the bytes graded.
        Once every submission has its grade, the log keeps only this class's lines.
        """
        self._keys = []
        for outcome in self._grader.grade_all(self.submissions, self._known):
            key = self._key(outcome.grade.submission, outcome.digest)
            self._keys.append(key)
            source = outcome.earlier or GRADED
            self._counts[source] += 1
            if source != RESUMED:
                record = records.to_record(outcome.grade)
                self.log.append(key, record)
                if source == GRADED and self.cache is not None and store.is_final(record):
                    self.cache.append(key, record)
            yield outcome.grade
        self.log.keep_only(set(self._keys))

    def layers(self, start: bool = True) -> tuple[Layer, ...] | None:
        """The sandbox layers in effect for this run's children (None if none ran and `start` is false)."""
        return self._grader.layers(start)

    def stored(self) -> Iterator[tuple[int, Grade]]:
        """(position in the whole class, grade) of every submission graded, read back from the results log."""
        for position, submission, key in zip(self.positions, self.submissions, self._keys):
            record = self.log.get(key)
            grade = records.grade_or_none(record, submission)
            if grade is not None:
                yield position, grade

    def _key(self, submission: Submission, digest: str) -> str:
        return store.submission_key(self._fingerprint, submission.given, digest)

    def _known(self, loaded: batch.Loaded) -> tuple[Grade, str] | None:
        key = self._key(loaded.submission, loaded.digest)
        for source, kept in ((RESUMED, self.log), (CACHED, self.cache)):
            record = kept.get(key) if kept is not None else None
            grade = records.grade_or_none(record, loaded.submission) if record is not None and store.is_final(record) else None
            if grade is not None:
                return grade, source
        return None

    def close(self) -> None:
        self._grader.close()
        self.log.close()
        if self.cache is not None:
            self.cache.close()
        if self._scratch is not None:
            self._scratch.cleanup()

    def __enter__(self) -> ClassRun:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
