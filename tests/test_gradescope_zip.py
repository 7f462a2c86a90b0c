"""grade-gradescope: the autograder zip, unpacked into a scratch /autograder, grades a submission."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader import cli
from grader.sandbox import client, namespaces
from tests import container
from tests.exports_support import CLEAN_ENV, NO_OUTER, check_gradescope_document
from tests.notebooks import REFERENCE_BODY, SOLUTIONS, student_notebook, write

# As root, the run step may make the Python's ancestors traversable (o+x): each test puts them back.
pytestmark = pytest.mark.usefixtures("python_prefix_modes")


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("zip") / "autograder.zip"
    build = ["build", "--solutions", str(SOLUTIONS), "--assignment", "backward_pass", "-o", str(output)]
    result = CliRunner().invoke(cli.gradescope_autograder, build,
                                env=CLEAN_ENV, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return output


def test_zip_contents(autograder_zip):
    with zipfile.ZipFile(autograder_zip) as archive:
        names = archive.namelist()
        modes = {info.filename: stat.S_IMODE(info.external_attr >> 16) for info in archive.infolist()}
        package = next(name for name in names if name.startswith("package/"))
        sdist = archive.read(package)
    assert {"setup.sh", "run_autograder", "solutions/backward_pass/rubric.toml",
            "solutions/backward_pass/backward_pass.ipynb", "solutions/backward_pass/cases.py"} <= set(names)
    assert modes["setup.sh"] == modes["run_autograder"] == 0o755
    assert {mode for entry, mode in modes.items() if entry.startswith("solutions/")} == {0o600}
    assert package.endswith(".tar.gz")
    scratch = autograder_zip.parent / "sdist.tar.gz"
    scratch.write_bytes(sdist)
    with tarfile.open(scratch) as tar:
        members = tar.getnames()
    assert any(name.endswith("/pyproject.toml") for name in members)
    assert any(name.endswith("/grader/autograder.py") for name in members)
    assert not any("/solutions/" in name or "/tests/" in name for name in members)


def _rehearse(autograder_zip: Path, root: Path, notebooks: dict[str, str],
              wrapper: list[str] | None = None) -> subprocess.CompletedProcess:
    """Unpack as Gradescope does, skip setup.sh (this venv has the grader), run run_autograder (under `wrapper`)."""
    for folder in ("source", "submission", "results"):
        (root / folder).mkdir(parents=True)
    with zipfile.ZipFile(autograder_zip) as archive:
        archive.extractall(root / "source")
    for name, body in notebooks.items():
        write(student_notebook(body), root / "submission" / name)
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    env = {"PATH": os.environ["PATH"], "HOME": str(root), "AUTOGRADER_ROOT": str(root), "GRADER_PYTHON": sys.executable}
    return subprocess.run([*(wrapper or []), "bash", str(root / "run_autograder")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)


def test_run_autograder_writes_results(autograder_zip, tmp_path):
    done = _rehearse(autograder_zip, tmp_path / "autograder", {"backward_pass.ipynb": NO_OUTER})
    assert done.returncode == 0, done.stdout + done.stderr
    document = json.loads((tmp_path / "autograder" / "results" / "results.json").read_text())
    check_gradescope_document(document)
    assert document["score"] == 9.0
    assert any(test["visibility"] == "after_due_date" for test in document["tests"])


def test_run_autograder_picks_the_assignment_notebook(autograder_zip, tmp_path):
    done = _rehearse(autograder_zip, tmp_path / "autograder",
                     {"backward_pass.ipynb": REFERENCE_BODY, "scratch.ipynb": NO_OUTER})
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads((tmp_path / "autograder" / "results" / "results.json").read_text())["score"] == 10.0


def test_run_autograder_without_a_clear_notebook(autograder_zip, tmp_path):
    done = _rehearse(autograder_zip, tmp_path / "autograder", {"one.ipynb": REFERENCE_BODY, "two.ipynb": REFERENCE_BODY})
    assert done.returncode == 0, done.stdout + done.stderr
    document = json.loads((tmp_path / "autograder" / "results" / "results.json").read_text())
    check_gradescope_document(document)
    assert document["score"] == 0.0
    assert "Submit one notebook named backward_pass.ipynb (notebooks found: one.ipynb, two.ipynb)" in document["output"]


def test_build_without_solutions_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(cli.gradescope_autograder, ["build", "--solutions", str(tmp_path / "none")], env=CLEAN_ENV)
    assert result.exit_code == 2 and "solutions folder" in result.output


def test_every_gradescope_command_has_help():
    for arguments in ([], ["build"], ["run"]):
        result = CliRunner().invoke(cli.gradescope_autograder, [*arguments, "--help"])
        assert result.exit_code == 0 and len(result.output.split("\n\n")[1].strip()) > 20


def _hostile_body(root: Path, marker: str) -> str:
    """Student code that tries every solutions file and writes outside its scratch dir, and says what worked."""
    solutions = root / "source" / "solutions" / "backward_pass"
    reads = [str(solutions / name) for name in ("oracle.py", "rubric.toml", "backward_pass.ipynb", "cases.py")]
    writes = [str(root / "results" / "results.json"), str(root / "submission" / "planted"),
              str(solutions / "planted"), f"/tmp/{marker}", str(root / marker)]
    return f"""
import os
succeeded, refused = [], 0
for path in {reads!r}:
    try:
        with open(path, "rb") as stream:
            succeeded.append("READ-OK " + os.path.basename(path) + " " + repr(stream.read(120)))
    except OSError:
        refused += 1
