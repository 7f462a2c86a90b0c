"""Docker's default confinement, emulated: root without CAP_SYS_ADMIN, a seccomp filter refusing namespaces and mounts.

That is how Gradescope (and most CI containers) run the autograder. `confined(command)` returns
a command line that runs `command` so: a small launcher installs the filter while it still holds
CAP_SYS_ADMIN (as Docker's runtime does, so no no_new_privs is needed), then execs `setpriv`,
which drops CAP_SYS_ADMIN from the bounding set before exec'ing `command`, so the command's
root holds every capability but that one.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys

# The launcher: a hand-assembled classic BPF program (struct sock_filter: u16 code, u8 jt, u8 jf, u32 k).
_LAUNCHER = r'''
import ctypes, errno, os, struct, sys
numbers = {
    "x86_64": (0xC000003E, {"unshare": 272, "setns": 308, "mount": 165, "umount2": 166, "pivot_root": 155,
                            "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsmount": 432,
                            "mount_setattr": 442}, 56, 435),
    "aarch64": (0xC00000B7, {"unshare": 97, "setns": 268, "mount": 40, "umount2": 39, "pivot_root": 41,
                             "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsmount": 432,
                             "mount_setattr": 442}, 220, 435),
}
arch, denied, clone, clone3 = numbers[sys.argv[1]]
LD, JEQ, JSET, RET = 0x20, 0x15, 0x45, 0x06
ALLOW, EPERM, ENOSYS = 0x7FFF0000, 0x00050000 | errno.EPERM, 0x00050000 | errno.ENOSYS
code = [(LD, 0, 0, 4), (JEQ, 1, 0, arch), (RET, 0, 0, ALLOW), (LD, 0, 0, 0)]
for number in denied.values():
    code += [(JEQ, 0, 1, number), (RET, 0, 0, EPERM)]
code += [(JEQ, 0, 1, clone3), (RET, 0, 0, ENOSYS)]
code += [(JEQ, 0, 3, clone), (LD, 0, 0, 16), (JSET, 0, 1, 0x7E020000), (RET, 0, 0, EPERM), (RET, 0, 0, ALLOW)]
program = b"".join(struct.pack("=HBBI", *instruction) for instruction in code)
class Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
buffer = ctypes.create_string_buffer(program, len(program))
fprog = Fprog(len(code), ctypes.cast(buffer, ctypes.c_void_p))
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
    sys.exit(f"seccomp: {os.strerror(ctypes.get_errno())}")
os.execvp(sys.argv[2], sys.argv[2:])
'''


def unavailable() -> str | None:
    """Why the emulation cannot run here, or None."""
    if not sys.platform.startswith("linux") or platform.machine() not in ("x86_64", "aarch64"):
        return "needs Linux on x86_64 or aarch64"
    if os.geteuid() != 0:
        return "the container's root is emulated from root only"
    if shutil.which("setpriv") is None:
        return "needs setpriv (util-linux)"
    return None


def confined(command: list[str]) -> list[str]:
    """`command`, run as a Docker container's root: no CAP_SYS_ADMIN, no unshare/setns/mount, no new namespaces."""
    return [sys.executable, "-c", _LAUNCHER, platform.machine(),
            "setpriv", "--bounding-set=-sys_admin", "--inh-caps=-sys_admin", "--", *command]
