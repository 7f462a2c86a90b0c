"""Landlock through raw syscalls (444-446 on x86_64 and aarch64): a file-system allow-list for the child.

Whatever the uid, the child may then read (and execute) only the Python installation, the
grader package and the system dirs, and write only its scratch dir; the solutions folder, the
other submissions and the user's home are out of reach. Every access right the kernel's ABI
knows is "handled", so anything not granted below is denied. From ABI 4, TCP bind/connect is
denied too; from ABI 6, signals and abstract Unix sockets are scoped to the child's own domain
(the precise form of "no signals aimed outside the sandbox" that seccomp cannot express).
Already-open descriptors (stdout/stderr files, the result pipe) are unaffected, so those files
need no rule.
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform
import stat
import struct
import sys
from collections.abc import Iterable

_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_REMOVE_DIR, _REMOVE_FILE, _MAKE_CHAR, _MAKE_DIR, _MAKE_REG = 1 << 4, 1 << 5, 1 << 6, 1 << 7, 1 << 8
_MAKE_SOCK, _MAKE_FIFO, _MAKE_BLOCK, _MAKE_SYM = 1 << 9, 1 << 10, 1 << 11, 1 << 12
_REFER, _TRUNCATE, _IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1

_ABI1_FS = (1 << 13) - 1
READ_ONLY = EXECUTE | READ_FILE | READ_DIR
_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | _TRUNCATE | _IOCTL_DEV
SCRATCH = (READ_ONLY | WRITE_FILE | _REMOVE_DIR | _REMOVE_FILE | _MAKE_DIR | _MAKE_REG | _MAKE_SYM
           | _MAKE_FIFO | _MAKE_SOCK | _REFER | _TRUNCATE)
# The system dirs every Python needs (missing ones are skipped).
SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc", "/proc", "/opt/homebrew")


@functools.cache  # loaded once in the fork server (layers.prepare), inherited by every child
def _syscall():
    if not (sys.platform.startswith("linux") and platform.machine() in ("x86_64", "aarch64")):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).syscall
    except (OSError, AttributeError):
        return None
    function.restype = ctypes.c_long
    return function


@functools.cache  # asked in the fork server (layers.prepare): a child does not ask the kernel again
def abi_version() -> int:
    """The kernel's Landlock ABI version, 0 when Landlock is unavailable or disabled."""
    syscall = _syscall()
    if syscall is None:
        return 0
    version = syscall(_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    return max(int(version), 0)


def handled_fs(abi: int) -> int:
    rights = _ABI1_FS
    if abi >= 2:
        rights |= _REFER
    if abi >= 3:
        rights |= _TRUNCATE
    if abi >= 5:
        rights |= _IOCTL_DEV
    return rights


def restrict(read_only: Iterable[str], read_write: Iterable[str], devices: Iterable[str] = ("/dev/null",)) -> int:
    """Confine this process (and its future children) to the given paths; returns the ABI used.

    Needs no_new_privs (set by the caller) or CAP_SYS_ADMIN. Raises OSError when Landlock is
    unavailable or a syscall fails; paths that do not exist are skipped.
    """
    abi = abi_version()
    if abi < 1:
        raise OSError("Landlock is not available on this kernel")
    syscall = _syscall()
    fs = handled_fs(abi)
    attr = struct.pack("=QQQ", fs, _NET_BIND_TCP | _NET_CONNECT_TCP if abi >= 4 else 0,
                       _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL if abi >= 6 else 0)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    ruleset = syscall(_CREATE_RULESET, attr, ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        for paths, rights in ((read_only, READ_ONLY), (read_write, SCRATCH), (devices, READ_FILE | WRITE_FILE)):
            for path in paths:
                _add(syscall, ruleset, path, rights & fs)
        if syscall(_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(ruleset)
    return abi


@functools.cache  # worked out in the fork server (layers.prepare), inherited by every child
def existing(paths: tuple[str, ...]) -> tuple[str, ...]:
    """Those of `paths` that exist: a child skips the others without trying to open them (Linux has no /opt/homebrew)."""
    return tuple(path for path in paths if os.path.lexists(path))


def _add(syscall, ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):  # what was opened, not what the path names by now
            rights &= _FILE_RIGHTS
        rule = struct.pack("=Qi", rights, fd)
        if syscall(_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH), rule, ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), f"landlock_add_rule failed for {path}")
    finally:
        os.close(fd)
