"""How many fork servers grade a group when --jobs is not given: the CPU count, one more for a large class."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from grader import assignment, session
from grader.cli import grade
from grader.models import Submission
from tests.notebooks import SOLUTIONS


@pytest.mark.parametrize("cpus", [1, 2, 8])
def test_one_more_server_from_the_threshold_on(monkeypatch, cpus):
    monkeypatch.setattr(session.os, "cpu_count", lambda: cpus)
    threshold = session.EXTRA_LANE_FROM * cpus
    assert session.lanes(None, 1) == cpus
    assert session.lanes(None, threshold - 1) == cpus
    assert session.lanes(None, threshold) == cpus + 1
    assert session.lanes(None, 10 * threshold) == cpus + 1
    assert session.lanes(3, 10 * threshold) == 3  # --jobs given: exactly that
    assert session.lanes(1, 1) == 1


def test_without_a_cpu_count_one_server(monkeypatch):
    monkeypatch.setattr(session.os, "cpu_count", lambda: None)
    assert session.lanes(None, 10) == 1
    assert session.lanes(None, session.EXTRA_LANE_FROM) == 2


@pytest.mark.parametrize(("jobs", "size", "expected"), [(None, 99, 2), (None, 100, 3), (2, 500, 2), (4, 3, 4)])
def test_a_class_run_grades_its_group_with_that_many_servers(tmp_path, monkeypatch, jobs, size, expected):
    """The grader of each group, as a class run makes it (no server starts before a job needs one)."""
    monkeypatch.setattr(session.os, "cpu_count", lambda: 2)
    loaded = assignment.load(SOLUTIONS, "backward_pass")
    members = tuple(Submission(str(tmp_path / f"s{n}.ipynb"), f"s{n}.ipynb", f"s{n}") for n in range(size))
    settings = session.Settings(None, jobs, out=tmp_path / "out", cache_dir=None)
    with session.ClassRun([session.Group(loaded, members)], settings) as run:
        assert run._grader(0).jobs == expected


def test_the_help_states_the_threshold():
    result = CliRunner().invoke(grade, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    assert f"one more for a class of at least {session.EXTRA_LANE_FROM} notebooks a CPU" in " ".join(result.output.split())
