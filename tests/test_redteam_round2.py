"""Second red-team round (issue 9): attacks written after the first round's fixes were merged.

Each test grades real hostile notebooks through the real CLI and states one promise. Whatever
an attack manages to reach, its graded function raises on the public case with a message
starting with LEAKED, which then shows in the attacker's own report (the public case's
exception text is reported). The last test re-runs the mechanisms as uid 65534, where the
children share the grader's uid.
"""

from __future__ import annotations

import hashlib
import json
import os
import select
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from tests.conftest import invoke_grade, steps_of
from tests.notebooks import SOLUTIONS, reference_body, student_notebook, write
from tests.unprivileged import run_unprivileged

WRONG = "return np.zeros_like(hidden_layer_out), np.zeros((len(x), len(hidden_layer_out)))\n"

# Defined last, so it is the graded function: it reports on the public case whatever FOUND holds.
REPORTER = """
import numpy as np
def backward_pass(x, target, learnrate, hidden_layer_out, output_layer_out, weights_hidden_to_output):
    if FOUND:
        raise RuntimeError('LEAKED ' + repr(FOUND)[:250])
    return np.zeros_like(hidden_layer_out), np.zeros((len(x), len(hidden_layer_out)))
"""

# A classmate's words, in a comment of their notebook: nothing of it may reach another child.
SECRET = "SECRET_OF_ALICE the victim's own words"

# Reads every readable mapping of its own memory (inherited from the fork server) through ctypes
# and looks for the classmate's comment. Only the prefix is held in memory, the rest is matched by
# its hash, so the attacker cannot find its own copy of the secret.
MEMORY_SCAN = """
import ctypes, hashlib
FOUND = []
WANTED = '{digest}'
PREFIX = b'SECRET_OF_'
for line in open('/proc/self/maps').read().splitlines():
    parts = line.split()
    if 'r' not in parts[1] or any(tag in line for tag in ('[vvar', '[vsyscall', '[vdso')):
        continue
    low, high = (int(value, 16) for value in parts[0].split('-'))
    if high - low > 512 * 1024 * 1024:
        continue
    try:
        data = ctypes.string_at(low, high - low)
    except Exception:
        continue
    at = data.find(PREFIX)
    while at >= 0 and len(FOUND) < 2:
        if hashlib.sha256(data[at:at + {length}]).hexdigest() == WANTED:
            FOUND.append(data[at:at + {length}].decode('latin-1'))
        at = data.find(PREFIX, at + 1)
"""

# Resource limits and priorities of the processes above the child: its fork server and the grader.
LIMITS = """
import os, resource
FOUND = []
def parent_of(pid):
    return int(open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()[1])
server = os.getppid()
grader = parent_of(server)
for what, call in (('grader FSIZE 0', lambda: resource.prlimit(grader, resource.RLIMIT_FSIZE, (0, 0))),
                   ('server NPROC 0', lambda: resource.prlimit(server, resource.RLIMIT_NPROC, (0, 0))),
                   ('grader NOFILE 3', lambda: resource.prlimit(grader, resource.RLIMIT_NOFILE, (3, 3))),
                   ('grader reniced', lambda: os.setpriority(os.PRIO_PROCESS, grader, 19))):
    try:
        call()
        FOUND.append(what)
    except OSError:
        pass
# Every process of the child's uid: harmless only when that uid is the child's alone.
try:
    os.setpriority(os.PRIO_USER, 0, 18)
    if os.getpriority(os.PRIO_PROCESS, grader) == 18:
        FOUND.append('grader reniced through its uid')
except OSError:
    pass
"""

# A named Unix socket of a service on the machine (D-Bus, ssh-agent, docker.sock...).
UNIX_SOCKET = """
import socket
FOUND = []
try:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(1)
    client.connect({path!r})
    client.sendall(b'HELLO FROM THE SANDBOX')
    FOUND.append('connected to {path}')
except OSError:
    pass
"""

