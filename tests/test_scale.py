"""Grading a class: parallel order, resume, cache, shards, summary and the HTML report."""

from __future__ import annotations

import csv
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.cli import merge_shards
from tests.notebooks import SOLUTIONS, student_notebook, write
from tests.scale_support import WRONG_SIGN, grade, make_class


@pytest.fixture(scope="session")
def klass(tmp_path_factory) -> Path:
    return make_class(tmp_path_factory.mktemp("class"), 9)



def _counts(output: str) -> tuple[int, int, int]:
    """(run now, resumed, from the cache), as the command reports them."""
    match = re.search(r"(\d+) run now, (\d+) resumed from the results log, (\d+) from the cache", output)
    assert match, output
    return int(match[1]), int(match[2]), int(match[3])


def _results(folder: Path) -> dict:
    return json.loads((folder / "results.json").read_text(encoding="utf-8"))


def test_jobs_1_and_4_give_identical_results(klass, tmp_path):
    one = grade(str(klass), "-q", "--no-cache", "--jobs", "1", "--out", str(tmp_path / "one"))
    four = grade(str(klass), "-q", "--no-cache", "--jobs", "4", "--out", str(tmp_path / "four"))
    assert one.exit_code == four.exit_code == 0
    assert one.stdout == four.stdout
    for name in ("results.json", "gradebook.csv"):
        assert (tmp_path / "one" / name).read_text() == (tmp_path / "four" / name).read_text()
    students = [entry["student"] for entry in _results(tmp_path / "one")["submissions"]]
    assert students == sorted(students) and len(students) == 10
    statuses = {entry["status"] for entry in _results(tmp_path / "one")["submissions"]}
    assert statuses == {"graded", "error", "invalid"}


def test_an_interrupted_batch_resumes_without_regrading(klass, tmp_path):
    out = tmp_path / "out"
    first = grade(str(klass), "-q", "--out", str(out), "--cache-dir", str(tmp_path / "cache-a"))
    assert _counts(first.output) == (10, 0, 0)
    complete = _results(out)
    log = out / "results.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    # As if Ctrl-C came halfway, in the middle of writing a line.
    log.write_bytes(b"".join(lines[:5]) + lines[5][:40])
    second = grade(str(klass), "-q", "--out", str(out), "--cache-dir", str(tmp_path / "cache-b"))
    assert _counts(second.output) == (5, 5, 0)
    assert _results(out) == complete
    third = grade(str(klass), "-q", "--out", str(out), "--cache-dir", str(tmp_path / "cache-b"))
    assert _counts(third.output) == (0, 10, 0)


def test_the_cache_serves_any_output_folder_and_no_cache_forces_a_run(klass, tmp_path):
    cache = str(tmp_path / "cache")
    assert _counts(grade(str(klass), "-q", "--cache-dir", cache, "--out", str(tmp_path / "a")).output) == (10, 0, 0)
    again = grade(str(klass), "-q", "--cache-dir", cache, "--out", str(tmp_path / "b"))
    assert _counts(again.output) == (0, 0, 10)
    assert _results(tmp_path / "a") == _results(tmp_path / "b")
    forced = grade(str(klass), "-q", "--no-cache", "--cache-dir", cache, "--out", str(tmp_path / "b"))
    assert _counts(forced.output) == (10, 0, 0)


def test_the_cache_is_invalidated_by_the_notebook_the_solutions_and_the_seed(tmp_path):
    folder = tmp_path / "class"
    write(student_notebook(), folder / "ann" / "backward_pass.ipynb")
    bob = write(student_notebook(WRONG_SIGN), folder / "bob" / "backward_pass.ipynb")
    cache = str(tmp_path / "cache")

    def counts(*extra: str, solutions: Path = SOLUTIONS) -> tuple[int, int, int]:
        return _counts(grade(str(folder), "-q", "--cache-dir", cache, "--solutions", str(solutions), *extra).output)

    assert counts() == (2, 0, 0)
    assert counts() == (0, 0, 2)
    write(student_notebook(), bob)
    assert counts() == (1, 0, 1)
    assert counts("--seed", "7") == (2, 0, 0)
    edited = tmp_path / "solutions"
    shutil.copytree(SOLUTIONS, edited)
    rubric = edited / "backward_pass" / "rubric.toml"
    rubric.write_text(rubric.read_text().replace("which one do you subtract", "which do you subtract"))
    assert counts(solutions=edited) == (2, 0, 0)
    assert counts(solutions=edited) == (0, 0, 2)


