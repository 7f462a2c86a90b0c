"""The installed commands end their process themselves (grader/entry.py `_leave`): the interpreter's exit status,
atexit handlers, joined threads and flushed streams, without its teardown."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from grader import blas_threads
from tests.notebooks import SOLUTIONS, reference_body, student_notebook, write


def _python(program: str, *arguments: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`program` in a new interpreter whose stdout is buffered, as a command's is when piped."""
    env = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    return subprocess.run([sys.executable, "-c", program, *arguments], capture_output=True, text=True, timeout=timeout,
                          env=env)


@pytest.mark.parametrize(("status", "code", "printed"), [
    ("None", 0, ""), ("0", 0, ""), ("3", 3, ""), ("True", 1, ""), ("'no solutions folder'", 1, "no solutions folder"),
])
def test_leaving_gives_the_status_the_interpreter_would(status, code, printed):
    """SystemExit's code as the interpreter reads it: None is 0, an int is itself, anything else is printed and 1."""
    done = _python(f"from grader import entry\nentry._leave({status})\nprint('not reached')")
    assert done.returncode == code, done.stderr
    assert done.stderr.strip() == printed and "not reached" not in done.stdout


def test_leaving_runs_the_atexit_handlers_joins_threads_and_flushes_what_was_written(tmp_path):
    """What the interpreter's own exit does and a caller may rely on: atexit handlers (in the reverse order of their
    registration), a thread that is not a daemon run to its end, buffered output written out."""
    marker = tmp_path / "thread-done"
    program = ("import atexit, sys, threading, time\n"
               "from grader import entry\n"
               "atexit.register(lambda: print('second handler'))\n"
               "atexit.register(lambda: print('first handler'))\n"
               f"threading.Thread(target=lambda: (time.sleep(0.3), open({str(marker)!r}, 'w').close())).start()\n"
               "sys.stdout.write('x' * 200000)\n"
               "entry._leave(0)\n")
    done = _python(program)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("x" * 200000)
    assert done.stdout[200000:].splitlines() == ["first handler", "second handler"]
    assert marker.exists()


def test_leaving_with_the_reader_gone_is_status_120_without_a_traceback():
    """Output still buffered for a pipe nobody reads any more: status 120, as from the interpreter, and no traceback."""
    program = ("import os, sys\n"
               "from grader import entry\n"
               "read, write = os.pipe()\n"
               "os.dup2(write, 1)\n"
               "os.close(read)\n"
               "sys.stdout.write('lost')\n"
               "entry._leave(0)\n")
    done = _python(program)
    assert done.returncode == 120
    assert "Traceback" not in done.stderr


def test_the_installed_command_exits_with_its_status_and_its_whole_report(tmp_path):
    """Through `python -m grader` (entry.grade): the JSON report on stdout is whole, the status is --fail-under's, and
    an atexit handler of the program that called it still runs; nothing after the call does."""
    path = write(student_notebook(reference_body(error="output_layer_out - target")),
                 tmp_path / "bob" / "backward_pass.ipynb")
    program = ("import atexit, sys\n"
               "from grader import entry\n"
               "atexit.register(lambda: print('handler ran', file=sys.stderr))\n"
               "sys.argv = ['grade', *sys.argv[1:]]\n"
               "entry.grade(prog_name='grade')\n"
               "print('returned', file=sys.stderr)\n")
    common = [str(path), "--solutions", str(SOLUTIONS), "--no-cache", "--json", "-", "-q"]
    for extra, status in (([], 0), (["--fail-under", "95"], 1)):
        done = _python(program, *common, *extra)
        assert done.returncode == status, done.stderr
        report = json.loads(done.stdout)
        assert [row["student"] for row in report["submissions"]] == ["bob"]
        assert "handler ran" in done.stderr and "returned" not in done.stderr
    usage = _python(program, str(path), "--bogus")
    assert usage.returncode == 2 and "No such option" in usage.stderr and "handler ran" in usage.stderr



def test_the_installed_command_runs_numpy_with_one_thread_unless_told_otherwise(tmp_path):
    """entry.grade caps numpy's BLAS pool at one thread before numpy loads (its threads spin beside the sandbox
    children on the same cores); a thread count the user set is kept. Threads counted in /proc at the end."""
    path = write(student_notebook(reference_body()), tmp_path / "alice" / "backward_pass.ipynb")
    program = ("import atexit, os, sys\n"
               "from grader import entry\n"
               "atexit.register(lambda: print('threads', len(os.listdir('/proc/self/task')), 'numpy' in sys.modules,\n"
               "                              os.environ['OPENBLAS_NUM_THREADS'], file=sys.stderr))\n"
               "sys.argv = ['grade', *sys.argv[1:]]\n"
               "entry.grade(prog_name='grade')\n")
    arguments = [str(path), "--solutions", str(SOLUTIONS), "--no-cache", "--json", "-", "-q"]
    unset = {name: value for name, value in os.environ.items() if name not in blas_threads.VARIABLES}
    for env, expected in ((unset, "threads 1 True 1"), ({**unset, "OPENBLAS_NUM_THREADS": "2"}, "threads 2 True 2")):
        done = subprocess.run([sys.executable, "-c", program, *arguments], capture_output=True, text=True,
                              timeout=120, env=env)
        assert done.returncode == 0, done.stderr
        assert expected in done.stderr, done.stderr


@pytest.mark.parametrize("closed", ["1", "2"])
def test_the_installed_command_grades_with_its_stdout_or_stderr_closed(tmp_path, closed):
    """`grade NB --out DIR 2>&-` (or `>&-`): Python starts it with that stream None; the command grades in full, exits
    0 and writes its reports instead of failing on its first line of progress or summary."""
    path = write(student_notebook(reference_body()), tmp_path / "alice.ipynb")
    out = tmp_path / "out"
    done = subprocess.run(["sh", "-c", f'"$0" -m grader "$1" --solutions "$2" --out "$3" {closed}>&-', sys.executable,
                           str(path), str(SOLUTIONS), str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    row = json.loads((out / "results.json").read_text(encoding="utf-8"))["submissions"][0]
    assert row["score"] == row["max_score"], row["messages"]
