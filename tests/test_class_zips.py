"""Class zips as Canvas, Moodle and Gradescope export them, and hostile zips, graded through the real `grade`.

A zip named on the command line is a class: each notebook entry is a submission named by its
platform's convention (grader/intake/zips.py). The archive is untrusted: every entry that cannot
be taken (an escape, a link, a bomb, a duplicate name, a corrupt entry) is an `invalid` row saying
why, an archive that cannot be read is one such row, nothing is written outside a private folder,
and that folder is gone when the command ends. The hostile run is repeated as uid 65534.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

from grader.cli import grade
from grader.intake import zips
from tests import unprivileged
from tests.notebooks import SOLUTIONS, reference_body, student_notebook

REPO = Path(__file__).resolve().parents[1]
GOOD = nbformat.writes(student_notebook())
PARTIAL = nbformat.writes(student_notebook(reference_body(error="output_layer_out - target")))
# A folder name written as Latin-1 bytes without the UTF-8 flag, read as zip readers do (code page 437).
LATIN_FOLDER = b"caf\xe9".decode("cp437")
GRADESCOPE_METADATA = """\
submission_1001:
  :submitters:
  - :name: Jane Doe
    :sid: '4401'
    :email: jane@example.edu
  :created_at: 2026-11-20 10:00:00.000000000 -08:00
  :score: 0.0
  :results:
    :tests:
    - :name: not a student
      :score: 0
submission_1002:
  :submitters:
  - :name: Pair One
    :sid: "4402"
    :email: one@example.edu
  - :name: Pair Two
    :sid: '4403'
    :email: two@example.edu
  :created_at: 2026-11-20 11:00:00.000000000 -08:00
submission_1003:
  :submitters:
  - :name: No Sid
    :sid:
    :email: nosid@example.edu
"""


def _grade(paths: list[Path], tmp_path: Path, *extra: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """The real command in a child process with its own TMPDIR; its JSON report's submissions."""
    report = tmp_path / "report.json"
    temporary = tmp_path / "tmp"
    temporary.mkdir(exist_ok=True)
    command = [sys.executable, "-m", "grader", *map(str, paths), "--solutions", str(SOLUTIONS), "--timeout", "5",
               "--jobs", "2", "-q", "--no-cache", "--json", str(report), *extra]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "TMPDIR": str(temporary)})
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr
    assert list(temporary.glob("backprop-grader-zip-*")) == [], "the extracted notebooks outlive the command"
    return result, json.loads(report.read_text())["submissions"]


