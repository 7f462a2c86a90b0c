"""Process bookkeeping of the fork server and the grader: hardening, waiting with a deadline, sweeping leftovers."""

from __future__ import annotations

import ctypes
import os
import select
import signal
import stat
import sys
import time
from collections.abc import Collection

_PR_SET_DUMPABLE = 4
_PR_SET_CHILD_SUBREAPER = 36
_SWEEP_ROUNDS = 50


def _lookup_prctl():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


# Looked up once, in the importing process: a forked child that looked prctl up itself would build its function
# object (the fork server's children set no_new_privs and load their seccomp filter with it).
_PRCTL = _lookup_prctl()


def prctl(option: int, arg2: object = 0, arg3: object = 0, arg4: object = 0, arg5: object = 0) -> int:
    """Linux's prctl(2): its result, -1 on failure (errno in ctypes.get_errno()) and where there is none."""
    return -1 if _PRCTL is None else _PRCTL(option, arg2, arg3, arg4, arg5)


def make_undumpable() -> bool:
    """Keep this process's memory out of reach of /proc/<pid>/mem, ptrace and core dumps."""
    return prctl(_PR_SET_DUMPABLE, 0) == 0


def adopt_orphans() -> bool:
    """Become the adopter of this process's orphaned descendants (Linux), so none escapes to init."""
    return prctl(_PR_SET_CHILD_SUBREAPER, 1) == 0


def sweep_foreign_orphans(ours: Collection[int] = ()) -> int:
    """Kill and reap the processes reparented to us that live in another session than ours; count them.

    For the grader: if a fork server dies, what its sandboxed children left behind (each child has
    a session of its own) comes to us. Our own children are left alone: anything the embedding
    program started shares our session, and the fork servers, which have sessions of their own, are `ours`.
    """
    me, session, killed = os.getpid(), os.getsid(0), 0
    for _ in range(_SWEEP_ROUNDS):
        strangers = [pid for pid, their_session in _children_with_sessions(me)
                     if their_session != session and pid not in ours]
        if not strangers:
            return killed
        for pid in strangers:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                killed += 1
            except (ProcessLookupError, ChildProcessError):
                pass
    return killed


def harden_parent() -> dict[str, bool]:
    """Make this process unreadable through /proc and the adopter of orphaned descendants."""
    return {
        "not_dumpable": make_undumpable(),
        "subreaper": adopt_orphans(),
    }


def finish(pid: int, deadline: float) -> int | None:
    """Wait for `pid` until `deadline`, then kill its process group and every leftover descendant.

    Returns the child's wait status, or None when it had to be killed at the deadline.
    """
    status = _wait_until(pid, deadline)
    _kill_group(pid)
    if status is None:
        _, raw = os.waitpid(pid, 0)
        status = None if os.WIFSIGNALED(raw) and os.WTERMSIG(raw) == signal.SIGKILL else raw
    sweep_descendants()
    return status


def _wait_until(pid: int, deadline: float) -> int | None:
    pidfd = None
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pass
    try:
        while True:
            done, raw = os.waitpid(pid, os.WNOHANG)
            if done:
                return raw
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            if pidfd is not None:
                select.select([pidfd], [], [], remaining)
            else:
                time.sleep(min(remaining, 0.002))
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def sweep_descendants() -> int:
    """Kill and reap every process that was reparented to us (we are a subreaper); count them.

    Any live descendant has a live parent among our descendants or was reparented to us, so
    when we have no children at all, nothing is left: the common case costs one waitpid.
    """
    me, killed = os.getpid(), 0
    for _ in range(_SWEEP_ROUNDS):
        if not _reap():
            return killed
        for pid in _children_of(me):
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
        time.sleep(0.001)
    _reap()
    return killed


def _children_of(parent: int) -> list[int]:
    return [pid for pid, _ in _children_with_sessions(parent)]


def _children_with_sessions(parent: int) -> list[tuple[int, int]]:
    """(pid, session id) of the live children of `parent`, read from /proc."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    children = []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stream:
                fields = stream.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == parent and fields[0] != b"Z":
            children.append((int(entry), int(fields[3])))
    return children


def _reap() -> bool:
    """Reap every exited child; True while some child is still alive."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True


def describe_status(status: int | None) -> str:
    if status is None:
        return "killed at the time limit"
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return f"killed by {name}"
    return f"exited with code {os.WEXITSTATUS(status)}"


def new_folder(parent: str, prefix: str) -> str:
    """A new private (0700) folder in `parent` with an unpredictable name, as tempfile.mkdtemp makes."""
    while True:
        path = f"{parent}/{prefix}{os.urandom(8).hex()}"
        try:
            os.mkdir(path, 0o700)
            return path
        except FileExistsError:
            continue


def remove_tree(path: str) -> None:
    """Delete a child's directory whatever its code did to it: folders it locked (mode 0), links, deep nesting.

    The child and its descendants are dead by now (`finish`), so nothing changes while this runs.
    """
    # Imported here, on the rare call: a fork server that imported subprocess (threading) would run threading's
    # at-fork handler in every child, about 0.6 ms each.
    import shutil
    import subprocess

    _unlock(path)
    try:
        shutil.rmtree(path, ignore_errors=True)
    except RecursionError:
        # Python 3.11's rmtree recurses: a child that nested thousands of folders defeats it.
        subprocess.run(["rm", "-rf", "--", path], check=False, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _unlock(top: str) -> None:
    """Give the owner every right on each real folder under `top` (never through a link), outermost first.

    A folder the child made unreadable could not be listed, so its files would stay, filling the
    scratch space of the children after it: root reads it anyway, a grader running as an ordinary
    user (whose children share its uid) does not. Iterative, for folders nested thousands deep.
    """
    pending = [top]
    while pending:
        folder = pending.pop()
        try:
            os.chmod(folder, stat.S_IRWXU)
            with os.scandir(folder) as entries:
                pending.extend(entry.path for entry in entries if entry.is_dir(follow_symlinks=False))
        except OSError:
            continue
