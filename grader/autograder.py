"""Gradescope: the autograder zip an instructor uploads, and the grading it runs for each submission.

The zip holds `setup.sh` (run once when Gradescope builds its image: installs this grader
from the package bundled in the zip), `run_autograder` (run per submission), the package
and the assignment's solutions folder. Gradescope unpacks it into /autograder/source, puts
the student's files in /autograder/submission and reads /autograder/results/results.json.
Both scripts honour AUTOGRADER_ROOT instead of /autograder, so the whole cycle can be
rehearsed in a scratch folder; run_autograder honours GRADER_PYTHON for the interpreter.

Gradescope runs the container as root without CAP_SYS_ADMIN, under Docker's seccomp profile:
no mount namespace can hide the solutions from student code there. So the run step makes
them root's only before grading (the sandbox's children run as an unused uid, and Landlock's
read allow-list leaves them out too), and prints the sandbox's layers to stdout, which
Gradescope shows to instructors only; results.json, which students see, never holds them.
"""

from __future__ import annotations

import io
import os
import shlex
import stat
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import grader
from grader import app
from grader.errors import ConfigError
from grader.models import Grade
from grader.report import files, gradescope
from grader.sandbox import client, namespaces
from grader.sandbox.layers import Layer

_SKIPPED = frozenset({"__pycache__", ".ipynb_checkpoints", ".git"})

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, while it builds the autograder image: install the grader bundled
# in this zip (package/) into its own virtual environment, with a Python >= 3.11.
set -euo pipefail
root="${AUTOGRADER_ROOT:-/autograder}"
python=""
for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
        "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        python="$candidate"
        break
    fi
done
if [ -z "$python" ]; then
    # Ubuntu 22.04 images ship 3.10; 3.11 is in its universe archive.
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y python3.11 python3.11-venv
    python=python3.11
fi
if ! "$python" -m venv "$root/grader-venv"; then
    version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y "python$version-venv"
    "$python" -m venv "$root/grader-venv"
