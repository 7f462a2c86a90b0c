"""The protection layers of a sandboxed child: applying them before student code, and reporting them.

The fork server forks one probe child at start-up that tries every layer and then checks from
the inside what really holds (a denied socket, an unreadable `/`, the uid it runs as...). The
layers that held form the server's plan; every job child applies exactly that plan and fails
closed (an internal error, no grade) if a planned layer cannot be applied.
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

try:  # absent on Windows, where only the always-on layers can be reported
    import resource
except ImportError:
    resource = None


from grader.sandbox import landlock, namespaces, process, seccomp

if TYPE_CHECKING:
    from grader.sandbox.server_setup import ServerSetup

# Every layer, in report order, with what it protects (the report's wording).
DESCRIPTIONS = {
    "session": "own session and process group per child, killed as a group at the wall clock",
    "rlimits": "address space, CPU time, file size, open files and core dumps capped",
    "subreaper": "fork server adopts and kills leftover descendants",
    "not-dumpable": "fork server's memory unreadable through /proc and ptrace",
    "no-new-privs": "no privilege gain through set-uid programs",
    "seccomp": "no sockets (an anonymous socketpair only); no limits, priorities, signals or pidfds aimed at "
               "other processes; no new sessions, ptrace, namespaces, mounts or SysV shared memory",
    "landlock-fs": "files readable only in the Python installation and system dirs, writable only in the scratch dir",
    "landlock-net": "TCP bind and connect denied",
    "landlock-scope": "signals and abstract Unix sockets confined to the child's own processes",
    "uid-drop": "child runs as an unused uid, not the grader's",
    "nproc": "process count capped (RLIMIT_NPROC)",
    "userns": "private user namespace (unprivileged)",
    "netns": "private network namespace: no interfaces but a down loopback",
    "ipcns": "private IPC namespace",
    "mountns": "private mount namespace: read-only file system, size- and inode-capped scratch tmpfs, solutions "
               "hidden, /tmp, /run and /dev/shm empty",
    "pidns": "private PID namespace and /proc: no process visible or reachable but the child's own and its server",
}
# What `--require-sandbox` asks for when no layer names are given.
CORE = ("session", "rlimits", "seccomp", "landlock-fs")
_PR_SET_NO_NEW_PRIVS, _PR_GET_NO_NEW_PRIVS = 38, 39


@dataclass(frozen=True)
class Layer:
    """One protection and whether it holds on this machine."""

    name: str
    active: bool
    detail: str
    """What it protects when active, why it is missing otherwise."""


def prepare(setup: ServerSetup, plan: frozenset[str]) -> None:
    """In the fork server, once: what every child's layers need that is the same for all (children inherit it)."""
    if "landlock-fs" in plan:
        landlock.existing(_readable(setup))
        landlock.abi_version()
    if "seccomp" in plan:
        seccomp.loadable()


def apply(setup: ServerSetup, plan: frozenset[str], scratch: str) -> None:
    """Apply the planned layers to this child, in order; raises OSError if one fails."""
    if not sys.platform.startswith("linux"):
        return
    namespaces.enter_child(setup)
    if process.prctl(_PR_SET_NO_NEW_PRIVS, 1) != 0:
        raise OSError(ctypes.get_errno(), "no_new_privs")
    if "landlock-fs" in plan:
        landlock.restrict(landlock.existing(_readable(setup)), [scratch])
    if "seccomp" in plan:
        seccomp.install(os.getpgrp(), os.getpid())


def _readable(setup: ServerSetup) -> tuple[str, ...]:
    """What a child may read: the system folders, the Python installation, numpy and the grader package."""
    return landlock.SYSTEM_DIRS + tuple(setup.readable)


