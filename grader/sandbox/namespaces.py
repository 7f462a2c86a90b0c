"""Linux namespaces and identity for the fork server and its children, via ctypes (no helpers to exec).

Set up once per fork server, by its launcher, before the server itself starts:
- as root: private mount, network, IPC and PID namespaces; every child then drops to an unused
  uid of its own server, so RLIMIT_NPROC holds and no file of the grader's user is writable;
- otherwise: the same namespaces inside a private user namespace when the kernel allows it
  (unprivileged user namespaces can be off, or restricted by AppArmor as on Ubuntu 24.04).
A PID namespace applies to the children of the process that enters it: the launcher forks, and
its child, pid 1 of the new namespace, mounts a fresh /proc and becomes the fork server. Its job
children then see and reach no process but the server and their own.
In the mount namespace the whole file system is made read-only, the scratch area becomes a
size- and inode-capped tmpfs, hidden paths (the solutions folder) are covered by an empty tmpfs,
so are /tmp, /var/tmp, /run and /dev/shm (where named sockets live: D-Bus, ssh-agent, docker),
and, when dropping to another uid, folders the sandbox uid cannot traverse (a Python under
/root) are replaced by a tmpfs that shows only the Python installation inside them.
Each step that fails is reported, never fatal: the other layers still apply.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Iterable

# Not `typing.TYPE_CHECKING`: the launcher imports this module, and only what it needs.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from grader.sandbox.server_setup import ServerSetup
    from grader.sandbox.wire import ServerFacts

try:  # absent on Windows, where only the always-on layers can be reported
    import resource
except ImportError:
    resource = None

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = (0x00020000, 0x08000000, 0x10000000,
                                                                        0x20000000, 0x40000000)
_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE = 1, 4
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
_MS_BIND, _MS_REC, _MS_PRIVATE = 0x1000, 0x4000, 0x40000
_MOUNT_SETATTR, _AT_FDCWD, _AT_RECURSIVE, _MOUNT_ATTR_RDONLY = 442, -100, 0x8000, 0x1
_CAPSET = {"x86_64": 126, "aarch64": 91}
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
# High, unlikely-to-be-used ids: one per fork server, so RLIMIT_NPROC counts that server's children only.
SANDBOX_ID_BASE = 1_900_000_000
# Processes a child's uid may own (the child, its helpers, and a few student subprocesses).
NPROC_FOR_DROPPED_UID = 32
# For an unprivileged user the limit counts all of the user's processes: add this much headroom.
NPROC_HEADROOM = 128
# Files and folders the scratch tmpfs may hold at once: each costs kernel memory the size cap does not count.
SCRATCH_INODES = 16384
# Where named Unix sockets and shared files live: covered by an empty tmpfs in the mount namespace.
COVERED = ("/tmp", "/var/tmp", "/run", "/var/run", "/dev/shm")


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _raw_syscall(number: int, *args) -> int:
    syscall = _libc().syscall
    syscall.restype = ctypes.c_long
    return 0 if syscall(number, *args) == 0 else -1


def _check(result: int, what: str) -> None:
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def set_up_server(scratch_root: str, tmpfs_bytes: int, readable: Iterable[str], hidden: Iterable[str]) -> ServerFacts:
    """Enter private namespaces and prepare `scratch_root` (a tmpfs) for the children; never raises.

    With a PID namespace this forks: the calling process waits for its child and exits with its
    status, never returning; the child, pid 1 of the namespace, returns.
    """
    readable = list(readable)
    # A plain dict, sent to the server as JSON: the dataclass it becomes there (`ServerSetup`) would cost this
    # stage the import of `dataclasses` (and of `inspect` and `re` with it) on every server's start.
    setup: ServerFacts = {"root": sys.platform.startswith("linux") and os.geteuid() == 0, "sandbox_id": None,
                          "userns": False, "netns": False, "ipcns": False, "mountns": False, "pidns": False,
                          "nproc": None, "problems": {}, "readable": readable}
    if not sys.platform.startswith("linux"):
        names = ("userns", "netns", "ipcns", "mountns", "pidns", "uid-drop", "nproc")
        setup["problems"].update({name: "not Linux" for name in names})
        return setup
    if setup["root"]:
        setup["sandbox_id"] = SANDBOX_ID_BASE + os.getpid()
        setup["nproc"] = NPROC_FOR_DROPPED_UID
        setup["problems"]["userns"] = "not needed: running as root, children drop to an unused uid"
    else:
        setup["problems"]["uid-drop"] = "not root: children keep the grader's uid"
        setup["nproc"] = _own_process_count() + NPROC_HEADROOM
    libc = _libc()
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | (0 if setup["root"] else CLONE_NEWUSER)
    try:
        try:
            _check(libc.unshare(flags | CLONE_NEWPID), "unshare")
            setup["pidns"] = True
        except OSError as error:
            setup["problems"]["pidns"] = f"could not enter a new PID namespace ({error.strerror or error})"
            _check(libc.unshare(flags), "unshare")
        if not setup["root"]:
            uid, gid = os.getuid(), os.getgid()
            _write("/proc/self/setgroups", "deny")
            _write("/proc/self/uid_map", f"{uid} {uid} 1")
            _write("/proc/self/gid_map", f"{gid} {gid} 1")
            setup["userns"] = True
        setup["netns"] = setup["ipcns"] = True
    except OSError as error:
        reason = f"could not enter new namespaces ({error.strerror or error})"
        setup["problems"].update({name: reason for name in ("netns", "ipcns", "mountns", "pidns")})
        if not setup["root"]:
            setup["problems"]["userns"] = reason
        _keep_uid_if_python_unreachable(setup, readable)
        return setup
    if setup["pidns"]:
        _become_pid_one(libc)
    try:
        _mount(libc, None, "/", None, _MS_REC | _MS_PRIVATE)
    except OSError as error:
        setup["problems"]["mountns"] = setup["problems"]["pidns"] = f"mount setup failed ({error.strerror})"
        setup["pidns"] = False
        _keep_uid_if_python_unreachable(setup, readable)
        return setup
    if setup["pidns"]:
        try:
            _mount(libc, "proc", "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
        except OSError as error:
            setup["problems"]["pidns"] = f"no /proc of its own could be mounted ({error.strerror})"
            setup["pidns"] = False
    try:
        _build_mounts(libc, setup, scratch_root, tmpfs_bytes, readable, hidden)
        setup["mountns"] = True
    except OSError as error:
        setup["problems"]["mountns"] = f"mount setup failed ({error.strerror or error})"
        _keep_uid_if_python_unreachable(setup, readable)
    return setup


def _keep_uid_if_python_unreachable(setup: ServerFacts, readable: Iterable[str]) -> None:
    """Without a mount namespace to expose it, a Python below a folder others cannot traverse (/root) is
    out of reach for a dropped uid, whose interpreter then fails on its first lazy import. Children
    keep uid 0 instead, stripped of every capability (`enter_child`), and the report says why."""
    if setup["sandbox_id"] is None:
        return
    for path in map(os.path.realpath, readable):
        blocker = first_untraversable(path) if os.path.exists(path) else None
        if blocker is not None:
            reason = (f"not possible: {path} is below {blocker}, which another uid cannot traverse, and there is no "
                      f"mount namespace to expose it; children keep uid 0 without capabilities "
                      f"(make it traversable, chmod o+x {blocker}, or install Python elsewhere)")
            setup["problems"]["uid-drop"] = reason
            setup["problems"]["nproc"] = "not set: uid 0 is shared with the grader"
            setup["sandbox_id"] = setup["nproc"] = None
            return


def _become_pid_one(libc) -> None:
    """Fork into the new PID namespace; the parent only waits and passes the child's status on."""
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        # The grader kills the launcher to stop a server: the namespace (every process in it) goes too.
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        return
    libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    for fd in (0, 1):  # the grader sees the server's end of its pipes close when the server ends
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def _write(path: str, text: str) -> None:
    with open(path, "w") as stream:
        stream.write(text)


