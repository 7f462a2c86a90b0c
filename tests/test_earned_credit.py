"""Every credit is earned: generated degenerate submissions get nothing a check could not have refused.

Error carried forward once gave 9/10 to a backward_pass that computed nothing (every value 1e-200:
any tiny value is "within atol" of the carried expected value). The submissions here are generated
from kinds of degenerate value (zeros, constants, tiny, denormal, huge, scaled copies of the right
chain, shape-only arrays, inputs and other steps handed back) placed at every step: everything
degenerate, one step degenerate after right ones, the reference's chain computed from a degenerate
value, and seeded mixtures. Each must score exactly the points of the steps it computed right
(directly), get no diagnosis and no gradient advice; real mistakes carried forward keep their
credit. One `grade` run grades them all; the module runs again as uid 65534.
"""

from __future__ import annotations

import os
import random
import re
from pathlib import Path

import pytest

from tests import unprivileged
from tests.conftest import invoke_grade, steps_of
from tests.notebooks import POINTS, STEPS, reference_body, student_notebook, write

SHAPES = {
    "error": "np.shape(output_layer_out)",
    "output_error_term": "np.shape(output_layer_out)",
    "hidden_error": "np.shape(hidden_layer_out)",
    "hidden_error_term": "np.shape(hidden_layer_out)",
    "delta_w_h_o": "np.shape(hidden_layer_out)",
    "delta_w_i_h": "(len(x), len(hidden_layer_out))",
}
# A value of each step's shape taken from an input (nothing computed).
INPUTS = {
    "error": "np.full(np.shape(output_layer_out), target)",
    "output_error_term": "output_layer_out",
    "hidden_error": "weights_hidden_to_output",
    "hidden_error_term": "hidden_layer_out",
    "delta_w_h_o": "hidden_layer_out",
    "delta_w_i_h": "np.tile(np.reshape(x, (-1, 1)), (1, len(hidden_layer_out)))",
}
# Another step's right value of the same shape (swapped or recycled).
OTHER_STEP = {
    "error": "r_output_error_term",
    "output_error_term": "r_error",
    "hidden_error": "r_hidden_error_term",
    "hidden_error_term": "r_hidden_error",
    "delta_w_h_o": "r_hidden_error_term",
    "delta_w_i_h": "np.outer(x, r_delta_w_h_o)",
}
KINDS = {
    "zeros": lambda step: f"np.zeros({SHAPES[step]})",
    "ones": lambda step: f"np.ones({SHAPES[step]})",
    "constant": lambda step: f"np.full({SHAPES[step]}, 0.37)",
    "tiny": lambda step: f"np.full({SHAPES[step]}, 1e-200)",
    "denormal": lambda step: f"np.full({SHAPES[step]}, 5e-324)",
    "huge": lambda step: f"np.full({SHAPES[step]}, 1e300)",
    "scaled_1e-12": lambda step: f"1e-12 * r_{step}",
    "scaled_1e-9": lambda step: f"1e-9 * r_{step}",
    "learnrate": lambda step: f"np.full({SHAPES[step]}, learnrate)",
    "input": lambda step: INPUTS[step],
    "other_step": lambda step: OTHER_STEP[step],
}
# Kinds whose value carries its degeneracy through the reference's formulas (zero, tiny or off scale).
CARRIED_KINDS = ("zeros", "tiny", "denormal", "huge", "scaled_1e-12", "scaled_1e-9")
# Which steps the reference computes from which: a step computed by the formula from a degenerate
# one is degenerate in turn.
INPUTS_OF = {"output_error_term": ("error",), "hidden_error": ("output_error_term",),
             "hidden_error_term": ("hidden_error",), "delta_w_h_o": ("output_error_term",),
             "delta_w_i_h": ("hidden_error_term",)}
RIGHT = dict(line.split(" = ", 1) for line in reference_body().splitlines() if " = " in line)


def body(values: dict[str, str]) -> str:
    """A backward_pass that computes every right value as r_<step>, then sets each step to `values[step]`."""
    lines = [f"r_{step} = " + _renamed(RIGHT[step]) for step in STEPS]
    lines += [f"{step} = {values[step]}" for step in STEPS]
    return "\n".join(lines + ["return delta_w_h_o, delta_w_i_h"]) + "\n"


def _renamed(formula: str) -> str:
    return re.sub(r"\b(" + "|".join(STEPS) + r")\b", r"r_\1", formula)


def expected_score(right: set[str]) -> float:
    """The points of the steps that are right; right deltas make every step count (the documented rule)."""
    if {"delta_w_h_o", "delta_w_i_h"} <= right:
        return sum(POINTS.values())
    return sum(POINTS[step] for step in right)


def _everything(kind: str) -> tuple[dict[str, str], set[str]]:
    return {step: KINDS[kind](step) for step in STEPS}, set()


def _after_right(kind: str, at: str) -> tuple[dict[str, str], set[str]]:
    """Steps before `at` right, `at` and every later step of the degenerate kind."""
    position = STEPS.index(at)
    values = {step: (f"r_{step}" if index < position else KINDS[kind](step)) for index, step in enumerate(STEPS)}
    return values, set(STEPS[:position])


