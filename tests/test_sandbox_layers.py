"""The sandbox layers on their own: the seccomp filter's behaviour, the report, the CLI switches."""

from __future__ import annotations

import errno
import os
import socket
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.cli import grade
from grader.sandbox import layers, seccomp
from tests import forked

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "solutions" / "backward_pass" / "backward_pass.ipynb"

# The course's reference, against backward_pass whatever else the solutions folder holds (it has no metadata).
ONE_ASSIGNMENT = [str(REFERENCE), "--solutions", str(REPO / "solutions"), "--assignment", "backward_pass"]


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_filter_assembles_for_both_architectures(machine: str) -> None:
    program = seccomp.build(pgid=1234, pid=1234, machine=machine)
    assert len(program) % 8 == 0 and 40 < len(program) // 8 < 255


@pytest.mark.skipif(not seccomp.supported(), reason="seccomp filters are built for Linux on x86_64 and aarch64")
@pytest.mark.parametrize("pgid, pid", [(1234, 1234), (7, 4321), (4_194_303, 4_194_302), (1, 2)])
def test_filter_built_once_per_server_is_the_one_built_per_child(pgid: int, pid: int) -> None:
    """A child writes its pid and group into the fork server's template (seccomp.specialise): every rule naming
    the child (kill to its group, process calls to itself) must come out byte for byte as a filter built for it."""
    assert seccomp.specialise(pgid, pid) == seccomp.build(pgid, pid)


@pytest.mark.skipif(not seccomp.supported(), reason="seccomp filters are built for Linux on x86_64 and aarch64")
def test_each_child_loads_its_own_filter_and_the_servers_copy_stays_the_template() -> None:
    """seccomp.loadable: the fork server builds the ctypes buffer once; each child writes its own pid and group into
    its copy-on-write copy and loads exactly the filter built for it, and the server's buffer keeps the stand-ins."""
    buffer, _ = seccomp.loadable()
    program, _, _ = seccomp.template()

    def probe() -> dict:
        return {"loaded": bytes(buffer)[: len(program)].hex(),
                "built": seccomp.build(os.getpgrp(), os.getpid()).hex()}

    reports = [_in_filtered_child(probe) for _ in range(3)]
    assert all(report["loaded"] == report["built"] for report in reports)
    assert len({report["loaded"] for report in reports}) == 3  # three children, three pids
    assert bytes(buffer)[: len(program)] == program


def _in_filtered_child(probe) -> dict:
    """Run `probe` in a forked child under the filter; return what it reported."""
    def filtered():
        os.setsid()
        seccomp.install(os.getpgrp(), os.getpid())
        return probe()

    return forked.in_child(filtered)


def _errno_of(action) -> int:
    try:
        action()
    except OSError as error:
        return error.errno
    return 0


def _fork_and_wait() -> None:
    child = os.fork()
    if child == 0:
        os._exit(0)
    os.waitpid(child, 0)


@pytest.mark.skipif(not seccomp.supported(), reason="seccomp filter needs Linux on x86_64 or aarch64")
def test_filter_refuses_escapes_and_keeps_ordinary_work() -> None:
    def probe() -> dict:
        return {
            "inet": _errno_of(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()),
            "unix": _errno_of(lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()),
            "pair": _errno_of(lambda: [end.close() for end in socket.socketpair()]),
            "dgram_pair": _errno_of(lambda: socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)),
            "setsid": _errno_of(os.setsid),
            "kill_everyone": _errno_of(lambda: os.kill(-1, 0)),
            "kill_init": _errno_of(lambda: os.kill(1, 0)),
            "kill_own_group": _errno_of(lambda: os.killpg(os.getpgrp(), 0)),
            "kill_self": _errno_of(lambda: os.kill(os.getpid(), 0)),
            "fork": _errno_of(_fork_and_wait),
        }

    result = _in_filtered_child(probe)
    assert result == {"inet": errno.EPERM, "unix": errno.EPERM, "pair": 0, "dgram_pair": errno.EPERM,
                      "setsid": errno.EPERM, "kill_everyone": errno.EPERM, "kill_init": errno.EPERM,
                      "kill_own_group": 0, "kill_self": 0, "fork": 0}


