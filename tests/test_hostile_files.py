"""Hostile files and names in a class folder, graded through the real `grade` command.

A submission is untrusted as a file, not only as code: a symbolic link to the reference notebook
or to a classmate's, to /dev/zero, to a FIFO or to a sparse 64 GiB file, a FIFO or a socket named
x.ipynb, a folder named y.ipynb, a linked folder; and its name is untrusted text: Latin-1 bytes
from a zip made on Windows, newlines that forge a terminal line, bidi overrides, ANSI escapes.
The batch must grade every good notebook exactly as alone, turn every hostile entry into an
`invalid` row saying why, show no reference code anywhere, write every report, and resume.
The same batch runs again as uid 65534.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader import notebook, routing
from grader.cli import check, grade
from tests import unprivileged
from tests.notebooks import REFERENCE, SOLUTIONS, reference_body, student_notebook, write

REPO = Path(__file__).resolve().parents[1]
# Characters no name or message may carry into a report or the terminal.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
# A graded submission's line shows its score; one that could not be graded, its status instead.
HEADLINE = re.compile(r"^.+  (\d+(\.\d+)?/10  graded\b|(error|timeout|invalid)  \()")
PARTIAL = reference_body(error="output_layer_out - target")
# A function that raises with a lone surrogate, escapes and a forged line in its message (and prints one too).
RAISES = ('print("printed", chr(0xDCFF), "\\x1b[2J")\n'
          'raise ValueError(chr(0xD800) + "\\x1b[2J\\nbob  10/10  graded" + chr(0x202E))\n')

# Entry name -> the words its invalid row's reason must hold.
HOSTILE_REASONS = {
    "ref.ipynb": "symbolic link", "copycat.ipynb": "symbolic link", "zero.ipynb": "symbolic link",
    "random.ipynb": "symbolic link", "pipe_link.ipynb": "symbolic link", "sparse_link.ipynb": "symbolic link",
    "dangling.ipynb": "symbolic link", "linked": "symbolic link", "fifo.ipynb": "FIFO",
    "huge.ipynb": "larger than the 20 MiB cap", "folder.ipynb": "folder", "sock.ipynb": "socket",
}


def _grade(arguments: list[str], timeout: float = 90) -> subprocess.CompletedProcess:
    """The real command in a child process; a hang fails the test rather than the suite."""
    command = [sys.executable, "-m", "grader", *arguments, "--solutions", str(SOLUTIONS), "--timeout", "3",
               "--jobs", "2", "-q"]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, errors="surrogateescape",
                          timeout=timeout)


def _build_class(root: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, str]]:
    """The class folder; returns it and, for each good or oddly named notebook, the baseline it must match."""
    tree, outside = root / "class", root / "outside"
    write(student_notebook(), tree / "alice.ipynb")
    write(student_notebook(PARTIAL), tree / "carol.ipynb")
    # Oddly named but regular: graded like carol's, under a printable name (Latin-1 read as Latin-1).
    same_as = {"alice": "alice", "carol": "carol", "café": "carol", "désirée": "carol", "eve\ufffd": "carol",
               "\ufffdevil": "carol", "ansi\ufffd[2J": "carol", "zz\ufffdbob  10": "carol", "tab\ufffdname": "carol"}
    for name in (b"caf\xe9.ipynb", b"d\xe9sir\xe9e/backward_pass.ipynb", b"eve\r.ipynb", b"\xe2\x80\xaeevil.ipynb",
                 b"ansi\x1b[2J.ipynb", b"zz\nbob  10/10  graded.ipynb", b"tab\tname.ipynb"):
        write(student_notebook(PARTIAL), tree / os.fsdecode(name))
    write(student_notebook(RAISES), tree / "raiser.ipynb")
    # Not regular files, or links: each an invalid row.
    write(student_notebook(), outside / "linked" / "backward_pass.ipynb")
    os.mkfifo(outside / "fifo")
    sparse = outside / "sparse"
    sparse.touch()
    os.truncate(sparse, 64 << 30)
    links = {"ref.ipynb": REFERENCE, "copycat.ipynb": Path("alice.ipynb"), "zero.ipynb": Path("/dev/zero"),
             "random.ipynb": Path("/dev/urandom"), "pipe_link.ipynb": outside / "fifo",
             "sparse_link.ipynb": sparse, "dangling.ipynb": outside / "nothing.ipynb", "linked": outside / "linked"}
    for name, target in links.items():
        (tree / name).symlink_to(target)
    os.mkfifo(tree / "fifo.ipynb")
    huge = tree / "huge.ipynb"
    huge.touch()
    os.truncate(huge, 64 << 30)
    (tree / "folder.ipynb").mkdir()
    monkeypatch.chdir(tree)  # a socket's path must be short: bind it by its relative name
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listening:
        listening.bind("sock.ipynb")
    return tree, same_as


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.items() for part in item for text in _strings(part)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


def _without_path(row: dict) -> dict:
    return {key: value for key, value in row.items() if key != "submission"}


def test_hostile_files_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Mechanisms: non-regular files (links, FIFOs, devices, sockets, folders, oversized) and unclean names."""
    tree, same_as = _build_class(tmp_path, monkeypatch)
    baseline_out = tmp_path / "baseline"
    alone = _grade([str(tree / "alice.ipynb"), str(tree / "carol.ipynb"), "--out", str(baseline_out), "--json", "-"])
    assert alone.returncode == 0, alone.stderr
    baseline = {row["student"]: row for row in json.loads(alone.stdout)["submissions"]}
    assert baseline["alice"]["score"] == 10 and 0 < baseline["carol"]["score"] < 10

    out = tmp_path / "out"
    run = _grade([str(tree), "--out", str(out), "--json", "-", "--feedback-html"])
    assert run.returncode == 0, run.stderr
    document = json.loads(run.stdout)
    rows = document["submissions"]
    by_student = {row["student"]: row for row in rows}
    assert len(by_student) == len(rows) == len(same_as) + 1 + len(HOSTILE_REASONS), sorted(by_student)

    for student, model in same_as.items():
        assert _without_path(by_student[student]) == _without_path({**baseline[model], "student": student}), student
    assert by_student["raiser"]["score"] == 0 and by_student["raiser"]["status"] in ("graded", "error")
    for name, reason in HOSTILE_REASONS.items():
        row = by_student[Path(name).stem]
        assert row["status"] == "invalid" and row["score"] == 0, (name, row)
        assert len(row["messages"]) == 1 and reason in row["messages"][0], (name, row["messages"])

    # Every name and message printable; the terminal shows one headline per row and nothing forged.
    assert not [text for text in _strings(document) if UNSAFE.search(text)]
    lines = run.stderr.splitlines()
    assert len([line for line in lines if HEADLINE.match(line)]) == len(rows)
    assert not [line for line in lines if line.startswith("bob")]
    assert not UNSAFE.search(run.stderr.replace("\n", "").replace("\t", ""))

    # Every report written and readable; no reference code in any of them.
    assert json.loads((out / "results.json").read_text(encoding="utf-8"))["submissions"] == rows
    with open(out / "gradebook.csv", encoding="utf-8-sig", newline="") as stream:
        assert len(list(csv.reader(stream))) == len(rows) + 1
    assert (out / "report.html").stat().st_size > 0
    assert len(list((out / "feedback").glob("*.html"))) == len(rows)
    for path in out.rglob("*"):
        if path.is_file():
            assert b"SOLUTION" not in path.read_bytes(), path
    assert "SOLUTION" not in run.stdout + run.stderr

    again = _grade([str(tree), "--out", str(out), "--json", "-"])
    assert again.returncode == 0, again.stderr
    assert f"{len(rows)} submissions: " in again.stderr and f"; 0 run now, {len(rows)} resumed" in again.stderr
    assert json.loads(again.stdout)["submissions"] == rows