def probe(setup: ServerSetup, hardening: dict[str, bool], scratch: str) -> list[Layer]:
    """Try every layer in this (probe) child, then report what holds, checked from the inside."""
    linux = sys.platform.startswith("linux")
    problems = dict(setup.problems)
    if linux:
        try:
            namespaces.enter_child(setup)
        except OSError as error:
            problems["uid-drop"] = problems["nproc"] = f"could not drop privileges ({error})"
        if process.prctl(_PR_SET_NO_NEW_PRIVS, 1) != 0:
            problems["no-new-privs"] = "prctl refused"
    else:
        problems.update({"no-new-privs": "not Linux", "seccomp": "not Linux", "landlock-fs": "not Linux"})
    # Checked before Landlock, which would hide these folders from the probe whether covered or not.
    covered = linux and _covered(setup, scratch)
    own_processes = linux and _only_own_processes()
    abi = landlock.abi_version()
    try:
        landlock.restrict(_readable(setup), [scratch])
    except OSError as error:
        problems.setdefault("landlock-fs", f"unavailable ({error.strerror or error})")
    if seccomp.supported():
        try:
            seccomp.install(os.getpgrp(), os.getpid())
        except OSError as error:
            problems["seccomp"] = f"unavailable ({error.strerror or error})"
    landlock_fs = _listing_refused("/") and _can_write_here()
    if not landlock_fs and "landlock-fs" not in problems:
        problems["landlock-fs"] = "not in effect: the probe could list / or could not write its scratch dir"
    checks = {
        "session": os.getsid(0) == os.getpid(),
        "rlimits": resource.getrlimit(resource.RLIMIT_AS)[0] != resource.RLIM_INFINITY,
        "subreaper": hardening.get("subreaper", False),
        "not-dumpable": hardening.get("not_dumpable", False),
        "no-new-privs": linux and process.prctl(_PR_GET_NO_NEW_PRIVS) == 1,
        "seccomp": _status_field("Seccomp") == "2" and _sockets_refused() and _others_unreachable(),
        "landlock-fs": landlock_fs,
        # Parts of the same ruleset: children apply it only when landlock-fs is in the plan.
        "landlock-net": landlock_fs and abi >= 4,
        "landlock-scope": landlock_fs and abi >= 6,
        "uid-drop": setup.sandbox_id is not None and os.getuid() == setup.sandbox_id != 0,
        "nproc": setup.nproc is not None and resource.getrlimit(resource.RLIMIT_NPROC)[0] == setup.nproc,
        "userns": setup.userns,
        "netns": setup.netns and _only_loopback(),
        "ipcns": setup.ipcns,
        "mountns": setup.mountns and bool(os.statvfs("/").f_flag & os.ST_RDONLY) and covered,
        "pidns": setup.pidns and own_processes,
    }
    if abi < 4:
        problems.setdefault("landlock-net", f"needs Landlock ABI 4 (this kernel: {abi or 'none'})")
    if abi < 6:
        problems.setdefault("landlock-scope", f"needs Landlock ABI 6 (this kernel: {abi or 'none'})")
    if not seccomp.supported():
        problems.setdefault("seccomp", "needs Linux on x86_64 or aarch64")
    return [Layer(name, bool(active), DESCRIPTIONS[name] if active else problems.get(name, "not in effect"))
            for name, active in checks.items()]


def _status_field(name: str) -> str | None:
    # Bytes, decoded by hand: a codec module imported now could lie beyond what Landlock lets the child read.
    try:
        with open("/proc/self/status", "rb") as stream:
            for line in stream:
                if line.startswith(name.encode() + b":"):
                    return line.split(b":", 1)[1].strip().decode("utf-8", "replace")
    except OSError:
        pass
    return None


def _sockets_refused() -> bool:
    """No socket of any family, a named Unix socket's included; the anonymous stream pair still works."""
    import socket  # in the probe child only: the fork server's children do not inherit it

    for family in (socket.AF_INET, socket.AF_UNIX):
        if _errno_of(lambda family=family: socket.socket(family, socket.SOCK_STREAM).close()) != errno.EPERM:
            return False
    return _errno_of(lambda: [end.close() for end in socket.socketpair()]) == 0


