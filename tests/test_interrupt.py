"""A batch stopped half-way, and two batches on one --out, through the real `grade` in subprocesses.

Mechanisms held (issue 9, "Also"): an --out folder is locked for the whole run, and a second run
on it exits 2 naming the holder; Ctrl-C (SIGINT) and SIGTERM end a batch with 130 and 143, say
how many grades the results log kept and that the same command resumes, write no report, and
leave no sandbox process behind; the same command then resumes and completes.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader import lock
from tests import hostile
from tests.notebooks import SOLUTIONS, reference_body, student_notebook, write
from tests.unprivileged import MARKER, run_unprivileged

SLOW_CALL = 0.03
"""Seconds the slow notebook sleeps in each call of its function: about 1.5 s for its whole grading, still
running well after the 0.3 s the test waits before it signals, and the rerun's cost."""


def _class(folder: Path, slow: float = SLOW_CALL) -> Path:
    """Two quick right notebooks, then a right one that sleeps `slow` s per call (graded last, --jobs 1)."""
    submissions = folder / "class"
    for student in ("alice", "bob"):
        write(student_notebook(reference_body()), submissions / f"{student}.ipynb")
    write(student_notebook(f"import time\ntime.sleep({slow})\n" + reference_body()), submissions / "zed.ipynb")
    return submissions


def _command(submissions: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "grader", str(submissions), "--solutions", str(SOLUTIONS), "--out", str(out),
            "--jobs", "1", "--timeout", "30", "-q"]


def _lines(path: Path) -> int:
    return len(path.read_bytes().splitlines()) if path.exists() else 0


def _ours(pid: int, command: str, token: str) -> bool:
    """Left by this test: a descendant (orphans come back to us, a subreaper) or a process naming its class.

    Sandbox processes of other grader runs on the machine (other checkouts' suites) are not ours.
    """
    for _ in range(64):
        try:
            parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return token in command
        if parent == os.getpid():
            return True
        if parent <= 1:
            return token in command
        pid = parent
    return token in command


def _wait_for(condition, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


# Ctrl-C in a terminal signals the whole foreground process group, the sandbox's processes included.
@pytest.mark.parametrize(("sent", "status", "group"), [(signal.SIGINT, 130, False), (signal.SIGINT, 130, True),
                                                       (signal.SIGTERM, 143, False)])
def test_stopped_batch_says_what_it_kept_and_resumes(tmp_path, sent, status, group):
    """Ctrl-C / SIGTERM: exit 128+signal, the count saved, no report, no process left; the rerun resumes."""
    hostile.become_subreaper()
    submissions, out = _class(tmp_path), tmp_path / "out"
    log = out / "results.jsonl"
    process = subprocess.Popen(_command(submissions, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=group)
    try:
        _wait_for(lambda: _lines(log) >= 2)
        time.sleep(0.3)  # the slow notebook is now running in the sandbox
        if group:
            os.killpg(process.pid, sent)
        else:
            process.send_signal(sent)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == status, stderr
    assert f"Interrupted: 2 of 3 grades saved in {log}; run the same command again to resume." in stderr
    assert "Traceback" not in stderr
    assert _lines(log) == 2
    assert sorted(path.name for path in out.iterdir()) == [".cache", "results.jsonl"]
    assert [entry for entry in hostile.leftovers(str(submissions)) if _ours(*entry, str(submissions))] == []

    again = subprocess.run(_command(submissions, out), capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert "3 submissions: 3 graded; 1 run now, 2 resumed from the results log, 0 from the cache" in again.stderr
    assert (out / "results.json").exists() and _lines(log) == 3


def test_second_run_on_the_same_out_is_refused(tmp_path):
    """The --out lock: a second run exits 2 at once, naming the first run's pid; the lock ends with the first run."""
    submissions, out = _class(tmp_path, slow=1), tmp_path / "out"
    first = subprocess.Popen(_command(submissions, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: _lines(out / "results.jsonl") >= 2)
        second = subprocess.run(_command(submissions, out), capture_output=True, text=True, timeout=30)
        assert second.returncode == 2, second.stderr
        assert (f"Error: {out} is in use by another grade run (pid {first.pid}); wait for it or use another --out"
                in second.stderr)
        assert "Traceback" not in second.stderr
        assert _lines(out / "results.jsonl") == 2  # the refused run wrote nothing
        first.terminate()
        _, stderr = first.communicate(timeout=30)
    finally:
        first.kill()
    assert first.returncode == 143, stderr
    assert not (out / lock.LOCK_FILE).exists()
    with lock.exclusive(out):  # free again: raises ConfigError if still held
        pass


@pytest.mark.skipif(os.environ.get(MARKER) is not None, reason="this is the unprivileged re-run itself")
def test_stopped_batch_and_lock_unprivileged():
    """Ctrl-C and the lock again as uid 65534, where the sandbox has no uid to drop to."""
    result = run_unprivileged("tests/test_interrupt.py::test_stopped_batch_says_what_it_kept_and_resumes[2-130-True]",
                              "tests/test_interrupt.py::test_second_run_on_the_same_out_is_refused")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "2 passed" in result.stdout


def test_json_to_a_pipe_is_written_in_place(tmp_path):
    """`--json` naming a device or pipe (/dev/null, /dev/stdout, a FIFO) writes into it, never replaces it by a file.

    Run as root, a rename over /dev/null replaced the machine's null device with a root-only file.
    """
    submissions = tmp_path / "class"
    write(student_notebook(reference_body()), submissions / "alice.ipynb")
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE, text=True)
    result = subprocess.run([sys.executable, "-m", "grader", str(submissions), "--solutions", str(SOLUTIONS),
                             "--json", str(fifo), "-q"], capture_output=True, text=True, timeout=60)
    received, _ = reader.communicate(timeout=30)
    assert result.returncode == 0, result.stderr
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert '"student": "alice"' in received and '"score": 10' in received
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".report.fifo")] == []
