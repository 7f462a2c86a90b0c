"""Where a class's CPU time goes, process by process, kernel included: `grade` beside the bare-fork floor.

    python benchmarks/cpu_breakdown.py [--size 400] [--jobs 2] [--frequency 1000]

Needs Linux `perf`, run as root (or with perf_event_paranoid <= 0). Each command runs once under
`perf record -a -g` on the class of benchmarks/class_benchmark.py, and every sample of the command
or of a process it started is given to a role by the fork events: the command itself (the
grader, or the floor's parent), a child (forked by a process that forked many: one per
submission) or a fork server (the command's other descendants). For each role it prints
milliseconds of CPU per submission, split into user time and the kernel's share, and the
kernel's share split by what it was doing: page faults (a child's copies of the pages it writes),
the exit (tearing down an address space), fork (copying page tables), other system calls. Run it
on an otherwise idle machine, and compare the two commands within one run.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import class_benchmark  # noqa: E402

_SAMPLE = re.compile(r"^\s*(\S.*?)\s+(\d+)/(\d+)\s+([\d.]+):")
_KERNEL_ACTIVITY = (("page faults", ("exc_page_fault",)), ("exit", ("do_exit", "__x64_sys_exit_group")),
                    ("fork", ("ret_from_fork", "copy_process", "dup_mmap")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=400)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--frequency", type=int, default=1000, help="Samples a second per CPU.")
    options = parser.parse_args()
    if shutil.which("perf") is None:
        sys.exit("cpu_breakdown.py needs Linux perf (linux-perf, or linux-tools for your kernel)")
    class_benchmark._precompile()
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        bench = class_benchmark.Bench(scratch, options.size, options.jobs)
        spec = scratch / "floor.pickle"
        class_benchmark.floor_spec(bench, spec)
        floor = [sys.executable, str(HERE / "bare_fork_floor.py"), str(spec)]
        grade = [sys.executable, "-m", "grader", str(bench.folder), "--solutions", str(class_benchmark.ROOT / "solutions"),
                 "-q", "--jobs", str(options.jobs), "--no-cache", "--out", str(scratch / "out")]
        print(f"class: {options.size} notebooks, --jobs {options.jobs}, {os.cpu_count()} CPUs, "
              f"load {os.getloadavg()[0]:.1f}; CPU milliseconds per submission")
        for name, command in (("floor", floor), ("grade", grade)):
            roles, seconds = _profile(command, scratch / f"{name}.data", options.frequency)
            _report(name, roles, options.size, options.frequency, seconds)


def _profile(command: list[str], data: Path, frequency: int) -> tuple[dict, float]:
    """Samples of the command and of every process it started, by role: {role: Counter(category)}; and the seconds.

    The whole machine is sampled (a process's last moments, the exit, are sampled only so) and the
    processes are told apart by the fork events: the command's descendants only are counted.
    """
    pid_file = data.with_suffix(".pid")
    wrapped = ["sh", "-c", 'echo $$ > "$0"; exec "$@"', str(pid_file), *command]
    done = subprocess.run(["perf", "record", "-a", "-g", "-F", str(frequency), "-o", str(data), "--", *wrapped],
                          cwd=data.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0 or not data.exists():
        sys.exit(f"perf record failed: {done.stderr.strip()[-500:]}")
    script = subprocess.run(["perf", "script", "-i", str(data), "-F", "comm,pid,tid,time,ip,sym", "--show-task-events"],
                            capture_output=True, text=True, check=True).stdout
    samples, parents = _samples(script)
    command_pid = int(pid_file.read_text())
    forked = collections.Counter(parents.values())
    roles: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    role_of: dict[int, str | None] = {command_pid: "command"}
    times = []
    for pid, time, frames in samples:
        role = _role(pid, command_pid, parents, forked, role_of)
        if role is not None:
            roles[role][_category(frames)] += 1
            times.append(time)
    if not times:
        sys.exit("perf recorded no sample of the command")
    return roles, max(times) - min(times)


def _role(pid: int, command_pid: int, parents: dict[int, int], forked: collections.Counter,
          role_of: dict[int, str | None]) -> str | None:
    """The command itself; a child (forked by a process that forked many, the floor's parent or a fork server, or
    a descendant of one); a fork server (the command's other descendants); None for another process."""
    if pid not in role_of:
        parent = parents.get(pid)
        if parent is None:
            role_of[pid] = None
        else:
            above = _role(parent, command_pid, parents, forked, role_of)
            role_of[pid] = (None if above is None else "child" if above == "child" or forked[parent] > 3
                            else "server")
    return role_of[pid]


_FORK = re.compile(r"PERF_RECORD_FORK\((\d+):(\d+)\):\((\d+):(\d+)\)")


def _samples(script: str) -> tuple[list[tuple[int, float, list[str]]], dict[int, int]]:
    """(pid, time, frames innermost first) of every sample; and each new process's parent, from the fork events."""
    found, parents, header, frames = [], {}, None, []
    for line in script.splitlines() + [""]:
        fork = _FORK.search(line)
        if fork:
            child, parent = int(fork.group(1)), int(fork.group(3))
            if child != parent:  # a new process, not a thread
                parents[child] = parent
            continue
        if not line.strip():
            if header is not None:
                found.append((header[0], header[1], frames))
            header, frames = None, []
            continue
        match = _SAMPLE.match(line)
        if match and header is None:
            header = (int(match.group(2)), float(match.group(4)))
        elif header is not None:
            parts = line.split(None, 1)
            frames.append(parts[1].strip() if len(parts) > 1 else "")
    return found, parents


def _category(frames: list[str]) -> str:
    """What the sample's process was doing: in user space, or in the kernel for what."""
    present = set(frames)
    for name, markers in _KERNEL_ACTIVITY:
        if present.intersection(markers):
            return f"kernel: {name}"
    if "do_syscall_64" in present:
        return "kernel: other system calls"
    if any(frame.startswith("asm_") for frame in frames):
        return "kernel: interrupts"
    return "user"


def _report(name: str, roles: dict, size: int, frequency: int, seconds: float) -> None:
    per = 1000.0 / frequency / size  # one sample in milliseconds, shared over the class
    total = sum(sum(counter.values()) for counter in roles.values()) * per
    print(f"\n{name}: {total:.2f} ms of CPU per submission ({seconds:.2f} s sampled)")
    for role in ("command", "server", "child"):
        counter = roles.get(role)
        if not counter:
            continue
        label = {"command": "grader process" if name == "grade" else "parent", "server": "fork servers",
                 "child": "children"}[role]
        print(f"  {label:15} {sum(counter.values()) * per:6.2f}  " +
              ", ".join(f"{category} {count * per:.2f}" for category, count in sorted(counter.items())))
    print(json.dumps({"command": name, "ms_per_submission": round(total, 3),
                      "roles": {role: {k: round(v * per, 3) for k, v in counter.items()} for role, counter in roles.items()}}))


if __name__ == "__main__":
    main()