def test_resume_survives_any_record(tmp_path: Path) -> None:
    """Mechanism: a results log whose records are not grades' (or hold lone surrogates) is graded again, not fatal."""
    tree = tmp_path / "class"
    write(student_notebook(), tree / "alice.ipynb")
    write(student_notebook(PARTIAL), tree / "carol.ipynb")
    out = tmp_path / "out"
    first = _grade([str(tree), "--out", str(out), "--json", "-", "--cache-dir", str(tmp_path / "cache")])
    assert first.returncode == 0, first.stderr
    log = out / "results.jsonl"
    keys = [json.loads(line)["key"] for line in log.read_text(encoding="utf-8").splitlines()]
    broken = [{"steps": "x", "status": 5}, {"student": "\ud800", "submission": "\udcff", "steps": [{}]}]
    log.write_text("".join(json.dumps({"key": key, "grade": grade}) + "\n" for key, grade in zip(keys, broken))
                   + '{"key": "\\ud800", "grade": 1}\n{"key":', encoding="utf-8")
    # A fresh cache: the grades can come only from the (broken) results log, or be made again.
    again = _grade([str(tree), "--out", str(out), "--json", "-", "--cache-dir", str(tmp_path / "empty")])
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["submissions"] == json.loads(first.stdout)["submissions"]
    assert "2 submissions: " in again.stderr and "; 2 run now, 0 resumed" in again.stderr


