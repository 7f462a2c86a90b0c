"""Fork servers spawned ahead of their cases: they start side by side, and one closed unused leaves nothing behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader import assignment, batch
from grader.assignment import cases as case_builder
from grader.models import Submission
from tests.notebooks import SOLUTIONS, reference_body, student_notebook, write
from tests.unprivileged import MARKER, run_unprivileged


def _processes_of(folder: Path) -> set[int]:
    """Pids of processes whose environment names `folder` (the fork servers of a run given it as TMPDIR)."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/environ", "rb") as stream:
                    if str(folder).encode() in stream.read():
                        found.add(int(entry))
            except OSError:
                continue
    return found


def test_a_grader_spawns_its_servers_before_building_the_cases_and_grades_with_both(tmp_path, monkeypatch):
    """batch.Grader._pipeline: every server that can be busy is spawned first (`Pipeline(None, spawn=N)`), so their
    interpreters start while the cases are built; the cases go to them once built (`load`) and both grade."""
    from grader.sandbox import pipeline

    spawned, seen_when_building = [], []
    from grader.assignment import cases as case_builder

    original_spawn, original_build = pipeline.ForkServer.__init__, case_builder.build

    def spawn(self, *args, **kwargs):
        spawned.append(1)
        original_spawn(self, *args, **kwargs)

    def build(*args, **kwargs):
        seen_when_building.append(len(spawned))
        return original_build(*args, **kwargs)

    monkeypatch.setattr(pipeline.ForkServer, "__init__", spawn)
    monkeypatch.setattr(case_builder, "build", build)
    loaded = assignment.load(SOLUTIONS, "backward_pass")
    paths = [write(student_notebook(reference_body()), tmp_path / f"student{n}" / "backward_pass.ipynb") for n in range(4)]
    with batch.Grader(loaded, loaded.defaults.seed, jobs=2) as grader:
        grades = [outcome.grade for outcome in grader.grade_all([Submission(path, str(path), path.parent.name)
                                                                  for path in paths])]
        layers = grader.layers(start=False)
    assert [grade.score for grade in grades] == [10.0] * 4
    assert seen_when_building == [2] and len(spawned) == 2
    assert layers is not None and any(layer.active for layer in layers)


def test_one_submission_spawns_one_server_only(tmp_path, monkeypatch):
    """batch.Grader: no more servers are spawned than there are submissions left (a lone notebook on a 2-core machine
    must not pay for a second interpreter)."""
    from grader.sandbox import pipeline

    spawned = []
    original = pipeline.ForkServer.__init__

    def counting(self, *args, **kwargs):
        spawned.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(pipeline.ForkServer, "__init__", counting)
    loaded = assignment.load(SOLUTIONS, "backward_pass")
    path = write(student_notebook(reference_body()), tmp_path / "alice" / "backward_pass.ipynb")
    with batch.Grader(loaded, loaded.defaults.seed, jobs=4) as grader:
        grade = grader.grade(Submission(path, str(path), "alice"))
    assert grade.score == 10.0 and len(spawned) == 1