def _own_process_count() -> int:
    uid, count = os.getuid(), 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                count += os.stat(f"/proc/{entry}").st_uid == uid
            except OSError:
                continue
    return count


def _mount(libc, source: str | None, target: str, kind: str | None, flags: int, data: str | None = None) -> None:
    _check(libc.mount(_bytes(source), target.encode(), _bytes(kind), ctypes.c_ulong(flags), _bytes(data)),
           f"mount {target}")


def _bytes(text: str | None) -> bytes | None:
    return None if text is None else text.encode()


def _build_mounts(libc, setup: ServerFacts, scratch_root: str, tmpfs_bytes: int, readable, hidden) -> None:
    readable = [os.path.realpath(path) for path in readable]
    if setup["sandbox_id"] is not None:  # the scratch root too: a TMPDIR below /root must stay reachable
        _expose(libc, [*readable, os.path.realpath(scratch_root)])
    for path in map(os.path.realpath, hidden):
        # Never hide a folder the child needs (a solutions folder holding the Python installation, say).
        if os.path.isdir(path) and not any(_within(needed, path) for needed in readable):
            try:
                _mount(libc, "tmpfs", path, "tmpfs", _MS_RDONLY | _MS_NOSUID | _MS_NODEV | _MS_NOEXEC,
                       "size=4k,nr_inodes=16,mode=000")
            except OSError as error:  # the message must not carry the hidden path to the children
                raise OSError(error.errno, f"covering a hidden folder: {error.strerror}") from None
    covered: set[str] = set()
    for folder in COVERED:
        real = os.path.realpath(folder)
        if real not in covered and os.path.isdir(real) and not os.path.islink(folder):
            covered.add(real)
            _cover(libc, real, [path for path in (*readable, os.path.realpath(scratch_root)) if _within(path, real)])
    _read_only_everywhere(libc)
    _mount(libc, "tmpfs", scratch_root, "tmpfs", _MS_NOSUID | _MS_NODEV,
           f"size={tmpfs_bytes},nr_inodes={SCRATCH_INODES},mode=0711")


