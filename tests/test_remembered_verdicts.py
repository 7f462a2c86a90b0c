"""Verdicts found again for the same evidence (judge.verdicts.Remembered) are exactly the verdicts worked out afresh."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from grader import assignment, batch
from grader.assignment import cases as case_builder
from grader.judge import evidence, scoring, verdicts
from grader.models import Submission
from tests.notebooks import SOLUTIONS, reference_body, student_notebook, write

# Same mistakes written differently (the same bits), degenerate values, a right one, broken ones.
BODIES = {
    "sign-a": reference_body(error="output_layer_out - target"),
    "sign-b": reference_body(error="-(target - output_layer_out)"),
    "sign-c": reference_body(error="output_layer_out  -  target  # flipped"),
    "no-derivative-a": reference_body(output_error_term="error"),
    "no-derivative-b": reference_body(output_error_term="error * 1"),
    "right-a": reference_body(),
    "right-b": reference_body(error="(target - output_layer_out)"),
    "zeros": reference_body(error="0.0 * target", hidden_error="np.zeros_like(hidden_layer_out)"),
    "tiny": reference_body(error="1e-200 * np.ones_like(output_layer_out)"),
    "constant": reference_body(output_error_term="0.25", hidden_error_term="np.full_like(hidden_layer_out, 0.1)"),
    "recycled": reference_body(hidden_error_term="hidden_layer_out", delta_w_h_o="hidden_layer_out"),
    "raises": reference_body(hidden_error="np.dot(output_error_term, x)"),
    # Right up to a returned value scaled by a constant (the gradient check's advice), twice alike.
    "doubled-a": reference_body(delta_w_h_o="2 * learnrate * output_error_term * hidden_layer_out"),
    "doubled-b": reference_body(delta_w_h_o="learnrate * output_error_term * hidden_layer_out * 2"),
}


@pytest.fixture(scope="module")
def loaded() -> assignment.Assignment:
    return assignment.load(SOLUTIONS, "backward_pass")


def _grades(loaded, submissions, monkeypatch, size: int) -> tuple[list, int, int, int]:
    made, reviewed, parsed = [], [], []
    original, review, parse = verdicts.Verdicts.__init__, scoring.review, scoring.parse

    def counting(self, *args, **kwargs):
        made.append(1)
        original(self, *args, **kwargs)

    def counting_reviews(*args, **kwargs):
        reviewed.append(1)
        return review(*args, **kwargs)

    def counting_parses(*args, **kwargs):
        parsed.append(1)
        return parse(*args, **kwargs)

    remembering = verdicts.Remembered
    with monkeypatch.context() as patch:
        patch.setattr(verdicts.Verdicts, "__init__", counting)
        patch.setattr(scoring, "review", counting_reviews)
        patch.setattr(scoring, "parse", counting_parses)
        patch.setattr(verdicts, "Remembered", lambda *args: remembering(*args, size=size))
        with batch.Grader(loaded, loaded.defaults.seed, jobs=2) as grader:
            grades = [dataclasses.replace(outcome.grade, seconds=0.0) for outcome in grader.grade_all(submissions)]
    return grades, len(made), len(reviewed), len(parsed)


def test_remembered_verdicts_give_the_grades_fresh_verdicts_give(tmp_path, loaded, monkeypatch):
    """batch.Grader judges with Remembered: a class whose students share mistakes bit for bit, with degenerate and
    broken submissions among them, and notebooks whose child documents are the same bytes (a copied notebook, a
    degenerate one handed in twice), gets the very grades (scores, verdicts, carried-forward credit, messages,
    diagnoses, the gradient check's advice) it gets when every document is parsed and every run's verdicts and
    review are worked out afresh (a memory of size 0)."""
    submissions = []
    for name, body in {**BODIES, "zeros-again": BODIES["zeros"], "right-again": BODIES["right-a"]}.items():
        path = write(student_notebook(body), tmp_path / name / "backward_pass.ipynb")
        submissions.append(Submission(path, str(path), name))
    remembered, made_remembering, reviews_remembering, parsed_remembering = _grades(loaded, submissions, monkeypatch,
                                                                                    size=32)
    fresh, made_fresh, reviews_fresh, parsed_fresh = _grades(loaded, submissions, monkeypatch, size=0)
    assert [repr(grade) for grade in remembered] == [repr(grade) for grade in fresh]
    # The memory was used (documents, verdicts and reviews), and gave the same.
    assert made_fresh == len(submissions) and made_remembering < made_fresh
    assert reviews_fresh == len(submissions) and reviews_remembering < reviews_fresh
    assert parsed_fresh == len(submissions) and parsed_remembering < parsed_fresh
    by_name = {grade.submission.student: grade for grade in remembered}
    assert by_name["sign-a"].score == by_name["sign-b"].score == 9.0
    assert [d.misconception for d in by_name["sign-c"].diagnoses] == [d.misconception for d in by_name["sign-a"].diagnoses] != []
    advice = [message for message in by_name["doubled-b"].messages if "times" in message]
    assert advice and advice == [message for message in by_name["doubled-a"].messages if "times" in message]
    assert by_name["right-a"].score == 10.0
    assert not any(step.carried_forward for step in by_name["tiny"].steps)


def _run_of(cases, facts: dict | None = None, **changes) -> evidence.StudentRun:
    """A run that returned the reference's values on every case, with `changes` to the first case's values and
    `facts` (CaseRun's other fields) for its last case."""
    runs = []
    for index, case in enumerate(cases):
        values = {name: np.array(value, dtype=np.float64) for name, value in case.expected.items()}
        if index == 0:
            values.update(changes)
        given = facts if facts is not None and index == len(cases) - 1 else {}
        runs.append(evidence.CaseRun(values, given.get("exception"), given.get("mutated", ()), given.get("problem"),
                                     given.get("partial", frozenset()), given.get("raised_in_loop", False)))
    return evidence.StudentRun("defined", None, None, tuple(runs), (), ())


def test_runs_that_differ_only_in_a_case_s_facts_are_judged_apart(loaded):
    """Remembered: the facts of a case besides its values (its exception, the arguments it changed, the problem
    with what it returned, the steps cut short, a raise inside a loop) each make another entry, however often the
    same facts were seen before; the same facts are found again."""
    cases = case_builder.build(loaded, loaded.defaults.seed)
    remembered = verdicts.Remembered(loaded.rubric, cases, loaded.reference, size=64)
    variants = {
        "none": None,
        "exception": {"exception": "ValueError: shapes (3,) and (2,) not aligned"},
        "other exception": {"exception": "ValueError: shapes (3,) and (4,) not aligned"},
        "mutated": {"mutated": ("x",)},
        "problem": {"problem": "returned None"},
        "partial": {"partial": frozenset({"error"})},
        "raised in a loop": {"raised_in_loop": True},
        "exception raised in a loop": {"exception": "ValueError: shapes (3,) and (2,) not aligned",
                                       "raised_in_loop": True},
    }
    for _ in range(2):  # the second time, every header the digest is made of has been seen
        found = {name: remembered.of(_run_of(cases, facts)) for name, facts in variants.items()}
        assert len({id(each) for each in found.values()}) == len(variants)
    assert all(remembered.of(_run_of(cases, facts)) is found[name] for name, facts in variants.items())


def test_only_the_same_evidence_finds_remembered_verdicts(loaded):
    """judge.verdicts.Remembered: a run differing in any bit, dtype or shape of a value, or showing a marker's text
    where the marker itself was, is judged afresh; the same evidence (equal values, other objects) is found again."""
    cases = case_builder.build(loaded, loaded.defaults.seed)
    remembered = verdicts.Remembered(loaded.rubric, cases, loaded.reference)
    first = cases[0].expected["error"]
    base = remembered.of(_run_of(cases))
    assert remembered.of(_run_of(cases)) is base
    flipped = np.array(first, dtype=np.float64)
    flipped.view(np.uint64)[...] ^= 1  # the last bit of the mantissa
    reshaped = np.array(first, dtype=np.float64).reshape(1, -1) if np.ndim(first) else np.array([first])
    variants = {
        "one bit": _run_of(cases, error=flipped),
        "shape": _run_of(cases, error=reshaped),
        "dtype": _run_of(cases, error=np.array(first, dtype=np.float32)),
        "reason": _run_of(cases, error="could not be read: 1 + 2j"),
        "marker": _run_of(cases, error=evidence.NO_LOOP),
        "marker's text": _run_of(cases, error=str(evidence.NO_LOOP).encode().decode()),
    }
    found = {name: remembered.of(run) for name, run in variants.items()}
    assert all(each is not base for each in found.values())
    assert len({id(each) for each in found.values()}) == len(variants)
    assert found["marker"] is remembered.of(_run_of(cases, error=evidence.NO_LOOP))


def test_a_document_is_found_again_by_its_very_bytes_only(tmp_path, loaded, monkeypatch):
    """Remembered.found: a reply whose document bytes were judged lately is not parsed again, and gets the grade it
    got; one byte different (a warning's text: the same evidence) is parsed again and its verdicts found by the
    evidence. The digest is the grader's own SHA-256 of the bytes (wire.decode_reply), not anything the child says."""
    from grader import notebook
    from grader.sandbox import child, frames, wire
    from tests import forked

    grader = batch.Grader(loaded, loaded.defaults.seed, jobs=1)
    wire_cases = [case_builder.case_to_wire(case) for case in grader.cases]
    path = write(student_notebook(BODIES["sign-a"]), tmp_path / "sign" / "backward_pass.ipynb")
    job = batch.sandbox_job(notebook.read(path), loaded.rubric, grader.settings.limits, loaded.reference.parameters)

    def run() -> dict:
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):
            return child.run(job, wire_cases)

    document = forked.in_child(run)
    warned = {**document, "warnings": [*document["warnings"], {"cell": 1, "line": 1, "message": "one more"}]}
    envelope = frames.encode(wire.Envelope(id=1, result=True, timed_out=False, exit="exited with code 0", seconds=0.1,
                                         stdout_bytes=0))[frames.HEADER.size:]
    replies = [wire.decode_reply([envelope, frames.encode(each)[frames.HEADER.size:], b""], 0.0)
               for each in (document, document, warned)]
    assert replies[0].digest == replies[1].digest != replies[2].digest
    parsed, parse = [], scoring.parse
    monkeypatch.setattr(scoring, "parse", lambda *args: parsed.append(1) or parse(*args))
    memory = verdicts.Remembered(loaded.rubric, grader.cases, loaded.reference)
    submission = Submission(path, str(path), "sign")
    grades = [dataclasses.replace(scoring.judge(submission, loaded.rubric, grader.cases, reply, loaded.reference,
                                                limits=grader.settings.limits, remembered=memory), seconds=0.0)
              for reply in replies]
    assert len(parsed) == 2 and repr(grades[0]) == repr(grades[1]) and grades[0].score == 9.0
    assert grades[2].score == grades[0].score and "one more" in " ".join(grades[2].messages)
    assert memory.found(replies[0].digest)[1] is memory.found(replies[2].digest)[1]  # the same evidence's verdicts


def test_the_digest_keeps_no_header_of_one_student_s_text(loaded):
    """verdicts._evidence_digest keeps the headers cases and arrays share (bounded by their kinds and shapes), never
    one of an exception's text, a returned value's problem or changed arguments' names, which a child writes (a
    hostile one, megabytes) and which would otherwise grow with the class."""
    cases = case_builder.build(loaded, loaded.defaults.seed)
    verdicts._HEADERS.clear()
    remembered = verdicts.Remembered(loaded.rubric, cases, loaded.reference, size=4)
    remembered.of(_run_of(cases))
    shared = len(verdicts._HEADERS)
    long_text = "x" * 100_000
    for number in range(30):
        for facts in ({"exception": f"ValueError {number}: {long_text}"}, {"problem": f"returned {number} {long_text}"},
                      {"mutated": (f"x{number}{long_text}",)}):
            remembered.of(_run_of(cases, facts))
    assert len(verdicts._HEADERS) == shared
    assert sum(len(header) for header in verdicts._HEADERS.values()) < 100_000