def test_failed_report_costs_only_itself(tmp_path: Path) -> None:
    """Mechanism: one report format that cannot be written; the others and the feedback pages still are, then exit 3."""
    tree = tmp_path / "class"
    write(student_notebook(), tree / "alice.ipynb")
    out = tmp_path / "out"
    (out / "gradebook.csv").mkdir(parents=True)  # in the way of the CSV report
    (tmp_path / "report.json").mkdir()  # in the way of --json FILE
    run = _grade([str(tree), "--out", str(out), "--feedback-html", "--json", str(tmp_path / "report.json")])
    assert run.returncode == 3, run.stderr
    assert "could not write gradebook.csv" in run.stderr and "Traceback" not in run.stderr
    assert f"could not write {tmp_path / 'report.json'}" in run.stderr
    assert len([line for line in run.stderr.splitlines() if "could not write" in line]) == 1
    assert json.loads((out / "results.json").read_text(encoding="utf-8"))["submissions"][0]["score"] == 10
    assert (out / "report.html").is_file() and (out / "feedback" / "alice.html").is_file()


def test_file_read_once_for_hash_and_grade(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Mechanism: hash and content from one read; a file replaced right after it was read cannot poison the cache.

    Were the cache key taken from a second read, the first run would file the old content's
    grade under the new content's key, and the second run would serve it for the new content.
    """
    tree = tmp_path / "class"
    path = write(student_notebook(PARTIAL), tree / "alice.ipynb")
    right = json.dumps(student_notebook()).encode()
    original = notebook.read_bytes

    def read_then_replace(target: Path) -> bytes:
        content = original(target)
        # Replaced right after the read that grades it (routing reads it earlier to pick the assignment).
        if Path(target) == path.resolve() and sys._getframe(1).f_globals["__name__"] == "grader.batch":
            path.write_bytes(right)
        return content

    arguments = [str(tree), "--solutions", str(SOLUTIONS), "--out", str(tmp_path / "out"), "--json", "-",
                 "--timeout", "3", "-q"]
    monkeypatch.setattr(notebook, "read_bytes", read_then_replace)
    first = CliRunner().invoke(grade, arguments)
    monkeypatch.setattr(notebook, "read_bytes", original)
    assert first.exit_code == 0, first.output
    assert 0 < json.loads(first.stdout)["submissions"][0]["score"] < 10
    second = CliRunner().invoke(grade, arguments)
    assert second.exit_code == 0, second.output
    assert json.loads(second.stdout)["submissions"][0]["score"] == 10
    assert "1 run now, 0 resumed from the results log, 0 from the cache" in second.stderr


def test_folder_swapped_for_a_link_after_discovery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Mechanism: no link is followed on the way to a file either; a folder replaced by a link to the solutions
    between discovery and reading is refused, never graded as the reference."""
    tree = tmp_path / "class"
    write(student_notebook(PARTIAL), tree / "bob" / "backward_pass.ipynb")
    planned = routing.plan

    def plan_then_swap(*arguments):
        plan = planned(*arguments)  # found and routed to its assignment: what remains is reading it to grade
        (tree / "bob").rename(tmp_path / "bob-moved")
        (tree / "bob").symlink_to(REFERENCE.parent)
        return plan

    monkeypatch.setattr(routing, "plan", plan_then_swap)
    result = CliRunner().invoke(grade, [str(tree), "--solutions", str(SOLUTIONS), "--out", str(tmp_path / "out"),
                                        "--json", "-", "--feedback-html", "-q"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)["submissions"][0]
    assert row["student"] == "bob" and row["status"] == "invalid" and row["score"] == 0, row
    assert "reached through a symbolic link" in row["messages"][0], row["messages"]
    assert not [path for path in (tmp_path / "out").rglob("*") if path.is_file() and b"SOLUTION" in path.read_bytes()]


def test_command_line_link_is_the_users_choice(tmp_path: Path) -> None:
    """Mechanism: a link named on the command line is followed (to a regular file only), named as the user named it."""
    real = write(student_notebook(), tmp_path / "elsewhere" / "draft.ipynb")
    (tmp_path / "mine.ipynb").symlink_to(real)
    (tmp_path / "zlink.ipynb").symlink_to("/dev/zero")
    result = CliRunner().invoke(grade, [str(tmp_path / "mine.ipynb"), str(tmp_path / "zlink.ipynb"), "--solutions",
                                        str(SOLUTIONS), "--json", "-", "--timeout", "3", "-q", "--no-cache"])
    assert result.exit_code == 0, result.output
    rows = {row["student"]: row for row in json.loads(result.stdout)["submissions"]}
    assert rows["mine"]["score"] == 10 and rows["mine"]["submission"] == str(tmp_path / "mine.ipynb")
    assert rows["zlink"]["status"] == "invalid" and "character device" in rows["zlink"]["messages"][0]


def test_self_check_reads_regular_files_only(tmp_path: Path) -> None:
    """Mechanism: `grade-check` on a FIFO, or a link the student named to a device or a FIFO: a one-line refusal, no hang."""
    os.mkfifo(tmp_path / "pipe.ipynb")
    (tmp_path / "zero.ipynb").symlink_to("/dev/zero")
    (tmp_path / "piped.ipynb").symlink_to(tmp_path / "pipe.ipynb")
    def hung(*_) -> None:
        raise TimeoutError("grade-check hung on a file that is not a regular file")

    previous = signal.signal(signal.SIGALRM, hung)
    try:
        for name, reason in (("pipe.ipynb", "FIFO"), ("zero.ipynb", "character device"), ("piped.ipynb", "FIFO")):
            signal.alarm(10)
            done = CliRunner().invoke(check, [str(tmp_path / name)])
            signal.alarm(0)
            assert done.exit_code == 2 and reason in done.stderr, (name, done.output, done.exception)
            assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.skipif(unprivileged.unavailable() is not None, reason=str(unprivileged.unavailable()))
def test_hostile_files_unprivileged() -> None:
    """The batch (with its resume), self-check and swap tests again as uid 65534: links, FIFOs and names need no root."""
    result = unprivileged.run_unprivileged(str(Path(__file__)), "-k", "batch or self_check or swapped")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "3 passed" in result.stdout, result.stdout[-2000:]
