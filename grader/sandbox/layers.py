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
import socket
import sys
from dataclasses import dataclass

try:  # absent on Windows, where only the always-on layers can be reported
    import resource
except ImportError:
    resource = None

import numpy

import grader
from grader.sandbox import landlock, namespaces, seccomp

# Every layer, in report order, with what it protects (the report's wording).
DESCRIPTIONS = {
    "session": "own session and process group per child, killed as a group at the wall clock",
    "rlimits": "address space, CPU time, file size, open files and core dumps capped",
    "subreaper": "fork server adopts and kills leftover descendants",
    "not-dumpable": "fork server's memory unreadable through /proc and ptrace",
    "no-new-privs": "no privilege gain through set-uid programs",
    "seccomp": "no network sockets, new sessions, ptrace, namespaces, mounts or SysV shared memory",
    "landlock-fs": "files readable only in the Python installation and system dirs, writable only in the scratch dir",
    "landlock-net": "TCP bind and connect denied",
    "landlock-scope": "signals and abstract Unix sockets confined to the child's own processes",
    "uid-drop": "child runs as an unused uid, not the grader's",
    "nproc": "process count capped (RLIMIT_NPROC)",
    "userns": "private user namespace (unprivileged)",
    "netns": "private network namespace: no interfaces but a down loopback",
    "ipcns": "private IPC namespace",
    "mountns": "private mount namespace: read-only file system, size-capped scratch tmpfs, solutions hidden",
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


def readable_paths() -> list[str]:
    """Folders the child must read: the Python installation, numpy and the grader package (not its repository)."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(numpy.__file__), os.path.dirname(grader.__file__)}
    return sorted(os.path.realpath(path) for path in paths)


def _prctl(option: int, value: int = 0) -> int:
    return ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


def apply(setup: namespaces.ServerSetup, plan: frozenset[str], scratch: str) -> None:
    """Apply the planned layers to this child, in order; raises OSError if one fails."""
    if not sys.platform.startswith("linux"):
        return
    namespaces.enter_child(setup)
    if _prctl(_PR_SET_NO_NEW_PRIVS, 1) != 0:
        raise OSError(ctypes.get_errno(), "no_new_privs")
    if "landlock-fs" in plan:
        landlock.restrict(landlock.SYSTEM_DIRS + tuple(readable_paths()), [scratch])
    if "seccomp" in plan:
        seccomp.install(os.getpgrp())


def probe(setup: namespaces.ServerSetup, hardening: dict[str, bool], scratch: str) -> list[Layer]:
    """Try every layer in this (probe) child, then report what holds, checked from the inside."""
    linux = sys.platform.startswith("linux")
    problems = dict(setup.problems)
    if linux:
        try:
            namespaces.enter_child(setup)
        except OSError as error:
            problems["uid-drop"] = problems["nproc"] = f"could not drop privileges ({error})"
        if _prctl(_PR_SET_NO_NEW_PRIVS, 1) != 0:
            problems["no-new-privs"] = "prctl refused"
    else:
        problems.update({"no-new-privs": "not Linux", "seccomp": "not Linux", "landlock-fs": "not Linux"})
    abi = landlock.abi_version()
    try:
        landlock.restrict(landlock.SYSTEM_DIRS + tuple(readable_paths()), [scratch])
    except OSError as error:
        problems.setdefault("landlock-fs", f"unavailable ({error.strerror or error})")
    if seccomp.supported():
        try:
            seccomp.install(os.getpgrp())
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
        "no-new-privs": linux and _prctl(_PR_GET_NO_NEW_PRIVS) == 1,
        "seccomp": _status_field("Seccomp") == "2" and _socket_refused(),
        "landlock-fs": landlock_fs,
        # Parts of the same ruleset: children apply it only when landlock-fs is in the plan.
        "landlock-net": landlock_fs and abi >= 4,
        "landlock-scope": landlock_fs and abi >= 6,
        "uid-drop": setup.sandbox_id is not None and os.getuid() == setup.sandbox_id != 0,
        "nproc": setup.nproc is not None and resource.getrlimit(resource.RLIMIT_NPROC)[0] == setup.nproc,
        "userns": setup.userns,
        "netns": setup.netns and _only_loopback(),
        "ipcns": setup.ipcns,
        "mountns": setup.mountns and bool(os.statvfs("/").f_flag & os.ST_RDONLY),
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
    try:
        with open("/proc/self/status", encoding="ascii") as stream:
            for line in stream:
                if line.startswith(name + ":"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _socket_refused() -> bool:
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
    except OSError as error:
        return error.errno == errno.EPERM
    return False


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
        with open("/proc/net/dev", encoding="ascii") as stream:
            interfaces = [line.split(":", 1)[0].strip() for line in stream.readlines()[2:]]
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