# Empty directories cost no tmpfs block but an inode and a dentry each in kernel memory: a
# million of them is a gigabyte the scratch folder's size cap never sees. Several statements,
# so the per-statement budget does not stop it.
INODE_CHUNK = """
for _ in range(40_000):
    try:
        os.mkdir(f'd{len(MADE)}')
        MADE.append(1)
    except OSError:
        break
"""
INODE_COUNT = "FOUND = [f'{len(MADE)} directories made'] if len(MADE) >= 150_000 else []"


# The output error term without its error factor (the catalogue's `output_error_missing`), graded
# honestly, and then behind an `error` that is one and the same number on every case: the very
# same wrong values become "correct given your own error".
WITHOUT_ERROR = "output_layer_out * (1 - output_layer_out)"
CONSTANT_UPSTREAM = {
    "honest": reference_body(output_error_term=WITHOUT_ERROR),
    "error_one": reference_body(error="1.0", output_error_term=WITHOUT_ERROR),
    "error_ones_like": reference_body(error="np.ones_like(output_layer_out)"),
    "error_half": reference_body(error="0.5", output_error_term="0.5 * " + WITHOUT_ERROR),
    "error_minus_two": reference_body(error="-2.0"),
}


def _leaks(row: dict) -> list[str]:
    return [message for message in row["messages"] if "LEAKED" in message]


@pytest.mark.parametrize("padding", [0, 20_000, 60_000, 200_000])
def test_fork_server_memory_holds_no_other_students_notebook(tmp_path: Path, padding: int) -> None:
    """Mechanism: a child inherits its fork server's memory, where the jobs it sent earlier children
    (their notebooks' cells) may still lie; a later student reads a classmate's notebook from it.

    The server reads each job's cells into a buffer of the job's size: freed, a buffer larger than the next
    job's is not overwritten by it, so words at its end stay unless the server wipes the buffer before the
    next child is forked (sandbox/server.py). Classmates' notebooks padded to sizes on either side of the
    allocator's threshold for mapping memory of its own (without the wipe, two of them leak)."""
    write(student_notebook(extra_cells=["#" * padding + f"\n# {SECRET}"]), tmp_path / "alice.ipynb")
    digest = hashlib.sha256(SECRET.encode()).hexdigest()
    scan = MEMORY_SCAN.replace("{digest}", digest).replace("{length}", str(len(SECRET)))
    write(student_notebook(WRONG, helper_cells=[scan], extra_cells=[REPORTER]), tmp_path / "mallory.ipynb")
    run = invoke_grade(tmp_path, "--timeout", "5", "--no-cache", jobs=1)
    assert run.submission("alice")["score"] == 10
    assert not _leaks(run.submission("mallory")), _leaks(run.submission("mallory"))
    assert SECRET not in json.dumps(run.submission("mallory"))


