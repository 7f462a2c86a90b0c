"""store.GradeLog: keys read without parsing the grades, a cached line copied into the results log as it is."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from grader import store
from tests.notebooks import SOLUTIONS, reference_body, student_notebook, write

KEYS = [f"{number:064x}" for number in range(1, 6)]


def _record(number: int) -> dict:
    return {"status": "graded", "score": float(number), "messages": [f"line {number}\n", "\u202e bidi"]}


def test_a_log_reads_back_the_index_and_records_a_full_parse_would(tmp_path):
    """The index of a log is that of parsing every line: the last line of a key wins, a torn last line, a line that is
    not a record (no key, a key that is not text, not JSON) and an empty line are skipped, and a line written by hand
    in another layout (spaces, the grade before the key, an escaped key) is read too."""
    path = tmp_path / "grades.jsonl"
    log = store.GradeLog(path)
    for number, key in enumerate(KEYS[:3]):
        log.append(key, _record(number))
    log.append(KEYS[0], _record(9))
    log.close()
    with open(path, "ab") as stream:
        stream.write(json.dumps({"key": KEYS[3], "grade": _record(3)}, indent=1).replace("\n", " ").encode() + b"\n")
        stream.write(b'{"grade": {"score": 4.0}, "key": "' + KEYS[4].encode() + b'"}\n')
        stream.write(b'{"key":"we\\u0069rd","grade":{"score":5.0}}\n')
        stream.write(b'{"key":7,"grade":{}}\n{"grade":{}}\nnot json\n\n')
        stream.write(b'{"key":"' + KEYS[1].encode() + b'","grade":{"score":')  # torn: the run stopped here
    again = store.GradeLog(path)
    assert sorted(again._index) == sorted([*KEYS, "weird"])
    assert again.get(KEYS[0]) == _record(9) and again.get(KEYS[1]) == _record(1)  # the torn line is not KEYS[1]'s
    assert again.get(KEYS[3]) == _record(3) and again.get(KEYS[4]) == {"score": 4.0}
    assert again.get("weird") == {"score": 5.0}
    again.append(KEYS[1], _record(7))  # starts on a line of its own after the torn one
    again.close()
    assert store.GradeLog(path).get(KEYS[1]) == _record(7)


def test_a_line_whose_grade_no_longer_reads_gives_no_record(tmp_path):
    """A line with a record's key whose grade was damaged (the file changed under the grader), or that names two keys:
    `get` gives None, so the submission is graded again, never served from it."""
    path = tmp_path / "grades.jsonl"
    path.write_bytes(b'{"key":"' + KEYS[0].encode() + b'","grade":{"score":1.0,,}}\n'
                     + b'{"key":"' + KEYS[1].encode() + b'","grade":[1]}\n'
                     + b'{"key":"' + KEYS[2].encode() + b'","grade":{"score":2.0},"key":"' + KEYS[3].encode() + b'"}\n')
    log = store.GradeLog(path)
    assert log.get(KEYS[0]) is None and log.get(KEYS[1]) is None
    # A line whose start names one key and whose whole (the last "key" wins in JSON) another is no one's record.
    assert log.get(KEYS[2]) is None and log.get(KEYS[3]) is None


def test_a_line_is_copied_only_whole_and_under_its_own_key(tmp_path):
    """append_line: a line of another log goes in as it is, readable under its key; a line of another key, or one
    without its end, is refused (it would file a grade under the wrong submission)."""
    cache = store.GradeLog(tmp_path / "cache.jsonl")
    cache.append(KEYS[0], _record(1))
    line = cache.line(KEYS[0])
    assert cache.line(KEYS[1]) is None
    results = store.GradeLog(tmp_path / "results.jsonl")
    results.append_line(KEYS[0], line)
    assert results.get(KEYS[0]) == _record(1) and (tmp_path / "results.jsonl").read_bytes() == line
    for key, wrong in ((KEYS[1], line), (KEYS[0], line[:-1])):
        with pytest.raises(ValueError):
            results.append_line(key, wrong)
    assert (tmp_path / "results.jsonl").read_bytes() == line


def _grade(*arguments: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "grader", *arguments, "--json", "-", "-q"], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "GRADER_SEED": ""})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_regrade_from_the_cache_writes_the_cached_lines_into_the_results_log(tmp_path):
    """Through the CLI: re-graded from the cache, each submission's results-log line is its cache line byte for byte;
    the reports are the first run's, and the results log read back (a resumed run) gives them too."""
    folder = tmp_path / "class"
    for name, body in (("alice", reference_body()), ("bob", reference_body(error="output_layer_out - target"))):
        write(student_notebook(body), folder / name / "backward_pass.ipynb")
    common = [str(folder), "--solutions", str(SOLUTIONS), "--cache-dir", str(tmp_path / "cache"), "--jobs", "1"]
    first = _grade(*common, "--out", str(tmp_path / "first"))
    again = _grade(*common, "--out", str(tmp_path / "again"))
    cached = (tmp_path / "cache" / "grades.jsonl").read_bytes().splitlines(keepends=True)
    logged = (tmp_path / "again" / "results.jsonl").read_bytes().splitlines(keepends=True)
    assert sorted(logged) == sorted(cached) and len(logged) == 2
    assert again["submissions"] == first["submissions"]
    resumed = _grade(*common, "--out", str(tmp_path / "again"))
    assert resumed["submissions"] == first["submissions"]
    assert (tmp_path / "again" / "results.jsonl").read_bytes().splitlines(keepends=True) == logged

