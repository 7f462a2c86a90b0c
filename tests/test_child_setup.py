"""What a fork server makes for its children before forking them, as a child's code finds it.

The server works out the children's resource limits and makes their standard streams once
(grader/sandbox/server.py, `_ForChild`, `_standard_streams`); each child only applies them and
sets its environment. From inside a notebook's function: the limits are the run's, no descriptor
but 0-3 is open, Landlock holds where the probe found it, TMPDIR and HOME name the child's own
scratch folder both in os.environ and in the C environment its subprocesses inherit, stdin is
empty, and the streams carry nothing of the child before on the same server. Through the real
CLI on one server (--jobs 1), as root and again as uid 65534.
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.cli import grade
from grader.models import Limits
from tests import unprivileged
from tests.conftest import invoke_grade
from tests.notebooks import SOLUTIONS, student_notebook, write

TIMEOUT = 10

# Raises a short verdict on the first (public) case, whose exception text reaches the report.
_INSPECT = """
import ctypes, os, resource, signal, sys
problems = []
opened = [fd for fd in range(64) if _is_open(fd)]
if opened != [0, 1, 2, 3]:
    problems.append(f"open descriptors {opened}")
for name, expected in EXPECTED_LIMITS.items():
    if resource.getrlimit(getattr(resource, name)) != (expected, expected):
        problems.append(f"{name} {resource.getrlimit(getattr(resource, name))}")
if signal.getsignal(signal.SIGXFSZ) != signal.SIG_IGN:
    problems.append("SIGXFSZ not ignored")
libc = ctypes.CDLL(None)
libc.getenv.restype = ctypes.c_char_p
here = os.getcwd()
for variable in ("TMPDIR", "HOME"):
    seen = (os.environ.get(variable), (libc.getenv(variable.encode()) or b"").decode())
    if seen != (here, here):
        problems.append(f"{variable} {seen}")
try:
    os.listdir("/")
    if LANDLOCK:
        problems.append("/ listed under Landlock")
except PermissionError:
    if not LANDLOCK:
        problems.append("/ refused without Landlock")
try:
    input()
    problems.append("stdin gave a line")
except EOFError:
    pass
sys.stdout.flush()
captured = os.pread(1, 4096, 0).decode()
if captured != OWN_OUTPUT:
    problems.append(f"stdout {captured!r}")
if os.getsid(0) != os.getpid():
    problems.append("not in a session of its own")
if os.getpriority(os.PRIO_PROCESS, 0) != EXPECTED_NICE:
    problems.append(f"nice {os.getpriority(os.PRIO_PROCESS, 0)}")
folder = os.path.basename(os.path.dirname(here))
raise ValueError(f"SETUP {'ok' if not problems else '; '.join(problems)} IN {folder} END")
"""
_HELPERS = """
import sys

def _is_open(fd):
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False

# Left in the stream's buffer (no newline, no flush): only this child's stdout may ever hold it.
sys.stdout.write(OWN_OUTPUT)
"""


def _expected_nice() -> int:
    """The grader's own: neither a server nor a child runs at another priority than the process that graded it."""
    return os.getpriority(os.PRIO_PROCESS, 0)


def _landlock() -> bool:
    return "[x] landlock-fs" in CliRunner().invoke(grade, ["--sandbox-info"]).output


def _notebook(mark: str, landlock: bool) -> object:
    limits = Limits(timeout=TIMEOUT, statement=1.0, call=1.0)
    expected = {"RLIMIT_AS": limits.memory_mb << 20, "RLIMIT_CPU": TIMEOUT + 1, "RLIMIT_FSIZE": limits.output_bytes,
                "RLIMIT_NOFILE": 256, "RLIMIT_CORE": 0}
    settings = (f"import os\nEXPECTED_LIMITS = {expected!r}\nLANDLOCK = {landlock!r}\nOWN_OUTPUT = {mark!r}\n"
                f"EXPECTED_NICE = {_expected_nice()}\n")
    return student_notebook(_INSPECT, helper_cells=[settings + _HELPERS], demo=False)


