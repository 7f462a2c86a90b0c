"""Re-running one pytest node as an ordinary user (uid 65534), for guarantees that must hold without root.

Most instructors and CI runners are not root, so a suite run as root re-runs its key tests as
uid 65534 (`unshare` + `setpriv`). Whatever that user cannot reach is exposed first, in a
private mount namespace that only the re-run sees: a Python installed under `/root`, a checkout
or a virtual environment inside a private folder (a clone in a `mktemp -d`, mode 0700). Each
blocking folder is covered with a tmpfs that shows only what lies below it that the re-run
needs, at the same path, so the interpreter, the editable install and the tests' own paths stay
what they are.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from grader.sandbox import namespaces

REPO = Path(__file__).resolve().parents[1]
NOBODY = 65534
MARKER = "BACKPROP_GRADER_UNPRIVILEGED"
"""Set in the re-run's environment, so a test knows it is the re-run."""


def unavailable() -> str | None:
    """Why a test cannot be re-run as uid 65534 here, or None (for `pytest.mark.skipif`)."""
    if os.environ.get(MARKER) is not None:
        return "this is the unprivileged re-run itself"
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "already unprivileged: the test itself covered the non-root path"
    missing = [tool for tool in ("unshare", "setpriv", "mount") if shutil.which(tool) is None]
    return f"needs {', '.join(missing)} to run as another user" if missing else None


def run_unprivileged(*nodes: str, env: dict[str, str] | None = None, repo: Path = REPO,
                     timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`pytest NODES` as uid 65534 in `repo`; skips the calling test where it cannot.

    NODES are node ids relative to `repo` (or absolute), or other pytest arguments such as `-k EXPR`.

    It cannot when not root (the caller already runs unprivileged) or without unshare, setpriv
    and mount. `env` is added to a minimal environment; HOME, TMPDIR and pytest's base temp
    are a fresh folder of uid 65534, removed afterwards.
    """
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    repo = Path(os.path.realpath(repo))
    script = "set -e\n" + _exposing([os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), str(repo)])
    script += f'exec setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups "$@"\n'
    work = Path(tempfile.mkdtemp(prefix="backprop-grader-nobody-"))
    os.chown(work, NOBODY, NOBODY)
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(work), "TMPDIR": str(work),
                   "PYTHONDONTWRITEBYTECODE": "1", MARKER: "1", **(env or {})}
    # "-n 0": the nodes run in the re-run's own process; the suite's two workers would only add their start-up.
    command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
               sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0",
               f"--basetemp={work / 'pytest'}",
               *(str(repo / node) if "::" in node or node.endswith(".py") else node for node in nodes)]
    try:
        return subprocess.run(command, cwd=repo, env=environment, capture_output=True, text=True, timeout=timeout)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _exposing(paths: list[str]) -> str:
    """Shell lines that make each of `paths` reachable for any user, at its own path, in this mount namespace.

    Each path below a folder others may not search is bind-mounted aside, the outermost blocking
    folders are covered with a tmpfs, and the paths are moved back in place on it.
    """
    blocked = {path: blocker for path in paths if (blocker := namespaces.first_untraversable(path))}
    kept = sorted(path for path in blocked if not any(_inside(path, other) for other in blocked if other != path))
    blockers = sorted({blocked[path] for path in kept})
    blockers = [blocker for blocker in blockers if not any(_inside(blocker, other) for other in blockers
                                                               if other != blocker)]
    lines = [f"aside{index}=$(mktemp -d); mount --bind {shlex.quote(path)} \"$aside{index}\""
             for index, path in enumerate(kept)]
    lines += [f"mount -t tmpfs -o mode=0755,size=1m tmpfs {shlex.quote(blocker)}" for blocker in blockers]
    lines += [f"mkdir -p {shlex.quote(path)}; mount --move \"$aside{index}\" {shlex.quote(path)}"
              for index, path in enumerate(kept)]
    return "".join(line + "\n" for line in lines)


def _inside(path: str, folder: str) -> bool:
    return path.startswith(folder.rstrip("/") + "/")
