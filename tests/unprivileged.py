"""Re-running tests as an ordinary user (uid 65534) from a root test run, as most instructors and CI runners are.

A Python installed under a folder uid 65534 cannot traverse (a pyenv under /root) is exposed
in a private mount namespace: the blocking folder is covered by a tmpfs that shows only the
installation. The re-run gets `UNPRIVILEGED_ENV` set, so a test can tell it is the re-run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from grader.sandbox import namespaces

NOBODY = 65534
UNPRIVILEGED_ENV = "BACKPROP_GRADER_UNPRIVILEGED_RERUN"
REPO = Path(__file__).resolve().parents[1]


def unavailable() -> str | None:
    """Why tests cannot be re-run as uid 65534 here, or None."""
    if os.environ.get(UNPRIVILEGED_ENV) is not None:
        return "this is the unprivileged re-run itself"
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "already unprivileged: the test itself covered the non-root path"
    missing = [tool for tool in ("unshare", "setpriv", "mount") if shutil.which(tool) is None]
    return f"needs {', '.join(missing)} to run as another user" if missing else None


def run_unprivileged(*node_ids: str, timeout: float = 180) -> subprocess.CompletedProcess:
    """`pytest NODE_ID...` as uid 65534 in a private mount namespace, from the repository."""
    base = os.path.realpath(sys.base_prefix)
    blocker = namespaces.first_untraversable(base)
    script = "set -e\n"
    if blocker:
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
               *node_ids]
    try:
        return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    finally:
        shutil.rmtree(work, ignore_errors=True)