def test_shards_merged_equal_a_single_run(klass, tmp_path):
    single = grade(str(klass), "-q", "--no-cache", "--out", str(tmp_path / "single"))
    assert single.exit_code == 0
    sizes = []
    for index in (1, 2, 3):
        shard = grade(str(klass), "-q", "--no-cache", "--shard", f"{index}/3", "--out", str(tmp_path / f"shard{index}"))
        assert shard.exit_code == 0
        sizes.append(len(_results(tmp_path / f"shard{index}")["submissions"]))
    assert sum(sizes) == 10 and max(sizes) < 10
    merged = CliRunner().invoke(merge_shards, [str(tmp_path / f"shard{i}") for i in (3, 1, 2)] + ["--out", str(tmp_path / "m")])
    assert merged.exit_code == 0, merged.output
    for name in ("results.json", "gradebook.csv"):
        assert (tmp_path / "m" / name).read_text() == (tmp_path / "single" / name).read_text()
    missing = CliRunner().invoke(merge_shards, [str(tmp_path / "shard1"), "--out", str(tmp_path / "m2")])
    assert missing.exit_code == 2 and "missing" in missing.output


def test_the_html_report_parses_and_lists_every_student(klass, tmp_path):
    result = grade(str(klass), "-q", "--no-cache", "--out", str(tmp_path))
    page = (tmp_path / "report.html").read_text(encoding="utf-8")

    class Collector(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.text: list[str] = []
            self.tags: list[str] = []

        def handle_starttag(self, tag, attrs):
            self.tags.append(tag)

        def handle_data(self, data):
            self.text.append(data)

    parser = Collector()
    parser.feed(page)
    parser.close()
    text = "".join(parser.text)
    with open(tmp_path / "gradebook.csv", newline="", encoding="utf-8-sig") as stream:
        students = [row["student"] for row in csv.DictReader(stream)]
    assert len(students) == 10 and all(student in text for student in students)
    assert "svg" in parser.tags and "script" not in parser.tags
    assert not re.search(r"(src|href)=\"https?:", page)
    assert "pass rate per step" in result.output and "most frequent first wrong steps" in result.output


def test_student_text_is_escaped_in_the_html_report(tmp_path):
    write(student_notebook(), tmp_path / "class" / "<b>eve</b>" / "backward_pass.ipynb")
    grade(str(tmp_path / "class"), "-q", "--no-cache", "--out", str(tmp_path / "out"))
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "&lt;b&gt;eve&lt;/b&gt;" in page and "<b>eve</b>" not in page


def test_progress_lines_when_not_a_terminal_and_quiet_silences_them(klass, tmp_path):
    loud = grade(str(klass), "--no-cache", "--out", str(tmp_path / "a"))
    assert "progress: 10/10 (100%)" in loud.stderr
    quiet = grade(str(klass), "-q", "--no-cache", "--out", str(tmp_path / "b"))
    assert "progress:" not in quiet.stderr


def test_a_bad_shard_is_a_usage_error(klass):
    result = grade(str(klass), "--shard", "4/3")
    assert result.exit_code == 2 and "--shard takes K/N" in result.output


def test_feedback_pages_are_written_in_parallel_alike_and_counted_in_the_progress(klass, tmp_path):
    """Pages are written by a pool of --jobs workers (html.write_pages) and each counts in the progress: it reaches
    100 % only once they are all written, and the pool writes the very pages one process writes (--jobs 1)."""
    cache = ("--cache-dir", str(tmp_path / "cache"))
    pooled = grade(str(klass), "--jobs", "2", "--out", str(tmp_path / "pooled"), "--feedback-html", *cache)
    assert pooled.exit_code == 0, pooled.output
    progress = [line for line in pooled.stderr.splitlines() if line.startswith("progress:")]
    assert progress[-1].startswith("progress: 20/20 (100%)") and "progress: 10/10" not in pooled.stderr
    assert "progress: 10/20 (50%)" in pooled.stderr
    assert pooled.stderr.index("reports written to") < pooled.stderr.index("progress: 20/20 (100%)")
    alone = grade(str(klass), "--jobs", "1", "--out", str(tmp_path / "alone"), "--feedback-html", "-q", *cache)
    assert _counts(alone.output) == (0, 0, 10)
    pooled_pages = sorted((tmp_path / "pooled" / "feedback").iterdir())
    assert [path.name for path in pooled_pages] == sorted(path.name for path in (tmp_path / "alone" / "feedback").iterdir())
    assert len(pooled_pages) == 10
    for page in pooled_pages:
        assert page.read_text(encoding="utf-8") == (tmp_path / "alone" / "feedback" / page.name).read_text(encoding="utf-8")


def test_grading_settles_the_collector_and_leaves_it_as_it_found_it(klass, tmp_path, monkeypatch):
    """While a class is judged, the objects the run keeps (modules, reference, cases, catalogue) are frozen out of
    the cyclic collector's walks and young objects are collected every 10,000; once the run ends, in-process
    (as here, or in a service that embeds the grader), the collector is as it was: nothing frozen, Python's
    thresholds. Through the real CLI."""
    import gc

    from grader.sandbox.pipeline import Pipeline

    seen = []
    waiting = Pipeline.wait

    def wait(self):
        seen.append((gc.get_freeze_count() > 0, gc.get_threshold()[0]))
        return waiting(self)

    monkeypatch.setattr(Pipeline, "wait", wait)
    before = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    run = grade(str(klass), "-q", "--no-cache", "--jobs", "2", "--out", str(tmp_path / "out"))
    assert run.exit_code == 0, run.output
    assert seen and all(frozen and young >= 10_000 for frozen, young in seen), seen
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == before


@pytest.mark.parametrize("layout", ["a folder a student", "one folder of notebooks"])
def test_finding_a_class_keeps_a_few_hundred_bytes_a_notebook(tmp_path, layout):
    """What finding the notebooks keeps is held until the class is graded, so the grader's peak memory grows with
    it: 3,000 notebooks cost the text they need and 150-210 bytes each besides (the Submission and Found objects,
    their places in the list and the dict), whether the class is named by its absolute path or a relative one. Two
    equal copies of the path, or a Path kept per notebook, cost 150-270 bytes more each (and Paths grow the
    interpreter's table of interned strings for good)."""
    import os
    import sys
    import tracemalloc

    from grader import batch

    for number in range(3000):
        if layout == "a folder a student":
            (tmp_path / "class" / f"student{number:05d}").mkdir(parents=True)
            (tmp_path / "class" / f"student{number:05d}" / "backward_pass.ipynb").touch()
        else:
            (tmp_path / "class").mkdir(exist_ok=True)
            (tmp_path / "class" / f"student{number:05d}.ipynb").touch()
    for given in (tmp_path / "class", Path(os.path.relpath(tmp_path / "class"))):
        tracemalloc.start()
        try:
            before = tracemalloc.take_snapshot()
            found = batch.discover([given])
            kept = sum(stat.size_diff for stat in tracemalloc.take_snapshot().compare_to(before, "filename"))
        finally:
            tracemalloc.stop()
        # The text a notebook needs: where it is, its student, and how it was given when that reads otherwise.
        needed = sum(sys.getsizeof(each.submission.location) + sys.getsizeof(each.submission.student)
                     + (sys.getsizeof(each.submission.given) if each.submission.given != each.submission.location else 0)
                     for each in found)
        assert len(found) == 3000
        assert (kept - needed) / 3000 < 260, (layout, given, (kept - needed) / 3000)
