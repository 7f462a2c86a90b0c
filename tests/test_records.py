"""records.from_record: steps read once are kept and shared, and read back exactly as if read anew."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader import records
from grader.models import Submission

SUBMISSION = Submission(Path("alice.ipynb"), "alice.ipynb", "alice")


def _step(name: str = "error", **fields) -> dict:
    step = {"name": name, "status": "pass", "score": 1.0, "max_score": 1.0, "cases_passed": 41, "cases_total": 41,
            "message": "correct on all 41 cases", "carried_forward": False, "public_got": None,
            "public_expected": None, "hidden_detail": None, "public_message": None}
    step.update(fields)
    return step


def _record(*steps: dict) -> dict:
    return {"submission": "alice.ipynb", "student": "alice", "status": "graded", "score": 1.0, "max_score": 1.0,
            "steps": list(steps), "diagnoses": [], "messages": [], "first_wrong_step": None, "output": "",
            "seconds": 0.1}


def _fresh(record: dict):
    records._steps_read.clear()
    return records.from_record(record, SUBMISSION)


VARIANTS = [
    _step(),
    _step(score=1, max_score=1),  # ints: written back as 1, not 1.0
    _step(status="fail", score=0.0, cases_passed=3, message="wrong on 38 of 41 cases\x1b[2J", hidden_detail="38 wrong",
          public_message="wrong\u202e on the public case", public_got="[1. 2.]", public_expected="[2. 1.]"),
    _step(carried_forward=True),
    _step(carried_forward=1),
    _step(cases_passed=41.0),
    _step(name="delta_w_h_o", message="tab\tand\nnewline kept"),
]


@pytest.mark.parametrize("order", [list(range(len(VARIANTS))), list(reversed(range(len(VARIANTS))))])
def test_a_step_read_again_is_the_step_read_anew(order):
    """Every variant (ints or floats, control characters cleaned, truthy flags, hidden details), read after all the
    others in either order, gives the grade and the record that reading it alone gives, types included."""
    alone = [(_fresh(_record(VARIANTS[i])), json.dumps(records.to_record(_fresh(_record(VARIANTS[i])))))
             for i in range(len(VARIANTS))]
    records._steps_read.clear()
    for _ in range(2):
        for i in order:
            grade = records.from_record(_record(VARIANTS[i]), SUBMISSION)
            assert grade == alone[i][0]
            assert json.dumps(records.to_record(grade)) == alone[i][1]
    assert records.to_record(_fresh(_record(VARIANTS[1])))["steps"][0]["score"] == 1
    assert type(_fresh(_record(VARIANTS[0])).steps[0].score) is float
    assert "\x1b" not in _fresh(_record(VARIANTS[2])).steps[0].message


def test_a_step_that_is_not_one_is_refused_whatever_was_read_before():
    """Kept steps never stand in for a malformed one: a missing name or a name that is not text is refused, a value
    that cannot be a key (a list) is read as before, without being kept."""
    records.from_record(_record(_step()), SUBMISSION)
    for broken in (_step(name=None), _step(score="1.0"), _step(status=["pass"])):
        with pytest.raises((KeyError, TypeError, ValueError)):
            records.from_record(_record(broken), SUBMISSION)
    missing = _step()
    del missing["name"]
    with pytest.raises(KeyError):
        records.from_record(_record(missing), SUBMISSION)
    listed = records.from_record(_record(_step(carried_forward=[1])), SUBMISSION)
    assert listed.steps[0].carried_forward is True
    assert records.grade_or_none(_record(_step(name=None)), SUBMISSION) is None


def test_the_steps_kept_are_bounded():
    """A class of all different steps keeps at most `_MAX_STEPS_KEPT` of them (memory stays flat)."""
    records._steps_read.clear()
    for number in range(records._MAX_STEPS_KEPT + 100):
        records.from_record(_record(_step(message=f"wrong on {number} cases")), SUBMISSION)
    assert len(records._steps_read) <= records._MAX_STEPS_KEPT
