"""Running one test again as an ordinary user (uid 65534), the way most instructors run `grade`.

As root, the test runs in a private mount namespace (so a Python under /root can be exposed)
and drops to uid 65534 with setpriv; `run_unprivileged` returns the finished pytest run.
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
# Set in the re-run, so a test knows it is the unprivileged copy (and what to run there).
RERUN_ENV = "BACKPROP_GRADER_HOSTILE_SUBSET"


def run_unprivileged(test: str, subset: str = "") -> subprocess.CompletedProcess:
    """Run `test` (a pytest node id under tests/) as uid 65534; skips when that cannot be arranged here."""
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
           "PYTHONDONTWRITEBYTECODE": "1", "BASE": base,
           "BLOCKER": blocker or "", RERUN_ENV: subset or "1"}
    command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
               sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={work / 'pytest'}",
               str(REPO / "tests" / test)]
    try:
        return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    finally:
        shutil.rmtree(work, ignore_errors=True)
