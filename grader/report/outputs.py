"""The report files of `grade --out DIR`, one per chosen format, all rendered from the same grades."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from grader.models import Grade
from grader.report import files, github, gradebook, gradescope, json_report, junit

FORMATS = ("json", "csv", "gradescope", "junit", "github-summary", "github-annotations")
DEFAULT_FORMATS = ("json", "csv")
GRADESCOPE_FOLDER = "gradescope"
_UNSAFE_IN_FILE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Batch:
    """A graded batch and what every format needs to render it."""

    assignment: str
    """The assignment's name (its folder in the solutions)."""
    title: str
    """The assignment's title, for human-facing reports."""
    step_names: tuple[str, ...]
    max_score: float
    grades: tuple[Grade, ...]
    fail_under: float | None = None
    """The --fail-under threshold, which the GitHub summary reports against."""


def render_all(batch: Batch, formats: Sequence[str]) -> dict[str, str]:
    """File name (relative to the output folder) -> text, for each format in `formats`."""
    rendered: dict[str, str] = {}
    for name in dict.fromkeys(formats):
        if name == "json":
            rendered["results.json"] = json_report.render(batch.assignment, batch.max_score, batch.grades)
        elif name == "csv":
            rendered["gradebook.csv"] = gradebook.render(batch.step_names, batch.grades)
        elif name == "junit":
            rendered["junit.xml"] = junit.render(batch.assignment, batch.grades)
        elif name == "github-summary":
            rendered["summary.md"] = github.summary(batch.title, batch.step_names, batch.grades, batch.fail_under)
        elif name == "github-annotations":
            rendered["annotations.txt"] = github.annotations(batch.grades, batch.fail_under) + "\n"
        elif name == "gradescope":
            for file_name, grade in zip(gradescope_file_names(batch.grades), batch.grades):
                rendered[f"{GRADESCOPE_FOLDER}/{file_name}"] = gradescope.render(grade)
        else:
            raise ValueError(f"unknown report format {name!r}")
    return rendered


def gradescope_file_names(grades: Sequence[Grade]) -> list[str]:
    """`<student>.json` per grade, made safe as a file name and unique (two notebooks of one student)."""
    names: list[str] = []
    for grade in grades:
        stem = _UNSAFE_IN_FILE_NAME.sub("_", grade.submission.student).strip("._") or "submission"
        name, count = f"{stem}.json", 1
        while name in names:
            count += 1
            name = f"{stem}-{count}.json"
        names.append(name)
    return names


def write_all(folder: Path, batch: Batch, formats: Sequence[str]) -> list[str]:
    """Write each format's files atomically into `folder`; return the names written."""
    rendered = render_all(batch, formats)
    for name, text in rendered.items():
        files.write_atomically(folder / name, text)
    return list(rendered)