def test_each_child_applies_what_its_server_made_for_it(tmp_path: Path) -> None:
    """Three students in a row on one server: each finds the run's limits, descriptors 0-3 only, Landlock as the
    probe found it, its own scratch folder as TMPDIR and HOME (a new one each), an empty stdin, in its stdout only
    what it wrote itself, not what the child before it left unflushed in the same stream, a session of its own, and
    the grader's nice value."""
    landlock = _landlock()
    for name in ("a", "b", "c"):
        write(_notebook(f"OUTPUT-OF-{name.upper()}", landlock), tmp_path / f"{name}.ipynb")
    run = invoke_grade(tmp_path, "--timeout", str(TIMEOUT), "--no-cache", jobs=1)
    assert run.exit_code == 0, run.stderr[-2000:]
    folders = set()
    for name in ("a", "b", "c"):
        shown = " ".join(run.submission(name)["messages"])
        found = re.search(r"SETUP (.*?) IN (\S+) END", shown)
        assert found is not None, shown
        assert found.group(1) == "ok", found.group(1)
        folders.add(found.group(2))
    assert len(folders) == 3 and all(folder.startswith("job-") for folder in folders), folders


@pytest.mark.skipif(unprivileged.unavailable() is not None, reason=str(unprivileged.unavailable()))
def test_child_setup_unprivileged() -> None:
    """The tests of this file again as uid 65534, where the children keep the grader's uid."""
    result = unprivileged.run_unprivileged(str(Path(__file__)))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "4 passed" in result.stdout


def test_planned_limits_stay_within_the_inherited_hard_limits() -> None:
    """limits.planned caps each limit at the hard limit the server inherited (a lower one is never raised, which
    setrlimit would refuse), and the child gets exactly those pairs. In a fork whose open-files hard limit is 100."""
    from grader.sandbox import limits

    wanted = {"memory_mb": 512, "timeout": 2.5, "output_bytes": 4096}
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (100, 100))
            limits._planned.cache_clear()
            plan = dict(limits.planned(wanted))
            limits.apply_in_child(limits.planned(wanted))
            seen = {kind: resource.getrlimit(kind) for kind in plan}
            os.write(write_end, repr((plan == seen, plan[resource.RLIMIT_NOFILE], plan[resource.RLIMIT_CPU],
                                      plan[resource.RLIMIT_AS], plan[resource.RLIMIT_FSIZE])).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    said = os.read(read_end, 4096).decode()
    os.close(read_end)
    os.waitpid(pid, 0)
    assert said == repr((True, (100, 100), (4, 4), (512 << 20, 512 << 20), (4096, 4096))), said


def test_a_grader_without_an_open_stderr_still_grades(tmp_path: Path) -> None:
    """A process that embeds the grader with descriptor 2 closed (its sys.stderr replaced): its fork servers, which
    inherit the closed descriptor, still make their children's streams (over /dev/null until each child puts its
    capture file there) and grade the notebook in full."""
    path = write(student_notebook(), tmp_path / "alice.ipynb")
    program = ("import io, sys\n"
               "sys.stderr = io.StringIO()\n"
               "from click.testing import CliRunner\n"
               "from grader.cli import grade\n"
               "done = CliRunner().invoke(grade, [sys.argv[1], '--solutions', sys.argv[2], '--json', '-', '--no-cache'])\n"
               "print('EXIT', done.exit_code)\n"
               "print(done.stdout)\n")
    done = subprocess.run(["sh", "-c", '"$0" -c "$1" "$2" "$3" 2>&-', sys.executable, program, str(path),
                           str(SOLUTIONS)], capture_output=True, text=True, timeout=120)
    assert done.stdout.startswith("EXIT 0"), done.stdout[-2000:]
    report = json.loads(done.stdout.split("\n", 1)[1])
    row = report["submissions"][0]
    assert row["score"] == row["max_score"], row["messages"]


def test_a_result_written_in_time_is_read_after_the_deadline() -> None:
    """A server that gets the CPU back only after a child's deadline still reads the result the child wrote in time
    (server._read_result); a child that wrote nothing by then has timed out, without a wait."""
    import time

    from grader.sandbox import frames, server

    read_end, write_end = os.pipe()
    try:
        os.write(write_end, b"".join(frames.frame(b'{"cases": []}')))
        payload, timed_out = server._read_result(read_end, time.monotonic() - 1.0)
        assert (bytes(payload or b""), timed_out) == (b'{"cases": []}', False)
        started = time.monotonic()
        assert server._read_result(read_end, time.monotonic() - 1.0) == (None, True)
        assert time.monotonic() - started < 0.5
    finally:
        os.close(read_end)
        os.close(write_end)