def _zip(path: Path, entries: dict[str, str | bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def _rows(submissions: list[dict]) -> dict[str, dict]:
    return {row["submission"]: row for row in submissions}


def test_platform_conventions(tmp_path):
    """Each platform's file names give its student ids (Canvas name_userid, Moodle "Full Name_id", Gradescope's
    submitters from submission_metadata.yml, else as in a folder), and each notebook is graded as it is."""
    canvas = _zip(tmp_path / "submissions.zip", {
        "doejane_12345_67890_backward_pass.ipynb": GOOD,
        "smithbob_LATE_222_333_backward_pass.ipynb": PARTIAL,
        "notes.txt": "not a notebook",
    })
    moodle = _zip(tmp_path / "moodle.zip", {
        "Jane Doe_501_assignsubmission_file_/backward_pass.ipynb": GOOD,
        "Bob Smith_502_assignsubmission_file_backward_pass.ipynb": PARTIAL,
        "Bob Smith_502_assignsubmission_onlinetext_onlinetext.html": "<p>hi</p>",
    })
    gradescope = _zip(tmp_path / "gradescope.zip", {
        "assignment_77_export/submission_metadata.yml": GRADESCOPE_METADATA,
        "assignment_77_export/submission_1001/backward_pass.ipynb": GOOD,
        "assignment_77_export/submission_1002/backward_pass.ipynb": PARTIAL,
        "assignment_77_export/submission_1003/backward_pass.ipynb": GOOD,
        "assignment_77_export/submission_1004/backward_pass.ipynb": GOOD,
    })
    folder_zip = _zip(tmp_path / "class.zip", {
        "class/alice/backward_pass.ipynb": GOOD, "class/carol.ipynb": PARTIAL,
        "__MACOSX/class/._carol.ipynb": b"\x00\x05\x16\x07", "class/.ipynb_checkpoints/carol-checkpoint.ipynb": GOOD,
    })
    alone = _zip(tmp_path / "dave.zip", {"backward_pass.ipynb": PARTIAL})
    _, submissions = _grade([canvas, moodle, gradescope, folder_zip, alone], tmp_path)
    got = {row["submission"]: (row["student"], row["status"], row["score"]) for row in submissions}
    full, partial = ("graded", 10.0), ("graded", 9.0)
    assert got == {
        f"{canvas}/doejane_12345_67890_backward_pass.ipynb": ("doejane_12345", *full),
        f"{canvas}/smithbob_LATE_222_333_backward_pass.ipynb": ("smithbob_222", *partial),
        f"{moodle}/Jane Doe_501_assignsubmission_file_/backward_pass.ipynb": ("Jane Doe_501", *full),
        f"{moodle}/Bob Smith_502_assignsubmission_file_backward_pass.ipynb": ("Bob Smith_502", *partial),
        f"{gradescope}/assignment_77_export/submission_1001/backward_pass.ipynb": ("4401", *full),
        f"{gradescope}/assignment_77_export/submission_1002/backward_pass.ipynb": ("4402+4403", *partial),
        f"{gradescope}/assignment_77_export/submission_1003/backward_pass.ipynb": ("nosid@example.edu", *full),
        f"{gradescope}/assignment_77_export/submission_1004/backward_pass.ipynb": ("submission_1004", *full),
        f"{folder_zip}/class/alice/backward_pass.ipynb": ("alice", *full),
        f"{folder_zip}/class/carol.ipynb": ("carol", *partial),
        f"{alone}/backward_pass.ipynb": ("dave", *partial),
    }
    assert all(row["messages"] and not any("Warning" in m for m in row["messages"]) for row in submissions)


def _hostile_zips(root: Path) -> dict[Path, dict[str, str]]:
    """Zips a class must survive -> for each entry expected as a row, words its message must hold ('' = graded)."""
    root.mkdir(parents=True, exist_ok=True)
    escapes = root / "escapes.zip"
    with zipfile.ZipFile(escapes, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("good/backward_pass.ipynb", GOOD)
        archive.writestr("./dot/./backward_pass.ipynb", GOOD)
        archive.writestr("../slip.ipynb", GOOD)
        archive.writestr("../../../../tmp/deep/slip.ipynb", GOOD)
        archive.writestr("/abs/solo.ipynb", GOOD)
        archive.writestr("C:\\Users\\x\\win.ipynb", GOOD)
        link = zipfile.ZipInfo("linked/backward_pass.ipynb")
        link.create_system, link.external_attr = 3, (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
        fifo = zipfile.ZipInfo("fifo/backward_pass.ipynb")
        fifo.create_system, fifo.external_attr = 3, (stat.S_IFIFO | 0o644) << 16
        archive.writestr(fifo, GOOD)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zipfile's warning about the very name this entry shares
            archive.writestr("twice/backward_pass.ipynb", GOOD)
            archive.writestr("twice/backward_pass.ipynb", PARTIAL)
        archive.writestr("bomb/backward_pass.ipynb", b" " * (3 << 20))
        archive.writestr("huge/backward_pass.ipynb", b"{" + b" " * (21 << 20))
        archive.writestr("folder.ipynb/", "")
    corrupt_entry = _zip(root / "crc.zip", {"mallory/backward_pass.ipynb": GOOD, "ok/backward_pass.ipynb": GOOD},
                         zipfile.ZIP_STORED)
    data = corrupt_entry.read_bytes()
    at = data.index(b'"cells"')
    corrupt_entry.write_bytes(data[:at] + b"'cells'" + data[at + 7:])
    latin = _zip(root / "latin.zip", {"caf_/backward_pass.ipynb": GOOD})
    latin.write_bytes(latin.read_bytes().replace(b"caf_", b"caf\xe9"))
    lying = _zip(root / "lying.zip", {"caf\u00e9/backward_pass.ipynb": GOOD})
    lying.write_bytes(lying.read_bytes().replace("caf\u00e9".encode(), b"caf\xff\xfe"))
    zip64 = _zip(root / "zip64.zip", {"x/backward_pass.ipynb": GOOD})
    data = zip64.read_bytes()
    at = data.rindex(b"PK\x05\x06")
    zip64.write_bytes(data[:at] + b"PK\x06\x07" + bytes(16) + data[at:])
    many = root / "many.zip"
    with zipfile.ZipFile(many, "w") as archive:
        for index in range(10_000):
            archive.writestr(f"s{index}.ipynb", "")
    not_zip = root / "notes.zip"
    not_zip.write_text("these are my notes, not an archive")
    truncated = root / "truncated.zip"
    truncated.write_bytes(_zip(root / "whole.zip", {"x/backward_pass.ipynb": GOOD}).read_bytes()[:300])
    (root / "whole.zip").unlink()
    return {
        escapes: {
            "good/backward_pass.ipynb": "", "./dot/./backward_pass.ipynb": "",
            "../slip.ipynb": "climbs out", "../../../../tmp/deep/slip.ipynb": "climbs out",
            "/abs/solo.ipynb": "absolute path", "C:\\Users\\x\\win.ipynb": "absolute path",
            "linked/backward_pass.ipynb": "symbolic link", "fifo/backward_pass.ipynb": "not a regular file",
            "twice/backward_pass.ipynb": "2 entries of the zip have this name",
            "bomb/backward_pass.ipynb": "zip bomb", "huge/backward_pass.ipynb": "larger than the 20 MiB cap",
        },
        corrupt_entry: {"mallory/backward_pass.ipynb": "cannot be unzipped (BadZipFile: Bad CRC-32",
                        "ok/backward_pass.ipynb": ""},
        latin: {f"{LATIN_FOLDER}/backward_pass.ipynb": ""},
        lying: {"": "marked UTF-8 but are not"},
        zip64: {"": "ZIP64 archive"},
        many: {"": "holds 10,000 entries, more than the 5,000"},
        not_zip: {"": "is not a zip archive"},
        truncated: {"": "is not a zip archive"},
    }


def test_hostile_zips(tmp_path):
    """Zip slip (.., absolute, drive letters), link and FIFO entries, names two entries share, a ratio bomb, an
    entry over the notebook cap, a corrupt entry, Latin-1 names, names falsely marked UTF-8, 10,000 entries, a
    ZIP64 record, a non-zip and a truncated zip: each a row saying why (the good entries graded), nothing written
    outside."""
    expected = _hostile_zips(tmp_path / "zips")
    result, submissions = _grade(list(expected), tmp_path)
    rows = _rows(submissions)
    wanted = {str(archive) + (f"/{entry}" if entry else ""): words for archive, entries in expected.items()
              for entry, words in entries.items()}
    assert set(rows) == set(wanted), result.stderr
    for given, words in wanted.items():
        row = rows[given]
        if words:
            assert row["status"] == "invalid" and words in row["messages"][0], (given, row["messages"])
            assert row["messages"][0].startswith(given), row["messages"]
        else:
            assert (row["status"], row["score"]) == ("graded", 10.0), (given, row["messages"])
    assert rows[f"{tmp_path / 'zips' / 'latin.zip'}/{LATIN_FOLDER}/backward_pass.ipynb"]["student"] == LATIN_FOLDER
    assert rows[f"{tmp_path / 'zips' / 'escapes.zip'}/../slip.ipynb"]["student"] == "slip"
    assert not (tmp_path / "slip.ipynb").exists() and not Path("/tmp/deep/slip.ipynb").exists()


@pytest.mark.skipif(unprivileged.unavailable() is not None, reason=str(unprivileged.unavailable()))
def test_hostile_zips_unprivileged() -> None:
    """The same hostile zips, graded as uid 65534: the private folder and every refusal hold without root."""
    result = unprivileged.run_unprivileged(f"{Path(__file__)}::test_hostile_zips")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 passed" in result.stdout


def test_archive_caps(tmp_path, monkeypatch):
    """The caps on an archive's size, on its notebooks together and on its zip directory each give a row saying
    which cap, and the notebooks within the total are still graded (caps lowered here to test them quickly)."""
    big = _zip(tmp_path / "big.zip", {f"{name}/backward_pass.ipynb": GOOD for name in "abc"})
    total = _zip(tmp_path / "total.zip", {"a/backward_pass.ipynb": GOOD, "b/backward_pass.ipynb": GOOD})
    directory = _zip(tmp_path / "directory.zip", {f"{'d' * 200}{index}/backward_pass.ipynb": "" for index in range(3)})
    size = len(GOOD.encode())
    monkeypatch.setattr(zips, "MAX_ARCHIVE_BYTES", big.stat().st_size - 1)
    monkeypatch.setattr(zips, "MAX_TOTAL_BYTES", size + 1)
    monkeypatch.setattr(zips, "MAX_DIRECTORY_BYTES", 300)
    report = tmp_path / "report.json"
    arguments = [str(big), str(total), str(directory), "--solutions", str(SOLUTIONS), "--timeout", "5", "-q",
                 "--no-cache", "--json", str(report)]
    outcome = CliRunner().invoke(grade, arguments, catch_exceptions=False)
    assert outcome.exit_code in (0, 1), outcome.output
    rows = _rows(json.loads(report.read_text())["submissions"])
    assert "cap on a class zip" in rows[str(big)]["messages"][0]
    assert rows[f"{total}/a/backward_pass.ipynb"]["status"] == "graded"
    assert "exceed the" in rows[f"{total}/b/backward_pass.ipynb"]["messages"][0]
    assert "zip directory of" in rows[str(directory)]["messages"][0]