def _chain_from(kind: str, at: str) -> tuple[dict[str, str], set[str]]:
    """`at` degenerate, every other step the reference's formula over the student's own values."""
    values = {step: (KINDS[kind](step) if step == at else RIGHT[step]) for step in STEPS}
    tainted = {at}
    for step in STEPS:
        if any(source in tainted for source in INPUTS_OF.get(step, ())):
            tainted.add(step)
    return values, set(STEPS) - tainted


def _mixture(seed: int) -> tuple[dict[str, str], set[str]]:
    """Each step right (computed independently) or of a random degenerate kind."""
    rng = random.Random(seed)
    values, right = {}, set()
    for step in STEPS:
        if rng.random() < 0.4:
            values[step] = f"r_{step}"
            right.add(step)
        else:
            values[step] = KINDS[rng.choice(sorted(KINDS))](step)
    return values, right


DEGENERATE: dict[str, tuple[dict[str, str], set[str]]] = {}
for _kind in KINDS:
    DEGENERATE[f"all-{_kind}"] = _everything(_kind)
for _index, _step in enumerate(STEPS):
    for _offset in range(3):
        _kind = sorted(KINDS)[(3 * _index + _offset) % len(KINDS)]
        DEGENERATE[f"after-right-{_step}-{_kind}"] = _after_right(_kind, _step)
for _index, _kind in enumerate(CARRIED_KINDS):
    for _step in (STEPS[_index % 4], STEPS[(_index + 2) % 6]):
        DEGENERATE[f"chain-from-{_step}-{_kind}"] = _chain_from(_kind, _step)
for _seed in range(8):
    DEGENERATE[f"mixture-{_seed}"] = _mixture(_seed)
GENERATED = len(DEGENERATE)
if os.environ.get(unprivileged.MARKER):
    # The re-run as uid 65534 grades every kind once (everything degenerate): the rules are the
    # same whoever grades, and the suite must stay fast.
    DEGENERATE = {student: plan for student, plan in DEGENERATE.items() if student.startswith("all-")}

# Real mistakes, every later step computed from them: (body, score, steps passing by error carried forward).
CARRIED_FORWARD = {
    "real-sign-flipped": (reference_body(error="output_layer_out - target"), 9.0,
                          {"output_error_term", "hidden_error", "hidden_error_term", "delta_w_h_o", "delta_w_i_h"}),
    "real-error-halved": (reference_body(error="0.5 * (target - output_layer_out)"), 9.0,
                          {"output_error_term", "hidden_error", "hidden_error_term", "delta_w_h_o", "delta_w_i_h"}),
    "real-error-squared": (reference_body(error="(target - output_layer_out) ** 2"), 9.0,
                           {"output_error_term", "hidden_error", "hidden_error_term", "delta_w_h_o", "delta_w_i_h"}),
    "real-no-output-derivative": (reference_body(output_error_term="error"), 8.0,
                                  {"hidden_error", "hidden_error_term", "delta_w_h_o", "delta_w_i_h"}),
    "real-no-hidden-derivative": (reference_body(hidden_error_term="hidden_error"), 8.0, {"delta_w_i_h"}),
    "real-hidden-from-activations": (reference_body(hidden_error="output_error_term * hidden_layer_out"), 8.0,
                                     {"hidden_error_term", "delta_w_i_h"}),
}

# An earlier value engineered so that the reference's formula gives back something not computed
# (an input, learnrate) or tiny on half the cases: (body, steps that must fail).
ENGINEERED = {
    "engineered-hidden-layer-out": (reference_body(output_error_term="1.0 / learnrate + 0 * error",
                                                   delta_w_h_o="hidden_layer_out"), {"output_error_term", "delta_w_h_o"}),
    "engineered-tiled-x": (reference_body(hidden_error_term="np.ones_like(hidden_layer_out) / learnrate",
                                          delta_w_i_h="np.tile(np.reshape(x, (-1, 1)), (1, len(hidden_layer_out)))"),
                           {"hidden_error_term", "delta_w_i_h"}),
    "engineered-learnrate": (reference_body(error="learnrate / (output_layer_out * (1 - output_layer_out))",
                                            output_error_term="learnrate + 0 * error"), {"error", "output_error_term"}),
    "engineered-tiny-on-half": (reference_body(
        error="(target - output_layer_out) if len(x) % 2 else np.full(np.shape(output_layer_out), 1e-200)"), set(STEPS)),
}

# The red team's two submissions, verbatim in spirit: every value 1e-200 (9/10 before), and the same
# after a right error (8/10 before).
TINY_EVERYWHERE = "\n".join(f"{step} = np.full({SHAPES[step]}, 1e-200)" for step in STEPS) + "\nreturn delta_w_h_o, delta_w_i_h\n"
RIGHT_ERROR_THEN_TINY = TINY_EVERYWHERE.replace("error = np.full(np.shape(output_layer_out), 1e-200)",
                                                "error = target - output_layer_out", 1)