for path in {writes!r}:
    try:
        with open(path, "w") as stream:
            stream.write("planted")
        succeeded.append("WROTE-OK " + path)
    except OSError:
        refused += 1
raise ValueError(f"refused {{refused}} of {len(reads) + len(writes)}; " + " | ".join(succeeded))
"""


@pytest.fixture
def world_readable_root():
    """An /autograder-like root every uid may traverse, as Gradescope's is (pytest's tmp dirs are 0700)."""
    root = Path(tempfile.mkdtemp(prefix="autograder-"))
    root.chmod(0o755)
    yield root / "autograder"
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.skipif(container.unavailable() is not None, reason=str(container.unavailable()))
@pytest.mark.parametrize("who", ["hostile", "correct"])
def test_gradescope_container_confinement(autograder_zip, world_readable_root, who):
    """Gradescope's Docker defaults (root without CAP_SYS_ADMIN, seccomp refusing unshare/mount), emulated.

    No mount namespace can hide the solutions there: the run step makes them root-only, the
    dropped uid's scratch is its own, Landlock applies without a mount namespace, and the layer
    table (printed to stdout, which only instructors see) claims no layer that did not hold.
    """
    root = world_readable_root
    marker = f"planted-{os.getpid()}-{who}"
    body = _hostile_body(root, marker) if who == "hostile" else REFERENCE_BODY
    done = _rehearse(autograder_zip, root, {"backward_pass.ipynb": body}, wrapper=container.confined([]))
    assert done.returncode == 0, done.stdout + done.stderr
    results = (root / "results" / "results.json").read_text()
    document = json.loads(results)
    check_gradescope_document(document)
    if who == "correct":
        assert document["score"] == 10.0, results
    else:
        assert document["score"] == 0.0
        assert "refused 9 of 9; " in results  # the attempts ran, every one was refused
        assert "READ-OK" not in results and "WROTE-OK" not in results
        assert not (root / "submission" / "planted").exists() and not (root / marker).exists()
        assert not Path("/tmp", marker).exists()
        assert not (root / "source" / "solutions" / "backward_pass" / "planted").exists()
    solutions = root / "source" / "solutions" / "backward_pass"
    for path in (solutions.parent, solutions, solutions / "oracle.py", solutions / "rubric.toml"):
        status = path.lstat()
        assert (status.st_uid, stat.S_IMODE(status.st_mode)) == (0, 0o700 if path.is_dir() else 0o600), path
    for text in (results, done.stdout, done.stderr):
        for name in ("oracle.py", "rubric.toml", "cases.py"):
            for line in (solutions / name).read_text().splitlines():
                if len(line.strip()) > 30:
                    assert line.strip() not in text, (name, line)
        assert "# SOLUTION" not in text
    table = done.stdout[done.stdout.index("sandbox layers active"):]
    active = {line.split()[1] for line in table.splitlines() if line.startswith("[x]")}
    assert {"seccomp", "landlock-fs", "uid-drop", "nproc", "rlimits", "session"} <= active, table
    assert not active & {"mountns", "netns", "ipcns", "userns"}, table
    assert "sandbox layers" not in results


def _layer_table(stdout: str) -> dict[str, str]:
    """name -> "x" or " " from a printed layer table."""
    table = stdout[stdout.index("sandbox layers active"):].splitlines()[1:]
    return {line[4:].split()[0]: line[1] for line in table if line.startswith("[")}


@pytest.mark.skipif(container.unavailable() is not None, reason=str(container.unavailable()))
def test_grade_in_a_container_without_a_mount_namespace(tmp_path):
    """`grade` itself in Docker's confinement: the probe never crashes, and the table is honest about the uid.

    With the Python below a folder no other uid can traverse (a pyenv under /root, as here) and no
    mount namespace to expose it, a dropped uid could not import anything: children keep uid 0
    without capabilities and the table says why; otherwise they drop to an unused uid.
    """
    blocked = [path for path in client.readable_paths() if namespaces.first_untraversable(path)]
    done = subprocess.run(container.confined([sys.executable, "-m", "grader", "--sandbox-info"]), cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONSAFEPATH": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
    table = _layer_table(done.stdout)
    assert table["seccomp"] == table["landlock-fs"] == table["no-new-privs"] == "x", done.stdout
    assert table["mountns"] == table["netns"] == table["ipcns"] == " ", done.stdout
    if table["landlock-fs"] != "x":
        assert table["landlock-net"] == table["landlock-scope"] == " "
    if blocked:
        assert table["uid-drop"] == table["nproc"] == " "
        assert "which another uid cannot traverse" in done.stdout and "keep uid 0 without capabilities" in done.stdout
    else:
        assert table["uid-drop"] == table["nproc"] == "x", done.stdout
    notebooks = tmp_path / "class"
    write(student_notebook(), notebooks / "alice" / "backward_pass.ipynb")
    write(student_notebook(_hostile_body(SOLUTIONS.parent, "never")), notebooks / "mallory" / "backward_pass.ipynb")
    done = subprocess.run(container.confined([sys.executable, "-m", "grader", str(notebooks), "--solutions",
                                              str(SOLUTIONS), "--json", str(tmp_path / "r.json"), "--no-cache"]),
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONSAFEPATH": "1"})
    report = (tmp_path / "r.json").read_text()
    assert "READ-OK" not in report and "WROTE-OK" not in report and "refused 9 of 9; " in report, report
    scores = {entry["student"]: entry["score"] for entry in json.loads(report)["submissions"]}
    assert scores == {"alice": 10.0, "mallory": 0.0}, done.stdout + done.stderr