def test_servers_closed_before_their_cases_exit_quietly_and_leave_nothing(tmp_path):
    """sandbox.server.main: a server spawned ahead of need and closed before any case arrived (a malformed
    catalogue stops the run; so does Ctrl-C) exits without a traceback, its folders removed, no process left."""
    folder = tmp_path / "solutions"
    shutil.copytree(SOLUTIONS, folder)
    catalogue = folder / "backward_pass" / "misconceptions.toml"
    catalogue.write_text(catalogue.read_text().replace('step = "error"', 'step = "nonsense"', 1), encoding="utf-8")
    notebooks = [write(student_notebook(reference_body()), tmp_path / "class" / f"s{n}" / "backward_pass.ipynb")
                 for n in range(3)]
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    done = subprocess.run([sys.executable, "-m", "grader", str(tmp_path / "class"), "--solutions", str(folder),
                           "--no-cache", "--jobs", "2", "-q"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TMPDIR": str(scratch)})
    assert len(notebooks) == 3
    assert done.returncode == 2 and "is not a step" in done.stderr
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    assert _processes_of(scratch) == set()
    assert list(scratch.iterdir()) == []  # the servers' homes and bases are gone


def test_a_pipeline_spawned_then_loaded_runs_jobs_on_every_server(tmp_path):
    """sandbox.pipeline.Pipeline: `Pipeline(None, size, spawn=size)` then `load(cases)` gives working servers."""
    from grader.sandbox.pipeline import Pipeline

    loaded = assignment.load(SOLUTIONS, "backward_pass")
    cases = case_builder.build(loaded, loaded.defaults.seed)[:2]
    path = write(student_notebook(reference_body()), tmp_path / "alice.ipynb")
    job = batch.prepare(batch.load(Submission(path, str(path), "alice")), loaded.rubric, loaded.defaults.limits,
                        loaded.reference.parameters)
    with Pipeline(None, 2, spawn=2) as pipeline:
        pipeline.load([case_builder.case_to_wire(case) for case in cases])
        for number in range(4):
            pipeline.submit(number, job)
        replies = []
        while pipeline.in_flight:
            replies += pipeline.wait()
        assert len(pipeline._lanes) == 2
    assert sorted(reply.tag for reply in replies) == [0, 1, 2, 3]
    assert all(reply.reply.failure is None and len(reply.reply.document["cases"]) == 2 for reply in replies)


def test_a_submitted_job_runs_before_the_grader_next_waits(tmp_path):
    """sandbox.pipeline.Pipeline.submit: the job is written to its server at once, not at the next `wait`, so its child
    runs while the grader does something else (the first notebook's: loading the catalogue and the oracle). The
    reply is on its pipe before `wait` is called, and `wait` then gives it."""
    import select

    from grader.sandbox.pipeline import Pipeline

    loaded = assignment.load(SOLUTIONS, "backward_pass")
    cases = case_builder.build(loaded, loaded.defaults.seed)[:2]
    path = write(student_notebook(reference_body()), tmp_path / "alice.ipynb")
    job = batch.prepare(batch.load(Submission(path, str(path), "alice")), loaded.rubric, loaded.defaults.limits,
                        loaded.reference.parameters)
    with Pipeline([case_builder.case_to_wire(case) for case in cases], 1) as pipeline:
        pipeline.submit("alice", job)
        replies = pipeline._lanes[0].server.pipes[1]
        assert select.select([replies], [], [], 20)[0] == [replies]
        [done] = pipeline.wait()
    assert done.tag == "alice" and done.reply.failure is None and len(done.reply.document["cases"]) == 2


def test_a_server_spawned_ahead_goes_only_to_a_pipeline_with_its_mounts(tmp_path):
    """sandbox.ahead: the server `grade-check` and `grade FILE` spawn before their imports is handed to the first
    pipeline asking for the same mounts, once; a pipeline hiding another folder or with another scratch size
    never gets it (it would not hide what that run must hide)."""
    from grader.sandbox import ahead
    from grader.sandbox.client import SCRATCH_BYTES

    ahead.spawn(("/nonexistent-solutions",), SCRATCH_BYTES)
    try:
        assert ahead.claim((), SCRATCH_BYTES) is None
        assert ahead.claim(("/nonexistent-solutions",), SCRATCH_BYTES + 1) is None
        assert ahead.claim(("/elsewhere",), SCRATCH_BYTES) is None
        server = ahead.claim(("/nonexistent-solutions",), SCRATCH_BYTES)
        assert server is not None and ahead.claim(("/nonexistent-solutions",), SCRATCH_BYTES) is None
    finally:
        ahead.close_unclaimed()
    server.close()


def test_a_server_runs_its_probe_before_its_cases_and_then_grades(tmp_path, monkeypatch):
    """sandbox.server.main: the probe child runs as soon as the server is up: its report of the layers comes back
    before any case was sent (the grader builds them meanwhile); the cases sent after it, the same server grades,
    and it ends leaving nothing behind."""
    from grader.sandbox import ahead
    from grader.sandbox.pipeline import Pipeline

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    loaded = assignment.load(SOLUTIONS, "backward_pass")
    cases = case_builder.build(loaded, loaded.defaults.seed)[:3]
    path = write(student_notebook(reference_body()), tmp_path / "alice.ipynb")
    job = batch.prepare(batch.load(Submission(path, str(path), "alice")), loaded.rubric, loaded.defaults.limits,
                        loaded.reference.parameters)
    ahead.spawn()
    try:
        server = ahead._waiting[0][1]
        layers = server.ready()  # no case has been sent: only the probe can have answered
        assert {layer.name for layer in layers} >= {"session", "rlimits"}
        assert server.ready() == layers  # read once, given again (the pipeline asks when it takes the server)
        with Pipeline([case_builder.case_to_wire(case) for case in cases], 1) as pipeline:
            reply = pipeline.run(job)
            assert pipeline.layers() == layers and ahead._waiting == []
    finally:
        ahead.close_unclaimed()
    assert reply.failure is None and [case["name"] for case in reply.document["cases"]] == [c.name for c in cases]
    assert _processes_of(scratch) == set()
    assert list(scratch.iterdir()) == []


def test_grade_check_runs_on_the_server_it_spawned_first(tmp_path):
    """cli.check: one fork server in all, spawned before the self-check's imports and used for the check."""
    path = write(student_notebook(reference_body()), tmp_path / "alice.ipynb")
    script = ("import sys\n"
              "from grader.sandbox import client\n"
              "spawned = []\n"
              "original = client.ForkServer.__init__\n"
              "def counting(self, *args, **kwargs):\n"
              "    spawned.append(1)\n"
              "    original(self, *args, **kwargs)\n"
              "client.ForkServer.__init__ = counting\n"
              "from grader import cli\n"
              "try:\n"
              f"    cli.check.main([{str(path)!r}], standalone_mode=False)\n"
              "finally:\n"
              "    print('servers spawned:', len(spawned))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "servers spawned: 1" in done.stdout and "Traceback" not in done.stderr
    assert "error" in done.stdout and "pass" in done.stdout


def test_a_server_spawned_ahead_and_never_used_is_closed_quietly(tmp_path):
    """sandbox.ahead: `grade FILE` on a notebook that is not JSON never runs the sandbox; the server spawned ahead
    is closed when the command ends, without a traceback, its folders removed, no process left."""
    broken = tmp_path / "alice.ipynb"
    broken.write_text("{ not json", encoding="utf-8")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    done = subprocess.run([sys.executable, "-m", "grader", str(broken), "--solutions", str(SOLUTIONS), "--no-cache",
                           "--assignment", "backward_pass"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "TMPDIR": str(scratch)})
    assert done.returncode == 0 and "invalid" in done.stdout
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    assert _processes_of(scratch) == set()
    assert list(scratch.iterdir()) == []


def test_a_command_closes_the_server_it_spawned_and_never_used(tmp_path):
    """cli.check: in a process that runs several commands (a notebook's self-check cell, a test), the server one
    command spawned ahead and did not use is closed when it ends, never handed to the next command."""
    from click.testing import CliRunner

    from grader.cli import check
    from grader.sandbox import ahead
    from grader.sandbox.client import SCRATCH_BYTES

    broken = tmp_path / "alice.ipynb"
    broken.write_text("{ not json", encoding="utf-8")
    result = CliRunner().invoke(check, [str(broken)])
    assert result.exit_code == 0 and "invalid" in result.output
    assert ahead.claim((), SCRATCH_BYTES) is None


# entry.grade ends the process itself (its status, after the atexit handlers): the count is printed by one.
_COUNTING = ("import atexit, sys\n"
             "from grader.sandbox import client\n"
             "spawned = []\n"
             "original = client.ForkServer.__init__\n"
             "def counting(self, *args, **kwargs):\n"
             "    spawned.append('cli' if 'grader.cli' in sys.modules else 'entry')\n"
             "    original(self, *args, **kwargs)\n"
             "client.ForkServer.__init__ = counting\n"
             "from grader import entry\n"
             "sys.argv = ['grade', *sys.argv[1:]]\n"
             "atexit.register(lambda: print('servers spawned:', spawned))\n"
             "entry.grade(prog_name='grade')\n"
             "print('entry.grade returned')\n")


def test_grade_of_notebook_files_spawns_its_server_before_the_cli_loads(tmp_path):
    """entry.grade (the installed `grade` and `python -m grader`): for notebook files, the one fork server of the
    run is spawned before grader.cli is imported, and the run grades on it."""
    paths = [write(student_notebook(reference_body()), tmp_path / name / "backward_pass.ipynb") for name in ("a", "b")]
    done = subprocess.run([sys.executable, "-c", _COUNTING, *map(str, paths), "--solutions", str(SOLUTIONS), "--no-cache",
                           "--jobs", "1", "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert "servers spawned: ['entry']" in done.stdout and done.returncode == 0, done.stdout + done.stderr
    assert [line.split()[:3] for line in done.stdout.splitlines()[:2]] == [["a", "10/10", "graded"], ["b", "10/10", "graded"]]


def test_grade_of_a_class_folder_spawns_no_server_ahead(tmp_path):
    """entry.grade: a class folder's servers are spawned by the run itself (before it routes the class, when nothing
    can be reused), none on a guess before the CLI loads."""
    write(student_notebook(reference_body()), tmp_path / "class" / "a" / "backward_pass.ipynb")
    done = subprocess.run([sys.executable, "-c", _COUNTING, str(tmp_path / "class"), "--solutions", str(SOLUTIONS),
                           "--no-cache", "--jobs", "1"], capture_output=True, text=True, timeout=120)
    assert "servers spawned: ['cli']" in done.stdout and done.returncode == 0, done.stdout + done.stderr


def test_a_usage_error_after_the_entry_spawned_leaves_nothing(tmp_path):
    """entry.grade / entry.check: the server spawned before the command line was parsed is closed when parsing then
    fails (an unknown option: exit 2), its folders removed, no process left."""
    path = write(student_notebook(reference_body()), tmp_path / "alice.ipynb")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    for command in ("grade", "check"):
        program = f"import sys\nfrom grader import entry\nsys.argv = ['x', *sys.argv[1:]]\nentry.{command}()\n"
        done = subprocess.run([sys.executable, "-c", program, str(path), "--solutions", str(SOLUTIONS), "--bogus"],
                              capture_output=True, text=True, timeout=60, env={**os.environ, "TMPDIR": str(scratch)})
        assert done.returncode == 2 and "No such option" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
        assert _processes_of(scratch) == set()
        assert list(scratch.iterdir()) == [], command


@pytest.mark.parametrize(("arguments", "spawns"), [
    (["{nb}"], True), (["{nb}", "{nb2}", "--out", "{dir}", "--format", "csv"], True), (["-q", "--json", "-", "{nb}"], True),
    (["{dir}"], False), (["{nb}", "{dir}"], False), (["{nb}", "--help"], False), (["--sandbox-info"], False),
    (["--version"], False), ([], False), (["{nb}", "--out={dir}"], True), (["missing.ipynb"], False),
])
def test_the_entry_glances_at_the_command_line_as_the_cli_decides(tmp_path, arguments, spawns):
    """entry._grades_notebook_files: notebook files and no folder (option values aside), as the CLI's own rule (all
    paths files); the default output size it assumes is the models' own."""
    from grader import entry
    from grader.models import Limits

    names = {"nb": write(student_notebook(), tmp_path / "a.ipynb"), "nb2": write(student_notebook(), tmp_path / "b.ipynb"),
             "dir": tmp_path}
    filled = [argument.format(**{key: str(value) for key, value in names.items()}) for argument in arguments]
    assert entry._grades_notebook_files(filled) is spawns
    assert Limits.output_bytes == entry.DEFAULT_OUTPUT_BYTES


def test_children_inherit_no_module_that_runs_at_every_fork(tmp_path):
    """A fork server loads nothing that registers code to run in every child at fork (threading's bookkeeping, 0.6 ms
    a child; random's reseeding) or maps compression libraries every fork copies (tempfile, shutil, subprocess).
    A notebook that finds one loaded loses its function; one that loads tempfile itself gets the scratch folder
    as its temporary folder (and HOME); one that writes past the file-size cap gets an error, not a kill. Through
    the real CLI."""
    from tests.conftest import invoke_grade

    loaded = "import sys\nINHERITED = [m for m in ('threading', 'random', 'tempfile', 'shutil', 'subprocess') " \
             "if m in sys.modules]\n"
    kept_only_then = "if INHERITED:\n    del backward_pass\n"
    uses_tempfile = ("import os, tempfile\nwith tempfile.NamedTemporaryFile('w', delete=False) as f:\n    f.write('x')\n"
                     "if os.path.dirname(f.name) != os.getcwd() or os.environ['HOME'] != os.getcwd():\n"
                     "    del backward_pass\n")
    # The file-size cap (the output cap) is an error to the writer, not a signal that kills the child.
    past_the_cap = "try:\n    with open('big.bin', 'wb') as f:\n        f.write(b'x' * (4 << 20))\nexcept OSError:\n    pass\n"
    write(student_notebook(reference_body(), helper_cells=[loaded], extra_cells=[kept_only_then]),
          tmp_path / "inherits" / "backward_pass.ipynb")
    write(student_notebook(reference_body(), extra_cells=[uses_tempfile]), tmp_path / "tempfile" / "backward_pass.ipynb")
    write(student_notebook(reference_body(), extra_cells=[past_the_cap]), tmp_path / "big-file" / "backward_pass.ipynb")
    run = invoke_grade(tmp_path, "--no-cache")
    for student in ("inherits", "tempfile", "big-file"):
        row = run.submission(student)
        assert row["status"] == "graded" and row["score"] == row["max_score"], row["messages"]


@pytest.mark.skipif(os.environ.get(MARKER) is not None, reason="this is the unprivileged re-run itself")
def test_servers_spawned_ahead_unprivileged():
    """The servers spawned before the cases (and before the imports, for grade-check), used or closed unused, as uid
    65534, where the sandbox has no uid to drop to."""
    result = run_unprivileged(
        "tests/test_server_start.py::test_a_grader_spawns_its_servers_before_building_the_cases_and_grades_with_both",
        "tests/test_server_start.py::test_servers_closed_before_their_cases_exit_quietly_and_leave_nothing",
        "tests/test_server_start.py::test_grade_check_runs_on_the_server_it_spawned_first",
        "tests/test_server_start.py::test_a_server_spawned_ahead_and_never_used_is_closed_quietly",
        "tests/test_server_start.py::test_grade_of_notebook_files_spawns_its_server_before_the_cli_loads",
        "tests/test_server_start.py::test_a_usage_error_after_the_entry_spawned_leaves_nothing",
        "tests/test_server_start.py::test_a_server_runs_its_probe_before_its_cases_and_then_grades",
        "tests/test_server_start.py::test_children_inherit_no_module_that_runs_at_every_fork",
        "tests/test_server_start.py::test_children_read_exactly_the_folders_the_grader_names")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "9 passed" in result.stdout


def test_spawning_a_server_ahead_loads_neither_the_layers_nor_ctypes(tmp_path):
    """sandbox.ahead.spawn, the first thing `grade-check` does: the server's spawn is not delayed by importing the
    layers (ctypes, Landlock, seccomp), which are needed only once the probe answers; then they are loaded."""
    program = ("import sys\n"
               "from grader.sandbox import ahead\n"
               "ahead.spawn()\n"
               "print('spawned with', sorted(m for m in ('ctypes', 'grader.sandbox.layers') if m in sys.modules))\n"
               "server = ahead.claim((), __import__('grader.sandbox.client').sandbox.client.SCRATCH_BYTES)\n"
               "print('probe says', len(server.ready()) > 0, 'grader.sandbox.layers' in sys.modules)\n"
               "server.close()\n")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "spawned with []" in done.stdout and "probe says True True" in done.stdout, done.stdout


def test_children_read_exactly_the_folders_the_grader_names(tmp_path, monkeypatch):
    """sandbox.client.readable_paths: the grader works out what children may read and sends it to the launcher (which
    starts without `site` and could not find numpy itself); the mounts and Landlock both follow that one list. A
    folder outside it stays unreadable to a child; named by the grader, the same folder is readable."""
    from grader.sandbox import client
    from grader.sandbox.pipeline import Pipeline

    shelf = tmp_path / "shelf"
    shelf.mkdir()
    (shelf / "note.txt").write_text("on the shelf")
    shelf.chmod(0o755)
    (shelf / "note.txt").chmod(0o644)
    loaded = assignment.load(SOLUTIONS, "backward_pass")
    cases = case_builder.build(loaded, loaded.defaults.seed)[:1]
    reader = (f"try:\n    print('READ', open({str(shelf / 'note.txt')!r}).read())\n"
              f"except OSError as error:\n    print('REFUSED', type(error).__name__)\n")
    path = write(student_notebook(reference_body(), extra_cells=[reader]), tmp_path / "alice.ipynb")
    job = batch.prepare(batch.load(Submission(path, str(path), "alice")), loaded.rubric, loaded.defaults.limits,
                        loaded.reference.parameters)

    def printed() -> tuple[str, set[str]]:
        with Pipeline([case_builder.case_to_wire(case) for case in cases], 1) as pipeline:
            reply = pipeline.run(job)
            active = {layer.name for layer in pipeline.layers() if layer.active}
        assert reply.failure is None and len(reply.document["cases"]) == 1
        return reply.stdout, active

    outside, active = printed()
    assert {"landlock-fs", "mountns"} <= active
    assert "REFUSED" in outside and "on the shelf" not in outside
    named = client.readable_paths() + (str(shelf),)
    monkeypatch.setattr(client, "readable_paths", lambda: named)
    inside, _ = printed()
    assert "READ on the shelf" in inside


def test_grade_check_loads_no_class_report_writer_and_grade_writes_the_page(tmp_path):
    """report.class_page, report.junit, batch.discover: what a format or an input needs is imported when it is
    used, not with the registry that `grade`'s --format option lists or with the batch (every import delays a
    one-notebook answer): `grade-check` loads neither the class page's writer, nor the XML package, nor zipfile;
    `grade` of a notebook loads the class page's writer only, and writes report.html with it."""
    path = write(student_notebook(reference_body()), tmp_path / "alice" / "backward_pass.ipynb")
    program = ("import sys\n"
               "from grader import cli\n"
               "command = cli.check if sys.argv[1] == 'check' else cli.grade\n"
               "try:\n"
               "    command.main(sys.argv[2:], standalone_mode=False)\n"
               "finally:\n"
               "    print('loaded:', sorted(m for m in ('grader.report.html_report', 'xml.etree.ElementTree', 'zipfile')\n"
               "                            if m in sys.modules))\n")
    checked = subprocess.run([sys.executable, "-c", program, "check", str(path)], capture_output=True, text=True,
                             timeout=120)
    assert checked.returncode == 0, checked.stderr
    assert "All steps are right" in checked.stdout and "loaded: []" in checked.stdout
    graded = subprocess.run([sys.executable, "-c", program, "grade", str(path), "--solutions", str(SOLUTIONS),
                             "--no-cache", "--out", str(tmp_path / "out"), "-q"], capture_output=True, text=True,
                            timeout=120)
    assert graded.returncode == 0, graded.stderr
    assert "loaded: ['grader.report.html_report']" in graded.stdout
    assert "alice" in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")


def test_the_server_module_loads_neither_numpy_nor_the_child_runner():
    """sandbox.server: its probe child is forked before numpy and the child's runner are imported (they load while
    the probe works), so the module itself must not import them: `main` does, once the probe is forked."""
    program = ("import sys\n"
               "import grader.sandbox.server\n"
               "print(sorted(m for m in ('numpy', 'grader.sandbox.child', 'grader.capture') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_launcher_loads_only_what_it_needs():
    """sandbox.launcher, started as the client starts it (`-S -s -E -m`, from the package's parent): on every fork
    server's critical path, it reads its frame through `frames` and sends its setup as a plain dict, so neither
    `dataclasses` (with `inspect`), `typing`, `platform` nor the wire formats load there (34 ms of its CPU, paired)."""
    from grader.sandbox import client

    program = ("import sys\n"
               "import grader.sandbox.launcher\n"
               "print(sorted(m for m in ('dataclasses', 'inspect', 'typing', 'platform', 'grader.sandbox.wire',\n"
               "                         'grader.fastjson', 'numpy') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-S", "-s", "-E", "-c", program], capture_output=True, text=True,
                          timeout=60, cwd=client.PACKAGE_PARENT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_class_spawns_its_servers_before_routing_unless_grades_can_be_reused(tmp_path, monkeypatch):
    """app.classroom._spawn_servers_ahead: a class folder with nothing to reuse (a first run, --no-cache) spawns its
    servers once its notebooks are found and before any is read and routed, one per notebook up to --jobs, and
    the run grades on exactly those; a re-grade the cache serves spawns none, nor does a folder with no notebook."""
    from grader import routing
    from grader.sandbox import client
    from tests.conftest import invoke_grade

    for name in ("a", "b", "c"):
        write(student_notebook(reference_body()), tmp_path / "class" / name / "backward_pass.ipynb")
    write(student_notebook(reference_body()), tmp_path / "one" / "d" / "backward_pass.ipynb")
    (tmp_path / "none").mkdir()
    spawned, read = [], []
    original_spawn, original_signatures = client.ForkServer.__init__, routing.signatures

    def counting(self, *args, **kwargs):
        spawned.append("after reading" if read else "before reading")
        original_spawn(self, *args, **kwargs)

    def reading(*args, **kwargs):
        read.append(1)
        return original_signatures(*args, **kwargs)

    monkeypatch.setattr(client.ForkServer, "__init__", counting)
    monkeypatch.setattr(routing, "signatures", reading)

    def spawns(folder: str, *options, graded: int = 3) -> list[str]:
        spawned.clear()
        read.clear()
        run = invoke_grade(tmp_path / folder, "--out", tmp_path / f"out-{folder}", *options, jobs=2)
        if graded:
            assert run.exit_code == 0 and [row["score"] for row in run.doc["submissions"]] == [10.0] * graded
        else:
            assert run.exit_code == 2 and "no notebooks" in run.stderr
        return list(spawned)

    assert spawns("class") == ["before reading"] * 2
    assert spawns("class") == []  # every grade from the cache: no sandbox at all
    assert spawns("class", "--no-cache") == ["before reading"] * 2
    assert spawns("one", graded=1) == ["before reading"]
    assert spawns("none", graded=0) == []


@pytest.mark.parametrize("cache, log, expected", [
    (True, False, True),    # a first run: nothing on disk yet
    (True, True, False),    # a results log to resume
    ("file", False, False),  # a cache to serve grades
    (False, True, True),    # --no-cache ignores (and removes) the results log
])
def test_what_counts_as_nothing_to_reuse(tmp_path, cache, log, expected):
    """session.reuses_nothing: whether a class run may start its sandbox before routing (two stat calls, no read)."""
    from grader import session

    out = tmp_path / "out"
    out.mkdir()
    cache_dir = tmp_path / "cache" if cache else None
    if cache == "file":
        cache_dir.mkdir()
        (cache_dir / session.CACHE_FILE).write_text("")
    if log:
        (out / session.RESULTS_LOG).write_text("")
    assert session.reuses_nothing(out, cache_dir) is expected


def test_a_server_is_a_session_of_its_own_and_leaves_with_the_grader(tmp_path):
    """Each fork server starts a session (its launcher leads it): with the kernel's autogroups each session is scheduled
    as a group, so the servers' work never shares a group with the grader, which paces them (docs/scale.md, eleventh
    round). Out of the grader's session it still ends with the grader: killed at once (no cleanup of its own), the
    grader leaves the server nothing to read, and it exits."""
    program = ("import os, sys, time\n"
               "from grader.sandbox.client import ForkServer\n"
               "server = ForkServer()\n"
               "print(server._process.pid, os.getsid(0), flush=True)\n"
               "time.sleep(60)\n")
    grader = subprocess.Popen([sys.executable, "-c", program], stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        launcher, grader_session = map(int, grader.stdout.readline().split())
        assert os.getsid(launcher) == launcher != grader_session
        grader.kill()
        grader.wait(timeout=10)
        for _ in range(200):
            if not Path(f"/proc/{launcher}").exists() or _state(launcher) == "Z":
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"the server's launcher {launcher} outlived its grader")
    finally:
        grader.kill()


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"
