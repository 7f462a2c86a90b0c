"""What one child can see of the others: processes, and what earlier jobs left in the fork server's memory.

Mechanisms 4 and 7 of issue 9. The classmates run first, in the same fork server (one job at a
time), so anything of theirs the server kept would be in the memory the spy's child inherits.
Each test runs as root and again as uid 65534 (`tests.unprivileged`).
"""

from __future__ import annotations

import json
import os
import re
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.cli import grade
from tests import hostile, unprivileged

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO / "solutions"

_PROC_VIEW = ["import numpy as np, os",
              "def backward_pass(x, target, learnrate, hidden_layer_out, output_layer_out, w):\n"
              "    pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
              "    raise RuntimeError(f'VIEW pids={pids} me={os.getpid()} parent={os.getppid()}')"]


def _grade(paths: list[Path], seed: str) -> tuple[dict, str]:
    result = CliRunner().invoke(grade, [*map(str, paths), "--solutions", str(SOLUTIONS), "--json", "-", "--timeout", "10",
                                        "--jobs", "1", "-q"], env={"GRADER_SEED": seed})
    assert result.exit_code == 0, result.output + repr(result.exception)
    return {entry["student"]: entry for entry in json.loads(result.stdout)["submissions"]}, result.stdout


def _layers() -> str:
    return CliRunner().invoke(grade, ["--sandbox-info"]).output


def test_nothing_of_other_jobs_or_the_grader_in_a_childs_memory(tmp_path: Path) -> None:
    """Mechanism 7: classmates' code, the solutions path and the seed are nowhere in the spy's memory or /proc."""
    seed = str(100_000_000 + uuid.uuid4().int % 800_000_000)
    secrets = [f"classmate-{name}-{uuid.uuid4().hex}" for name in ("alice", "bob")]
    classmates = [hostile.write_notebook(tmp_path / f"a{index}_{name}.ipynb", [*cells, f"# {secret}"])
                  for index, ((name, cells), secret) in enumerate(zip(list(hostile.GOOD.items())[:2], secrets))]
    needles = [(s[:len(s) // 2], s[len(s) // 2:]) for s in [*secrets, str(SOLUTIONS), f"GRADER_SEED={seed}"]]
    spy = hostile.write_notebook(tmp_path / "z_spy.ipynb", hostile.HOSTILE["read_leaks"], mark=uuid.uuid4().hex[:12],
                                 needles=repr(needles))
    report, text = _grade([*classmates, spy], seed)
    assert "SCANNED memory" in json.dumps(report["z_spy"]), report["z_spy"]
    assert "LEAKED" not in text
    assert report["z_spy"]["score"] == 0
    alice = report[classmates[0].stem]
    assert alice["score"] == alice["max_score"]


def test_a_child_sees_only_its_own_processes_in_a_pid_namespace(tmp_path: Path) -> None:
    """Mechanism 4 (a): with the `pidns` layer, /proc holds the server (pid 1) and the child, nothing of the host."""
    report, _ = _grade([hostile.write_notebook(tmp_path / "viewer.ipynb", _PROC_VIEW)], "1")
    text = json.dumps(report["viewer"])
    assert "VIEW pids=" in text, text
    if "[x] pidns" not in _layers():
        assert os.path.exists("/proc/1"), "without a PID namespace the host's processes stay visible: see the threat model"
        return
    seen = re.search(r"VIEW pids=(\[[\d, ]*\]) me=(\d+) parent=(\d+)", text)
    assert seen is not None, text
    pids, me, parent = json.loads(seen.group(1)), int(seen.group(2)), int(seen.group(3))
    assert pids == sorted({1, me}) and parent == 1, seen.group(0)


# A child that fills its scratch folder (40 files of 1 MB, the file-size cap, under a folder it locks), links out of
# it and nests folders deeply.
_WRECKER = ["import numpy as np, os",
            "os.makedirs('locked/deeper', exist_ok=True)\n"
            "for number in range(40):\n    with open(f'locked/deeper/fill{number}', 'wb') as stream:\n"
            "        stream.write(b'x' * ((1 << 20) - 4096))\n"
            "os.chmod('locked/deeper', 0)\nos.chmod('locked', 0)\n"
            "os.symlink('/', 'root-link')\nos.symlink('..', 'parent-link')\n"
            "for depth in range(300):\n    os.mkdir('n')\n    os.chdir('n')",
            hostile.WRONG_FUNCTION]
# The next student on the same server: an empty scratch folder, with the room to write 50 MB in it.
_NEEDY = ["import numpy as np, os",
          "LEFT = sorted(os.listdir('.'))\n"
          "try:\n    for number in range(50):\n        with open(f'big{number}', 'wb') as stream:\n"
          "            stream.write(b'y' * ((1 << 20) - 4096))\n"
          "    ROOM = sum(os.path.getsize(f'big{number}') for number in range(50)) == 50 * ((1 << 20) - 4096)\n"
          "    for number in range(50):\n        os.remove(f'big{number}')\nexcept OSError as error:\n"
          "    ROOM = repr(error)",
          hostile.GOOD_FUNCTION.replace("    return ", "    assert LEFT == [] and ROOM is True, (LEFT, ROOM)\n    return ", 1)]


def test_what_a_child_leaves_in_its_folder_is_gone_for_the_next(tmp_path: Path) -> None:
    """A job's folder is removed whatever its child left there: the next child of the same server finds its scratch
    folder empty and the whole scratch size free (a folder left behind would fill the server's scratch tmpfs)."""
    paths = [hostile.write_notebook(tmp_path / "a_wrecker.ipynb", _WRECKER),
             hostile.write_notebook(tmp_path / "b_needy.ipynb", _NEEDY),
             hostile.write_notebook(tmp_path / "c_needy.ipynb", _NEEDY)]
    report, _ = _grade(paths, "1")
    assert report["a_wrecker"]["status"] == "graded" and report["a_wrecker"]["score"] < 10, report["a_wrecker"]
    for name in ("b_needy", "c_needy"):
        assert report[name]["score"] == report[name]["max_score"], json.dumps(report[name])[:3000]


@pytest.mark.skipif(unprivileged.unavailable() is not None, reason=str(unprivileged.unavailable()))
def test_process_isolation_unprivileged() -> None:
    """The tests above again as uid 65534, where children share the grader's uid."""
    result = unprivileged.run_unprivileged(str(Path(__file__)))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "3 passed" in result.stdout