# A real student: hidden_error left at zeros, the rest right. It got seven contradictory diagnoses.
ZERO_HIDDEN_ERROR = reference_body(hidden_error="np.zeros_like(hidden_layer_out)")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("earned")
    for student, (values, _) in DEGENERATE.items():
        write(student_notebook(body(values)), folder / f"{student}.ipynb")
    for student, (source, _, _) in CARRIED_FORWARD.items():
        write(student_notebook(source), folder / f"{student}.ipynb")
    for student, (source, _) in ENGINEERED.items():
        write(student_notebook(source), folder / f"{student}.ipynb")
    write(student_notebook(TINY_EVERYWHERE), folder / "exploit-tiny.ipynb")
    write(student_notebook(RIGHT_ERROR_THEN_TINY), folder / "exploit-right-error-then-tiny.ipynb")
    write(student_notebook(ZERO_HIDDEN_ERROR), folder / "zero-hidden-error.ipynb")
    # A generous limit: these notebooks are trivial, and a loaded machine must not turn one into a timeout.
    run = invoke_grade(folder, "--no-cache", "-q", "--timeout", "60")
    assert run.exit_code == 0, run.stderr
    return run


def _failures(graded) -> list[str]:
    """Every generated degenerate submission whose score, diagnoses or advice is not earned."""
    problems = []
    for student, (_, right) in DEGENERATE.items():
        row = graded.submission(student)
        steps = steps_of(row)
        passing = {name for name, step in steps.items() if step["status"] == "pass"}
        carried = {name for name, step in steps.items() if step["carried_forward"]}
        if row["score"] != expected_score(right) or carried or (passing != right and passing != set(STEPS)):
            problems.append(f"{student}: {row['score']} (expected {expected_score(right)}), passing {sorted(passing)}")
        if row["diagnoses"]:
            problems.append(f"{student}: diagnoses {[d['misconception'] for d in row['diagnoses']]}")
        advice = [message for message in row["messages"] if message.startswith("Gradient check")]
        if advice:
            problems.append(f"{student}: {advice}")
    return problems


def test_degenerate_values_earn_no_credit_no_diagnosis_and_no_advice(graded):
    """Error carried forward, diagnoses and the gradient check count only judgements that could have failed."""
    assert GENERATED > 40 and len(DEGENERATE) >= len(KINDS)
    assert _failures(graded) == []


@pytest.mark.parametrize("student", list(CARRIED_FORWARD))
def test_real_mistakes_keep_their_carried_forward_credit(graded, student):
    """Error carried forward still credits a later step computed right from a real (informative) mistake."""
    _, score, carried = CARRIED_FORWARD[student]
    row = graded.submission(student)
    assert row["score"] == score, steps_of(row)
    assert {name for name, step in steps_of(row).items() if step["carried_forward"]} == carried


@pytest.mark.parametrize("student", list(ENGINEERED))
def test_engineered_upstream_values_earn_nothing_downstream(graded, student):
    """A carried value that is an input, learnrate, or tiny on most cases earns no credit by error carried forward."""
    row = graded.submission(student)
    steps = steps_of(row)
    failing = ENGINEERED[student][1]
    assert {name for name, step in steps.items() if step["status"] == "fail"} >= failing, steps
    assert row["score"] <= sum(POINTS.values()) - sum(POINTS[name] for name in failing)


def test_every_value_tiny_scores_nothing(graded):
    """Regression: 1e-200 everywhere matched every carried value within atol and scored 9/10."""
    row = graded.submission("exploit-tiny")
    assert row["score"] == 0 and row["diagnoses"] == []
    assert not any(step["carried_forward"] for step in row["steps"])


def test_right_error_then_tiny_values_scores_only_the_error(graded):
    """Regression: a right error and 1e-200 for the rest scored 8/10 by error carried forward."""
    row = graded.submission("exploit-right-error-then-tiny")
    assert row["score"] == POINTS["error"] and row["diagnoses"] == []
    assert [step["name"] for step in row["steps"] if step["status"] == "pass"] == ["error"]


def test_zero_hidden_error_gets_no_diagnosis_from_zeros(graded):
    """Regression: zeros upstream made every multiplicative mistake match: seven contradictory diagnoses."""
    row = graded.submission("zero-hidden-error")
    steps = steps_of(row)
    assert row["score"] == POINTS["error"] + POINTS["output_error_term"] + POINTS["delta_w_h_o"]
    assert row["first_wrong_step"] == "hidden_error"
    assert steps["hidden_error_term"]["status"] == steps["delta_w_i_h"]["status"] == "fail"
    assert row["diagnoses"] == []


@pytest.mark.skipif(unprivileged.unavailable() is not None, reason=str(unprivileged.unavailable()))
def test_earned_credit_as_an_ordinary_user():
    """The same generated batch, graded as uid 65534: the scoring rules do not depend on who grades."""
    done = unprivileged.run_unprivileged(f"{Path(__file__)}::test_degenerate_values_earn_no_credit_no_diagnosis_and_no_advice")
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
