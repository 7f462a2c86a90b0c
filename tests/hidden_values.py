"""Finding hidden cases' numbers in text: what a leak of a hidden value would look like in a report."""

from __future__ import annotations

import re

import numpy as np

from grader import assignment
from grader.assignment import cases as case_builder
from tests.notebooks import SOLUTIONS


def hidden_cases() -> list:
    loaded = assignment.load(SOLUTIONS, "backward_pass")
    return [case for case in case_builder.build(loaded, loaded.defaults.seed) if not case.public]


def spellings(value: float) -> set[str]:
    """A number as a report could print it (several precisions, both notations), when that identifies it."""
    value = abs(float(value))
    candidates = {f"{value:.{digits}g}" for digits in range(5, 11)} | {f"{value:.{digits}e}" for digits in range(4, 9)}
    candidates |= {np.format_float_positional(value, precision=8), repr(value)}
    # Short strings ("0.25") would match anything; five significant digits identify a value.
    return {text for text in candidates if len(text.split("e")[0].replace(".", "").lstrip("0")) >= 5}


def leaks(text: str, numbers: set[str]) -> list[str]:
    """Hidden numbers found in `text`, also inside longer runs of digits; only runs of 5+ digits can hold one."""
    found = set()
    for run in re.findall(r"\d[\d.]*(?:e[+-]?\d+)?", text):
        if sum(c.isdigit() for c in run) >= 5:
            found |= {run[i:j] for i in range(len(run)) for j in range(i + 5, len(run) + 1)} & numbers
    return sorted(found)
