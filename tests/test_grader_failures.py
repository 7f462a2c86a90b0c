"""Grader-side failures are never final: retried once on a fresh fork server, never cached, regraded next run.

The failure is real: the test kills the grading run's fork server (SIGKILL) while it runs a job.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader.store import GRADER_FAILURE
from tests import unprivileged
from tests.notebooks import SOLUTIONS, student_notebook, write

GRADE = Path(sys.executable).parent / "grade"
# Three top-level statements of 0.9 s (each under the rubric's 1 s per statement): a job of about 3 s.
SLOW_CELL = "import time\ntime.sleep(0.9)\ntime.sleep(0.9)\ntime.sleep(0.9)"


def _parent_and_start(pid: int | str) -> tuple[int, int]:
    """A process's parent and its start time (clock ticks since boot)."""
    with open(f"/proc/{pid}/stat", "rb") as stream:
        fields = stream.read().rsplit(b")", 1)[1].split()
    return int(fields[1]), int(fields[19])


def _now() -> int:
    """The time since boot in clock ticks, as /proc/PID/stat gives start times."""
    with open("/proc/uptime") as stream:
        return int(float(stream.read().split()[0]) * os.sysconf("SC_CLK_TCK"))


def _servers_of(parent: int, since: int) -> list[int]:
    """The fork servers `parent` started at or after `since`: its children that start a server. A job child that the
    grader adopted when its server died has the same command line and, like a server, a session of its own, but it
    started before its server was killed. With a PID namespace the child is the server's launcher, pid 1's parent
    there: killing it ends the server."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as stream:
                command = stream.read()
            starts_a_server = b"grader.sandbox.server" in command or b"grader.sandbox.launcher" in command
            their_parent, started = _parent_and_start(entry)
            if their_parent == parent and started >= since and starts_a_server:
                found.append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    return sorted(found)


def _grade(folder: Path, out: Path, kills: int) -> tuple[subprocess.CompletedProcess, list[int]]:
    """`grade --jobs 1` on `folder`; each of the first `kills` fork servers is SIGKILLed 1.3 s into its life."""
    command = [str(GRADE), str(folder), "--solutions", str(SOLUTIONS), "--jobs", "1", "--out", str(out)]
    env = {**os.environ, "XDG_CACHE_HOME": str(out.parent / "xdg")}
    env.pop("GRADER_SEED", None)
    running = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed: list[int] = []
    deadline = time.monotonic() + 60
    since = 0
    while len(killed) < kills and running.poll() is None and time.monotonic() < deadline:
        fresh = [pid for pid in _servers_of(running.pid, since) if pid not in killed]
        if fresh:
            time.sleep(1.3)  # past the probe, inside the ~3 s job
            since = _now()
            os.kill(fresh[0], signal.SIGKILL)
            killed.append(fresh[0])
        time.sleep(0.02)
    stdout, stderr = running.communicate(timeout=120)
    return subprocess.CompletedProcess(command, running.returncode, stdout, stderr), killed


def _row(out: Path) -> dict:
    (row,) = json.loads((out / "results.json").read_text())["submissions"]
    return row


def _class(tmp_path: Path) -> Path:
    folder = tmp_path / "class"
    write(student_notebook(helper_cells=[SLOW_CELL]), folder / "alice" / "backward_pass.ipynb")
    return folder


def test_a_server_killed_mid_job_is_retried_on_a_fresh_one(tmp_path):
    """Retry: a fork server that dies under a job costs the student nothing; the job reruns on a new server."""
    out = tmp_path / "out"
    done, killed = _grade(_class(tmp_path), out, kills=1)
    assert len(killed) == 1 and done.returncode == 0, done.stdout + done.stderr
    row = _row(out)
    assert (row["status"], row["score"]) == ("graded", 10.0), row
    assert "1 run now, 0 resumed" in done.stderr


def test_a_repeated_grader_failure_is_reported_as_such_and_regraded_next_run(tmp_path):
    """Admission: a grade the grader's failure caused says so, stays out of the cache and is not resumed."""
    out = tmp_path / "out"
    folder = _class(tmp_path)
    done, killed = _grade(folder, out, kills=2)
    assert len(killed) == 2, done.stdout + done.stderr
    row = _row(out)
    assert row["status"] == "error" and row["score"] == 0.0, row
    assert row["messages"][0].startswith(GRADER_FAILURE) and "the sandbox process stopped" in row["messages"][0]
    assert "grades this submission again" in row["messages"][0]
    cache = out / ".cache" / "grades.jsonl"
    assert not cache.exists() or cache.read_text() == ""
    again, killed = _grade(folder, out, kills=0)
    assert again.returncode == 0 and not killed, again.stdout + again.stderr
    assert "1 run now, 0 resumed from the results log, 0 from the cache" in again.stderr
    assert (_row(out)["status"], _row(out)["score"]) == ("graded", 10.0)
    assert cache.read_text().count("\n") == 1  # the real grade is cached now


@pytest.mark.skipif(unprivileged.unavailable() is not None, reason=str(unprivileged.unavailable()))
def test_grader_failures_are_never_final_unprivileged():
    """The retry and the cache-admission rule again as uid 65534, where children share the grader's uid."""
    # The repeated failure covers both: the retry on a fresh server, and the regrade on the next run.
    done = unprivileged.run_unprivileged(f"{Path(__file__)}::test_a_repeated_grader_failure_is_reported_as_such_and_"
                                         "regraded_next_run")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "1 passed" in done.stdout