def _read_only_everywhere(libc) -> None:
    """Make every mount of this namespace read-only (one recursive mount_setattr, Linux >= 5.12)."""
    attr = (ctypes.c_uint64 * 4)(_MOUNT_ATTR_RDONLY, 0, 0, 0)
    result = _raw_syscall(_MOUNT_SETATTR, ctypes.c_int(_AT_FDCWD), b"/", ctypes.c_uint(_AT_RECURSIVE), attr,
                          ctypes.c_size_t(ctypes.sizeof(attr)))
    _check(result, "mount_setattr read-only")


def _expose(libc, readable: Iterable[str]) -> None:
    """Let another uid reach `readable` paths that sit below folders it cannot traverse.

    The topmost such folder is covered by a tmpfs holding only the path down to each of them.
    """
    targets = sorted({path for path in readable if os.path.exists(path)})
    covers: dict[str, list[str]] = {}
    for path in targets:
        blocker = first_untraversable(path)
        if blocker is not None and not any(_within(path, other) for other in covers.get(blocker, [])):
            covers.setdefault(blocker, []).append(path)
    for blocker, paths in covers.items():
        _cover(libc, blocker, paths)


def _cover(libc, folder: str, keep: list[str]) -> None:
    """Mount an empty tmpfs over `folder`, with each folder of `keep` below it bind-mounted back in place.

    The originals are reached through O_PATH descriptors opened before covering.
    """
    keep = [path for path in sorted(set(keep)) if os.path.isdir(path)]
    keep = [path for path in keep if not any(_within(path, other) and path != other for other in keep)]
    handles = {path: os.open(path, os.O_PATH | os.O_CLOEXEC) for path in keep}
    try:
        _mount(libc, "tmpfs", folder, "tmpfs", _MS_NOSUID | _MS_NODEV, "size=64k,nr_inodes=256,mode=0755")
        old_mask = os.umask(0o022)
        try:
            for path, handle in handles.items():
                os.makedirs(path, exist_ok=True)
                _mount(libc, f"/proc/self/fd/{handle}", path, None, _MS_BIND | _MS_REC)
        finally:
            os.umask(old_mask)
    finally:
        for handle in handles.values():
            os.close(handle)


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def first_untraversable(path: str) -> str | None:
    """The topmost ancestor of `path` (or itself) that others may not search, if any."""
    current = "/"
    for part in path.strip("/").split("/"):
        current = os.path.join(current, part)
        if not os.stat(current).st_mode & 0o001:
            return current
    return None


def enter_child(setup: ServerSetup) -> None:
    """In the forked child, before student code: cap the process count, give up privileges. Raises OSError."""
    if setup.nproc is not None:
        resource.setrlimit(resource.RLIMIT_NPROC, (setup.nproc, setup.nproc))
    if setup.sandbox_id is not None:
        os.setgroups([])
        os.setresgid(setup.sandbox_id, setup.sandbox_id, setup.sandbox_id)
        os.setresuid(setup.sandbox_id, setup.sandbox_id, setup.sandbox_id)
    elif setup.userns or setup.root:
        _drop_capabilities()


def _drop_capabilities() -> None:
    """Clear every capability (a process in its own user namespace holds them all there)."""
    number = _CAPSET.get(os.uname().machine)
    if number is None:
        raise OSError("capset: unknown architecture")
    header = (ctypes.c_uint32 * 2)(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()
    _check(_raw_syscall(number, header, data), "capset")
