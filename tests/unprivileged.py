"""Re-running a test as an ordinary user (uid 65534), the way most instructors and CI runners grade.

The same mechanism as tests/test_hostile.py's unprivileged batch: a private mount namespace (to
reach a Python installed under a folder uid 65534 cannot traverse) and `setpriv` to drop to
uid 65534, then pytest runs the chosen test with UNPRIVILEGED_ENV set, so the re-run knows
what it is.
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
UNPRIVILEGED_ENV = "BACKPROP_GRADER_UNPRIVILEGED_RERUN"


def run_unprivileged(test_file: Path, test_name: str, *, timeout: float = 120.0) -> None:
    """Run `test_file::test_name` as uid 65534 and fail with its output unless it passes; skip when not root."""
    if os.geteuid() != 0:
        pytest.skip("already unprivileged: the test itself covered the ordinary user")
    for tool in ("unshare", "setpriv", "mount"):
        if shutil.which(tool) is None:
            pytest.skip(f"needs {tool} to run as another user")
    base = os.path.realpath(sys.base_prefix)
    blocker = namespaces.first_untraversable(base)
    script = "set -e\n"
    if blocker:
        # A Python installed under /root is unreachable for uid 65534: cover the blocking folder
        # with a tmpfs that shows only the installation.
        script += ('d=$(mktemp -d); mount --bind "$BASE" "$d"; mount -t tmpfs -o mode=0755,size=1m tmpfs "$BLOCKER"; '
                   'mkdir -p "$BASE"; mount --move "$d" "$BASE"\n')
    script += f'exec setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups "$@"\n'
    work = Path(tempfile.mkdtemp(prefix="backprop-grader-nobody-"))
    os.chown(work, NOBODY, NOBODY)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(work), "TMPDIR": str(work),
           "XDG_CACHE_HOME": str(work / "cache"), "PYTHONDONTWRITEBYTECODE": "1", "BASE": base,
           "BLOCKER": blocker or "", UNPRIVILEGED_ENV: "1"}
    command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
               sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={work / 'pytest'}",
               f"{test_file}::{test_name}"]
    try:
        result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "1 passed" in result.stdout, result.stdout[-3000:]