@pytest.mark.skipif(not seccomp.supported(), reason="seccomp filter needs Linux on x86_64 or aarch64")
def test_filter_confines_process_calls_to_the_child_itself() -> None:
    """Mechanism 4 of issue 9: limits, priorities, scheduling and signals reach no other process, in every mode."""
    import resource

    def probe() -> dict:
        other = os.getppid()
        nice = os.getpriority(os.PRIO_PROCESS, 0)
        return {
            "prlimit_other": _errno_of(lambda: resource.prlimit(other, resource.RLIMIT_NOFILE)),
            "prlimit_self": _errno_of(lambda: resource.prlimit(0, resource.RLIMIT_NOFILE)),
            "prlimit_own_pid": _errno_of(lambda: resource.prlimit(os.getpid(), resource.RLIMIT_NOFILE)),
            "getrlimit": _errno_of(lambda: resource.getrlimit(resource.RLIMIT_AS)),
            "renice_other": _errno_of(lambda: os.setpriority(os.PRIO_PROCESS, other, 19)),
            "renice_group": _errno_of(lambda: os.setpriority(os.PRIO_PGRP, 0, nice)),
            "renice_user": _errno_of(lambda: os.setpriority(os.PRIO_USER, 0, 19)),
            "renice_self": _errno_of(lambda: os.setpriority(os.PRIO_PROCESS, 0, nice)),
            "idle_other": _errno_of(lambda: os.sched_setscheduler(other, os.SCHED_IDLE, os.sched_param(0))),
            "param_other": _errno_of(lambda: os.sched_setparam(other, os.sched_param(0))),
            "affinity_other": _errno_of(lambda: os.sched_setaffinity(other, os.sched_getaffinity(0))),
            "affinity_self": _errno_of(lambda: os.sched_setaffinity(0, os.sched_getaffinity(0))),
            "signal_other": _errno_of(lambda: os.kill(other, 0)),
            "pidfd_other": _errno_of(lambda: os.close(os.pidfd_open(other))),
        }

    result = _in_filtered_child(probe)
    refused = {name for name, code in result.items() if code == errno.EPERM}
    assert refused == {"prlimit_other", "renice_other", "renice_group", "renice_user", "idle_other", "param_other",
                       "affinity_other", "signal_other", "pidfd_other"}, result
    assert all(code == 0 for name, code in result.items() if name not in refused), result


def test_probe_reports_new_layers_honestly() -> None:
    """The table names the PID namespace and says what seccomp now refuses; each entry came from the probe child."""
    result = CliRunner().invoke(grade, ["--sandbox-info"])
    assert result.exit_code == 0, result.output
    assert "pidns" in result.output
    seccomp_line = next(line for line in result.output.splitlines() if " seccomp " in line)
    if seccomp_line.startswith("[x]"):
        assert "sockets" in seccomp_line and "other processes" in seccomp_line


def test_missing_layers() -> None:
    report = [layers.Layer(name, name != "landlock-fs", "") for name in layers.DESCRIPTIONS]
    assert layers.missing(report, ["core"]) == ["landlock-fs"]
    assert layers.missing(report, ["seccomp", "netns"]) == []
    assert "userns" not in layers.missing(report, ["all"])
    with pytest.raises(ValueError, match="unknown sandbox layer"):
        layers.missing(report, ["firewall"])


def test_sandbox_info_lists_every_layer() -> None:
    result = CliRunner().invoke(grade, ["--sandbox-info"])
    assert result.exit_code == 0, result.output
    for name in layers.DESCRIPTIONS:
        assert name in result.output


def test_require_sandbox_refuses_unknown_layers() -> None:
    result = CliRunner().invoke(grade, [*ONE_ASSIGNMENT, "--require-sandbox=firewall"])
    assert result.exit_code == 2
    assert "unknown sandbox layer" in result.output


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the core layers exist on Linux only")
def test_require_sandbox_grades_when_core_layers_hold() -> None:
    info = CliRunner().invoke(grade, ["--sandbox-info"]).output
    if "[ ] seccomp" in info or "[ ] landlock-fs" in info:
        result = CliRunner().invoke(grade, [*ONE_ASSIGNMENT, "--require-sandbox"])
        assert result.exit_code == 2 and "refusing to grade" in result.output
        return
    result = CliRunner().invoke(grade, [*ONE_ASSIGNMENT, "--require-sandbox", "-q"])
    assert result.exit_code == 0, result.output
    assert "10/10" in result.output
