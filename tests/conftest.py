"""Shared fixtures: the repo's folders and a `run_grade` helper driving the real `grade` command."""

from __future__ import annotations

import compileall
import fcntl
import json
import os
import stat
import tempfile
import traceback
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from click.testing import CliRunner

import grader
from grader.cli import grade
from grader.sandbox import client
from tests.notebooks import ASSIGNMENTS, SOLUTIONS


def pytest_sessionstart(session: pytest.Session) -> None:
    """Byte-compile the grader once, as `pip install` of a wheel does: where PYTHONDONTWRITEBYTECODE is set (this
    project's machines set it) an editable checkout would otherwise be compiled again by every `grade` process the
    suite starts (about 0.7 s of each, measured), which alone would put the suite past its time budget.

    Under pytest-xdist only the controlling process compiles, before it starts the workers: two workers would
    otherwise write the same files at once."""
    if hasattr(session.config, "workerinput"):
        return
    compileall.compile_dir(Path(grader.__file__).parent, quiet=1)


# Some tests change or watch the whole machine, so no test of another pytest-xdist worker may run beside them:
# - those using `python_prefix_modes`: the Python's ancestors' modes are the machine's, and a grade run or an
#   unprivileged re-run started while /root is traversable would find it closed again half-way (and two such tests
#   interleaved would put back each other's changed modes);
# - those marked `alone`, such as the hostile batch, which counts every live process of a sandbox uid as its own.
# One lock file for the session: shared by every test, exclusive for those.
ALONE_LOCK = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        config.stash[ALONE_LOCK] = config.workerinput["alone_lock"]
    else:
        handle, config.stash[ALONE_LOCK] = tempfile.mkstemp(prefix="backprop-grader-alone-", suffix=".lock")
        os.close(handle)


def pytest_unconfigure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput") and ALONE_LOCK in config.stash:
        os.unlink(config.stash[ALONE_LOCK])


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: each worker is handed the controller's lock file."""
    node.workerinput["alone_lock"] = node.config.stash[ALONE_LOCK]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """The lock around a test's set-up, call and tear-down (module fixtures built or ended there included)."""
    alone = item.get_closest_marker("alone") or "python_prefix_modes" in getattr(item, "fixturenames", ())
    mode = fcntl.LOCK_EX if alone else fcntl.LOCK_SH
    with open(item.config.stash[ALONE_LOCK], "rb") as lock:
        fcntl.flock(lock, mode)
        yield


# Variables of the user's shell that would change what the grader does.
CLEAN_ENV: dict[str, str | None] = {"GRADER_SEED": None, "GRADER_SOLUTIONS": None, "GITHUB_ACTIONS": None,
                                     "GITHUB_STEP_SUMMARY": None}


class GradeRun(NamedTuple):
    """What one `grade ... --json -` invocation gave back: (exit_code, doc, stderr)."""

    exit_code: int
    doc: dict | None
    """The JSON document printed on stdout, or None when stdout was not JSON."""
    stderr: str

    def submission(self, student: str) -> dict:
        """The row of the student with this id (exactly one expected)."""
        assert self.doc is not None, self.stderr
        rows = [row for row in self.doc["submissions"] if row["student"] == student]
        assert len(rows) == 1, [row["student"] for row in self.doc["submissions"]]
        return rows[0]


def steps_of(row: dict) -> dict[str, dict]:
    """A submission's steps by name."""
    return {step["name"]: step for step in row["steps"]}


def invoke_grade(*args: Any, env: Mapping[str, str | None] | None = None, jobs: int | None = 2,
                 solutions: Path | None = SOLUTIONS, json_out: bool = True) -> GradeRun:
    """Run `grade` through CliRunner with --solutions, --jobs and --json - unless told otherwise.

    An exception escaping the command (anything but Click's own exit) fails the test with its traceback.
    """
    argv = [str(arg) for arg in args]
    if solutions is not None:
        argv += ["--solutions", str(solutions)]
    if jobs is not None:
        argv += ["--jobs", str(jobs)]
    if json_out:
        argv += ["--json", "-"]
    result = CliRunner().invoke(grade, argv, env={**CLEAN_ENV, **(env or {})})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        trace = "".join(traceback.format_exception(result.exception))
        raise AssertionError(f"grade {' '.join(argv)} raised instead of reporting:\n{trace}")
    try:
        doc = json.loads(result.stdout) if json_out else None
    except ValueError:
        doc = None
    return GradeRun(result.exit_code, doc, result.stderr)


@pytest.fixture(scope="session", autouse=True)
def _private_cache_home(tmp_path_factory):
    """Runs without --out cache grades under $XDG_CACHE_HOME: the tests keep theirs out of the user's home."""
    saved = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache-home"))
    yield
    if saved is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = saved


@pytest.fixture
def python_prefix_modes():
    """As root, `grade-gradescope run` may make the Python's ancestors traversable (o+x): put this machine's modes back."""
    ancestors = {str(parent) for path in client.readable_paths() for parent in Path(path).parents}
    modes = {path: stat.S_IMODE(os.stat(path).st_mode) for path in ancestors}
    yield
    for path, mode in modes.items():
        os.chmod(path, mode)


@pytest.fixture(scope="session")
def solutions_dir() -> Path:
    return SOLUTIONS


@pytest.fixture(scope="session")
def assignments_dir() -> Path:
    return ASSIGNMENTS


@pytest.fixture(scope="session")
def run_grade() -> Callable[..., GradeRun]:
    """`run_grade(*args, env=..., jobs=2)` -> (exit_code, json_doc, stderr, ...)."""
    return invoke_grade