def test_child_cannot_change_the_limits_or_priority_of_the_grader(tmp_path: Path) -> None:
    """Mechanism: prlimit64/setpriority on the fork server's and the grader's pids (same uid when not
    root): FSIZE 0 on the grader aborts the batch and loses every report, NPROC 0 stops the next child."""
    notebooks = tmp_path / "class"
    write(student_notebook(WRONG, helper_cells=[LIMITS], extra_cells=[REPORTER]), notebooks / "aaron.ipynb")
    for name in ("bob", "carol", "dave"):
        write(student_notebook(), notebooks / f"{name}.ipynb")
    out = tmp_path / "out"
    env = {key: value for key, value in os.environ.items() if key not in ("GRADER_SEED", "GRADER_SOLUTIONS")}
    # A separate process: the attack's target is the grader's own process, which must not be pytest.
    done = subprocess.run([sys.executable, "-m", "grader", str(notebooks), "--solutions", str(SOLUTIONS), "--jobs", "1",
                           "--timeout", "5", "--no-cache", "--out", str(out), "-q"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {row["student"]: row for row in json.loads((out / "results.json").read_text())["submissions"]}
    assert not _leaks(rows["aaron"]), _leaks(rows["aaron"])
    assert all(rows[name]["score"] == 10 for name in ("bob", "carol", "dave")), {n: r["messages"] for n, r in rows.items()}


class _Listener:
    """A named Unix socket in a folder anyone may traverse, as a system service's (/run/dbus/...)."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="redteam-socket-"))
        self.folder.chmod(0o755)
        self.path = self.folder / "service.sock"
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(self.path))
        self.path.chmod(0o777)
        self.server.listen(8)
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.server], [], [], 0.1)
            if ready:
                connection, _ = self.server.accept()
                connection.settimeout(1)
                try:
                    self.received.append(connection.recv(100))
                except OSError:
                    self.received.append(b"")
                connection.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.server.close()
        self.path.unlink(missing_ok=True)
        self.folder.rmdir()


def test_child_cannot_connect_to_named_unix_sockets(tmp_path: Path) -> None:
    """Mechanism: seccomp lets socket(AF_UNIX) through and Landlock does not govern connect(), so a
    child reaches any named socket its uid may write (world-writable D-Bus as any uid; ssh-agent, the
    session bus or docker.sock as the grading user)."""
    listener = _Listener()
    try:
        code = UNIX_SOCKET.replace("{path!r}", repr(str(listener.path))).replace("{path}", str(listener.path))
        write(student_notebook(WRONG, helper_cells=[code], extra_cells=[REPORTER]), tmp_path / "mallory.ipynb")
        run = invoke_grade(tmp_path, "--timeout", "5", "--no-cache", jobs=1)
    finally:
        listener.close()
    assert listener.received == [], listener.received
    assert not _leaks(run.submission("mallory")), _leaks(run.submission("mallory"))


def test_scratch_folder_caps_its_inodes(tmp_path: Path) -> None:
    """Mechanism: the scratch tmpfs caps bytes, not inodes; empty directories use kernel memory only,
    so a child makes hundreds of thousands of them (a gigabyte of slab per million) unchecked."""
    cells = ["import os\nMADE = []"] + [INODE_CHUNK] * 4 + [INODE_COUNT]
    write(student_notebook(WRONG, helper_cells=cells, extra_cells=[REPORTER]), tmp_path / "mallory.ipynb")
    write(student_notebook(), tmp_path / "zoe.ipynb")
    run = invoke_grade(tmp_path, "--timeout", "10", "--no-cache", jobs=1)
    assert not _leaks(run.submission("mallory")), _leaks(run.submission("mallory"))
    assert run.submission("zoe")["score"] == 10


def test_constant_upstream_value_carries_no_credit(tmp_path: Path) -> None:
    """Mechanism: error carried forward from an upstream value that is the same constant on every case
    (1, 0.5, -2: computed from nothing). The downstream values are then the reference's formulas with
    the error left out or scaled, a known mistake; behind the constant they count as "correct given
    your own error", so doing less (no error at all) scores more than the honest mistake."""
    for name, body in CONSTANT_UPSTREAM.items():
        write(student_notebook(body), tmp_path / f"{name}.ipynb")
    run = invoke_grade(tmp_path, "--timeout", "5", "--no-cache")
    honest = run.submission("honest")
    assert honest["score"] == 8, honest["messages"]
    for name in CONSTANT_UPSTREAM:
        row = run.submission(name)
        carried = {step: result["score"] for step, result in steps_of(row).items() if result.get("carried_forward")}
        assert row["score"] <= honest["score"] and "output_error_term" not in carried, (name, row["score"], carried)


def test_round_two_as_an_ordinary_user() -> None:
    """The same mechanisms as uid 65534, where every child shares the grader's uid."""
    done = run_unprivileged(str(Path(__file__)), "-k", "not ordinary_user", timeout=200)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
