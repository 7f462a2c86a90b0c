"""Re-running a test as uid 65534: most instructors and every CI runner grade as an ordinary user.

`run_unprivileged` starts pytest (on the tests its arguments name) in a private mount namespace, as uid 65534 with
no groups (unshare + setpriv), with `marker` set in its environment so the test can tell it is
the re-run. It needs root (to switch users) and those tools; without them the caller's test is
skipped, since the test it would re-run already ran unprivileged.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from grader.sandbox import namespaces

REPO = Path(__file__).resolve().parents[1]
NOBODY = 65534


def run_unprivileged(marker: str, *pytest_arguments: str, value: str = "1",
                     timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `pytest *pytest_arguments` as uid 65534 with `marker=value` in its environment; skip when impossible."""
    if os.geteuid() != 0:
        pytest.skip("already unprivileged: the test itself covered the non-root path")
    for tool in ("unshare", "setpriv", "mount"):
        if shutil.which(tool) is None:
            pytest.skip(f"needs {tool} to run as another user")
    base = os.path.realpath(sys.base_prefix)
    blocker = namespaces.first_untraversable(base)
    # A Python installed under /root is unreachable for uid 65534: in a private mount namespace,
    # cover the blocking folder with a tmpfs that shows only the installation.
    script = "set -e\n"
    if blocker:
        script += ('d=$(mktemp -d); mount --bind "$BASE" "$d"; mount -t tmpfs -o mode=0755,size=1m tmpfs "$BLOCKER"; '
                   'mkdir -p "$BASE"; mount --move "$d" "$BASE"\n')
    script += f'exec setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups "$@"\n'
    work = Path(tempfile.mkdtemp(prefix="backprop-grader-nobody-"))
    os.chown(work, NOBODY, NOBODY)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(work), "TMPDIR": str(work),
           "PYTHONDONTWRITEBYTECODE": "1", "BASE": base, "BLOCKER": blocker or "", marker: value}
    command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
               sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={work / 'pytest'}", *pytest_arguments]
    try:
        return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    finally:
        shutil.rmtree(work, ignore_errors=True)