def _others_unreachable() -> bool:
    """The server (the parent) cannot be reniced, have its limits read or set, or be signalled; the child itself can."""
    parent = os.getppid()
    own = os.getpriority(os.PRIO_PROCESS, 0)
    attempts = (lambda: os.setpriority(os.PRIO_PROCESS, parent, os.getpriority(os.PRIO_PROCESS, parent)),
                lambda: os.setpriority(os.PRIO_PGRP, 0, own),
                lambda: resource.prlimit(parent, resource.RLIMIT_NOFILE),
                lambda: os.kill(parent, 0))
    refused = all(_errno_of(attempt) == errno.EPERM for attempt in attempts)
    return refused and _errno_of(lambda: os.setpriority(os.PRIO_PROCESS, 0, own)) == 0 \
        and _errno_of(lambda: resource.prlimit(0, resource.RLIMIT_NOFILE)) == 0


def _errno_of(action) -> int:
    try:
        action()
    except OSError as error:
        return error.errno or -1
    return 0


def _covered(setup: ServerSetup, scratch: str) -> bool:
    """Every covered folder holds nothing but the way to what the child needs (no named socket to reach)."""
    kept = [*setup.readable, os.path.realpath(scratch)]
    for folder in namespaces.COVERED:
        real = os.path.realpath(folder)
        if not os.path.isdir(real):
            continue
        allowed = {os.path.relpath(path, real).split(os.sep)[0] for path in kept if path.startswith(real + os.sep)}
        try:
            if not set(os.listdir(real)) <= allowed:
                return False
        except OSError:
            return False
    return True


def _only_own_processes() -> bool:
    """/proc lists the server (pid 1, the parent) and this probe only."""
    try:
        pids = sorted(int(entry) for entry in os.listdir("/proc") if entry.isdigit())
    except OSError:
        return False
    return os.getppid() == 1 and pids == sorted({1, os.getpid()})


def _listing_refused(path: str) -> bool:
    try:
        os.listdir(path)
    except PermissionError:
        return True
    return False


def _can_write_here() -> bool:
    try:
        with open("probe", "w") as stream:
            stream.write("ok")
        os.remove("probe")
    except OSError:
        return False
    return True


def _only_loopback() -> bool:
    try:
        with open("/proc/net/dev", "rb") as stream:
            interfaces = [line.split(b":", 1)[0].strip().decode("utf-8", "replace") for line in stream.readlines()[2:]]
    except OSError:
        return False
    return interfaces == ["lo"]


def plan_of(report: list[Layer]) -> frozenset[str]:
    """The layers job children must apply: those the probe found working."""
    return frozenset(layer.name for layer in report if layer.active)


def missing(report: list[Layer], required: list[str]) -> list[str]:
    """Required layer names (or "core", "all") not active in `report`; unknown names raise ValueError."""
    active = plan_of(report)
    wanted: list[str] = []
    for name in required:
        if name == "core":
            wanted.extend(CORE)
        elif name == "all":  # a user namespace is only the means to the others when not root
            wanted.extend(name for name in DESCRIPTIONS if name != "userns")
        elif name in DESCRIPTIONS:
            wanted.append(name)
        else:
            raise ValueError(f"unknown sandbox layer {name!r} (known: core, all, {', '.join(DESCRIPTIONS)})")
    return [name for name in dict.fromkeys(wanted) if name not in active]


def render(report: list[Layer] | tuple[Layer, ...]) -> str:
    """The report as text: one line per layer, active ones first marked [x]."""
    width = max(len(layer.name) for layer in report)
    lines = [f"[{'x' if layer.active else ' '}] {layer.name:<{width}}  {layer.detail}" for layer in report]
    active = sum(layer.active for layer in report)
    return "\n".join([f"sandbox layers active on this machine: {active} of {len(report)}", *lines])