fi
"$root/grader-venv/bin/python" -m pip install --upgrade pip
"$root/grader-venv/bin/python" -m pip install "$root"/source/package/*
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission: grade the notebook in submission/ and write
# results/results.json. GRADER_PYTHON picks another interpreter that has the grader installed.
set -euo pipefail
root="${{AUTOGRADER_ROOT:-/autograder}}"
python="${{GRADER_PYTHON:-$root/grader-venv/bin/python}}"
exec "$python" -c 'from grader.cli import gradescope_autograder; gradescope_autograder(prog_name="grade-gradescope")' \\
    run --root "$root" --assignment {assignment} --hidden-visibility {visibility}
"""


@dataclass(frozen=True)
class Layout:
    """Gradescope's folders under one root: /autograder, or a scratch folder for a rehearsal."""

    root: Path

    @property
    def solutions(self) -> Path:
        return self.root / "source" / "solutions"

    @property
    def submission(self) -> Path:
        return self.root / "submission"

    @property
    def results_file(self) -> Path:
        return self.root / "results" / "results.json"


def build(solutions: Path, assignment_name: str | None, output: Path, package: Path | None,
          hidden_visibility: str = "after_due_date") -> list[str]:
    """Write the autograder zip to `output`; return the names it holds."""
    if hidden_visibility not in gradescope.HIDDEN_VISIBILITIES:
        raise ConfigError(f"hidden-case details need a visibility among {', '.join(gradescope.HIDDEN_VISIBILITIES)}")
    from grader import assignment, batch  # numpy and the judge: loaded by the commands that grade, not by `grade --help`

    names = assignment.available(solutions)
    name = batch.resolve_assignment_name(names, assignment_name)
    loaded = assignment.load(solutions, name)  # a broken solutions folder fails here, not on Gradescope
    with tempfile.TemporaryDirectory(prefix="backprop-grader-package-") as scratch:
        package = package or build_sdist(Path(scratch))
        entries: dict[str, tuple[bytes, int]] = {
            "setup.sh": (SETUP_SH.encode(), 0o755),
            "run_autograder": (RUN_AUTOGRADER.format(assignment=shlex.quote(name),
                                                     visibility=shlex.quote(hidden_visibility)).encode(), 0o755),
            f"package/{package.name}": (package.read_bytes(), 0o644),
        }
    for path in sorted(loaded.directory.rglob("*")):
        relative = path.relative_to(loaded.directory)
        if path.is_file() and not _SKIPPED.intersection(relative.parts):
            # Root's only as unpacked (the run step makes sure of it too): student code runs as another uid.
            entries[f"solutions/{name}/{relative.as_posix()}"] = (path.read_bytes(), 0o600)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for entry, (data, mode) in entries.items():
            info = zipfile.ZipInfo(entry, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o100000 | mode) << 16  # a regular file with these permissions, as unzip restores them
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    files.write_atomically(output, buffer.getvalue())
    return list(entries)


def build_sdist(destination: Path) -> Path:
    """An sdist of this grader, built with setuptools from the source checkout it runs from."""
    project = Path(grader.__file__).resolve().parent.parent
    if not (project / "pyproject.toml").is_file():
        raise ConfigError("this grader is not running from a source checkout, so it cannot package itself: "
                          "pass --package with a wheel or sdist of backprop-grader")
    egg_base = destination / "egg-info"
    egg_base.mkdir()
    command = [sys.executable, "-c", "from setuptools import setup; setup()", "-q",
               "egg_info", "--egg-base", str(egg_base), "sdist", "--dist-dir", str(destination / "dist")]
    done = subprocess.run(command, cwd=project, capture_output=True, text=True, check=False)
    built = sorted((destination / "dist").glob("*.tar.gz"))
    if done.returncode != 0 or len(built) != 1:
        raise ConfigError(f"building an sdist of the grader failed (is setuptools installed? or pass --package): "
                          f"{done.stderr.strip()[-500:]}")
    return built[0]


@dataclass(frozen=True)
class Run:
    """One submission graded on Gradescope: its grade, and for the instructor's eyes only, how it was confined."""

    grade: Grade
    layers: tuple[Layer, ...] | None
    """The sandbox layers in effect (None when no child ran)."""
    notes: tuple[str, ...]
    """What the run step changed on the machine to let the sandbox hold."""


def confine_container(layout: Layout) -> list[str]:
    """As root in Gradescope's container (no mount namespace to hide anything): make the solutions root's
    only (folders 0700, files 0600), and let the sandbox's uid traverse to the Python installation
    (search permission only, o+x) so children can drop to it; returns notes on what was changed."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return []
    for folder, subfolders, names in os.walk(layout.solutions, followlinks=False):
        for name in names:
            _own_privately(os.path.join(folder, name), 0o600)
        for name in subfolders:
            _own_privately(os.path.join(folder, name), 0o700)
    _own_privately(str(layout.solutions), 0o700)
    notes = []
    for path in client.readable_paths():
        while os.path.exists(path) and (blocker := namespaces.first_untraversable(path)) is not None:
            os.chmod(blocker, stat.S_IMODE(os.stat(blocker).st_mode) | 0o001)
            notes.append(f"made {blocker} traversable (o+x, no listing) for the sandbox's uid: {path} is below it")
    return notes


def _own_privately(path: str, mode: int) -> None:
    os.lchown(path, 0, 0)
    if not os.path.islink(path):
        os.chmod(path, mode)


def run(layout: Layout, assignment_name: str, seed: int | None = None,
        hidden_visibility: str = "after_due_date") -> Run:
    """Grade the submitted notebook and write Gradescope's results.json."""
    notes = confine_container(layout)
    graded = app.grade_one(app.GradeOne(layout.solutions, assignment_name, layout.submission, seed))
    files.write_atomically(layout.results_file, gradescope.render(graded.grade, hidden_visibility))
    return Run(graded.grade, graded.layers, tuple(notes))
