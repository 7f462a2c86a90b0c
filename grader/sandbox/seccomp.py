"""A seccomp-bpf filter, assembled by hand (no libseccomp), installed in the child before student code.

The filter is an allow-list of *behaviour*, not of syscalls: everything Python and numpy need
keeps working, and the syscalls that reach outside the child are refused with EPERM (so
student code sees an ordinary OSError, and the grader a clean verdict):

- every socket(): no network and no named Unix socket (a session D-Bus, ssh-agent, docker.sock),
  whatever the namespaces and the Landlock ABI; only socketpair(AF_UNIX, SOCK_STREAM) stays, an
  anonymous connected pair (multiprocessing's and asyncio's pipes) that can reach nothing else;
- setsid/setpgid: every descendant stays in the child's process group, which the server kills
  as one (the child's own setsid ran before the filter);
- acting on another process: BPF cannot tell a descendant from a stranger, so every call that
  names a target process must name the child itself (its pid, or 0 for "me"): prlimit64,
  setpriority (PRIO_PROCESS only), sched_set*, ioprio_set (IOPRIO_WHO_PROCESS only),
  migrate_pages/move_pages, tkill/tgkill/rt_(tg)sigqueueinfo and pidfd_open; kill() may reach
  the child and its own process group (0 or -pgid), which holds every descendant. Without this,
  a child sharing the grader's uid could set a fork server's RLIMIT_NPROC or the grader's
  RLIMIT_FSIZE to 0, renice or SCHED_IDLE them, or starve a classmate's child of CPU time;
- pidfd_send_signal, pidfd_getfd, process_madvise, process_mrelease, ptrace,
  process_vm_readv/writev, kcmp (other processes' memory and descriptors);
- unshare/setns/mount family/pivot_root/chroot, and clone() with any CLONE_NEW* flag
  (clone3 answers ENOSYS so libc falls back to clone, whose flags BPF can see);
- SysV IPC (shm, sem, msg), keyctl, bpf, perf_event_open, userfaultfd, io_uring (which would
  run socket and file operations behind the filter's back), open_by_handle_at.

The filter checks the architecture first and kills the process on any other ABI (i386 via
int 0x80, x32 via the 0x40000000 bit), since syscall numbers differ there.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import platform
import struct
import sys

from grader.sandbox import process

# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]
_NR, _ARCH, _ARG0, _ARG1 = 0, 4, 16, 24  # args are read as their low 32-bit word (little endian)
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_X32_BIT = 0x40000000

_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_RET_ALLOW = 0x7FFF0000
_DENY = _RET_ERRNO | errno.EPERM

# BPF opcodes used here.
_LD_W_ABS = 0x20
_JEQ_K, _JGE_K, _JGT_K, _JSET_K = 0x15, 0x35, 0x25, 0x45
_AND_K = 0x54
_RET_K = 0x06

_CLONE_NEW_FLAGS = 0x7E020000  # NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
_AF_UNIX, _SOCK_STREAM, _SOCK_TYPE_MASK = 1, 1, 0xF
_PRIO_PROCESS, _IOPRIO_WHO_PROCESS = 0, 1

_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2

# Syscall numbers of the two 64-bit architectures we support (asm/unistd_64.h, asm-generic/unistd.h).
_SYSCALLS: dict[str, dict[str, int]] = {
    "x86_64": {
        "socket": 41, "socketpair": 53, "setsid": 112, "setpgid": 109, "kill": 62, "tkill": 200, "tgkill": 234,
        "rt_sigqueueinfo": 129, "rt_tgsigqueueinfo": 297, "ptrace": 101, "unshare": 272, "setns": 308,
        "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "shmget": 29, "shmat": 30, "shmctl": 31,
        "shmdt": 67, "semget": 64, "msgget": 68, "process_vm_readv": 310, "process_vm_writev": 311,
        "add_key": 248, "request_key": 249, "keyctl": 250, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323,
        "kcmp": 312, "clone": 56, "clone3": 435, "pidfd_send_signal": 424, "pidfd_getfd": 438,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428, "move_mount": 429,
        "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442, "open_by_handle_at": 304,
        "prlimit64": 302, "setpriority": 141, "sched_setparam": 142, "sched_setscheduler": 144,
        "sched_setaffinity": 203, "sched_setattr": 314, "ioprio_set": 251, "migrate_pages": 256, "move_pages": 279,
        "pidfd_open": 434, "process_madvise": 440, "process_mrelease": 448,
    },
    "aarch64": {
        "socket": 198, "socketpair": 199, "setsid": 157, "setpgid": 154, "kill": 129, "tkill": 130, "tgkill": 131,
        "rt_sigqueueinfo": 138, "rt_tgsigqueueinfo": 240, "ptrace": 117, "unshare": 97, "setns": 268,
        "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51, "shmget": 194, "shmat": 196, "shmctl": 195,
        "shmdt": 197, "semget": 190, "msgget": 186, "process_vm_readv": 270, "process_vm_writev": 271,
        "add_key": 217, "request_key": 218, "keyctl": 219, "bpf": 280, "perf_event_open": 241, "userfaultfd": 282,
        "kcmp": 272, "clone": 220, "clone3": 435, "pidfd_send_signal": 424, "pidfd_getfd": 438,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428, "move_mount": 429,
        "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442, "open_by_handle_at": 265,
        "prlimit64": 261, "setpriority": 140, "sched_setparam": 118, "sched_setscheduler": 119,
        "sched_setaffinity": 122, "sched_setattr": 274, "ioprio_set": 30, "migrate_pages": 238, "move_pages": 239,
        "pidfd_open": 434, "process_madvise": 440, "process_mrelease": 448,
    },
}
DENIED = ("socket", "setsid", "setpgid", "ptrace", "unshare", "setns", "mount", "umount2", "pivot_root", "chroot",
          "shmget", "shmat", "shmctl", "shmdt", "semget", "msgget", "process_vm_readv", "process_vm_writev",
          "add_key", "request_key", "keyctl", "bpf", "perf_event_open", "userfaultfd", "kcmp",
          "pidfd_send_signal", "pidfd_getfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
          "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr", "open_by_handle_at",
          "process_madvise", "process_mrelease")
# Calls whose first argument is the target process, where 0 means the caller: only 0 or the child's pid.
_SELF_OR_ZERO = ("prlimit64", "sched_setparam", "sched_setscheduler", "sched_setattr", "sched_setaffinity",
                 "migrate_pages", "move_pages")
# Calls whose first argument is a pid (or thread group id) with no "me" shorthand: only the child's pid.
_SELF_ONLY = ("tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_open")


def supported() -> bool:
    return sys.platform.startswith("linux") and platform.machine() in _SYSCALLS


class _Program:
    """BPF instructions with forward jumps to named labels, resolved at the end."""

    def __init__(self) -> None:
        self.code: list[tuple[int, object, object, int]] = []
        self.labels: dict[str, int] = {}

    def load(self, offset: int) -> None:
        self.code.append((_LD_W_ABS, 0, 0, offset))

    def jump(self, op: int, value: int, true: str | int = 0, false: str | int = 0) -> None:
        self.code.append((op, true, false, value))

    def ret(self, action: int) -> None:
        self.code.append((_RET_K, 0, 0, action))

    def label(self, name: str) -> None:
        self.labels[name] = len(self.code)

    def assemble(self) -> bytes:
        out = bytearray()
        for index, (op, true, false, value) in enumerate(self.code):
            jt, jf = (self._offset(index, target) for target in (true, false))
            out += struct.pack("=HBBI", op, jt, jf, value)
        return bytes(out)

    def _offset(self, index: int, target: str | int) -> int:
        if isinstance(target, int):
            return target
        offset = self.labels[target] - index - 1
        if not 0 <= offset <= 255:
            raise ValueError(f"jump to {target} out of range")
        return offset


def build(pgid: int, pid: int, machine: str | None = None) -> bytes:
    """The filter for this architecture, for the child `pid` leading the process group `pgid`."""
    machine = machine or platform.machine()
    numbers = _SYSCALLS[machine]
    me = pid & 0xFFFFFFFF
    p = _Program()
    p.load(_ARCH)
    p.jump(_JEQ_K, _AUDIT_ARCH[machine], true=1)
    p.ret(_RET_KILL_PROCESS)
    p.load(_NR)
    if machine == "x86_64":
        p.jump(_JGE_K, _X32_BIT, true="deny")
    for name in DENIED:
        p.jump(_JEQ_K, numbers[name], true="deny")
    p.jump(_JEQ_K, numbers["clone3"], true="nosys")
    p.jump(_JEQ_K, numbers["socketpair"], true="socketpair")
    p.jump(_JEQ_K, numbers["clone"], true="clone")
    p.jump(_JEQ_K, numbers["kill"], true="kill")
    p.jump(_JEQ_K, numbers["setpriority"], true="setpriority")
    p.jump(_JEQ_K, numbers["ioprio_set"], true="ioprio_set")
    for name in _SELF_OR_ZERO:
        p.jump(_JEQ_K, numbers[name], true="self_or_zero")
    for name in _SELF_ONLY:
        p.jump(_JEQ_K, numbers[name], true="self_only")
    p.ret(_RET_ALLOW)

    p.label("socketpair")
    p.load(_ARG0)
    p.jump(_JEQ_K, _AF_UNIX, false="deny")
    p.load(_ARG1)
    p.code.append((_AND_K, 0, 0, _SOCK_TYPE_MASK))  # SOCK_CLOEXEC / SOCK_NONBLOCK ride in the high bits
    p.jump(_JEQ_K, _SOCK_STREAM, true="allow", false="deny")
    p.label("clone")
    p.load(_ARG0)
    p.jump(_JSET_K, _CLONE_NEW_FLAGS, true="deny", false="allow")
    p.label("kill")
    p.load(_ARG0)
    p.jump(_JEQ_K, (-pgid) & 0xFFFFFFFF, true="allow", false="self_or_zero_loaded")
    p.label("setpriority")  # setpriority(which, who, prio): only PRIO_PROCESS of the child itself
    p.load(_ARG0)
    p.jump(_JEQ_K, _PRIO_PROCESS, true="who", false="deny")
    p.label("ioprio_set")  # ioprio_set(which, who, ioprio): only IOPRIO_WHO_PROCESS of the child itself
    p.load(_ARG0)
    p.jump(_JEQ_K, _IOPRIO_WHO_PROCESS, false="deny")
    p.label("who")
    p.load(_ARG1)
    p.jump(_JEQ_K, 0, true="allow", false="self_only_loaded")
    p.label("self_or_zero")
    p.load(_ARG0)
    p.label("self_or_zero_loaded")
    p.jump(_JEQ_K, 0, true="allow")
    p.jump(_JEQ_K, me, true="allow", false="deny")
    p.label("self_only")
    p.load(_ARG0)
    p.label("self_only_loaded")
    p.jump(_JEQ_K, me, true="allow", false="deny")

    p.label("allow")
    p.ret(_RET_ALLOW)
    p.label("deny")
    p.ret(_DENY)
    p.label("nosys")
    p.ret(_RET_ERRNO | errno.ENOSYS)
    return p.assemble()


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


# Stand-ins for the child's pid and process group in the filter a fork server builds once (`template`):
# assembling it in Python costs more than every other layer, so a child only writes its own numbers
# into a copy. Neither can be a real pid or process group (both are below 2**22 on Linux).
_PID_MARK, _PGID_MARK = 0x7FFFFFF1, 0x7FFFFFF3
_INSTRUCTION = struct.Struct("=HBBI")
_WORD = struct.Struct("=I")


@functools.cache
def template() -> tuple[bytes, tuple[int, ...], tuple[int, ...]]:
    """The filter with stand-ins, and where they are: the byte offsets of the pid's and of -pgid's words.

    Called in the fork server before it forks, so its children share it.
    """
    program = build(_PGID_MARK, _PID_MARK)
    words = [(offset, _INSTRUCTION.unpack_from(program, offset)[3]) for offset in range(0, len(program), 8)]
    value = _INSTRUCTION.size - 4  # the 32-bit operand is the instruction's last field
    pid_at = tuple(offset + value for offset, word in words if word == _PID_MARK)
    pgid_at = tuple(offset + value for offset, word in words if word == (-_PGID_MARK) & 0xFFFFFFFF)
    return program, pid_at, pgid_at


def specialise(pgid: int, pid: int) -> bytes:
    """The template's filter with the stand-ins replaced by this child's pid and process group."""
    program, _, _ = template()
    out = bytearray(program)
    _write_numbers(out, pgid, pid)
    return bytes(out)


def _write_numbers(program, pgid: int, pid: int) -> None:
    """Write the child's pid and -pgid over the template's stand-ins, in place (a bytearray or a ctypes buffer)."""
    _, pid_at, pgid_at = template()
    for at in pid_at:
        _WORD.pack_into(program, at, pid & 0xFFFFFFFF)
    for at in pgid_at:
        _WORD.pack_into(program, at, (-pgid) & 0xFFFFFFFF)


@functools.cache
def loadable() -> tuple[ctypes.Array, object]:
    """The template in a ctypes buffer and a `struct sock_fprog` pointing at it (by reference).

    Made in the fork server before it forks (`layers.prepare`): building these ctypes objects cost a
    child more than loading the filter does. Each child writes its own numbers into its copy-on-write
    copy of the buffer; the server's stays the template.
    """
    program, _, _ = template()
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    return buffer, ctypes.byref(fprog)


def install(pgid: int, pid: int) -> None:
    """Set no_new_privs and load the filter into this (single-threaded) process `pid`. Raises OSError."""
    buffer, fprog = loadable()
    _write_numbers(buffer, pgid, pid)
    if process.prctl(_PR_SET_NO_NEW_PRIVS, 1) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS failed")
    if process.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, fprog) != 0:
        raise OSError(ctypes.get_errno(), "seccomp filter refused")
